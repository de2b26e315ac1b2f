/* IDX files -> a prepared directory (shard.h, docs/data.md): load and validate the sources,
 * shuffle the training set once, write the shards, test.h5 and manifest.txt into a
 * temporary directory next to the output, then rename it into place. */
#define _POSIX_C_SOURCE 200809L
#include "data/prepare.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/check.h"
#include "core/durable.h"
#include "core/h5util.h"
#include "core/log.h"
#include "core/rng.h"
#include "data/idx.h"

/* 64 28x28 images = 49 KiB per chunk (235 in a 15000-image shard). Files are within 0.5%
 * of the same size for 16..1024 images per chunk, and once the reader's chunk cache holds a
 * shard (shard.c) the chunk size does not matter; it does for the first reads after an
 * open (a batch of 256 random images decompresses ~all chunks it touches: 29 ms at 64,
 * 39 ms at 128) and whenever a shard outgrows the cache (random batches then re-decompress:
 * 13 ms at 64, 24 ms at 128). docs/data.md has the measurements. */
#define CHUNK_IMAGES 64
#define DEFLATE_LEVEL 4
#define SHUFFLE_PURPOSE 0x70726570 /* "prep": keeps this stream apart from the others */

enum { CRC_TRAIN_IMAGES, CRC_TRAIN_LABELS, CRC_TEST_IMAGES, CRC_TEST_LABELS, N_CRC };
static const char *const CRC_NAMES[N_CRC] = {
    "crc32_train_images",
    "crc32_train_labels",
    "crc32_test_images",
    "crc32_test_labels",
};

typedef struct {
    gnet_idx_set train, test;
    uint32_t crc[N_CRC];
    int32_t *perm;     /* training order: shard s holds the next shard_size[s] entries */
    int32_t *identity; /* test order */
    gnet_manifest *m;
    char out[4096], tmp[4096 + 32];
    char created[4096]; /* the outermost parent of out that gnet_prepare created, or "" */
} prep;

/* One .h5 file: samples order[0..n) of set. */
typedef struct {
    const gnet_idx_set *set;
    const int32_t *order;
    int64_t n;
    int32_t index, count; /* the shard_index and shard_count attributes */
} file_job;

/* "FILE: message", the form shard.c's errors take too. */
#define fail(file, ...) gnet_file_errorf(file, 0, __VA_ARGS__)

/* ---- sources ----------------------------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* The CRC32 of the decompressed IDX file, header included (gnet_idx_load checked it has no
 * other bytes): the value `gzip -lv` shows for the .gz file. */
static uint32_t idx_crc(const gnet_idx_set *s, int images)
{
    uint8_t hdr[16];
    put_be32(hdr, images ? 0x803 : 0x801);
    put_be32(hdr + 4, (uint32_t)s->n);
    put_be32(hdr + 8, (uint32_t)s->rows);
    put_be32(hdr + 12, (uint32_t)s->cols);
    size_t len = images ? (size_t)s->n * (size_t)s->rows * (size_t)s->cols : (size_t)s->n;
    uLong crc = crc32_z(0, hdr, images ? 16 : 8);
    return (uint32_t)crc32_z(crc, images ? s->images : s->labels, len);
}

static int load_sources(prep *p, const gnet_prepare_opts *o)
{
    if (gnet_idx_load(o->src, "train", &p->train) < 0 ||
        gnet_idx_load(o->src, "t10k", &p->test) < 0)
        return -1;
    if (p->train.rows != p->test.rows || p->train.cols != p->test.cols)
        return fail(o->src, "test images are %dx%d, training images %dx%d", p->test.rows,
                    p->test.cols, p->train.rows, p->train.cols);
    if (o->shards > p->train.n)
        return fail(o->src, "%d training samples cannot fill %d shards", p->train.n, o->shards);
    p->crc[CRC_TRAIN_IMAGES] = idx_crc(&p->train, 1);
    p->crc[CRC_TRAIN_LABELS] = idx_crc(&p->train, 0);
    p->crc[CRC_TEST_IMAGES] = idx_crc(&p->test, 1);
    p->crc[CRC_TEST_LABELS] = idx_crc(&p->test, 0);
    return 0;
}

