/* Reader of a prepared directory (see shard.h and docs/data.md): the manifest, and shards
 * read by arbitrary index lists through HDF5 selections. */
#define _POSIX_C_SOURCE 200809L
#include "data/shard.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/check.h"
#include "core/h5util.h"
#include "core/log.h"

#define MAX_SIDE 4096          /* rows, cols: the IDX reader's limit */
#define MAX_COUNT 2147483647LL /* sample counts: the IDX count is an int32 */
#define MAX_FILE_BYTES ((uint64_t)1 << 62)
/* Chunk cache per open shard: the whole decompressed `images` up to this size, so random
 * reads decompress each chunk once, not once per batch (a 15000-image 28x28 shard takes
 * 11.2 MiB, the whole training set in one shard 45 MiB; a rank opens only its own shards).
 * Bigger shards get this much and re-decompress evicted chunks. */
#define CACHE_MAX_BYTES ((size_t)64 << 20)

int gnet_shard_path(char *buf, size_t cap, const char *dir, int index, int shards)
{
    int len = index < 0 ? snprintf(buf, cap, "%s/test.h5", dir)
                        : snprintf(buf, cap, "%s/train-%05d-of-%05d.h5", dir, index, shards);
    return len < 0 || (size_t)len >= cap ? -1 : 0;
}

/* ---- manifest ---------------------------------------------------------------------------- */

enum mkey {
    K_VERSION,
    K_ID,
    K_SHARDS,
    K_ROWS,
    K_COLS,
    K_TRAIN,
    K_TEST,
    K_SEED,
    K_CRC_TRAIN_IMAGES,
    K_CRC_TRAIN_LABELS,
    K_CRC_TEST_IMAGES,
    K_CRC_TEST_LABELS,
    K_TEST_FILE,
    N_MKEYS
};
static const char *const MKEY_NAMES[N_MKEYS] = {
    "format_version",
    "id",
    "shards",
    "rows",
    "cols",
    "train_count",
    "test_count",
    "seed",
    "crc32_train_images",
    "crc32_train_labels",
    "crc32_test_images",
    "crc32_test_labels",
    "test_file",
};
#define SHARD_SIZE_KEY "shard_size."
#define SHARD_FILE_KEY "shard_file."

typedef struct {
    const char *path;
    int line;
    unsigned char seen[N_MKEYS];
    unsigned char seen_size[GNET_MAX_SHARDS];
    unsigned char seen_file[GNET_MAX_SHARDS];
    gnet_manifest *m;
} mparse;

/* Names the manifest line being parsed, or with p->line 0 the file as a whole. */
#define mp_fail(p, ...) gnet_file_errorf((p)->path, (p)->line, __VA_ARGS__)

/* Plain decimal digits only (no sign, no spaces, no trailing text), <= max. */
static int parse_uint(const char *v, uint64_t max, uint64_t *out)
{
    uint64_t x = 0;
    if (!*v)
        return -1;
    for (; *v; v++) {
        if (*v < '0' || *v > '9' || x > (UINT64_MAX - (uint64_t)(*v - '0')) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*v - '0');
    }
    if (x > max)
        return -1;
    *out = x;
    return 0;
}

static int is_crc32(const char *v)
{
    size_t n = strspn(v, "0123456789abcdef");
    return n == 8 && v[n] == '\0';
}

