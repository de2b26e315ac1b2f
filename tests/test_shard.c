/* Prepared data: gnet_prepare (the library function) on small IDX sets, then the reader:
 * shards hold a seeded permutation of the training set split in descending sizes, arbitrary
 * index lists read back the source bytes, the manifest's file sizes and CRC-32s are the
 * files', and every kind of bad manifest or shard file is refused with one error line naming
 * the file and the problem.
 * With --real: the same on the installed Fashion-MNIST (exit 77, skipped, without it):
 * 4 shards of 15000 with every class, 6000 per class, global_indices a permutation, pixel
 * mean 0.2860, random index lists equal to the IDX arrays. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <fcntl.h>
#include <ftw.h>
#include <hdf5.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/clock.h"
#include "core/rng.h"
#include "data/idx.h"
#include "data/prepare.h"
#include "data/shard.h"
#include "test_util.h"

#define REAL_DIR "/usr/share/datasets/fashion-mnist"
#define ROWS 5 /* not square: a swapped rows/cols is a shape error */
#define COLS 7
#define N_TRAIN 1001
#define N_TEST 103

static char g_root[] = "/tmp/gnet_test_shard_XXXXXX";
static gnet_manifest g_m; /* the main synthetic preparation's */

/* A formatted path in one of 8 rotating buffers: use it at once, or copy it. */
static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...)
{
    static char buf[8][4096];
    static int next;
    char *b = buf[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof buf[0], fmt, ap);
    va_end(ap);
    return b;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static void rm_rf(const char *p) { nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* ---- stderr capture: one error line naming the file and the problem ---------------------- */

/* The stderr capture of the call under test (test_util.h). */
static test_capture g_cap;

static void expect_one_error(int line, const char *err, const char *file, const char *problem)
{
    const char *nl = strchr(err, '\n');
    int ok = nl && nl[1] == '\0' && strstr(err, file) && strstr(err, problem);
    if (!ok) {
        fprintf(stderr, "%s:%d: expected one error line naming '%s' and '%s', got: %s\n",
                __FILE__, line, file, problem, err);
        test_failures_++;
    }
}

/* ---- small IDX sets ---------------------------------------------------------------------- */

static uint8_t pixel(int32_t i, int32_t p) { return (uint8_t)(i * 131 + p * 7 + (i >> 5)); }
static uint8_t label(int32_t i) { return (uint8_t)((i * 7 + i / 10) % 10); }

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void write_gz(const char *path, const uint8_t *hdr, size_t hn, const uint8_t *b, size_t n)
{
    gzFile f = gzopen(path, "wb");
    EXPECT(f != NULL);
    EXPECT(gzwrite(f, hdr, (unsigned)hn) == (int)hn && gzwrite(f, b, (unsigned)n) == (int)n);
    EXPECT(gzclose(f) == Z_OK);
}

/* DIR/PREFIX-{images,labels}-idxD-ubyte.gz of n samples; `offset` varies the content. */
static void write_idx(const char *dir, const char *prefix, int32_t n, int32_t offset)
{
    uint8_t hdr[16];
    size_t sb = ROWS * COLS;
    uint8_t *img = malloc((size_t)n * sb), *lab = malloc((size_t)n);
    for (int32_t i = 0; i < n; i++) {
        for (size_t p = 0; p < sb; p++)
            img[(size_t)i * sb + p] = pixel(i + offset, (int32_t)p);
        lab[i] = label(i + offset);
    }
    put_be32(hdr, 0x803), put_be32(hdr + 4, (uint32_t)n), put_be32(hdr + 8, ROWS);
    put_be32(hdr + 12, COLS);
    write_gz(pathf("%s/%s-images-idx3-ubyte.gz", dir, prefix), hdr, 16, img, (size_t)n * sb);
    put_be32(hdr, 0x801);
    write_gz(pathf("%s/%s-labels-idx1-ubyte.gz", dir, prefix), hdr, 8, lab, (size_t)n);
    free(img), free(lab);
}

static int prepare(const char *src, const char *out, int shards, uint64_t seed, gnet_manifest *m)
{
    gnet_prepare_opts o = {src, out, shards, seed, 0};
    return gnet_prepare(&o, m);
}

/* ---- reading a prepared directory -------------------------------------------------------- */

/* The file's global_indices, read directly (the reader has no use for them). */
static int64_t *read_global(const char *dir, int index, int shards, int64_t n)
{
    int64_t *g = malloc((size_t)n * sizeof *g);
    char path[4200];
    gnet_shard_path(path, sizeof path, dir, index, shards);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "global_indices", H5P_DEFAULT);
    EXPECT(f >= 0 && d >= 0 && H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, g) >= 0);
    H5Dclose(d), H5Fclose(f);
    return g;
}

