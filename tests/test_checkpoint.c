/* HDF5 checkpoint: round trips (with and without optimizer state and meta), validation
 * failures that leave the caller's arrays untouched, the seal (a flipped bit anywhere, one
 * byte more, a damaged or stripped seal, an unsealed version 2 file), per-tensor checksums
 * behind a matching seal (a flipped byte, a truncated file, a missing checksum, an old
 * version, a plain h5py-style dump), non-finite
 * values (refused on load with a valid checksum, never saved), and atomic-save hygiene (no
 * temporary file left, no FIFO written over). Error lines printed by the expected failures are part of the normal
 * output. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <zlib.h>

#include "core/checkpoint.h"
#include "core/filesum.h"
#include "test_files.h"
#include "test_util.h"

#define N_SPECS 5

/* Fills offsets (with a gap between entries, so packed vs arena layout matters); returns
 * the arena size in floats. */
static size_t layout(gnet_param_spec *specs, int n)
{
    size_t off = 3;
    for (int i = 0; i < n; i++) {
        specs[i].offset = off;
        off += specs[i].count + 5;
    }
    return off;
}

static void fake_specs(gnet_param_spec *specs)
{
    specs[0] = test_spec("0.0.weight", 4, 4, 1, 3, 3);
    specs[1] = test_spec("0.0.bias", 1, 4, 0, 0, 0);
    specs[2] = test_spec("2.0.p1_1.weight", 4, 2, 4, 1, 1);
    specs[3] = test_spec("5.weight", 2, 3, 8, 0, 0);
    specs[4] = test_spec("5.bias", 1, 3, 0, 0, 0);
}

static float *filled(size_t n, float base)
{
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = base + 0.25f * (float)i;
    return p;
}

static int same_params(const gnet_param_spec *specs, int n, const float *a, const float *b)
{
    for (int i = 0; i < n; i++)
        if (memcmp(a + specs[i].offset, b + specs[i].offset, specs[i].count * sizeof(float)))
            return 0;
    return 1;
}

static gnet_ckpt_meta sample_meta(void)
{
    gnet_ckpt_meta m;
    memset(&m, 0, sizeof m);
    m.epoch = 7;
    m.step = 123456789012LL;
    m.seed = 0xfedcba9876543210ULL;
    m.batch_size = 64;
    m.resize = 96;
    m.lr = 0.05;
    m.momentum = 0.9;
    m.weight_decay = 1e-4;
    snprintf(m.config, sizeof m.config, "gnet_dist --epochs 10 --lr 0.05 --data 'a b'");
    return m;
}

static int count_entries(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && (!needle || strstr(e->d_name, needle)))
            count++;
    closedir(d);
    return count;
}

/* m as the one state buffer SGD saves (/optimizer), or NULL. */
#define MOM(m) ((m) ? &(gnet_ckpt_state){.n = 1, .group = {"optimizer"}, .data = {(float *)(m)}} : NULL)

static void join(char *out, size_t cap, const char *dir, const char *name)
{
    if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap)
        abort();
}