static int is_id(const char *v)
{
    size_t n = strspn(v, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-");
    return n >= 1 && n < sizeof(((gnet_manifest *)0)->id) && v[n] == '\0';
}

static int set_number(mparse *p, enum mkey k, const char *v)
{
    static const uint64_t max[N_MKEYS] = {
        [K_VERSION] = 1000000, [K_SHARDS] = GNET_MAX_SHARDS, [K_ROWS] = MAX_SIDE,
        [K_COLS] = MAX_SIDE,   [K_TRAIN] = MAX_COUNT,        [K_TEST] = MAX_COUNT,
        [K_SEED] = UINT64_MAX,
    };
    uint64_t x;
    char s[160];
    if (parse_uint(v, max[k], &x) != 0 || (x == 0 && k != K_SEED))
        return mp_fail(p, "%s = '%s': expected an integer %d..%llu", MKEY_NAMES[k],
                       gnet_escape(v, s, sizeof s), k != K_SEED, (unsigned long long)max[k]);
    gnet_manifest *m = p->m;
    switch (k) {
    case K_VERSION:
        if (x < GNET_PREPARED_VERSION)
            return mp_fail(p,
                           "format_version %llu: an older preparation (version %d added the "
                           "files' sizes and checksums); prepare it again (gnet_prepare --force)",
                           (unsigned long long)x, GNET_PREPARED_VERSION);
        if (x != GNET_PREPARED_VERSION)
            return mp_fail(p, "unsupported format_version %llu (this build reads %d)",
                           (unsigned long long)x, GNET_PREPARED_VERSION);
        break;
    case K_SHARDS: m->shards = (int32_t)x; break;
    case K_ROWS: m->rows = (int32_t)x; break;
    case K_COLS: m->cols = (int32_t)x; break;
    case K_TRAIN: m->train_count = (int64_t)x; break;
    case K_TEST: m->test_count = (int64_t)x; break;
    default: m->seed = x; break;
    }
    return 0;
}

/* "BYTES CRC32": a file's size (1..2^62) and CRC-32 (8 lowercase hex digits). */
static int set_file_sum(mparse *p, const char *key, const char *v, gnet_file_sum *out)
{
    char digits[24], s[160];
    size_t n = strspn(v, "0123456789"), gap = strspn(v + n, " \t");
    uint64_t bytes = 0;
    if (n > 0 && n < sizeof digits) {
        memcpy(digits, v, n);
        digits[n] = '\0';
    }
    if (n == 0 || n >= sizeof digits || parse_uint(digits, MAX_FILE_BYTES, &bytes) != 0 ||
        bytes == 0 || gap == 0 || !is_crc32(v + n + gap))
        return mp_fail(p,
                       "%s = '%s': expected a size in bytes and a CRC-32 (8 lowercase hex digits)",
                       key, gnet_escape(v, s, sizeof s));
    *out = (gnet_file_sum){(int64_t)bytes, (uint32_t)strtoul(v + n + gap, NULL, 16)};
    return 0;
}

static int set_key(mparse *p, enum mkey k, const char *v)
{
    char s[160];
    if (p->seen[k]++)
        return mp_fail(p, "'%s' given twice", MKEY_NAMES[k]);
    if (k == K_ID) {
        if (!is_id(v))
            return mp_fail(p, "id = '%s': expected 1..63 letters, digits, '_' or '-'",
                           gnet_escape(v, s, sizeof s));
        memcpy(p->m->id, v, strlen(v) + 1); /* is_id: shorter than the field */
        return 0;
    }
    if (k == K_TEST_FILE)
        return set_file_sum(p, MKEY_NAMES[k], v, &p->m->test_file);
    if (k >= K_CRC_TRAIN_IMAGES) {
        if (!is_crc32(v))
            return mp_fail(p, "%s = '%s': expected 8 lowercase hex digits", MKEY_NAMES[k],
                           gnet_escape(v, s, sizeof s));
        return 0;
    }
    return set_number(p, k, v);
}

/* K of the key PREFIXK (prefix as "shard_size."), K in 0..GNET_MAX_SHARDS-1, marked in
 * seen[K]; -1 (said) if K is bad or the key repeated. */
static int indexed_key(mparse *p, const char *key, const char *prefix, unsigned char *seen)
{
    uint64_t k;
    char s[160];
    if (parse_uint(key + strlen(prefix), GNET_MAX_SHARDS - 1, &k) != 0)
        return mp_fail(p, "unknown key '%s' (%sK needs K in 0..%d)", gnet_escape(key, s, sizeof s),
                       prefix, GNET_MAX_SHARDS - 1);
    if (seen[k]++)
        return mp_fail(p, "'%s' given twice", gnet_escape(key, s, sizeof s));
    return (int)k;
}

/* shard_size.K = N */
static int set_shard_size(mparse *p, const char *key, const char *v)
{
    uint64_t n;
    char s[160];
    int k = indexed_key(p, key, SHARD_SIZE_KEY, p->seen_size);
    if (k < 0)
        return -1;
    if (parse_uint(v, MAX_COUNT, &n) != 0 || n == 0)
        return mp_fail(p, "%s = '%s': expected an integer 1..%lld", key,
                       gnet_escape(v, s, sizeof s), MAX_COUNT);
    p->m->shard_size[k] = (int64_t)n;
    return 0;
}

/* shard_file.K = BYTES CRC32 */
static int set_shard_file(mparse *p, const char *key, const char *v)
{
    int k = indexed_key(p, key, SHARD_FILE_KEY, p->seen_file);
    return k < 0 ? -1 : set_file_sum(p, key, v, &p->m->shard_file[k]);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && strchr(" \t\r\n", s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* One line: blank, "# comment" or "key = value". */
static int parse_line(mparse *p, char *line)
{
    char *s = trim(line), shown[96];
    if (!*s || *s == '#')
        return 0;
    char *eq = strchr(s, '=');
    if (!eq)
        return mp_fail(p, "expected 'key = value', found '%s'",
                       gnet_escape(s, shown, sizeof shown));
    *eq = '\0';
    char *key = trim(s), *value = trim(eq + 1);
    if (strncmp(key, SHARD_SIZE_KEY, strlen(SHARD_SIZE_KEY)) == 0)
        return set_shard_size(p, key, value);
    if (strncmp(key, SHARD_FILE_KEY, strlen(SHARD_FILE_KEY)) == 0)
        return set_shard_file(p, key, value);
    for (int k = 0; k < N_MKEYS; k++)
        if (strcmp(key, MKEY_NAMES[k]) == 0)
            return set_key(p, (enum mkey)k, value);
    return mp_fail(p, "unknown key '%s'", gnet_escape(key, shown, sizeof shown));
}

/* PREFIXK given for K < shards and no other K. */
static int check_indexed(const mparse *p, const char *prefix, const unsigned char *seen)
{
    const gnet_manifest *m = p->m;
    for (int k = 0; k < GNET_MAX_SHARDS; k++) {
        if (k < m->shards && !seen[k])
            return mp_fail(p, "missing key '%s%d' (shards = %d)", prefix, k, m->shards);
        if (k >= m->shards && seen[k])
            return mp_fail(p, "'%s%d' given, but shards = %d", prefix, k, m->shards);
    }
    return 0;
}

static int check_shard_sizes(const mparse *p)
{
    const gnet_manifest *m = p->m;
    int64_t sum = 0;
    if (check_indexed(p, SHARD_SIZE_KEY, p->seen_size) != 0 ||
        check_indexed(p, SHARD_FILE_KEY, p->seen_file) != 0)
        return -1;
    for (int k = 0; k < m->shards; k++) {
        sum += m->shard_size[k];
        if (m->shard_size[k] > m->shard_size[k ? k - 1 : 0] ||
            m->shard_size[0] - m->shard_size[k] > 1)
            return mp_fail(p,
                           "shard sizes must descend and differ by at most one "
                           "(shard_size.0 = %lld, shard_size.%d = %lld)",
                           (long long)m->shard_size[0], k, (long long)m->shard_size[k]);
    }
    if (sum != m->train_count)
        return mp_fail(p, "shard sizes sum to %lld, but train_count = %lld", (long long)sum,
                       (long long)m->train_count);
    return 0;
}

static int check_complete(mparse *p)
{
    p->line = 0;
    for (int k = 0; k < N_MKEYS; k++)
        if (!p->seen[k])
            return mp_fail(p, "missing key '%s'", MKEY_NAMES[k]);
    return check_shard_sizes(p);
}

static int parse_file(mparse *p, FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    errno = 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        p->line++;
        rc = parse_line(p, line);
    }
    if (rc == 0 && ferror(f)) {
        p->line = 0;
        rc = mp_fail(p, "read failed: %s", strerror(errno));
    }
    free(line);
    return rc == 0 ? check_complete(p) : rc;
}

int gnet_manifest_read(const char *dir, gnet_manifest *m)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/manifest.txt", dir) >= (int)sizeof path) {
        gnet_errorf("%s: path too long", dir);
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        gnet_errorf("%s: cannot open: %s (is %s a directory written by gnet_prepare?)", path,
                    strerror(errno), dir);
        return -1;
    }
    char what[4200];
    (void)snprintf(what, sizeof what, "the manifest %s", path);
    mparse *p = gnet_calloc(1, sizeof *p, what);
    gnet_manifest *tmp = gnet_calloc(1, sizeof *tmp, what);
    int rc = -1;
    if (p && tmp) {
        p->path = path;
        p->m = tmp;
        rc = parse_file(p, f);
    }
    (void)fclose(f); /* read only: parse_file checked ferror */
    if (rc == 0)
        *m = *tmp;
    free(p);
    free(tmp);
    return rc;
}