/* Reads idx[0..n) of shard and checks each against set[global[idx[i]]]. */
static void check_read(gnet_shard *s, const int64_t *idx, int n, const gnet_idx_set *set,
                       const int64_t *global)
{
    size_t sb = (size_t)set->rows * (size_t)set->cols;
    uint8_t *img = malloc((size_t)n * sb + 1), *lab = malloc((size_t)n + 1);
    EXPECT(gnet_shard_read(s, idx, n, img, lab) == 0);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int64_t g = global[idx[i]];
        bad += lab[i] != set->labels[g] || memcmp(img + i * sb, set->images + g * sb, sb) != 0;
    }
    EXPECT(bad == 0);
    free(img), free(lab);
}

static void check_random_reads(gnet_shard *s, const gnet_idx_set *set, const int64_t *global,
                               uint64_t key)
{
    int64_t n = gnet_shard_count(s), idx[300];
    gnet_rng r;
    gnet_rng_init(&r, key);
    for (int t = 0; t < 20; t++) { /* random lists, repeats likely */
        int len = 1 + (int)gnet_rng_below(&r, 300);
        for (int i = 0; i < len; i++)
            idx[i] = gnet_rng_below(&r, (uint32_t)n);
        check_read(s, idx, len, set, global);
    }
    for (int i = 0; i < 300; i++) /* descending, and one index many times */
        idx[i] = i < 150 ? n - 1 - i % n : n / 2;
    check_read(s, idx, 300, set, global);
    EXPECT(gnet_shard_read(s, idx, 0, NULL, NULL) == 0);
}

/* Every sample of every shard equals the source at its global index; the global indices form
 * a permutation; sizes descend by at most one; reads of arbitrary lists agree. */
static void check_prepared(const char *dir, const gnet_manifest *m, const gnet_idx_set *train,
                           const gnet_idx_set *test)
{
    gnet_manifest *got = malloc(sizeof *got);
    EXPECT(gnet_manifest_read(dir, got) == 0 && memcmp(got, m, sizeof *m) == 0);
    free(got);
    char *seen = calloc((size_t)train->n, 1);
    int64_t *all = malloc((size_t)train->n * sizeof *all);
    for (int64_t i = 0; i < train->n; i++)
        all[i] = i;
    for (int s = -1; s < m->shards; s++) {
        const gnet_idx_set *set = s < 0 ? test : train;
        int64_t n = s < 0 ? m->test_count : m->shard_size[s];
        EXPECT(s < 0 || m->shard_size[s] == train->n / m->shards + (s < train->n % m->shards));
        gnet_shard *sh = gnet_shard_open(dir, m, s);
        EXPECT(sh && gnet_shard_count(sh) == n);
        int64_t *global = read_global(dir, s, m->shards, n);
        for (int64_t i = 0; s >= 0 && i < n; i++)
            seen[global[i]]++;
        for (int64_t i = 0; s < 0 && i < n; i++)
            EXPECT(global[i] == i); /* the test set keeps file order */
        if (sh) {
            check_read(sh, all, (int)n, set, global);
            check_random_reads(sh, set, global, (uint64_t)(s + 7));
        }
        gnet_shard_close(sh);
        free(global);
    }
    int once = 1;
    for (int64_t i = 0; i < train->n; i++)
        once &= seen[i] == 1;
    EXPECT(once);
    free(seen), free(all);
}

static int64_t *shard0_global(const char *dir, const gnet_manifest *m)
{
    return read_global(dir, 0, m->shards, m->shard_size[0]);
}

static void test_determinism(const char *src, const char *dir)
{
    gnet_manifest *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    int64_t *g0 = shard0_global(dir, &g_m);
    EXPECT(prepare(src, pathf("%s/again", g_root), 3, 7, a) == 0);
    EXPECT(strcmp(a->id, g_m.id) == 0);
    int64_t *g1 = shard0_global(pathf("%s/again", g_root), a);
    EXPECT(memcmp(g0, g1, (size_t)a->shard_size[0] * sizeof *g0) == 0);
    EXPECT(prepare(src, pathf("%s/seed8", g_root), 3, 8, b) == 0);
    int64_t *g2 = shard0_global(pathf("%s/seed8", g_root), b);
    EXPECT(strcmp(b->id, g_m.id) != 0 && memcmp(g0, g2, (size_t)b->shard_size[0] * 8) != 0);
    EXPECT(prepare(src, pathf("%s/four", g_root), 4, 7, a) == 0 && strcmp(a->id, g_m.id) != 0);
    free(g0), free(g1), free(g2), free(a), free(b);
}

/* ---- bad manifests ----------------------------------------------------------------------- */

/* Writes DIR/manifest.txt: the good one with the first line starting "KEY " (or, for a KEY
 * ending in '.', every line starting KEY) replaced by `with` and the others dropped (NULL
 * key: none), and `extra` appended. */