/* The shuffle, the shard sizes (N/S + (s < N%S)) and the id: a hash of everything the
 * files' contents depend on, so equal ids mean identical preparations. */
static int plan(prep *p, const gnet_prepare_opts *o)
{
    int32_t n = p->train.n, S = o->shards;
    char what[4200];
    (void)snprintf(what, sizeof what, "the shuffle of %s", o->out);
    p->perm = gnet_malloc((size_t)n * sizeof *p->perm, what);
    p->identity = gnet_malloc((size_t)p->test.n * sizeof *p->identity, what);
    if (!p->perm || !p->identity)
        return -1;
    for (int32_t i = 0; i < n; i++)
        p->perm[i] = i;
    for (int32_t i = 0; i < p->test.n; i++)
        p->identity[i] = i;
    gnet_rng r;
    gnet_rng_init(&r, gnet_rng_key(o->seed, SHUFFLE_PURPOSE, 0, 0));
    gnet_rng_shuffle(&r, p->perm, n);
    gnet_manifest *m = p->m;
    *m = (gnet_manifest){.shards = S,
                         .rows = p->train.rows,
                         .cols = p->train.cols,
                         .train_count = n,
                         .test_count = p->test.n,
                         .seed = o->seed};
    for (int s = 0; s < S; s++)
        m->shard_size[s] = n / S + (s < n % S);
    uint64_t id = gnet_rng_key(o->seed, (uint64_t)p->crc[0] << 32 | p->crc[1],
                               (uint64_t)p->crc[2] << 32 | p->crc[3],
                               (uint64_t)GNET_PREPARED_VERSION << 32 | (uint32_t)S);
    (void)snprintf(m->id, sizeof m->id, "%016llx", (unsigned long long)id); /* 16 digits */
    return 0;
}

/* ---- one HDF5 file ----------------------------------------------------------------------- */

static int write_attrs(hid_t file, const char *path, const prep *p, const file_job *j)
{
    const int32_t version = GNET_PREPARED_VERSION;
    gnet_h5_err e = {.prefix = ""};
    int rc =
        gnet_h5_write_attr(file, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT32, &version, &e);
    /* A fixed-length, null-terminated string: h5dump and h5py show it plainly. */
    if (rc == 0)
        rc = gnet_h5_write_str_attr(file, "id", p->m->id, strlen(p->m->id) + 1, H5T_STR_NULLTERM,
                                    &e);
    if (rc == 0)
        rc =
            gnet_h5_write_attr(file, "shard_index", H5T_STD_I32LE, H5T_NATIVE_INT32, &j->index, &e);
    if (rc == 0)
        rc =
            gnet_h5_write_attr(file, "shard_count", H5T_STD_I32LE, H5T_NATIVE_INT32, &j->count, &e);
    if (rc == 0)
        rc = gnet_h5_write_attr(file, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &p->m->seed, &e);
    for (int c = 0; c < N_CRC && rc == 0; c++)
        rc = gnet_h5_write_attr(file, CRC_NAMES[c], H5T_STD_U32LE, H5T_NATIVE_UINT32, &p->crc[c],
                                &e);
    return rc == 0 ? 0 : fail(path, "%s", e.msg);
}

/* gnet_h5_write_dataset, its failure reported naming the file. */
static int write_dataset(hid_t file, const char *path, const char *name, hid_t ftype, hid_t mtype,
                         int rank, const hsize_t *dims, hid_t dcpl, const void *buf)
{
    gnet_h5_err e = {.prefix = ""};
    if (gnet_h5_write_dataset(file, name, ftype, mtype, rank, dims, dcpl, buf, &e) < 0)
        return fail(path, "%s", e.msg);
    return 0;
}

/* images: chunks of CHUNK_IMAGES whole images, deflated. No shuffle filter: it reorders the
 * bytes of multi-byte elements and does nothing for uint8. */
