/* Loader: the prefetching loader gives bit-identical batches to the synchronous one and to
 * the direct computation (sampler rows -> gnet_batcher_fill, i.e. PIL resize then /255),
 * over epochs and restarts mid-epoch, from the in-memory set, from a several-shard source
 * and from a prepared HDF5 directory (train shards and test.h5); padding rows are zeros
 * with label 0; a read error reaches the caller as -1; a rank opens only its own shards;
 * --augment's flips and shifts, the same on any number of ranks. */
#include <hdf5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/prepare.h"
#include "data/shard.h"
#include "test_files.h"
#include "test_util.h"

#define N_TRAIN 203
#define N_TEST 37
#define MAX_SHARDS 4
#define MAX_LB 64

/* ---- Sources under test ---- */

/* A source over a dataset split into S interleaved shards: sample k of shard s is dataset
 * image k*S + s (a bijection for sizes that descend by at most one). It counts reads and
 * can fail on one dataset image. */
typedef struct {
    gnet_source src; /* first: the destroy callback frees the whole struct */
    const gnet_dataset *d;
    int64_t size[MAX_SHARDS];
    int reads, fail_at;
} split_source;

static int split_read(gnet_source *src, int shard, const int64_t *idx, int n, uint8_t *images,
                      uint8_t *labels)
{
    split_source *m = src->impl;
    size_t px = (size_t)m->d->h * m->d->w;
    m->reads++;
    for (int i = 0; i < n; i++) {
        int64_t k = idx[i] * src->n_shards + shard;
        if (k == m->fail_at || idx[i] < 0 || idx[i] >= m->size[shard]) {
            fprintf(stderr, "gnet: error: test source: cannot read sample %lld\n", (long long)k);
            return -1;
        }
        memcpy(images + (size_t)i * px, m->d->images + (size_t)k * px, px);
        labels[i] = m->d->labels[k];
    }
    return 0;
}

static void split_destroy(gnet_source *src) { free(src); }

static split_source *split_open(const gnet_dataset *d, int S)
{
    split_source *m = calloc(1, sizeof *m);
    m->d = d;
    m->fail_at = -1;
    for (int s = 0; s < S; s++)
        m->size[s] = (d->n - s + S - 1) / S;
    m->src = (gnet_source){S, m->size, d->h, d->w, split_read, split_destroy, m};
    return m;
}

/* Where each source's samples come from in the in-memory set: map[s][k] is the dataset
 * image behind sample k of shard s. */
typedef struct {
    const char *name;
    const gnet_dataset *d;
    int64_t *map[MAX_SHARDS];
    gnet_source *(*open)(const char *dir, const gnet_dataset *d, int rank, int world);
    const char *dir;
} source_case;

static gnet_source *open_memory(const char *dir, const gnet_dataset *d, int rank, int world)
{
    (void)dir, (void)rank, (void)world;
    return gnet_source_from_dataset(d);
}

static gnet_source *open_split(const char *dir, const gnet_dataset *d, int rank, int world)
{
    (void)dir, (void)rank, (void)world;
    return &split_open(d, MAX_SHARDS)->src;
}

static gnet_source *open_train(const char *dir, const gnet_dataset *d, int rank, int world)
{
    (void)d;
    return gnet_source_open_prepared(dir, "train", rank, world);
}

static gnet_source *open_test(const char *dir, const gnet_dataset *d, int rank, int world)
{
    (void)d;
    return gnet_source_open_prepared(dir, "test", rank, world);
}

static void case_free(source_case *c)
{
    for (int s = 0; s < MAX_SHARDS; s++)
        free(c->map[s]);
}

/* ---- The direct computation ---- */

typedef struct {
    const source_case *sc;
    gnet_sampler *smp;
    gnet_batcher *bt;
    int size, lb;
    float *x;
    int32_t y[MAX_LB];
    int valid;
    int64_t global_valid;
} reference;

