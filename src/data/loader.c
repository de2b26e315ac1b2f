#include "data/loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/rng.h"
#include "data/resize.h"

/* Three buffers: the caller's, the next one ready, and one being filled, so that one slow
 * batch (a cold HDF5 chunk) is absorbed instead of stalling the step. */
#define LOADER_SLOTS 3
#define LOADER_PAGE 4096
#define LOADER_MAX_SIDE 4096

typedef struct {
    float *x;
    int32_t *y;
    int valid, status;
    int64_t global_valid;
} loader_slot;

/* Per-batch work space, used only by whichever thread fills (the prefetch thread, or the
 * caller when prefetch = 0). */
typedef struct {
    gnet_sample_ref *ref;
    int *order;      /* the real rows' numbers, grouped by shard */
    int64_t *idx;    /* one shard's sample indices, for one read */
    uint8_t *images; /* the source images, in `order` */
    uint8_t *labels;
    uint8_t *resized; /* one resized image */
    uint8_t *aug;     /* one augmented image */
    void *tmp;        /* the resize plan's scratch */
} loader_scratch;

struct gnet_loader {
    gnet_source *src;
    gnet_sampler *smp;
    gnet_resize_plan *plan; /* NULL when size == rows == cols */
    int size, lb, prefetch, n_slots;
    int64_t steps, epoch; /* epoch: set by start_epoch while the thread is not filling */
    unsigned augment;     /* GNET_AUGMENT_* flags */
    uint64_t aug_seed;
    float lut[256]; /* byte / 255.0f, as ToTensor divides */
    char what[256];
    loader_scratch sc;
    loader_slot slot[LOADER_SLOTS];
    double wait_s;
    /* Under mu. Slots head, head+1, .. (count of them, mod n_slots) are ready in step order;
     * the one before head is the caller's while held; the thread fills slot head + count.
     * busy: the thread is filling (outside the lock), so the sampler and the ring must not
     * change under it. */
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t thread;
    int sync_ready, thread_started;
    int head, count, held, busy, active, stop;
    int64_t next_fill, next_take;
};

/* ---- Filling one batch (no allocation, no locking). ---- */