static void test_round_trip(const char *dir, const gnet_param_spec *specs, size_t arena)
{
    char path[512];
    join(path, sizeof path, dir, "full.h5");
    float *p = filled(arena, 1.0f), *m = filled(arena, -3.0f);
    gnet_ckpt_meta meta = sample_meta();
    EXPECT(gnet_ckpt_save(path, specs, N_SPECS, p, MOM(m), &meta) == 0);

    float *p2 = calloc(arena, sizeof(float)), *m2 = calloc(arena, sizeof(float));
    gnet_ckpt_meta meta2;
    memset(&meta2, 0, sizeof meta2);
    EXPECT(gnet_ckpt_load(path, specs, N_SPECS, p2, MOM(m2), &meta2) == 0);
    EXPECT(same_params(specs, N_SPECS, p, p2));
    EXPECT(same_params(specs, N_SPECS, m, m2));
    EXPECT(p2[0] == 0.0f && p2[arena - 1] == 0.0f); /* gaps not written */
    EXPECT(meta2.epoch == meta.epoch && meta2.step == meta.step && meta2.seed == meta.seed);
    EXPECT(meta2.batch_size == 64 && meta2.resize == 96);
    EXPECT(meta2.lr == meta.lr && meta2.momentum == meta.momentum);
    EXPECT(meta2.weight_decay == meta.weight_decay);
    EXPECT(strcmp(meta2.config, meta.config) == 0);

    /* Parameters only, no meta requested. */
    float *p3 = calloc(arena, sizeof(float));
    EXPECT(gnet_ckpt_load(path, specs, N_SPECS, p3, NULL, NULL) == 0);
    EXPECT(same_params(specs, N_SPECS, p, p3));

    /* Overwriting an existing checkpoint. */
    EXPECT(gnet_ckpt_save(path, specs, N_SPECS, m, NULL, &meta) == 0);
    EXPECT(gnet_ckpt_load(path, specs, N_SPECS, p3, NULL, NULL) == 0);
    EXPECT(same_params(specs, N_SPECS, m, p3));
    free(p), free(m), free(p2), free(m2), free(p3);
}

static void test_without_momentum(const char *dir, const gnet_param_spec *specs, size_t arena)
{
    char path[512];
    join(path, sizeof path, dir, "params.h5");
    float *p = filled(arena, 2.0f);
    EXPECT(gnet_ckpt_save(path, specs, N_SPECS, p, NULL, NULL) == 0);
    float *p2 = calloc(arena, sizeof(float)), *m2 = calloc(arena, sizeof(float));
    EXPECT(gnet_ckpt_load(path, specs, N_SPECS, p2, NULL, NULL) == 0);
    EXPECT(same_params(specs, N_SPECS, p, p2));

    /* Asking for what the file lacks fails and changes nothing. */
    float *p3 = calloc(arena, sizeof(float)), *m3 = calloc(arena, sizeof(float));
    gnet_ckpt_meta meta;
    memset(&meta, 0x5a, sizeof meta);
    gnet_ckpt_meta meta_before = meta;
    EXPECT(gnet_ckpt_load(path, specs, N_SPECS, p3, MOM(m3), NULL) == -1);
    EXPECT(gnet_ckpt_load(path, specs, N_SPECS, p3, NULL, &meta) == -1);
    EXPECT(same_params(specs, N_SPECS, p3, m2)); /* still all zero */
    EXPECT(same_params(specs, N_SPECS, m3, m2));
    EXPECT(memcmp(&meta, &meta_before, sizeof meta) == 0);
    free(p), free(p2), free(m2), free(p3), free(m3);
}

/* The error output of the last load_capturing call. */
static char g_err[2048];

/* gnet_ckpt_load with stderr captured into g_err (and then printed as usual). */
static int load_capturing(const char *path, const gnet_param_spec *specs, float *p, float *m)
{
    test_capture cap;
    test_capture_begin(&cap);
    int rc = gnet_ckpt_load(path, specs, N_SPECS, p, MOM(m), NULL);
    test_capture_end(&cap, g_err, sizeof g_err);
    fputs(g_err, stderr);
    return rc;
}

/* The load fails with one error line that names path and contains needle (unless NULL),
 * and the caller's arrays are untouched. */
static void expect_refused(const char *path, const gnet_param_spec *specs, size_t arena,
                           const char *needle)
{
    float *p = filled(arena, 9.0f), *before = filled(arena, 9.0f);
    float *m = filled(arena, 4.0f), *mbefore = filled(arena, 4.0f);
    EXPECT(load_capturing(path, specs, p, m) == -1);
    EXPECT(strstr(g_err, path) != NULL);
    EXPECT(strchr(g_err, '\n') == g_err + strlen(g_err) - 1);
    if (needle && !strstr(g_err, needle)) {
        fprintf(stderr, "expected '%s' in the error\n", needle);
        EXPECT(!"the error names the problem");
    }
    EXPECT(memcmp(p, before, arena * sizeof(float)) == 0);
    EXPECT(memcmp(m, mbefore, arena * sizeof(float)) == 0);
    free(p), free(before), free(m), free(mbefore);
}