static void ref_init(reference *r, const source_case *sc, const gnet_source *src,
                     gnet_sampler_config c, int size)
{
    c.n_shards = src->n_shards;
    c.shard_size = src->shard_size;
    r->sc = sc;
    r->smp = gnet_sampler_create(&c, "reference");
    r->bt = gnet_batcher_create(sc->d, size);
    r->size = size;
    r->lb = c.global_batch / c.world;
    r->x = malloc(sizeof(float) * (size_t)r->lb * size * size);
}

static void ref_free(reference *r)
{
    gnet_sampler_destroy(r->smp);
    gnet_batcher_free(r->bt);
    free(r->x);
}

/* Batch b computed directly: the sampler's rows through gnet_batcher_fill. */
static void ref_batch(reference *r, int64_t b)
{
    gnet_sample_ref rows[MAX_LB];
    int32_t idx[MAX_LB];
    gnet_sampler_batch(r->smp, b, rows, &r->valid, &r->global_valid);
    for (int i = 0; i < r->valid; i++)
        idx[i] = (int32_t)r->sc->map[rows[i].shard][rows[i].index];
    gnet_batcher_fill(r->bt, idx, r->valid, r->x, r->y);
}

/* ---- Loader against the reference ---- */

static int same_batch(const gnet_batch *a, const gnet_batch *b, int lb, size_t ss)
{
    return a->valid == b->valid && a->global_valid == b->global_valid &&
           memcmp(a->x, b->x, sizeof(float) * ss * (size_t)lb) == 0 &&
           memcmp(a->y, b->y, sizeof(int32_t) * (size_t)lb) == 0;
}

/* The next batch from both loaders equals the reference's batch b. */
static void check_next(gnet_loader *pre, gnet_loader *sync, reference *r, int64_t b)
{
    size_t ss = (size_t)r->size * r->size;
    gnet_batch p, s;
    double waited = gnet_loader_wait_seconds(pre);
    EXPECT(gnet_loader_next(pre, &p) == 0);
    EXPECT(gnet_loader_next(sync, &s) == 0);
    EXPECT(gnet_loader_wait_seconds(pre) >= waited);
    ref_batch(r, b);
    EXPECT(same_batch(&p, &s, r->lb, ss));
    EXPECT(p.valid == r->valid && p.global_valid == r->global_valid);
    EXPECT(memcmp(p.x, r->x, sizeof(float) * ss * (size_t)r->valid) == 0);
    EXPECT(memcmp(p.y, r->y, sizeof(int32_t) * (size_t)r->valid) == 0);
    for (int i = p.valid; i < r->lb; i++)
        EXPECT(p.y[i] == 0);
}

static void start(gnet_loader *pre, gnet_loader *sync, reference *r, int64_t e, int64_t k)
{
    gnet_loader_start_epoch(pre, e, k);
    gnet_loader_start_epoch(sync, e, k);
    gnet_sampler_set_epoch(r->smp, e);
}

static void check_epoch(gnet_loader *pre, gnet_loader *sync, reference *r, int64_t e,
                        int64_t first)
{
    gnet_batch b;
    start(pre, sync, r, e, first);
    for (int64_t k = first; k < gnet_loader_steps(pre); k++)
        check_next(pre, sync, r, k);
    EXPECT(gnet_loader_next(pre, &b) == -1); /* past the end (prints one line) */
}

/* Full epochs, a restart after a few batches (with batches prefetched), restarts in a row
 * with nothing taken, and many short partial epochs (for ThreadSanitizer). A source is read
 * by one thread at a time, so each loader has its own. */