/* Stable insertion sort of rows 0..n by shard: batches are short and nearly sorted. */
static void group_by_shard(const gnet_sample_ref *ref, int n, int *order)
{
    for (int i = 0; i < n; i++) {
        int j = i;
        for (; j > 0 && ref[order[j - 1]].shard > ref[i].shard; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
}

/* One source read per shard, into images/labels in `order`. */
static int read_rows(gnet_loader *l, int n)
{
    loader_scratch *sc = &l->sc;
    size_t px = (size_t)l->src->rows * l->src->cols;
    for (int start = 0, end; start < n; start = end) {
        int shard = sc->ref[sc->order[start]].shard;
        for (end = start; end < n && sc->ref[sc->order[end]].shard == shard; end++)
            sc->idx[end - start] = sc->ref[sc->order[end]].index;
        if (l->src->read(l->src, shard, sc->idx, end - start, sc->images + start * px,
                         sc->labels + start) != 0)
            return -1;
    }
    return 0;
}

/* The augmented copy of one size x size image (gnet_loader_set_augment): out(i, j) =
 * in'(i + dy, j + dx), in' the image flipped or not, 0 outside it. */
static const uint8_t *augment(gnet_loader *l, const uint8_t *img, gnet_sample_ref ref)
{
    gnet_rng r;
    gnet_rng_init(&r, gnet_rng_key(l->aug_seed, GNET_AUGMENT_PURPOSE, (uint64_t)l->epoch,
                                   ((uint64_t)ref.shard << 40) ^ (uint64_t)ref.index));
    int n = l->size, pad = GNET_AUGMENT_PAD(n);
    int flip = (l->augment & GNET_AUGMENT_FLIP) && (gnet_rng_u64(&r) & 1);
    int dx = 0, dy = 0;
    if (l->augment & GNET_AUGMENT_CROP) {
        dx = (int)gnet_rng_below(&r, (uint32_t)(2 * pad + 1)) - pad;
        dy = (int)gnet_rng_below(&r, (uint32_t)(2 * pad + 1)) - pad;
    }
    uint8_t *out = l->sc.aug;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int si = i + dy, sj = j + dx;
            int inside = si >= 0 && si < n && sj >= 0 && sj < n;
            out[i * n + j] = inside ? img[si * n + (flip ? n - 1 - sj : sj)] : 0;
        }
    return out;
}

static void convert(gnet_loader *l, const uint8_t *img, gnet_sample_ref ref, float *x)
{
    if (l->plan) {
        gnet_resize_plan_apply(l->plan, img, l->sc.resized, l->sc.tmp);
        img = l->sc.resized;
    }
    if (l->augment)
        img = augment(l, img, ref);
    size_t n = (size_t)l->size * l->size;
    for (size_t j = 0; j < n; j++)
        x[j] = l->lut[img[j]];
}

static int fill_batch(gnet_loader *l, loader_slot *s, int64_t step)
{
    loader_scratch *sc = &l->sc;
    size_t px = (size_t)l->src->rows * l->src->cols, ss = (size_t)l->size * l->size;
    gnet_sampler_batch(l->smp, step, sc->ref, &s->valid, &s->global_valid);
    group_by_shard(sc->ref, s->valid, sc->order);
    if (read_rows(l, s->valid) != 0)
        return -1;
    for (int p = 0; p < s->valid; p++) {
        convert(l, sc->images + p * px, sc->ref[sc->order[p]], s->x + (size_t)sc->order[p] * ss);
        s->y[sc->order[p]] = sc->labels[p];
    }
    /* Padding rows are zeros with label 0: deterministic, and their gradient is masked. */
    memset(s->x + (size_t)s->valid * ss, 0, sizeof(float) * ss * (size_t)(l->lb - s->valid));
    for (int i = s->valid; i < l->lb; i++)
        s->y[i] = 0;
    return 0;
}

/* ---- The prefetch thread. ---- */

static int can_fill(const gnet_loader *l)
{
    return l->active && l->next_fill < l->steps && l->count + l->held < l->n_slots;
}

static void *prefetch_main(void *arg)
{
    gnet_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && !can_fill(l))
            pthread_cond_wait(&l->work, &l->mu);
        if (l->stop)
            break;
        loader_slot *s = &l->slot[(l->head + l->count) % l->n_slots];
        int64_t step = l->next_fill;
        l->busy = 1;
        pthread_mutex_unlock(&l->mu);
        int status = fill_batch(l, s, step);
        pthread_mutex_lock(&l->mu);
        s->status = status;
        l->busy = 0;
        l->count++;
        /* After an error the epoch ends here: the caller gets -1 for this batch. */
        l->next_fill = status == 0 ? step + 1 : l->steps;
        pthread_cond_broadcast(&l->done);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---- Creation and destruction. ---- */

static int alloc_scratch(gnet_loader *l, const char *what)
{
    loader_scratch *sc = &l->sc;
    size_t lb = (size_t)l->lb, px = (size_t)l->src->rows * l->src->cols;
    sc->ref = gnet_malloc(sizeof *sc->ref * lb, what);
    sc->order = gnet_malloc(sizeof *sc->order * lb, what);
    sc->idx = gnet_malloc(sizeof *sc->idx * lb, what);
    sc->images = gnet_malloc(px * lb, what);
    sc->labels = gnet_malloc(lb, what);
    sc->aug = gnet_malloc((size_t)l->size * l->size, what);
    if (!sc->ref || !sc->order || !sc->idx || !sc->images || !sc->labels || !sc->aug)
        return -1;
    if (!l->plan)
        return 0;
    sc->resized = gnet_malloc((size_t)l->size * l->size, what);
    sc->tmp = gnet_malloc(gnet_resize_plan_tmp_bytes(l->plan) + 1, what);
    return sc->resized && sc->tmp ? 0 : -1;
}

/* Page-aligned, whole pages (cheap to copy from). The CUDA backend does not pin them: it
 * copies each batch into pinned staging of its own (backend_cuda.c), so the loader stays
 * free of CUDA and its buffers are reusable as soon as the upload returns. */
static int alloc_slots(gnet_loader *l, const char *what)
{
    size_t ss = (size_t)l->size * l->size;
    for (int i = 0; i < l->n_slots; i++) {
        l->slot[i].x = gnet_aligned_alloc(LOADER_PAGE, sizeof(float) * ss * (size_t)l->lb, what);
        l->slot[i].y = gnet_aligned_alloc(LOADER_PAGE, sizeof(int32_t) * (size_t)l->lb, what);
        if (!l->slot[i].x || !l->slot[i].y)
            return -1;
    }
    return 0;
}

static int start_thread(gnet_loader *l)
{
    if (pthread_mutex_init(&l->mu, NULL) != 0)
        return -1;
    if (pthread_cond_init(&l->work, NULL) != 0) {
        pthread_mutex_destroy(&l->mu);
        return -1;
    }
    if (pthread_cond_init(&l->done, NULL) != 0) {
        pthread_cond_destroy(&l->work);
        pthread_mutex_destroy(&l->mu);
        return -1;
    }
    l->sync_ready = 1;
    if (!l->prefetch)
        return 0;
    l->thread_started = pthread_create(&l->thread, NULL, prefetch_main, l) == 0;
    return l->thread_started ? 0 : -1;
}

static int setup(gnet_loader *l, const gnet_sampler_config *cfg)
{
    gnet_sampler_config c = *cfg;
    c.n_shards = l->src->n_shards;
    c.shard_size = l->src->shard_size;
    l->smp = gnet_sampler_create(&c, l->what);
    if (!l->smp)
        return -1;
    l->lb = gnet_sampler_local_batch(l->smp);
    l->steps = gnet_sampler_steps(l->smp);
    if (l->size != l->src->rows || l->size != l->src->cols) {
        l->plan = gnet_resize_plan_create(l->src->rows, l->src->cols, l->size, l->size);
        if (!l->plan)
            return -1;
    }
    char what[300];
    (void)snprintf(what, sizeof what, "the loader's buffers for %s", l->what);
    if (alloc_scratch(l, what) != 0 || alloc_slots(l, what) != 0)
        return -1;
    if (start_thread(l) != 0) {
        gnet_errorf("%s: loader: cannot start the prefetch thread", l->what);
        return -1;
    }
    return 0;
}

gnet_loader *gnet_loader_create(gnet_source *src, const gnet_sampler_config *cfg, int size,
                                int prefetch, const char *what)
{
    if (size < 1 || size > LOADER_MAX_SIDE) {
        gnet_errorf("%s: image side %d outside 1..%d", what, size, LOADER_MAX_SIDE);
        return NULL;
    }
    char name[300];
    (void)snprintf(name, sizeof name, "the loader of %s", what);
    gnet_loader *l = gnet_calloc(1, sizeof *l, name);
    if (!l)
        return NULL;
    l->src = src;
    l->size = size;
    l->prefetch = prefetch != 0;
    l->n_slots = prefetch ? LOADER_SLOTS : 1;
    (void)snprintf(l->what, sizeof l->what, "%s", what); /* a label for messages: may be cut */
    for (int i = 0; i < 256; i++)
        l->lut[i] = (float)i / 255.0f;
    if (setup(l, cfg) != 0) {
        gnet_loader_destroy(l);
        return NULL;
    }
    return l;
}

void gnet_loader_destroy(gnet_loader *l)
{
    if (!l)
        return;
    if (l->thread_started) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_broadcast(&l->work);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    }
    if (l->sync_ready) {
        pthread_cond_destroy(&l->done);
        pthread_cond_destroy(&l->work);
        pthread_mutex_destroy(&l->mu);
    }
    for (int i = 0; i < l->n_slots; i++)
        free(l->slot[i].x), free(l->slot[i].y);
    loader_scratch *sc = &l->sc;
    free(sc->ref), free(sc->order), free(sc->idx), free(sc->images), free(sc->labels);
    free(sc->resized), free(sc->tmp), free(sc->aug);
    gnet_resize_plan_free(l->plan);
    gnet_sampler_destroy(l->smp);
    free(l);
}