static void expect_load_fails(const char *path, const gnet_param_spec *specs, size_t arena)
{
    expect_refused(path, specs, arena, NULL);
}

static void test_validation(const char *dir, const gnet_param_spec *specs, size_t arena)
{
    char path[512];
    join(path, sizeof path, dir, "valid.h5");
    float *p = filled(arena, 1.0f);
    EXPECT(gnet_ckpt_save(path, specs, N_SPECS, p, MOM(p), NULL) == 0);
    free(p);

    gnet_param_spec bad[N_SPECS];
    memcpy(bad, specs, sizeof bad);
    bad[3] = test_spec("5.weight", 2, 3, 9, 0, 0); /* wrong shape, last-but-one entry */
    size_t bad_arena = layout(bad, N_SPECS);
    expect_refused(path, bad, bad_arena, "dataset '5.weight': expected shape [3,9], found [3,8]");

    memcpy(bad, specs, sizeof bad);
    bad[2] = test_spec("2.0.p1_1.weight", 2, 2, 4, 0, 0); /* wrong rank, same count */
    expect_load_fails(path, bad, layout(bad, N_SPECS));

    memcpy(bad, specs, sizeof bad);
    bad[4] = test_spec("5.bias_missing", 1, 3, 0, 0, 0); /* another model: a missing tensor */
    expect_refused(path, bad, layout(bad, N_SPECS), "no dataset '5.bias_missing'");

    char other[512];
    join(other, sizeof other, dir, "not_hdf5.h5");
    FILE *fp = fopen(other, "w");
    fputs("this is not an HDF5 file\n", fp);
    fclose(fp);
    expect_load_fails(other, specs, arena);

    join(other, sizeof other, dir, "empty.h5");
    fclose(fopen(other, "w"));
    expect_load_fails(other, specs, arena);

    join(other, sizeof other, dir, "does_not_exist.h5");
    expect_load_fails(other, specs, arena);
    expect_load_fails(dir, specs, arena); /* a directory */
}

/* ---- checksums --------------------------------------------------------------------- */

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[4096];
    size_t n;
    EXPECT(in && out);
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        EXPECT(fwrite(buf, 1, n, out) == n);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

/* Where in the file dataset NAME's data starts (gnet writes contiguous datasets). */
static long data_offset(const char *path, const char *name)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    haddr_t at = H5Dget_offset(d);
    H5Dclose(d);
    H5Fclose(f);
    EXPECT(at != HADDR_UNDEF);
    return (long)at;
}

/* Flips one bit of the byte at offset. */
static void flip_byte(const char *path, long offset)
{
    FILE *fp = fopen(path, "r+b");
    EXPECT(fp && fseek(fp, offset, SEEK_SET) == 0);
    int c = fgetc(fp);
    EXPECT(c != EOF && fseek(fp, offset, SEEK_SET) == 0 && fputc(c ^ 0x10, fp) != EOF);
    fclose(fp);
}

/* The whole file at path into a malloc'd buffer of *n bytes. */
static unsigned char *slurp(const char *path, size_t *n)
{
    struct stat st;
    EXPECT(stat(path, &st) == 0);
    unsigned char *b = malloc((size_t)st.st_size + 1);
    FILE *fp = fopen(path, "rb");
    *n = fp && b ? fread(b, 1, (size_t)st.st_size, fp) : 0;
    if (fp)
        fclose(fp);
    return b;
}

static void spill(const char *path, const unsigned char *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    EXPECT(fp && fwrite(b, 1, n, fp) == n);
    if (fp)
        fclose(fp);
}

/* Seals the file at path again, as gnet_ckpt_save would have sealed its present bytes: what
 * an edited file with a matching seal (a crafted one) looks like, so that the checks behind
 * the seal can be tested. */