static void check_config(const source_case *sc, gnet_sampler_config c, int size)
{
    gnet_source *src[2] = {sc->open(sc->dir, sc->d, c.rank, c.world),
                           sc->open(sc->dir, sc->d, c.rank, c.world)};
    EXPECT(src[0] && src[1]);
    if (!src[0] || !src[1])
        return;
    gnet_loader *pre = gnet_loader_create(src[0], &c, size, 1, "prefetch");
    gnet_loader *sync = gnet_loader_create(src[1], &c, size, 0, "sync");
    reference r;
    ref_init(&r, sc, src[0], c, size);
    EXPECT(pre && sync && gnet_loader_local_batch(pre) == r.lb);
    int64_t steps = gnet_loader_steps(pre);
    EXPECT(steps == gnet_loader_steps(sync) && steps == gnet_sampler_steps(r.smp));
    check_epoch(pre, sync, &r, 0, 0);
    check_epoch(pre, sync, &r, 1, 0);
    start(pre, sync, &r, 2, 0);
    for (int64_t k = 0; k < 3 && k < steps; k++)
        check_next(pre, sync, &r, k);
    check_epoch(pre, sync, &r, 1, steps / 2);
    start(pre, sync, &r, 7, steps / 3);
    start(pre, sync, &r, 8, steps / 4);
    check_epoch(pre, sync, &r, 3, 0);
    for (int i = 0; i < 60; i++) {
        int64_t first = i % steps;
        start(pre, sync, &r, i % 3, first);
        for (int64_t k = first; k < steps && k < first + i % 4; k++)
            check_next(pre, sync, &r, k);
    }
    check_epoch(pre, sync, &r, 4, steps); /* an epoch resumed at its end has nothing left */
    ref_free(&r);
    gnet_loader_destroy(pre);
    gnet_loader_destroy(sync);
    src[0]->destroy(src[0]);
    src[1]->destroy(src[1]);
}

/* One rank; rank 1 of 2; rank 5 of 8 (more ranks than shards: shards are shared); file
 * order with drop_last. */
static void check_train_case(const source_case *sc, int size)
{
    const gnet_sampler_config configs[] = {
        {GNET_SAMPLE_TRAIN, 0, NULL, 16, 0, 1, 1, 0, 5},
        {GNET_SAMPLE_TRAIN, 0, NULL, 16, 1, 2, 1, 0, 5},
        {GNET_SAMPLE_TRAIN, 0, NULL, 16, 5, 8, 1, 0, 5},
        {GNET_SAMPLE_TRAIN, 0, NULL, 8, 0, 1, 0, 1, 5},
    };
    for (size_t i = 0; i < sizeof configs / sizeof *configs; i++)
        check_config(sc, configs[i], size);
    printf("%s at %d: checked\n", sc->name, size);
}

static source_case memory_case(const gnet_dataset *d)
{
    source_case c = {"in-memory", d, {NULL}, open_memory, NULL};
    c.map[0] = malloc(sizeof(int64_t) * (size_t)d->n);
    for (int64_t k = 0; k < d->n; k++)
        c.map[0][k] = k;
    return c;
}

static source_case split_case(const gnet_dataset *d)
{
    source_case c = {"four-shard split", d, {NULL}, open_split, NULL};
    for (int s = 0; s < MAX_SHARDS; s++) {
        c.map[s] = malloc(sizeof(int64_t) * (size_t)d->n);
        for (int64_t k = 0; k * MAX_SHARDS + s < d->n; k++)
            c.map[s][k] = k * MAX_SHARDS + s;
    }
    return c;
}

static void test_batches(int size)
{
    gnet_dataset d;
    EXPECT(gnet_dataset_synthetic(&d, N_TRAIN, 28, 17) == 0);
    source_case cases[] = {memory_case(&d), split_case(&d)};
    for (int i = 0; i < 2; i++) {
        check_train_case(&cases[i], size);
        case_free(&cases[i]);
    }
    gnet_dataset_free(&d);
}