int64_t gnet_loader_steps(const gnet_loader *l) { return l->steps; }

int gnet_loader_local_batch(const gnet_loader *l) { return l->lb; }

double gnet_loader_wait_seconds(const gnet_loader *l) { return l->wait_s; }

/* ---- Epochs and batches. ---- */

void gnet_loader_start_epoch(gnet_loader *l, int64_t epoch, int64_t first_step)
{
    if (first_step < 0 || first_step > l->steps) {
        gnet_errorf("%s: cannot start at batch %lld of an epoch of %lld", l->what,
                    (long long)first_step, (long long)l->steps);
        gnet_fatal(1);
    }
    pthread_mutex_lock(&l->mu);
    /* Let a batch in progress finish: it reads the sampler and writes a slot. */
    while (l->busy)
        pthread_cond_wait(&l->done, &l->mu);
    gnet_sampler_set_epoch(l->smp, epoch);
    l->epoch = epoch;
    l->head = l->count = l->held = 0;
    l->next_fill = l->next_take = first_step;
    l->active = 1;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
}

void gnet_loader_set_augment(gnet_loader *l, unsigned flags, uint64_t seed)
{
    pthread_mutex_lock(&l->mu);
    while (l->busy)
        pthread_cond_wait(&l->done, &l->mu);
    l->augment = flags;
    l->aug_seed = seed;
    pthread_mutex_unlock(&l->mu);
}