static int write_images(hid_t file, const char *path, const hsize_t *dims, const uint8_t *img)
{
    hsize_t chunk[3] = {dims[0] < CHUNK_IMAGES ? dims[0] : CHUNK_IMAGES, dims[1], dims[2]};
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5_CHECK(dcpl);
    H5_CHECK(H5Pset_chunk(dcpl, 3, chunk));
    H5_CHECK(H5Pset_deflate(dcpl, DEFLATE_LEVEL));
    int rc =
        write_dataset(file, path, "images", H5T_STD_U8LE, H5T_NATIVE_UINT8, 3, dims, dcpl, img);
    H5Pclose(dcpl);
    return rc;
}

typedef struct {
    uint8_t *images, *labels;
    int64_t *global;
} file_data;

static int gather(const file_job *j, const char *path, file_data *b)
{
    size_t sb = (size_t)j->set->rows * (size_t)j->set->cols, n = (size_t)j->n;
    char what[4200];
    (void)snprintf(what, sizeof what, "%zu samples of %s", n, path);
    b->images = gnet_malloc(n * sb, what);
    b->labels = gnet_malloc(n, what);
    b->global = gnet_malloc(n * sizeof *b->global, what);
    if (!b->images || !b->labels || !b->global)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t g = (size_t)j->order[i];
        memcpy(b->images + i * sb, j->set->images + g * sb, sb);
        b->labels[i] = j->set->labels[g];
        b->global[i] = (int64_t)g;
    }
    return 0;
}

/* One file's contents, for gnet_h5_image's fill. */
typedef struct {
    const prep *p;
    const char *path;
    const file_job *j;
    file_data b;
} h5_job;

static int write_contents(hid_t file, void *ctx)
{
    const h5_job *h = ctx;
    const char *path = h->path;
    hsize_t dims[3] = {(hsize_t)h->j->n, (hsize_t)h->j->set->rows, (hsize_t)h->j->set->cols};
    if (write_images(file, path, dims, h->b.images) < 0 ||
        write_dataset(file, path, "labels", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, dims, H5P_DEFAULT,
                      h->b.labels) < 0 ||
        write_dataset(file, path, "global_indices", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims,
                      H5P_DEFAULT, h->b.global) < 0)
        return -1;
    return write_attrs(file, path, h->p, h->j);
}

/* The whole file is built in memory (gnet_h5_image), then written as a new file, synced;
 * its size and CRC-32 go to *sum for the manifest. */
static int write_h5(const prep *p, const char *path, const file_job *j, gnet_file_sum *sum)
{
    h5_job h = {p, path, j, {0}};
    size_t size = 0;
    void *image = NULL;
    gnet_h5_err e;
    char why[768];
    int rc = gather(j, path, &h.b);
    if (rc == 0 &&
        !(image = gnet_h5_image(path, (size_t)1 << 20, 0, write_contents, &h, &size, &e)))
        rc = e.msg[0] ? fail(path, "%s", e.msg) : -1;
    if (rc == 0 && gnet_write_new(path, image, size, why, sizeof why) < 0)
        rc = fail(path, "%s", why);
    if (rc == 0)
        *sum = gnet_file_sum_of(image, size);
    free(image);
    free(h.b.images), free(h.b.labels), free(h.b.global);
    return rc;
}

/* ---- the directory ----------------------------------------------------------------------- */

static void fill_manifest(FILE *f, const void *ctx)
{
    const prep *p = ctx;
    const gnet_manifest *m = p->m;
    /* A failed write shows in ferror(f), checked by gnet_write_stream. */
    (void)fprintf(f,
                  "# A data set prepared by gnet_prepare (layout: docs/data.md).\n"
                  "format_version = %d\nid = %s\nshards = %d\nrows = %d\ncols = %d\n"
                  "train_count = %lld\ntest_count = %lld\nseed = %llu\n",
                  GNET_PREPARED_VERSION, m->id, m->shards, m->rows, m->cols,
                  (long long)m->train_count, (long long)m->test_count, (unsigned long long)m->seed);
    for (int s = 0; s < m->shards; s++)
        (void)fprintf(f, "shard_size.%d = %lld\n", s, (long long)m->shard_size[s]);
    for (int s = 0; s < m->shards; s++)
        (void)fprintf(f, "shard_file.%d = %lld %08x\n", s, (long long)m->shard_file[s].bytes,
                      (unsigned)m->shard_file[s].crc32);
    (void)fprintf(f, "test_file = %lld %08x\n", (long long)m->test_file.bytes,
                  (unsigned)m->test_file.crc32);
    for (int c = 0; c < N_CRC; c++)
        (void)fprintf(f, "%s = %08x\n", CRC_NAMES[c], (unsigned)p->crc[c]);
}