/* One source read per shard that has rows in the batch. */
static void test_one_read_per_shard(void)
{
    gnet_dataset d;
    EXPECT(gnet_dataset_synthetic(&d, N_TRAIN, 28, 3) == 0);
    split_source *m = split_open(&d, 4);
    gnet_sampler_config c = {GNET_SAMPLE_TRAIN, 0, NULL, 32, 0, 1, 1, 1, 5};
    gnet_loader *l = gnet_loader_create(&m->src, &c, 28, 0, "reads");
    gnet_batch b;
    gnet_loader_start_epoch(l, 0, 0);
    EXPECT(gnet_loader_next(l, &b) == 0 && m->reads == 4);
    gnet_loader_destroy(l);
    free(m);
    gnet_dataset_free(&d);
}

/* ---- Augmentation ---- */

/* out = in flipped or not, then shifted: out(i, j) = in'(i + dy, j + dx), 0 outside. */
static void shifted(const float *in, int n, int flip, int dx, int dy, float *out)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int si = i + dy, sj = j + dx;
            out[i * n + j] = si >= 0 && si < n && sj >= 0 && sj < n ? in[si * n + (flip ? n - 1 - sj : sj)] : 0.0f;
        }
}

/* Which transform (flip, dx, dy) makes plain into aug: its number flip*100 + (dy+pad)*10 +
 * (dx+pad), or -1 when none does. */
static int which_transform(const float *plain, const float *aug, int n, int pad)
{
    float t[28 * 28];
    for (int f = 0; f < 2; f++)
        for (int dy = -pad; dy <= pad; dy++)
            for (int dx = -pad; dx <= pad; dx++) {
                shifted(plain, n, f, dx, dy, t);
                if (memcmp(t, aug, sizeof(float) * (size_t)n * n) == 0)
                    return f * 100 + (dy + pad) * 10 + dx + pad;
            }
    return -1;
}

static gnet_loader *split_loader(split_source **m, const gnet_dataset *d, int rank, int world,
                                 unsigned augment, int prefetch)
{
    *m = split_open(d, 4);
    gnet_sampler_config c = {GNET_SAMPLE_TRAIN, 0, NULL, 32, rank, world, 1, 1, 5};
    gnet_loader *l = gnet_loader_create(&(*m)->src, &c, 28, prefetch, "augment");
    gnet_loader_set_augment(l, augment, 9);
    return l;
}

static int cmp_image(const void *a, const void *b) { return memcmp(a, b, sizeof(float) * 28 * 28); }

/* --augment: every training image is its plain self under one of the 2 x 5 x 5 transforms;
 * flips are about half, shifts vary; the same sample gets the same transform with prefetch
 * or without, on 1 or 2 ranks (the union of the ranks' rows is the same set of images), and
 * another in the next epoch; flip alone never shifts, crop alone never flips. */