static void reseal(const char *path)
{
    size_t n;
    unsigned char *b = slurp(path, &n);
    EXPECT(n > GNET_SEAL_BYTES);
    gnet_seal(b, n);
    spill(path, b, n);
    free(b);
}

/* Removes the seal (the first GNET_SEAL_BYTES bytes): HDF5 still opens the rest. */
static void strip_seal(const char *path)
{
    size_t n;
    unsigned char *b = slurp(path, &n);
    EXPECT(n > GNET_SEAL_BYTES);
    spill(path, b + GNET_SEAL_BYTES, n - GNET_SEAL_BYTES);
    free(b);
}

/* Deletes attribute ATTR of object OBJ ("." for the root). */
static void drop_attr(const char *path, const char *obj, const char *attr)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    EXPECT(f >= 0 && H5Adelete_by_name(f, obj, attr, H5P_DEFAULT) >= 0);
    H5Fclose(f);
}

static void set_version(const char *path, int32_t v)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "version", H5P_DEFAULT);
    EXPECT(a >= 0 && H5Awrite(a, H5T_NATIVE_INT32, &v) >= 0);
    H5Aclose(a);
    H5Fclose(f);
}

/* Replaces 1-d dataset NAME of n floats with one chunked [n + 1], larger than itself: HDF5
 * allows that only below an unlimited maximum, a damaged file may hold it for any dataset, and
 * HDF5 1.10 crashes reading such a chunk (fuzz_shard found it). */
static void big_chunk(const char *path, const char *name, hsize_t n)
{
    hsize_t dims[1] = {n}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {n + 1};
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    EXPECT(f >= 0 && H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    hid_t sp = H5Screate_simple(1, dims, maxdims), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    EXPECT(H5Pset_chunk(dcpl, 1, chunk) >= 0);
    hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    EXPECT(d >= 0);
    H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp), H5Fclose(f);
}