/* Under mu: is there a batch left to hand out? (Asking past the end is a caller's bug.) */
static int batch_left(const gnet_loader *l)
{
    if (!l->active) {
        gnet_errorf("%s: a batch was asked for before the first epoch started", l->what);
        return 0;
    }
    if (l->next_take >= l->steps) {
        gnet_errorf("%s: no batch %lld in an epoch of %lld (or it ended on an error)", l->what,
                    (long long)l->next_take, (long long)l->steps);
        return 0;
    }
    return 1;
}

/* Under mu: the ready slot at head, or a synchronous fill when there is no thread. */
static loader_slot *take_slot(gnet_loader *l)
{
    double t0 = gnet_now();
    loader_slot *s = &l->slot[0];
    if (!l->prefetch) {
        s->status = fill_batch(l, s, l->next_take);
    } else {
        while (l->count == 0)
            pthread_cond_wait(&l->done, &l->mu);
        s = &l->slot[l->head];
        l->head = (l->head + 1) % l->n_slots;
        l->count--;
        l->held = 1;
    }
    l->wait_s += gnet_now() - t0;
    return s;
}

int gnet_loader_next(gnet_loader *l, gnet_batch *out)
{
    pthread_mutex_lock(&l->mu);
    if (l->held) { /* the caller is done with the previous batch */
        l->held = 0;
        pthread_cond_signal(&l->work);
    }
    if (!batch_left(l)) {
        pthread_mutex_unlock(&l->mu);
        return -1;
    }
    loader_slot *s = take_slot(l);
    int status = s->status;
    l->next_take = status == 0 ? l->next_take + 1 : l->steps;
    pthread_mutex_unlock(&l->mu);
    if (status != 0)
        return -1;
    *out = (gnet_batch){s->x, s->y, s->valid, s->global_valid};
    return 0;
}