const gnet_file_sum *gnet_manifest_file(const gnet_manifest *m, int index)
{
    return index < 0 ? &m->test_file : &m->shard_file[index];
}

/* ---- shard: open and validate ------------------------------------------------------------ */

struct gnet_shard {
    hid_t file, images, labels;
    int64_t count;
    int32_t rows, cols;
    char path[4096];
};

/* Every error about a shard names its file. */
#define sh_fail(s, ...) gnet_file_errorf((s)->path, 0, __VA_ARGS__)

static int open_file(gnet_shard *s, const gnet_file_sum *want)
{
    char why[256];
    if (gnet_file_sum_check(s->path, want, why, sizeof why) != 0)
        return sh_fail(s, "%s", why);
    if (H5Fis_hdf5(s->path) <= 0)
        return sh_fail(s, "not an HDF5 file");
    s->file = H5Fopen(s->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (s->file < 0)
        return sh_fail(s, "%s", gnet_h5_open_strerror(why, sizeof why));
    return 0;
}

/* The id first: a file of another preparation is named as such, whatever else differs. */
static int check_attrs(const gnet_shard *s, const gnet_manifest *m, int index)
{
    gnet_h5_err e = {.hint = " (not a file written by gnet_prepare)"};
    char id[256];
    int64_t got_index, got_count, want_count = index < 0 ? 1 : m->shards;
    if (gnet_h5_read_str_attr(s->file, "id", id, sizeof id, &e) < 0)
        return sh_fail(s, "%s", e.msg);
    if (strcmp(id, m->id) != 0)
        return sh_fail(s, "a shard from another preparation (id '%s', the manifest's is '%s')", id,
                       m->id);
    if (gnet_h5_read_attr(s->file, "shard_index", H5T_INTEGER, H5T_NATIVE_INT64, &got_index, &e) <
            0 ||
        gnet_h5_read_attr(s->file, "shard_count", H5T_INTEGER, H5T_NATIVE_INT64, &got_count, &e) <
            0)
        return sh_fail(s, "%s", e.msg);
    if (got_index != (index < 0 ? -1 : index) || got_count != want_count)
        return sh_fail(s, "holds shard_index %lld of shard_count %lld, expected %d of %lld",
                       (long long)got_index, (long long)got_count, index < 0 ? -1 : index,
                       (long long)want_count);
    return 0;
}

static int check_type(const gnet_shard *s, hid_t d, const char *name)
{
    hid_t t = H5Dget_type(d);
    H5_CHECK(t);
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    H5T_sign_t sign = H5Tget_sign(t);
    H5Tclose(t);
    if (cls == H5T_INTEGER && size == 1 && sign == H5T_SGN_NONE)
        return 0;
    if (cls == H5T_INTEGER)
        return sh_fail(s, "dataset '%s' is %s %zu-byte integers, expected uint8", name,
                       sign == H5T_SGN_NONE ? "unsigned" : "signed", size);
    return sh_fail(s, "dataset '%s' is not an integer type, expected uint8", name);
}

static int check_shape(const gnet_shard *s, hid_t d, const char *name, int rank,
                       const hsize_t *want)
{
    gnet_h5_shapes text;
    if (gnet_h5_same_shape(d, rank, want, &text))
        return 0;
    return sh_fail(s, "dataset '%s' has shape %s, the manifest says %s", name, text.found,
                   text.want);
}

/* gnet_h5_check_layout, with the error: 1 if chunked (chunk[rank] filled), 0 if not, -1. */
static int check_layout(const gnet_shard *s, hid_t d, const char *name, int rank,
                        const hsize_t *dims, hsize_t *chunk)
{
    int chunked = gnet_h5_check_layout(d, rank, dims, chunk);
    if (chunked < 0)
        return sh_fail(s,
                       "dataset '%s' has a storage layout that cannot hold its shape (not "
                       "as gnet_prepare writes it: a damaged file?)",
                       name);
    return chunked;
}

/* The chunk cache for `images` (see CACHE_MAX_BYTES), for chunks of shape chunk[rank]:
 * slots >= chunks, so no two chunks of the dataset share a slot (HDF5 hashes a chunk by its
 * linear index modulo the slots). */
static hid_t cache_plist(const hsize_t *dims, const hsize_t *chunk, int rank)
{
    size_t chunk_bytes = 1, nchunks = 1;
    for (int i = 0; i < rank; i++) {
        chunk_bytes *= chunk[i];
        nchunks *= (dims[i] + chunk[i] - 1) / chunk[i];
    }
    /* Every chunk takes its full size in the cache, the last partial one too: a cache of
     * exactly the dataset's size would miss one chunk, and random reads would thrash. */
    size_t total = nchunks * chunk_bytes;
    size_t bytes = total < CACHE_MAX_BYTES ? total : CACHE_MAX_BYTES;
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    H5_CHECK(dapl);
    H5_CHECK(H5Pset_chunk_cache(dapl, nchunks < (1u << 20) ? nchunks : (1u << 20),
                                bytes > chunk_bytes ? bytes : chunk_bytes,
                                H5D_CHUNK_CACHE_W0_DEFAULT));
    return dapl;
}

/* Opens dataset NAME, checks it is uint8 of shape want[rank] in a layout that holds it, and (if
 * cache and chunked) reopens it with the chunk cache. */
static hid_t open_dataset(const gnet_shard *s, const char *name, int rank, const hsize_t *want,
                          int cache)
{
    if (H5Lexists(s->file, name, H5P_DEFAULT) <= 0) {
        sh_fail(s, "no dataset '%s'", name);
        return H5I_INVALID_HID;
    }
    hid_t d = H5Dopen2(s->file, name, H5P_DEFAULT);
    if (d < 0) {
        sh_fail(s, "'%s' is not a dataset", name);
        return H5I_INVALID_HID;
    }
    hsize_t chunk[3];
    int chunked = 0;
    if (check_type(s, d, name) < 0 || check_shape(s, d, name, rank, want) < 0 ||
        (chunked = check_layout(s, d, name, rank, want, chunk)) < 0) {
        H5Dclose(d);
        return H5I_INVALID_HID;
    }
    if (!cache || !chunked)
        return d;
    hid_t dapl = cache_plist(want, chunk, rank);
    H5Dclose(d);
    d = H5Dopen2(s->file, name, dapl);
    if (d < 0)
        sh_fail(s, "reopening '%s': %s", name, gnet_h5_strerror());
    H5Pclose(dapl);
    return d;
}

gnet_shard *gnet_shard_open(const char *dir, const gnet_manifest *m, int index)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char what[4200];
    (void)snprintf(what, sizeof what, "shard %d of %s", index, dir);
    gnet_shard *s = gnet_calloc(1, sizeof *s, what);
    if (!s)
        return NULL;
    s->file = s->images = s->labels = H5I_INVALID_HID;
    if (gnet_shard_path(s->path, sizeof s->path, dir, index, m->shards) < 0) {
        gnet_errorf("%s: path too long", dir);
        free(s);
        return NULL;
    }
    if (index >= m->shards) {
        sh_fail(s, "no such shard (the manifest lists %d)", m->shards);
        free(s);
        return NULL;
    }
    s->count = index < 0 ? m->test_count : m->shard_size[index];
    s->rows = m->rows, s->cols = m->cols;
    hsize_t dims[3] = {(hsize_t)s->count, (hsize_t)s->rows, (hsize_t)s->cols};
    if (open_file(s, gnet_manifest_file(m, index)) < 0 || check_attrs(s, m, index) < 0 ||
        (s->images = open_dataset(s, "images", 3, dims, 1)) < 0 ||
        (s->labels = open_dataset(s, "labels", 1, dims, 0)) < 0) {
        gnet_shard_close(s);
        return NULL;
    }
    return s;
}