static void test_augment(void)
{
    gnet_dataset d;
    EXPECT(gnet_dataset_synthetic(&d, N_TRAIN, 28, 3) == 0);
    split_source *m[6];
    gnet_loader *plain = split_loader(&m[0], &d, 0, 1, 0, 0);
    gnet_loader *aug = split_loader(&m[1], &d, 0, 1, GNET_AUGMENT_FLIP | GNET_AUGMENT_CROP, 0);
    gnet_loader *pre = split_loader(&m[2], &d, 0, 1, GNET_AUGMENT_FLIP | GNET_AUGMENT_CROP, 1);
    gnet_loader *r0 = split_loader(&m[3], &d, 0, 2, GNET_AUGMENT_FLIP | GNET_AUGMENT_CROP, 1);
    gnet_loader *r1 = split_loader(&m[4], &d, 1, 2, GNET_AUGMENT_FLIP | GNET_AUGMENT_CROP, 1);
    gnet_loader *flip = split_loader(&m[5], &d, 0, 1, GNET_AUGMENT_FLIP, 0);
    const size_t ss = 28 * 28;
    int rows = 0, flips = 0, unmatched = 0, wrong_kind = 0, changed = 0, other_ranks = 0;
    int seen[200] = {0}, first[N_TRAIN + 32];
    static float both[32 * 28 * 28], one[32 * 28 * 28];
    for (int e = 0; e < 2; e++) {
        gnet_loader *all[] = {plain, aug, pre, r0, r1, flip};
        for (int i = 0; i < 6; i++)
            gnet_loader_start_epoch(all[i], e, 0);
        for (int64_t b = 0; b < gnet_loader_steps(plain); b++) {
            gnet_batch p, a, q, h0, h1, f;
            EXPECT(gnet_loader_next(plain, &p) == 0 && gnet_loader_next(aug, &a) == 0 &&
                   gnet_loader_next(pre, &q) == 0 && gnet_loader_next(r0, &h0) == 0 &&
                   gnet_loader_next(r1, &h1) == 0 && gnet_loader_next(flip, &f) == 0);
            EXPECT(memcmp(a.x, q.x, sizeof(float) * ss * 32) == 0);
            for (int i = 0; i < p.valid; i++, rows++) {
                int t = which_transform(p.x + i * ss, a.x + i * ss, 28, 2);
                int tf = which_transform(p.x + i * ss, f.x + i * ss, 28, 2);
                unmatched += t < 0;
                wrong_kind += tf < 0 || tf % 100 != 22; /* flip alone: dx = dy = 0 */
                if (t >= 0) {
                    flips += t >= 100;
                    seen[t]++;
                    int k = (int)b * 32 + i;
                    changed += e == 1 && first[k] != t;
                    if (e == 0)
                        first[k] = t;
                }
            }
            /* The ranks' rows together: the same images as one rank's batch. */
            memcpy(both, a.x, sizeof(float) * ss * (size_t)a.valid);
            memcpy(one, h0.x, sizeof(float) * ss * (size_t)h0.valid);
            memcpy(one + ss * (size_t)h0.valid, h1.x, sizeof(float) * ss * (size_t)h1.valid);
            qsort(both, (size_t)a.valid, sizeof(float) * ss, cmp_image);
            qsort(one, (size_t)(h0.valid + h1.valid), sizeof(float) * ss, cmp_image);
            other_ranks += h0.valid + h1.valid != a.valid ||
                           memcmp(both, one, sizeof(float) * ss * (size_t)a.valid) != 0;
        }
    }
    int kinds = 0;
    for (int t = 0; t < 200; t++)
        kinds += seen[t] > 0;
    printf("augment: %d rows, %d flipped, %d of the 50 transforms seen, %d changed between epochs, "
           "%d unmatched, %d batches differing across ranks\n", rows, flips, kinds, changed, unmatched, other_ranks);
    EXPECT(unmatched == 0 && wrong_kind == 0 && other_ranks == 0);
    EXPECT(flips > rows * 3 / 10 && flips < rows * 7 / 10);
    EXPECT(kinds >= 40 && changed > rows / 4);
    gnet_loader_destroy(plain), gnet_loader_destroy(aug), gnet_loader_destroy(pre);
    gnet_loader_destroy(r0), gnet_loader_destroy(r1), gnet_loader_destroy(flip);
    for (int i = 0; i < 6; i++)
        free(m[i]);
    gnet_dataset_free(&d);
}

/* A failing read: earlier batches arrive, that batch gives -1, and so does every later call
 * of the epoch; a new start resumes normally. */
static void check_read_error(int prefetch)
{
    gnet_dataset d;
    EXPECT(gnet_dataset_synthetic(&d, N_TRAIN, 28, 3) == 0);
    split_source *m = split_open(&d, 1);
    gnet_sampler_config c = {GNET_SAMPLE_TRAIN, 0, NULL, 16, 0, 1, 0, 0, 5};
    gnet_loader *l = gnet_loader_create(&m->src, &c, 28, prefetch, "error");
    m->fail_at = 16 * 3 + 5; /* file order: in batch 3 */
    gnet_batch b;
    gnet_loader_start_epoch(l, 0, 0);
    for (int k = 0; k < 3; k++)
        EXPECT(gnet_loader_next(l, &b) == 0);
    EXPECT(gnet_loader_next(l, &b) == -1);
    EXPECT(gnet_loader_next(l, &b) == -1);
    gnet_loader_start_epoch(l, 1, 4);
    EXPECT(gnet_loader_next(l, &b) == 0 && b.valid == 16 && b.y[0] == d.labels[64]);
    gnet_loader_destroy(l);
    free(m);
    gnet_dataset_free(&d);
}