static const char *manifest_case(const char *key, const char *with, const char *extra)
{
    static int n;
    static char dir[4096]; /* valid until the next call */
    snprintf(dir, sizeof dir, "%s/manifest%d", g_root, n++);
    mkdir(dir, 0777);
    FILE *in = fopen(pathf("%s/main/manifest.txt", g_root), "r");
    FILE *out = fopen(pathf("%s/manifest.txt", dir), "w");
    char line[512];
    size_t klen = key ? strlen(key) : 0;
    int replaced = 0;
    while (in && out && fgets(line, sizeof line, in)) {
        int match = key && strncmp(line, key, klen) == 0 &&
                    (line[klen] == ' ' || key[klen - 1] == '.');
        if (!match)
            fputs(line, out);
        else if (!replaced++)
            fputs(with, out);
    }
    if (out)
        fputs(extra ? extra : "", out);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    return dir;
}

static void expect_manifest_refused(int line, const char *dir, const char *problem)
{
    char err[2048];
    gnet_manifest *m = malloc(sizeof *m);
    test_capture_begin(&g_cap);
    int rc = gnet_manifest_read(dir, m);
    test_capture_end(&g_cap, err, sizeof err);
    EXPECT(rc == -1);
    expect_one_error(line, err, pathf("%s/manifest.txt", dir), problem);
    free(m);
}