static void test_checksums(const char *dir, const gnet_param_spec *specs, size_t arena)
{
    char valid[512], path[512];
    join(valid, sizeof valid, dir, "checked.h5");
    join(path, sizeof path, dir, "damaged.h5");
    float *p = filled(arena, 1.0f), *m = filled(arena, -2.0f), *got = calloc(arena, sizeof(float));
    EXPECT(gnet_ckpt_save(valid, specs, N_SPECS, p, MOM(m), NULL) == 0);

    /* One flipped bit anywhere: refused by the seal before libhdf5 reads the file. */
    copy_file(valid, path);
    flip_byte(path, data_offset(path, "5.weight") + 37);
    expect_refused(path, specs, arena, "damaged: its CRC-32 is ");
    copy_file(valid, path);
    flip_byte(path, GNET_SEAL_BYTES + 3); /* the superblock */
    expect_refused(path, specs, arena, "not an HDF5 file");
    copy_file(valid, path);
    flip_byte(path, 2); /* the seal itself */
    expect_refused(path, specs, arena, "damaged: its seal (the first 512 bytes) is unreadable");
    /* Behind a matching seal: refused by the tensor's own checksum, naming it. */
    copy_file(valid, path);
    flip_byte(path, data_offset(path, "5.weight") + 37);
    reseal(path);
    expect_refused(path, specs, arena, "dataset '5.weight' is corrupted");
    copy_file(valid, path);
    flip_byte(path, data_offset(path, "optimizer/0.0.bias") + 2);
    reseal(path);
    expect_refused(path, specs, arena, "dataset 'optimizer/0.0.bias' is corrupted");
    /* One byte more: the seal's size. */
    copy_file(valid, path);
    FILE *fp = fopen(path, "ab");
    EXPECT(fp && fputc(0, fp) == 0);
    if (fp)
        fclose(fp);
    expect_refused(path, specs, arena, "the seal's size is ");

    /* Truncated anywhere: refused. */
    struct stat st;
    EXPECT(stat(valid, &st) == 0);
    for (off_t keep = 0; keep < st.st_size; keep += st.st_size / 7 + 1) {
        copy_file(valid, path);
        EXPECT(truncate(path, keep) == 0);
        expect_load_fails(path, specs, arena);
    }
    copy_file(valid, path);
    EXPECT(truncate(path, st.st_size - 1) == 0);
    expect_load_fails(path, specs, arena);
    /* Cut at half its length: said as such, with both sizes (not HDF5's "unable to open"). */
    char want[96];
    copy_file(valid, path);
    EXPECT(truncate(path, st.st_size / 2) == 0);
    (void)snprintf(want, sizeof want, "truncated: %lld of %lld bytes", (long long)(st.st_size / 2),
                   (long long)st.st_size);
    expect_refused(path, specs, arena, want);

    /* A gnet checkpoint must carry every checksum, and be this version (sealed) or version 2
     * (before seals). */
    copy_file(valid, path);
    drop_attr(path, "2.0.p1_1.weight", "crc32");
    reseal(path);
    expect_refused(path, specs, arena, "dataset '2.0.p1_1.weight': no checksum attribute 'crc32'");
    copy_file(valid, path);
    set_version(path, 1);
    reseal(path);
    expect_refused(path, specs, arena, "unsupported checkpoint version 1");
    copy_file(valid, path);
    drop_attr(path, ".", "version");
    reseal(path);
    expect_refused(path, specs, arena, "no attribute 'version'");
    copy_file(valid, path);
    strip_seal(path);
    expect_refused(path, specs, arena,
                   "a version 3 checkpoint without its seal (the first 512 bytes)");
    copy_file(valid, path);
    set_version(path, 2);
    strip_seal(path);
    EXPECT(gnet_ckpt_load(path, specs, N_SPECS, got, NULL, NULL) == 0);
    EXPECT(same_params(specs, N_SPECS, p, got));

    copy_file(valid, path);
    big_chunk(path, "5.bias", 3);
    reseal(path);
    expect_refused(path, specs, arena, "dataset '5.bias' has a storage layout that cannot hold its shape");

    /* A plain state_dict dump (no format/version, as h5py writes): checksums are verified
     * where present and not required. */
    copy_file(valid, path);
    drop_attr(path, ".", "version");
    drop_attr(path, ".", "format");
    flip_byte(path, data_offset(path, "0.0.weight"));
    reseal(path);
    expect_refused(path, specs, arena, "dataset '0.0.weight' is corrupted");
    copy_file(valid, path);
    drop_attr(path, ".", "version");
    drop_attr(path, ".", "format");
    drop_attr(path, "5.bias", "crc32");
    strip_seal(path); /* as h5py writes it */
    EXPECT(gnet_ckpt_load(path, specs, N_SPECS, got, NULL, NULL) == 0);
    EXPECT(same_params(specs, N_SPECS, p, got));
    free(p), free(m), free(got);
}

/* ---- non-finite values ------------------------------------------------------------- */

/* Sets element i of tensor NAME (count floats) to v and stores the matching checksum, as an
 * edited or foreign file would: the CRC cannot tell a NaN written on purpose. */