/* The in-memory source: one shard of the whole set, read by index. */
static void test_dataset_source(void)
{
    gnet_dataset d;
    EXPECT(gnet_dataset_synthetic(&d, 50, 28, 8) == 0);
    gnet_source *src = gnet_source_from_dataset(&d);
    EXPECT(src && src->n_shards == 1 && src->shard_size[0] == 50);
    EXPECT(src->rows == 28 && src->cols == 28);
    int64_t idx[3] = {49, 0, 7};
    uint8_t img[3 * 784], lab[3];
    EXPECT(src->read(src, 0, idx, 3, img, lab) == 0);
    EXPECT(memcmp(img, d.images + 49 * 784, 784) == 0 && lab[0] == d.labels[49]);
    EXPECT(memcmp(img + 2 * 784, d.images + 7 * 784, 784) == 0 && lab[2] == d.labels[7]);
    idx[1] = 50;
    EXPECT(src->read(src, 0, idx, 3, img, lab) == -1);
    EXPECT(src->read(src, 1, idx, 1, img, lab) == -1);
    src->destroy(src);
    gnet_dataset_free(&d);
}

static void test_bad_create(void)
{
    gnet_dataset d;
    EXPECT(gnet_dataset_synthetic(&d, 50, 28, 8) == 0);
    gnet_source *src = gnet_source_from_dataset(&d);
    gnet_sampler_config c = {GNET_SAMPLE_TRAIN, 0, NULL, 10, 0, 4, 1, 0, 5};
    EXPECT(gnet_loader_create(src, &c, 28, 1, "bad batch") == NULL);
    c.world = 1;
    EXPECT(gnet_loader_create(src, &c, 0, 1, "bad size") == NULL);
    src->destroy(src);
    gnet_dataset_free(&d);
}

/* ---- A prepared directory (made by gnet_prepare from IDX files written here) ---- */

static void put_be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, f);
}

static void write_idx(const char *dir, const char *prefix, const gnet_dataset *d)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    FILE *f = fopen(path, "wb");
    put_be32(f, 0x803), put_be32(f, (uint32_t)d->n), put_be32(f, (uint32_t)d->h);
    put_be32(f, (uint32_t)d->w);
    fwrite(d->images, 1, (size_t)d->n * d->h * d->w, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    f = fopen(path, "wb");
    put_be32(f, 0x801), put_be32(f, (uint32_t)d->n);
    fwrite(d->labels, 1, (size_t)d->n, f);
    fclose(f);
}

/* The `global_indices` of a shard (index < 0: test.h5): which IDX sample each one is. */
static int64_t *read_global_indices(const char *dir, int index, int shards, int64_t n)
{
    char path[512];
    int64_t *g = malloc(sizeof(int64_t) * (size_t)n);
    EXPECT(gnet_shard_path(path, sizeof path, dir, index, shards) == 0);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "global_indices", H5P_DEFAULT);
    EXPECT(f >= 0 && d >= 0);
    EXPECT(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, g) >= 0);
    H5Dclose(d);
    H5Fclose(f);
    return g;
}

/* Runs open with stderr sent to a file; returns the source and the text printed. */
static gnet_source *open_capturing(const char *dir, int rank, int world, char *text, size_t cap)
{
    test_capture c;
    test_capture_begin(&c);
    gnet_source *src = gnet_source_open_prepared(dir, "train", rank, world);
    test_capture_end(&c, text, cap);
    return src;
}