static int write_all(const prep *p)
{
    gnet_manifest *m = p->m;
    char path[sizeof p->tmp + 64];
    int64_t start = 0;
    for (int s = 0; s < m->shards; s++) {
        file_job j = {&p->train, p->perm + start, m->shard_size[s], s, m->shards};
        gnet_shard_path(path, sizeof path, p->tmp, s, m->shards);
        if (write_h5(p, path, &j, &m->shard_file[s]) < 0)
            return -1;
        start += m->shard_size[s];
    }
    file_job t = {&p->test, p->identity, p->test.n, -1, 1};
    gnet_shard_path(path, sizeof path, p->tmp, -1, 1);
    if (write_h5(p, path, &t, &m->test_file) < 0)
        return -1;
    (void)snprintf(path, sizeof path, "%s/manifest.txt", p->tmp); /* path has room */
    char why[768];
    if (gnet_write_stream(path, fill_manifest, p, why, sizeof why) < 0)
        return fail(path, "%s", why);
    if (gnet_fsync_dir(p->tmp) != 0)
        return fail(p->tmp, "fsync: %s", strerror(errno));
    return 0;
}

/* manifest.txt, test.h5, train-DDDDD-of-DDDDD.h5: the only names gnet_prepare writes, and
 * so the only ones it removes. */
static int is_prepared_name(const char *name)
{
    if (strcmp(name, "manifest.txt") == 0 || strcmp(name, "test.h5") == 0)
        return 1;
    const char *digits = "0123456789";
    return strlen(name) == 23 && strncmp(name, "train-", 6) == 0 && strspn(name + 6, digits) == 5 &&
           strncmp(name + 11, "-of-", 4) == 0 && strspn(name + 15, digits) == 5 &&
           strcmp(name + 20, ".h5") == 0;
}

/* Removes gnet_prepare's files from dir, then dir itself (which fails, errno ENOTEMPTY, if
 * anything else is in it). */
static int remove_prepared(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    char path[4096 + 256];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (is_prepared_name(e->d_name)) {
            (void)snprintf(path, sizeof path, "%s/%s", dir, e->d_name); /* short names */
            unlink(path);
        }
    }
    closedir(d);
    return rmdir(dir);
}

static int dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int empty = 1;
    for (struct dirent *e; empty && (e = readdir(d)) != NULL;)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

/* 0: out does not exist; 1: it does and may be replaced; -1: refused (error printed).
 * --force replaces only what gnet_prepare wrote, or an empty directory, so that a mistyped
 * --out never moves someone's files away. */
static int check_out(const char *out, int force)
{
    struct stat st;
    char why[256];
    if (gnet_name_lengths(out, GNET_TMP_SUFFIX, why, sizeof why))
        return fail(out, "%s", why); /* before the sources are read, and before mkdir -p */
    if (lstat(out, &st) != 0)
        return errno == ENOENT ? 0 : fail(out, "cannot access: %s", strerror(errno));
    if (!force)
        return fail(out, "already exists (use --force to replace it)");
    if (!S_ISDIR(st.st_mode))
        return fail(out, "exists and is not a directory; not replacing it");
    char manifest[sizeof((prep *)0)->out + 16];
    (void)snprintf(manifest, sizeof manifest, "%s/manifest.txt", out); /* sized for it */
    if (access(manifest, F_OK) != 0 && !dir_is_empty(out))
        return fail(out, "has no manifest.txt and is not empty: not a directory gnet_prepare "
                         "wrote, not replacing it");
    return 1;
}