int64_t gnet_shard_count(const gnet_shard *s) { return s->count; }

void gnet_shard_close(gnet_shard *s)
{
    if (!s)
        return;
    if (s->images >= 0)
        H5Dclose(s->images);
    if (s->labels >= 0)
        H5Dclose(s->labels);
    if (s->file >= 0)
        H5Fclose(s->file);
    free(s);
}

/* ---- shard: read ------------------------------------------------------------------------- */

typedef struct {
    int64_t index;
    int pos; /* where in the request */
} request;

static int by_index(const void *a, const void *b)
{
    const request *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The distinct indices of the sorted requests, ascending, into uniq; returns how many. */
static int distinct(const request *r, int n, int64_t *uniq)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (k == 0 || uniq[k - 1] != r[i].index)
            uniq[k++] = r[i].index;
    return k;
}

/* Reads samples uniq[0..k) (ascending, distinct) of dataset d (rank 3: images, rank 1:
 * labels) packed into buf, one H5Dread per run of consecutive indices. Not one H5Dread of
 * the union of the runs: HDF5 1.10 maps a selection made of several hyperslabs to chunks
 * element by element, while a single hyperslab takes its fast path (256 random samples of a
 * cached 15000-image shard: 7.8 ms as one union read, 1.2 ms like this). */