/* Rank 1 of 2 owns shards 1 and 3: without shard 0 it still opens, without shard 3 it
 * fails naming that file; reading a shard it does not own is an error. */
static void check_ownership(const char *dir)
{
    char path[512], moved[600], text[1024];
    gnet_shard_path(path, sizeof path, dir, 0, MAX_SHARDS);
    snprintf(moved, sizeof moved, "%s.away", path);
    EXPECT(rename(path, moved) == 0);
    gnet_source *src = open_capturing(dir, 1, 2, text, sizeof text);
    EXPECT(src != NULL && text[0] == '\0');
    int64_t idx = 0;
    uint8_t img[784], lab;
    EXPECT(src && src->read(src, 1, &idx, 1, img, &lab) == 0);
    EXPECT(src && src->read(src, 0, &idx, 1, img, &lab) == -1);
    if (src)
        src->destroy(src);
    EXPECT(open_capturing(dir, 0, 2, text, sizeof text) == NULL);
    printf("rank 0 of 2 without shard 0: %s", text);
    EXPECT(strstr(text, path) != NULL);
    EXPECT(rename(moved, path) == 0);
    gnet_shard_path(path, sizeof path, dir, 3, MAX_SHARDS);
    snprintf(moved, sizeof moved, "%s.away", path);
    EXPECT(rename(path, moved) == 0);
    EXPECT(open_capturing(dir, 1, 2, text, sizeof text) == NULL);
    printf("rank 1 of 2 without shard 3: %s", text);
    EXPECT(strstr(text, path) != NULL);
    EXPECT(rename(moved, path) == 0);
}

static void test_prepared(void)
{
    char root[] = "/tmp/gnet_test_loader_XXXXXX", src_dir[64], out[64];
    EXPECT(mkdtemp(root) != NULL);
    snprintf(src_dir, sizeof src_dir, "%s/idx", root);
    snprintf(out, sizeof out, "%s/prep", root);
    mkdir(src_dir, 0777);
    gnet_dataset train, test;
    EXPECT(gnet_dataset_synthetic(&train, N_TRAIN, 28, 21) == 0);
    EXPECT(gnet_dataset_synthetic(&test, N_TEST, 28, 22) == 0);
    write_idx(src_dir, "train", &train);
    write_idx(src_dir, "t10k", &test);
    gnet_prepare_opts o = {src_dir, out, MAX_SHARDS, 9, 0};
    gnet_manifest m;
    EXPECT(gnet_prepare(&o, &m) == 0);
    source_case tc = {"prepared train", &train, {NULL}, open_train, out};
    for (int s = 0; s < MAX_SHARDS; s++)
        tc.map[s] = read_global_indices(out, s, MAX_SHARDS, m.shard_size[s]);
    source_case ec = {"prepared test", &test, {NULL}, open_test, out};
    ec.map[0] = read_global_indices(out, -1, 1, N_TEST);
    for (int size = 28; size <= 96; size += 68) {
        check_train_case(&tc, size);
        for (int r = 0; r < 2; r++) /* evaluation: two ranks' slices of test.h5 */
            check_config(&ec, (gnet_sampler_config){GNET_SAMPLE_EVAL, 0, NULL, 16, r, 2, 0,
                                                    0, 0}, size);
    }
    check_ownership(out);
    case_free(&tc), case_free(&ec);
    gnet_dataset_free(&train), gnet_dataset_free(&test);
    test_remove_dir(out), test_remove_dir(src_dir), test_remove_dir(root);
}

int main(void)
{
    test_dataset_source();
    test_bad_create();
    test_batches(28);
    test_batches(96);
    test_one_read_per_shard();
    test_augment();
    check_read_error(0);
    check_read_error(1);
    test_prepared();
    TEST_MAIN_END();
}
