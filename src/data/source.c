#include "data/source.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "data/sampler.h"
#include "data/shard.h"

/* ---- In-memory set: one shard. ---- */

typedef struct {
    const gnet_dataset *d;
    int64_t size;
} memory_source;

static int memory_read(gnet_source *src, int shard, const int64_t *idx, int n, uint8_t *images,
                       uint8_t *labels)
{
    const memory_source *m = src->impl;
    size_t px = (size_t)m->d->h * m->d->w;
    if (shard != 0) {
        gnet_errorf("in-memory data: no shard %d (there is one)", shard);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= m->size) {
            gnet_errorf("in-memory data: sample %lld outside 0..%lld", (long long)idx[i],
                        (long long)m->size - 1);
            return -1;
        }
        memcpy(images + (size_t)i * px, m->d->images + (size_t)idx[i] * px, px);
        labels[i] = m->d->labels[idx[i]];
    }
    return 0;
}

static void memory_destroy(gnet_source *src)
{
    free(src->impl);
    free(src);
}

gnet_source *gnet_source_from_dataset(const gnet_dataset *d)
{
    gnet_source *src = gnet_calloc(1, sizeof *src, "the in-memory data source");
    memory_source *m = gnet_calloc(1, sizeof *m, "the in-memory data source");
    if (!src || !m) {
        free(src), free(m);
        return NULL;
    }
    *m = (memory_source){d, d->n};
    *src = (gnet_source){1, &m->size, d->h, d->w, memory_read, memory_destroy, m};
    // cppcheck-suppress memleak ; m is src->impl (in the compound literal), freed by memory_destroy
    return src;
}

/* ---- Prepared directory: the shards this rank owns, or test.h5. ---- */

typedef struct {
    gnet_manifest m; /* large (GNET_MAX_SHARDS sizes): kept off the stack */
    int64_t test_size;
    gnet_shard **shard; /* [n_shards]; NULL for shards another rank reads */
    char dir[4096];
    int rank, world;
} prepared_source;

static int prepared_read(gnet_source *src, int shard, const int64_t *idx, int n, uint8_t *images,
                         uint8_t *labels)
{
    prepared_source *p = src->impl;
    if (shard < 0 || shard >= src->n_shards || !p->shard[shard]) {
        gnet_errorf("%s: shard %d is not open on rank %d of %d", p->dir, shard, p->rank, p->world);
        return -1;
    }
    return gnet_shard_read(p->shard[shard], idx, n, images, labels);
}

static void prepared_destroy(gnet_source *src)
{
    prepared_source *p = src->impl;
    for (int s = 0; p->shard && s < src->n_shards; s++)
        if (p->shard[s])
            gnet_shard_close(p->shard[s]);
    free(p->shard);
    free(p);
    free(src);
}

/* Opens the shards that `rank` reads: those it owns ("train") or test.h5 as shard 0. */
static int open_shards(gnet_source *src, prepared_source *p, int train)
{
    for (int s = 0; s < src->n_shards; s++) {
        if (train && !gnet_sampler_owns(s, src->n_shards, p->rank, p->world))
            continue;
        p->shard[s] = gnet_shard_open(p->dir, &p->m, train ? s : -1);
        if (!p->shard[s])
            return -1;
    }
    return 0;
}

static gnet_source *prepared_alloc(const char *dir, int rank, int world)
{
    char what[4200];
    (void)snprintf(what, sizeof what, "the data source of %s", dir);
    gnet_source *src = gnet_calloc(1, sizeof *src, what);
    prepared_source *p = gnet_calloc(1, sizeof *p, what);
    if (!src || !p) {
        free(src), free(p);
        return NULL;
    }
    (void)snprintf(p->dir, sizeof p->dir, "%s", dir); /* longer: gnet_manifest_read refuses it */
    p->rank = rank, p->world = world;
    *src = (gnet_source){.read = prepared_read, .destroy = prepared_destroy, .impl = p};
    return src;
}

gnet_source *gnet_source_open_prepared(const char *dir, const char *split, int rank, int world)
{
    int train = strcmp(split, "train") == 0;
    if (!train && strcmp(split, "test") != 0) {
        gnet_errorf("%s: unknown split '%s' (train or test)", dir, split);
        return NULL;
    }
    if (world < 1 || rank < 0 || rank >= world) {
        gnet_errorf("%s: bad rank %d of %d", dir, rank, world);
        return NULL;
    }
    /* The loader's thread reads shards while the step's thread may write a checkpoint. */
    hbool_t threadsafe = 0;
    if (H5is_library_threadsafe(&threadsafe) < 0 || !threadsafe) {
        gnet_errorf("%s: this HDF5 library is not thread-safe (the loader reads shards on "
                    "its own thread)",
                    dir);
        return NULL;
    }
    gnet_source *src = prepared_alloc(dir, rank, world);
    if (!src)
        return NULL;
    prepared_source *p = src->impl;
    if (gnet_manifest_read(dir, &p->m) != 0) {
        free(p), free(src);
        return NULL;
    }
    p->test_size = p->m.test_count;
    src->n_shards = train ? p->m.shards : 1;
    src->shard_size = train ? p->m.shard_size : &p->test_size;
    src->rows = p->m.rows, src->cols = p->m.cols;
    char what[4200];
    (void)snprintf(what, sizeof what, "the shard table of %s", dir);
    p->shard = gnet_calloc((size_t)src->n_shards, sizeof(gnet_shard *), what);
    if (!p->shard || open_shards(src, p, train) != 0) {
        prepared_destroy(src);
        return NULL;
    }
    return src;
}