/* The main preparation has 3 shards of 334, 334, 333. */
static void test_bad_manifests(void)
{
    static const struct {
        const char *key, *with, *extra, *problem;
    } cases[] = {
        {NULL, NULL, "colour = red\n", "unknown key 'colour'"},
        {NULL, NULL, "col\033[2Jour = red\n", "unknown key 'col\\x1b[2Jour'"},
        {"id", "", NULL, "missing key 'id'"},
        {"seed", "", NULL, "missing key 'seed'"},
        {"crc32_test_labels", "", NULL, "missing key 'crc32_test_labels'"},
        {"rows", "rows = 5x\n", NULL, "rows = '5x'"},
        {"rows", "rows = -5\n", NULL, "rows = '-5'"},
        {"cols", "cols = 0\n", NULL, "cols = '0'"},
        {"seed", "seed = 18446744073709551616\n", NULL, "seed = '18446744073709551616'"},
        {"shards", "shards = 4097\n", NULL, "shards = '4097'"},
        {"train_count", "train_count = 99999999999\n", NULL, "train_count = '99999999999'"},
        {"train_count", "train_count = 1000\n", NULL, "sum to 1001"},
        {"shard_size.", "shard_size.0 = 335\nshard_size.1 = 334\nshard_size.2 = 332\n", NULL,
         "differ by at most one"},
        {"shard_size.", "shard_size.0 = 333\nshard_size.1 = 334\nshard_size.2 = 334\n", NULL,
         "must descend"},
        {NULL, NULL, "shard_size.3 = 1\n", "'shard_size.3' given, but shards = 3"},
        {"shard_size.2", "", NULL, "missing key 'shard_size.2'"},
        {"shard_size.1", "shard_size.1 = x\n", NULL, "shard_size.1 = 'x'"},
        {"shard_size.1", "shard_size.one = 334\n", NULL, "unknown key 'shard_size.one'"},
        {"shard_size.1", "shard_size.4096 = 334\n", NULL, "unknown key 'shard_size.4096'"},
        {NULL, NULL, "seed = 1\n", "'seed' given twice"},
        {NULL, NULL, "shard_size.0 = 334\n", "'shard_size.0' given twice"},
        {"format_version", "format_version = 1\n", NULL,
         "format_version 1: an older preparation (version 2 added the files' sizes and "
         "checksums); prepare it again (gnet_prepare --force)"},
        {"format_version", "format_version = 3\n", NULL, "unsupported format_version 3"},
        {"shard_file.1", "", NULL, "missing key 'shard_file.1' (shards = 3)"},
        {"test_file", "", NULL, "missing key 'test_file'"},
        {NULL, NULL, "shard_file.3 = 5 0000abcd\n", "'shard_file.3' given, but shards = 3"},
        {NULL, NULL, "test_file = 5 0000abcd\n", "'test_file' given twice"},
        {NULL, NULL, "shard_file.0 = 5 0000abcd\n", "'shard_file.0' given twice"},
        {"test_file", "test_file = 100\n", NULL,
         "test_file = '100': expected a size in bytes and a CRC-32"},
        {"shard_file.0", "shard_file.0 = 0 0000abcd\n", NULL, "shard_file.0 = '0 0000abcd'"},
        {"shard_file.0", "shard_file.0 = 12 0000ABCD\n", NULL, "shard_file.0 = '12 0000ABCD'"},
        {"shard_file.0", "shard_file.0 = 12 0000abcd x\n", NULL, "shard_file.0 = '12 0000abcd x'"},
        {"shard_file.0", "shard_file.0 = 4611686018427387905 0000abcd\n", NULL,
         "shard_file.0 = '4611686018427387905 0000abcd'"},
        {"shard_file.0", "shard_file.x = 12 0000abcd\n", NULL, "unknown key 'shard_file.x'"},
        {NULL, NULL, "this line has no equals sign\n", "expected 'key = value'"},
        {"crc32_train_images", "crc32_train_images = xyz\n", NULL, "crc32_train_images = 'xyz'"},
        {"id", "id = two words\n", NULL, "id = 'two words'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_manifest_refused(__LINE__,
                                manifest_case(cases[i].key, cases[i].with, cases[i].extra),
                                cases[i].problem);
    expect_manifest_refused(__LINE__, pathf("%s/nowhere", g_root), "cannot open");
    /* comments, blank lines and spacing are fine */
    gnet_manifest *m = malloc(sizeof *m);
    EXPECT(gnet_manifest_read(manifest_case("seed", "  seed=7  \r\n", "\n# note\n   \n"), m) == 0);
    EXPECT(m->seed == 7 && strcmp(m->id, g_m.id) == 0 && m->shard_size[2] == 333);
    free(m);
}

/* ---- bad shard files --------------------------------------------------------------------- */

/* The size and zlib CRC-32 of the file at path, as gnet_prepare puts them in the manifest. */
static gnet_file_sum file_sum(const char *path)
{
    gnet_file_sum sum = {0, (uint32_t)crc32(0, NULL, 0)};
    FILE *f = fopen(path, "rb");
    unsigned char buf[65536];
    for (size_t n; f && (n = fread(buf, 1, sizeof buf, f)) > 0; sum.bytes += (int64_t)n)
        sum.crc32 = (uint32_t)crc32(sum.crc32, buf, (uInt)n);
    if (f)
        fclose(f);
    return sum;
}

/* g_m, vouching for the file at path as file `index`'s (its size and CRC-32): what a crafted
 * file with a matching manifest, or one damaged before gnet_prepare summed it, looks like.
 * The checks behind the checksum are for those. */
static const gnet_manifest *vouching(const char *path, int index)
{
    static gnet_manifest m;
    m = g_m;
    *(index < 0 ? &m.test_file : &m.shard_file[index]) = file_sum(path);
    return &m;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    EXPECT(in && out);
    char buf[65536];
    for (size_t n; in && out && (n = fread(buf, 1, sizeof buf, in)) > 0;)
        EXPECT(fwrite(buf, 1, n, out) == n);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

/* A copy of the main preparation to break one file of. */
static const char *case_dir(void)
{
    static int n;
    static char dir[4096]; /* valid until the next call */
    snprintf(dir, sizeof dir, "%s/case%d", g_root, n++);
    EXPECT(mkdir(dir, 0777) == 0);
    copy_file(pathf("%s/main/manifest.txt", g_root), pathf("%s/manifest.txt", dir));
    for (int s = -1; s < g_m.shards; s++) {
        char from[4200], to[4200];
        gnet_shard_path(from, sizeof from, pathf("%s/main", g_root), s, g_m.shards);
        gnet_shard_path(to, sizeof to, dir, s, g_m.shards);
        copy_file(from, to);
    }
    return dir;
}

static hid_t open_rw(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    EXPECT(f >= 0);
    return f;
}

/* Replaces dataset NAME with an unwritten one of the given type and shape. */
static void put_dataset(const char *path, const char *name, hid_t type, int rank, hsize_t d0,
                        hsize_t d1, hsize_t d2)
{
    hsize_t dims[3] = {d0, d1, d2};
    hid_t f = open_rw(path);
    EXPECT(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT(d >= 0);
    H5Dclose(d), H5Sclose(sp), H5Fclose(f);
}

static void put_str_attr(const char *path, const char *name, const char *value)
{
    hid_t f = open_rw(path);
    H5Adelete(f, name);
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    H5Tset_size(t, H5T_VARIABLE); /* as h5py writes a str */
    hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT(a >= 0 && H5Awrite(a, t, &value) >= 0);
    H5Aclose(a), H5Sclose(sp), H5Tclose(t), H5Fclose(f);
}

#define N1 ((hsize_t)g_m.shard_size[1])
static void m_unlink(const char *p) { unlink(p); }
static void m_text(const char *p)
{
    FILE *f = fopen(p, "w");
    fputs("not hdf5\n", f);
    fclose(f);
}
static void m_empty(const char *p) { EXPECT(truncate(p, 0) == 0); }
static void m_no_images(const char *p)
{
    hid_t f = open_rw(p);
    EXPECT(H5Ldelete(f, "images", H5P_DEFAULT) >= 0);
    H5Fclose(f);
}
static void m_no_labels(const char *p)
{
    hid_t f = open_rw(p);
    EXPECT(H5Ldelete(f, "labels", H5P_DEFAULT) >= 0);
    H5Fclose(f);
}
static void m_images_group(const char *p)
{
    hid_t f = open_rw(p);
    EXPECT(H5Ldelete(f, "images", H5P_DEFAULT) >= 0);
    H5Gclose(H5Gcreate2(f, "images", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Fclose(f);
}
/* images chunked [N1, ROWS, COLS + 1]: a chunk larger than the dataset, which HDF5 allows only
 * below an unlimited maximum (damaged files hold it for fixed sizes too, and HDF5 1.10 then
 * crashes reading them: fuzz_shard's crash-chunk-larger-than-dataset). */
static void m_images_big_chunk(const char *p)
{
    hsize_t dims[3] = {N1, ROWS, COLS}, maxdims[3] = {H5S_UNLIMITED, ROWS, COLS + 1};
    hsize_t chunk[3] = {N1, ROWS, COLS + 1};
    hid_t f = open_rw(p);
    EXPECT(H5Ldelete(f, "images", H5P_DEFAULT) >= 0);
    hid_t sp = H5Screate_simple(3, dims, maxdims), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    EXPECT(H5Pset_chunk(dcpl, 3, chunk) >= 0);
    hid_t d = H5Dcreate2(f, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    EXPECT(d >= 0);
    H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp), H5Fclose(f);
}

static void m_images_i16(const char *p) { put_dataset(p, "images", H5T_STD_I16LE, 3, N1, ROWS, COLS); }
static void m_images_i8(const char *p) { put_dataset(p, "images", H5T_STD_I8LE, 3, N1, ROWS, COLS); }
static void m_images_f32(const char *p) { put_dataset(p, "images", H5T_IEEE_F32LE, 3, N1, ROWS, COLS); }
static void m_images_swapped(const char *p) { put_dataset(p, "images", H5T_STD_U8LE, 3, N1, COLS, ROWS); }
static void m_images_short(const char *p) { put_dataset(p, "images", H5T_STD_U8LE, 3, N1 - 1, ROWS, COLS); }
static void m_labels_short(const char *p) { put_dataset(p, "labels", H5T_STD_U8LE, 1, N1 - 1, 0, 0); }
static void m_labels_2d(const char *p) { put_dataset(p, "labels", H5T_STD_U8LE, 2, N1, 1, 0); }
static void m_no_id(const char *p)
{
    hid_t f = open_rw(p);
    EXPECT(H5Adelete(f, "id") >= 0);
    H5Fclose(f);
}
static void m_id_other(const char *p) { put_str_attr(p, "id", "0123456789abcdef"); }
static void m_id_vlen(const char *p) { put_str_attr(p, "id", g_m.id); }
static void m_index_str(const char *p) { put_str_attr(p, "shard_index", "1"); }
static void m_seed8(const char *p)
{
    copy_file(pathf("%s/seed8/train-00001-of-00003.h5", g_root), p);
}
static void m_shard0(const char *p)
{
    copy_file(pathf("%s/main/train-00000-of-00003.h5", g_root), p);
}
static void m_label12(const char *p)
{
    hid_t f = open_rw(p), d = H5Dopen2(f, "labels", H5P_DEFAULT), sp = H5Dget_space(d);
    hsize_t start = 5, one = 1;
    uint8_t v = 12;
    hid_t ms = H5Screate_simple(1, &one, NULL);
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, &start, NULL, &one, NULL);
    EXPECT(H5Dwrite(d, H5T_NATIVE_UINT8, ms, sp, H5P_DEFAULT, &v) >= 0);
    H5Sclose(ms), H5Sclose(sp), H5Dclose(d), H5Fclose(f);
}

static void test_bad_shards(void)
{
    static const struct {
        void (*mutate)(const char *path);
        int index; /* the file broken and opened: 1, or -1 for test.h5 */
        const char *problem;
    } cases[] = {
        {m_unlink, 1, "cannot open: No such file"},
        {m_text, 1, "not an HDF5 file"},
        {m_empty, -1, "not an HDF5 file"},
        {m_no_images, 1, "no dataset 'images'"},
        {m_no_labels, 1, "no dataset 'labels'"},
        {m_images_group, 1, "'images' is not a dataset"},
        {m_images_i16, 1, "'images' is signed 2-byte integers, expected uint8"},
        {m_images_i8, 1, "'images' is signed 1-byte integers, expected uint8"},
        {m_images_f32, 1, "'images' is not an integer type"},
        {m_images_swapped, 1, "'images' has shape [334,7,5], the manifest says [334,5,7]"},
        {m_images_short, 1, "'images' has shape [333,5,7], the manifest says [334,5,7]"},
        {m_labels_short, 1, "'labels' has shape [333], the manifest says [334]"},
        {m_labels_2d, 1, "'labels' has shape [334,1]"},
        {m_images_big_chunk, 1, "dataset 'images' has a storage layout that cannot hold its shape"},
        {m_no_id, 1, "no attribute 'id'"},
        {m_id_other, 1, "a shard from another preparation (id '0123456789abcdef'"},
        {m_seed8, 1, "a shard from another preparation"},
        {m_shard0, 1, "holds shard_index 0 of shard_count 3, expected 1 of 3"},
        {m_shard0, -1, "holds shard_index 0 of shard_count 3, expected -1 of 1"},
        {m_index_str, 1, "attribute 'shard_index' is not an integer"},
    };
    char err[2048], path[4200];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *dir = case_dir();
        gnet_shard_path(path, sizeof path, dir, cases[i].index, g_m.shards);
        cases[i].mutate(path);
        test_capture_begin(&g_cap);
        gnet_shard *s = gnet_shard_open(dir, vouching(path, cases[i].index), cases[i].index);
        test_capture_end(&g_cap, err, sizeof err);
        EXPECT(s == NULL);
        expect_one_error(__LINE__, err, path, cases[i].problem);
        gnet_shard_close(s);
    }
    const char *dir = case_dir();
    test_capture_begin(&g_cap);
    EXPECT(gnet_shard_open(dir, &g_m, 3) == NULL);
    test_capture_end(&g_cap, err, sizeof err);
    expect_one_error(__LINE__, err, "train-00003-of-00003.h5", "no such shard");
    /* h5py's variable-length string id is as good as the fixed-length one */
    gnet_shard_path(path, sizeof path, dir, 1, g_m.shards);
    m_id_vlen(path);
    gnet_shard *s = gnet_shard_open(dir, vouching(path, 1), 1);
    EXPECT(s != NULL);
    gnet_shard_close(s);
}

static void flip_middle(const char *p)
{
    struct stat st;
    EXPECT(stat(p, &st) == 0);
    FILE *f = fopen(p, "r+b");
    EXPECT(f && fseek(f, (long)st.st_size / 2, SEEK_SET) == 0);
    int c = f ? fgetc(f) : 0;
    if (f && fseek(f, (long)st.st_size / 2, SEEK_SET) == 0)
        fputc(c ^ 0x10, f);
    if (f)
        fclose(f);
}
static void cut_half(const char *p)
{
    struct stat st;
    EXPECT(stat(p, &st) == 0 && truncate(p, st.st_size / 2) == 0);
}
static void add_byte(const char *p)
{
    FILE *f = fopen(p, "ab");
    EXPECT(f && fputc(0, f) == 0);
    if (f)
        fclose(f);
}
static void m_fifo(const char *p) { EXPECT(unlink(p) == 0 && mkfifo(p, 0600) == 0); }
static void m_dir(const char *p) { EXPECT(unlink(p) == 0 && mkdir(p, 0700) == 0); }

/* A file that differs from the one gnet_prepare wrote is refused by its size or CRC-32,
 * before libhdf5 reads it (which crashes on some damaged files: docs/reliability.md); a FIFO
 * in its place is refused, not waited on. */
static void test_damaged_files(void)
{
    char main_path[4200], path[4200], err[2048];
    for (int s = -1; s < g_m.shards; s++) {
        gnet_shard_path(main_path, sizeof main_path, pathf("%s/main", g_root), s, g_m.shards);
        gnet_file_sum got = file_sum(main_path);
        const gnet_file_sum *want = gnet_manifest_file(&g_m, s);
        EXPECT(got.bytes > 0 && got.bytes == want->bytes && got.crc32 == want->crc32);
    }
    long long n1 = (long long)gnet_manifest_file(&g_m, 1)->bytes;
    char cut[128], added[160], emptied[128];
    snprintf(cut, sizeof cut, "truncated: %lld of %lld bytes", n1 / 2, n1);
    snprintf(added, sizeof added,
             "has %lld bytes, the manifest's size is %lld: not the file gnet wrote", n1 + 1, n1);
    snprintf(emptied, sizeof emptied, "truncated: 0 of %lld bytes", n1);
    const struct {
        void (*mutate)(const char *path);
        const char *problem;
    } cases[] = {
        {flip_middle, "damaged: its CRC-32 is "},
        {cut_half, cut},
        {add_byte, added},
        {m_empty, emptied},
        {m_fifo, "not a regular file"},
        {m_dir, "not a regular file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *dir = case_dir();
        gnet_shard_path(path, sizeof path, dir, 1, g_m.shards);
        cases[i].mutate(path);
        test_capture_begin(&g_cap);
        gnet_shard *s = gnet_shard_open(dir, &g_m, 1);
        test_capture_end(&g_cap, err, sizeof err);
        EXPECT(s == NULL);
        expect_one_error(__LINE__, err, path, cases[i].problem);
        gnet_shard_close(s);
    }
}

/* Indices out of range, a negative count and a label >= 10 fail the read, naming the file. */
static void test_bad_reads(void)
{
    char err[2048], path[4200];
    const char *dir = case_dir();
    gnet_shard_path(path, sizeof path, dir, 1, g_m.shards);
    m_label12(path);
    gnet_shard *s = gnet_shard_open(dir, vouching(path, 1), 1);
    EXPECT(s != NULL);
    if (!s)
        return;
    uint8_t img[3 * ROWS * COLS], lab[3];
    static const struct {
        int64_t idx[3];
        int n;
        const char *problem;
    } cases[] = {
        {{0, 334, 1}, 3, "sample index 334 out of range (the shard has 334)"},
        {{-1}, 1, "sample index -1 out of range"},
        {{0}, -1, "negative sample count -1"},
        {{4, 5, 6}, 3, "sample 5 has label 12 (labels are 0..9)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_capture_begin(&g_cap);
        int rc = gnet_shard_read(s, cases[i].idx, cases[i].n, img, lab);
        test_capture_end(&g_cap, err, sizeof err);
        EXPECT(rc == -1);
        expect_one_error(__LINE__, err, path, cases[i].problem);
    }
    int64_t fine[2] = {6, 4};
    EXPECT(gnet_shard_read(s, fine, 2, img, lab) == 0);
    gnet_shard_close(s);
}

/* ---- the real data ----------------------------------------------------------------------- */

static long long dir_bytes(const char *dir, const gnet_manifest *m)
{
    long long total = 0;
    struct stat st;
    char path[4200];
    for (int s = -1; s < m->shards; s++) {
        gnet_shard_path(path, sizeof path, dir, s, m->shards);
        total += stat(path, &st) == 0 ? (long long)st.st_size : 0;
    }
    return total;
}

typedef struct {
    int64_t class_total[10];
    uint64_t pixel_sum;
    int every_class;
    int64_t mismatches;
} real_stats;

/* Reads a whole shard in batches of 1000 in order: classes, pixels, and each sample against
 * the source at its global index (every index once: `seen`). */
static void scan_shard(const char *dir, const gnet_manifest *m, int s, const gnet_idx_set *set,
                       real_stats *st, char *seen)
{
    gnet_shard *sh = gnet_shard_open(dir, m, s);
    EXPECT(sh != NULL);
    if (!sh)
        return;
    int64_t n = gnet_shard_count(sh), idx[1000], classes[10] = {0};
    int64_t *global = read_global(dir, s, m->shards, n);
    size_t sb = (size_t)m->rows * (size_t)m->cols;
    uint8_t *img = malloc(1000 * sb), lab[1000];
    for (int64_t b = 0; b < n; b += 1000) {
        int len = (int)(n - b < 1000 ? n - b : 1000);
        for (int i = 0; i < len; i++)
            idx[i] = b + i;
        EXPECT(gnet_shard_read(sh, idx, len, img, lab) == 0);
        for (int i = 0; i < len; i++) {
            int64_t g = global[b + i];
            classes[lab[i]]++;
            for (size_t p = 0; p < sb; p++)
                st->pixel_sum += img[i * sb + p];
            st->mismatches += g < 0 || g >= set->n || lab[i] != set->labels[g] ||
                              memcmp(img + i * sb, set->images + g * sb, sb) != 0;
            if (seen && g >= 0 && g < set->n)
                seen[g]++;
            else if (!seen)
                st->mismatches += g != b + i;
        }
    }
    int64_t lo = n, hi = 0;
    for (int c = 0; c < 10; c++) {
        st->class_total[c] += classes[c];
        st->every_class &= classes[c] > 0;
        lo = classes[c] < lo ? classes[c] : lo;
        hi = classes[c] > hi ? classes[c] : hi;
    }
    printf("%s %d: %lld samples, %lld..%lld per class\n", s < 0 ? "test" : "shard", s,
           (long long)n, (long long)lo, (long long)hi);
    free(img), free(global);
    gnet_shard_close(sh);
}

/* Random batches of 256 from a freshly opened shard (cold cache first), checked. */
static void random_batches(const char *dir, const gnet_manifest *m, int s,
                           const gnet_idx_set *set)
{
    gnet_shard *sh = gnet_shard_open(dir, m, s);
    EXPECT(sh != NULL);
    if (!sh)
        return;
    int64_t n = gnet_shard_count(sh), idx[256];
    int64_t *global = read_global(dir, s, m->shards, n);
    gnet_rng r;
    gnet_rng_init(&r, 99 + (uint64_t)s);
    double t0 = gnet_now();
    for (int b = 0; b < 100; b++) {
        for (int i = 0; i < 256; i++)
            idx[i] = gnet_rng_below(&r, (uint32_t)n);
        check_read(sh, idx, 256, set, global);
    }
    printf("shard %d: 100 random batches of 256 read and checked in %.3f s\n", s, gnet_now() - t0);
    free(global);
    gnet_shard_close(sh);
}

static int test_real(void)
{
    struct stat st;
    if (stat(REAL_DIR, &st) != 0) {
        printf("skipped: %s is not installed\n", REAL_DIR);
        return 77;
    }
    EXPECT(mkdtemp(g_root) != NULL);
    char *out = strdup(pathf("%s/fmnist", g_root));
    gnet_manifest *m = malloc(sizeof *m);
    double t0 = gnet_now();
    EXPECT(prepare(REAL_DIR, out, 4, 0, m) == 0);
    printf("prepared 4 shards in %.2f s, %lld bytes of .h5 files, id %s\n", gnet_now() - t0,
           dir_bytes(out, m), m->id);
    gnet_idx_set train, test;
    EXPECT(gnet_idx_load(REAL_DIR, "train", &train) == 0 &&
           gnet_idx_load(REAL_DIR, "t10k", &test) == 0);
    EXPECT(m->shards == 4 && m->train_count == 60000 && m->test_count == 10000);
    real_stats tr = {.every_class = 1}, te = {.every_class = 1};
    char *seen = calloc(60000, 1);
    for (int s = 0; s < 4; s++) {
        EXPECT(m->shard_size[s] == 15000);
        scan_shard(out, m, s, &train, &tr, seen);
        random_batches(out, m, s, &train);
    }
    scan_shard(out, m, -1, &test, &te, NULL);
    int perm = 1;
    for (int i = 0; i < 60000; i++)
        perm &= seen[i] == 1;
    EXPECT(perm && tr.every_class && tr.mismatches == 0 && te.mismatches == 0);
    for (int c = 0; c < 10; c++)
        EXPECT(tr.class_total[c] == 6000 && te.class_total[c] == 1000);
    double mean = (double)tr.pixel_sum / (60000.0 * 784.0) / 255.0;
    printf("train pixel mean / 255 = %.5f\n", mean);
    EXPECT_NEAR(mean, 0.2860, 1e-4);
    gnet_idx_free(&train), gnet_idx_free(&test);
    free(seen), free(m), free(out);
    rm_rf(g_root);
    TEST_MAIN_END();
}

/* ---- main -------------------------------------------------------------------------------- */

/* No OUT.tmp.<pid> or OUT.old.<pid> left in the test's directory. */
static void expect_no_leftovers(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q -e '\\.tmp\\.' -e '\\.old\\.'", g_root);
    EXPECT(system(cmd) != 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--real") == 0)
        return test_real();
    EXPECT(mkdtemp(g_root) != NULL);
    char *src = strdup(pathf("%s/src", g_root)), *main_dir = strdup(pathf("%s/main", g_root));
    EXPECT(mkdir(src, 0777) == 0);
    write_idx(src, "train", N_TRAIN, 0);
    write_idx(src, "t10k", N_TEST, 5000);
    gnet_idx_set train, test;
    EXPECT(gnet_idx_load(src, "train", &train) == 0 && gnet_idx_load(src, "t10k", &test) == 0);

    EXPECT(prepare(src, main_dir, 3, 7, &g_m) == 0);
    EXPECT(g_m.shards == 3 && g_m.rows == ROWS && g_m.cols == COLS && g_m.seed == 7);
    EXPECT(g_m.train_count == N_TRAIN && g_m.test_count == N_TEST && strlen(g_m.id) == 16);
    check_prepared(main_dir, &g_m, &train, &test);
    static const int other_shards[] = {1, 2, 10, N_TRAIN}; /* N_TRAIN: one sample each */
    for (size_t i = 0; i < sizeof other_shards / sizeof other_shards[0]; i++) {
        gnet_manifest *m = malloc(sizeof *m);
        const char *dir = pathf("%s/shards%d", g_root, other_shards[i]);
        EXPECT(prepare(src, dir, other_shards[i], 1, m) == 0);
        check_prepared(dir, m, &train, &test);
        free(m);
    }
    test_determinism(src, main_dir);
    test_bad_manifests();
    test_bad_shards();
    test_damaged_files();
    test_bad_reads();
    expect_no_leftovers();
    gnet_idx_free(&train), gnet_idx_free(&test);
    free(src), free(main_dir);
    rm_rf(g_root);
    TEST_MAIN_END();
}
