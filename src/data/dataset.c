#include "data/dataset.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/rng.h"
#include "data/idx.h"
#include "data/resize.h"

#define DATASET_CLASSES 10
#define DATASET_MAX_SIDE 4096

int gnet_dataset_load_idx(gnet_dataset *d, const char *dir, int train)
{
    gnet_idx_set s;
    memset(d, 0, sizeof *d);
    if (gnet_idx_load(dir, train ? "train" : "t10k", &s) != 0)
        return -1;
    *d = (gnet_dataset){s.n, s.rows, s.cols, s.images, s.labels};
    return 0;
}

static void fill_bytes(gnet_rng *r, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = gnet_rng_u64(r);
        for (size_t j = 0; j < 8 && i + j < n; j++, v >>= 8)
            p[i + j] = (uint8_t)v;
    }
}

int gnet_dataset_synthetic(gnet_dataset *d, int32_t n, int size, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    if (n < 1 || size < 1 || size > DATASET_MAX_SIDE) {
        gnet_errorf("synthetic data: need n >= 1 and size in 1..%d, got n=%d size=%d",
                    DATASET_MAX_SIDE, n, size);
        return -1;
    }
    size_t bytes = (size_t)n * (size_t)size * (size_t)size;
    uint8_t *img = gnet_malloc(bytes, "synthetic images");
    uint8_t *lab = gnet_malloc((size_t)n, "synthetic labels");
    if (!img || !lab) {
        free(img);
        free(lab);
        return -1;
    }
    /* Coordinate b = 1 keeps this stream apart from the epoch orders (b = 0). */
    gnet_rng r;
    gnet_rng_init(&r, gnet_rng_key(seed, 0, 1, 0));
    fill_bytes(&r, img, bytes);
    for (int32_t i = 0; i < n; i++)
        lab[i] = (uint8_t)gnet_rng_below(&r, DATASET_CLASSES);
    *d = (gnet_dataset){n, size, size, img, lab};
    return 0;
}

/* The buffers keep their size: a subset is for short runs, not for saving memory. */
void gnet_dataset_truncate(gnet_dataset *d, int32_t n)
{
    if (n < 0 || n > d->n) {
        gnet_errorf("dataset: cannot truncate %d samples to %d", d->n, n);
        gnet_fatal(1);
    }
    d->n = n;
}

void gnet_dataset_free(gnet_dataset *d)
{
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

void gnet_dataset_order(int32_t *perm, int32_t n, int shuffle, uint64_t seed, uint64_t epoch)
{
    for (int32_t i = 0; i < n; i++)
        perm[i] = i;
    if (!shuffle)
        return;
    gnet_rng r;
    gnet_rng_init(&r, gnet_rng_key(seed, epoch, 0, 0));
    gnet_rng_shuffle(&r, perm, n);
}

struct gnet_batcher {
    const gnet_dataset *d;
    int r;
    gnet_resize_plan *plan; /* NULL when the images are already r x r */
    void *tmp;
    uint8_t *img;   /* one resized image */
    float lut[256]; /* byte / 255.0f, as ToTensor divides */
};

gnet_batcher *gnet_batcher_create(const gnet_dataset *d, int r)
{
    if (r < 1 || r > DATASET_MAX_SIDE) {
        gnet_errorf("batcher: image side %d outside 1..%d", r, DATASET_MAX_SIDE);
        return NULL;
    }
    gnet_batcher *bt = gnet_calloc(1, sizeof *bt, "the batcher");
    if (!bt)
        return NULL;
    bt->d = d;
    bt->r = r;
    for (int i = 0; i < 256; i++)
        bt->lut[i] = (float)i / 255.0f;
    if (r == d->h && r == d->w)
        return bt;
    bt->plan = gnet_resize_plan_create(d->h, d->w, r, r);
    if (bt->plan) {
        bt->tmp =
            gnet_malloc(gnet_resize_plan_tmp_bytes(bt->plan) + 1, "the batcher's resize scratch");
        bt->img = gnet_malloc((size_t)r * r, "the batcher's resized image");
    }
    if (!bt->plan || !bt->tmp || !bt->img) {
        gnet_batcher_free(bt);
        return NULL;
    }
    return bt;
}

static const uint8_t *batch_image(gnet_batcher *bt, int32_t k)
{
    const gnet_dataset *d = bt->d;
    if (k < 0 || k >= d->n) {
        gnet_errorf("batcher: sample index %d outside 0..%d", k, d->n - 1);
        gnet_fatal(1);
    }
    const uint8_t *src = d->images + (size_t)k * d->h * d->w;
    if (!bt->plan)
        return src;
    gnet_resize_plan_apply(bt->plan, src, bt->img, bt->tmp);
    return bt->img;
}

void gnet_batcher_fill(gnet_batcher *bt, const int32_t *idx, int b, float *x, int32_t *y)
{
    size_t rr = (size_t)bt->r * bt->r;
    for (int i = 0; i < b; i++) {
        const uint8_t *img = batch_image(bt, idx[i]);
        float *out = x + (size_t)i * rr;
        for (size_t j = 0; j < rr; j++)
            out[j] = bt->lut[img[j]];
        y[i] = bt->d->labels[idx[i]];
    }
}

void gnet_batcher_free(gnet_batcher *bt)
{
    if (!bt)
        return;
    gnet_resize_plan_free(bt->plan);
    free(bt->tmp);
    free(bt->img);
    free(bt);
}