static int read_runs(const gnet_shard *s, hid_t d, const char *name, int rank, const int64_t *uniq,
                     int k, uint8_t *buf)
{
    /* A rank-1 space uses only the first entry of each array. */
    hsize_t fstart[3] = {0, 0, 0}, mstart[3] = {0, 0, 0};
    hsize_t count[3] = {0, (hsize_t)s->rows, (hsize_t)s->cols};
    hsize_t mdims[3] = {(hsize_t)k, count[1], count[2]};
    hid_t fspace = H5Dget_space(d), mspace = H5Screate_simple(rank, mdims, NULL);
    H5_CHECK(fspace);
    H5_CHECK(mspace);
    int rc = 0;
    for (int i = 0, j; i < k && rc == 0; i = j) {
        for (j = i + 1; j < k && uniq[j] == uniq[j - 1] + 1; j++)
            ;
        fstart[0] = (hsize_t)uniq[i], mstart[0] = (hsize_t)i, count[0] = (hsize_t)(j - i);
        H5_CHECK(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, fstart, NULL, count, NULL));
        H5_CHECK(H5Sselect_hyperslab(mspace, H5S_SELECT_SET, mstart, NULL, count, NULL));
        if (H5Dread(d, H5T_NATIVE_UCHAR, mspace, fspace, H5P_DEFAULT, buf) < 0)
            rc = sh_fail(s, "reading dataset '%s': %s", name, gnet_h5_strerror());
    }
    H5Sclose(mspace);
    H5Sclose(fspace);
    return rc;
}