static int install(const prep *p, int replace)
{
    if (!replace) {
        if (rename(p->tmp, p->out) != 0)
            return fail(p->out, "cannot rename %s to it: %s", p->tmp, strerror(errno));
        gnet_fsync_parent(p->out);
        return 0;
    }
    char old[sizeof p->tmp];
    (void)snprintf(old, sizeof old, "%s.old.%ld", p->out, (long)getpid()); /* as p->tmp */
    if (rename(p->out, old) != 0)
        return fail(p->out, "cannot move it aside to %s: %s", old, strerror(errno));
    if (rename(p->tmp, p->out) != 0) {
        int e = errno;
        if (rename(old, p->out) != 0)
            return fail(p->out,
                        "cannot rename %s to it: %s; its previous contents are left "
                        "in %s",
                        p->tmp, strerror(e), old);
        return fail(p->out, "cannot rename %s to it: %s", p->tmp, strerror(e));
    }
    gnet_fsync_parent(p->out);
    if (remove_prepared(old) != 0)
        (void)fprintf(stderr, "gnet: warning: %s: the previous contents are left in %s: %s\n",
                      p->out, old, strerror(errno));
    return 0;
}

/* OUT without trailing slashes (so that OUT.tmp.<pid> is its sibling), the temporary name,
 * and the options the caller may have skipped checking. */
static int setup(prep *p, const gnet_prepare_opts *o)
{
    const char *out = o->out ? o->out : "";
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/')
        len--;
    if (len == 0 || len >= sizeof p->out)
        return fail(len ? out : "(none)", "bad output path");
    if (!o->src || !*o->src)
        return fail(out, "no source directory");
    if (o->shards < 1 || o->shards > GNET_MAX_SHARDS)
        return fail(out, "%d shards: expected 1..%d", o->shards, GNET_MAX_SHARDS);
    memcpy(p->out, out, len);
    (void)snprintf(p->tmp, sizeof p->tmp, "%s.tmp.%ld", p->out, (long)getpid()); /* sized */
    return 0;
}

/* Creates the missing parents of out, as mkdir -p does (--out data/fmnist in a fresh
 * checkout), noting the outermost one created (gnet_remove_created takes them away again). */
static int make_parents(prep *p)
{
    char dir[sizeof p->out], why[768];
    if (gnet_parent_dir(p->out, dir, sizeof dir) == 0 &&
        gnet_make_dirs(dir, p->created, sizeof p->created, why, sizeof why) < 0)
        return fail(p->out, "%s", why);
    return 0;
}

static int write_tmp(prep *p, int replace)
{
    if (make_parents(p) < 0)
        return -1;
    if (mkdir(p->tmp, 0777) != 0)
        return fail(p->out, "cannot create the temporary directory %s: %s", p->tmp,
                    strerror(errno));
    if (write_all(p) == 0 && install(p, replace) == 0)
        return 0;
    remove_prepared(p->tmp);
    return -1;
}

static int prepare(prep *p, const gnet_prepare_opts *o)
{
    int replace = setup(p, o) == 0 ? check_out(p->out, o->force) : -1;
    if (replace < 0 || load_sources(p, o) < 0 || plan(p, o) < 0)
        return -1;
    if (write_tmp(p, replace) == 0)
        return 0;
    char dir[sizeof p->out];
    if (gnet_parent_dir(p->out, dir, sizeof dir) == 0)
        gnet_remove_created(dir, p->created);
    return -1;
}

int gnet_prepare(const gnet_prepare_opts *o, gnet_manifest *m)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char what[4200];
    (void)snprintf(what, sizeof what, "the preparation of %s", o->out ? o->out : "(none)");
    prep *p = gnet_calloc(1, sizeof *p, what);
    gnet_manifest *pm = gnet_calloc(1, sizeof *pm, what);
    int rc = -1;
    if (p && pm) {
        p->m = pm;
        rc = prepare(p, o);
    }
    if (rc == 0 && m)
        *m = *pm;
    if (p) {
        gnet_idx_free(&p->train), gnet_idx_free(&p->test);
        free(p->perm), free(p->identity);
    }
    free(p), free(pm);
    return rc;
}