static void poison(const char *path, const char *name, size_t count, size_t i, float v)
{
    float *x = malloc(count * sizeof(float));
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    EXPECT(x && d >= 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    x[i] = v;
    EXPECT(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    uint32_t crc = (uint32_t)crc32(0, (const Bytef *)x, (uInt)(count * sizeof(float)));
    hid_t a = H5Aopen(d, "crc32", H5P_DEFAULT);
    EXPECT(a >= 0 && H5Awrite(a, H5T_NATIVE_UINT32, &crc) >= 0);
    H5Aclose(a), H5Dclose(d), H5Fclose(f);
    reseal(path);
    free(x);
}

static long file_bytes(const char *path, char *buf, long cap)
{
    FILE *fp = fopen(path, "rb");
    long n = fp ? (long)fread(buf, 1, (size_t)cap, fp) : -1;
    if (fp)
        fclose(fp);
    return n;
}

/* A save that must be refused: -1, the file at path byte for byte as before, no temporary. */
static void expect_save_refused(const char *dir, const char *path, const gnet_param_spec *specs,
                                const float *p, const float *m)
{
    static char before[1 << 16], after[1 << 16];
    long n = file_bytes(path, before, sizeof before);
    EXPECT(gnet_ckpt_save(path, specs, N_SPECS, p, MOM(m), NULL) == -1);
    EXPECT(file_bytes(path, after, sizeof after) == n && memcmp(before, after, (size_t)n) == 0);
    EXPECT(count_entries(dir, ".tmp.") == 0);
}

static void test_non_finite(const char *dir, const gnet_param_spec *specs, size_t arena)
{
    char valid[512], path[512];
    join(valid, sizeof valid, dir, "finite.h5");
    join(path, sizeof path, dir, "poisoned.h5");
    float *p = filled(arena, 1.0f), *m = filled(arena, -2.0f);
    EXPECT(gnet_ckpt_save(valid, specs, N_SPECS, p, MOM(m), NULL) == 0);

    /* Loading: a NaN in a weight, an infinity in a momentum buffer, checksums valid. */
    copy_file(valid, path);
    poison(path, "5.weight", specs[3].count, 4, NAN);
    expect_refused(path, specs, arena, "dataset '5.weight' holds NaN at index 4");
    copy_file(valid, path);
    poison(path, "optimizer/0.0.bias", specs[1].count, 1, INFINITY);
    expect_refused(path, specs, arena, "dataset 'optimizer/0.0.bias' holds +Inf at index 1");

    /* Saving: refused, the previous checkpoint kept. */
    p[specs[2].offset + 3] = NAN;
    expect_save_refused(dir, valid, specs, p, m);
    p[specs[2].offset + 3] = 1.0f;
    m[specs[4].offset] = -INFINITY;
    expect_save_refused(dir, valid, specs, p, m);
    free(p), free(m);
}

static void test_save_hygiene(const char *dir, const gnet_param_spec *specs, size_t arena)
{
    EXPECT(count_entries(dir, ".tmp.") == 0);
    int before = count_entries(dir, NULL);

    char path[512], missing[512];
    join(missing, sizeof missing, dir, "no_such_dir");
    join(path, sizeof path, missing, "x.h5");
    float *p = filled(arena, 1.0f);
    EXPECT(gnet_ckpt_save(path, specs, N_SPECS, p, NULL, NULL) == -1);
    struct stat st;
    EXPECT(stat(missing, &st) != 0);
    EXPECT(count_entries(dir, NULL) == before);

    /* Renaming onto a directory fails after the temp file was written: it must go away. */
    join(path, sizeof path, dir, "a_directory");
    EXPECT(mkdir(path, 0755) == 0);
    EXPECT(gnet_ckpt_save(path, specs, N_SPECS, p, NULL, NULL) == -1);
    EXPECT(count_entries(dir, ".tmp.") == 0);
    rmdir(path);

    /* A FIFO (or a device node) is refused up front, never replaced by a regular file. */
    join(path, sizeof path, dir, "a_fifo");
    EXPECT(mkfifo(path, 0644) == 0);
    EXPECT(gnet_ckpt_save(path, specs, N_SPECS, p, NULL, NULL) == -1);
    EXPECT(lstat(path, &st) == 0 && S_ISFIFO(st.st_mode));
    EXPECT(count_entries(dir, ".tmp.") == 0);
    unlink(path);
    free(p);
}

/* Objects (files, groups, datasets, attributes) the checkpoint code left open. */
static ssize_t open_objects(void) { return H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL); }

int main(void)
{
    const char *base = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gnet_ckpt_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    gnet_param_spec specs[N_SPECS];
    fake_specs(specs);
    size_t arena = layout(specs, N_SPECS);

    test_round_trip(dir, specs, arena);
    test_without_momentum(dir, specs, arena);
    test_validation(dir, specs, arena);
    test_checksums(dir, specs, arena);
    test_non_finite(dir, specs, arena);
    test_save_hygiene(dir, specs, arena);
    EXPECT(open_objects() == 0);

    test_remove_dir(dir);
    TEST_MAIN_END();
}