static int check_requests(const gnet_shard *s, const int64_t *idx, int n, request *r)
{
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= s->count) {
            sh_fail(s, "sample index %lld out of range (the shard has %lld)", (long long)idx[i],
                    (long long)s->count);
            return -1; /* said here: the analyzer cannot see into variadic sh_fail */
        }
        r[i] = (request){idx[i], i};
    }
    qsort(r, (size_t)n, sizeof *r, by_index);
    return 0;
}

/* Copies the packed distinct samples to their places in the request (repeats included). */
static int scatter(const gnet_shard *s, const request *r, int n, const uint8_t *img_k,
                   const uint8_t *lab_k, uint8_t *images, uint8_t *labels)
{
    size_t sb = (size_t)s->rows * (size_t)s->cols;
    for (int i = 0, u = -1; i < n; i++) {
        u += i == 0 || r[i].index != r[i - 1].index;
        if (lab_k[u] >= 10)
            return sh_fail(s, "sample %lld has label %d (labels are 0..9)", (long long)r[i].index,
                           lab_k[u]);
        memcpy(images + (size_t)r[i].pos * sb, img_k + (size_t)u * sb, sb);
        labels[r[i].pos] = lab_k[u];
    }
    return 0;
}

int gnet_shard_read(gnet_shard *s, const int64_t *idx, int n, uint8_t *images, uint8_t *labels)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* per thread: this may be the loader's thread */
    if (n <= 0)
        return n == 0 ? 0 : sh_fail(s, "negative sample count %d", n);
    size_t sb = (size_t)s->rows * (size_t)s->cols;
    char what[4200];
    (void)snprintf(what, sizeof what, "%d samples of %s", n, s->path);
    request *r = gnet_malloc((size_t)n * sizeof *r, what);
    int64_t *uniq = gnet_malloc((size_t)n * sizeof *uniq, what);
    uint8_t *img_k = gnet_malloc((size_t)n * sb, what), *lab_k = gnet_malloc((size_t)n, what);
    int rc = -1;
    if (r && uniq && img_k && lab_k && check_requests(s, idx, n, r) == 0) {
        int k = distinct(r, n, uniq);
        rc = read_runs(s, s->images, "images", 3, uniq, k, img_k);
        if (rc == 0)
            rc = read_runs(s, s->labels, "labels", 1, uniq, k, lab_k);
        if (rc == 0)
            rc = scatter(s, r, n, img_k, lab_k, images, labels);
    }
    free(r), free(uniq), free(img_k), free(lab_k);
    return rc;
}
