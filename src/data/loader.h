/* Batches for the step: a sampler decides the rows, a source reads them, and a prefetch
 * thread resizes them (PIL-exact, then /255) into the next batch buffer while the current
 * batch trains. Buffers are allocated once (page-aligned host memory; the CUDA backend will
 * pin them), so the step loop allocates nothing. The time the caller spent blocked in
 * gnet_loader_next is accumulated: the step should never wait for data. */
#ifndef GNET_LOADER_H
#define GNET_LOADER_H

#include <stdint.h>

#include "data/sampler.h"
#include "data/source.h"

typedef struct {
    const float *x;        /* local_batch x 1 x size x size; rows >= valid are padding */
    const int32_t *y;      /* local_batch labels (padding rows: 0) */
    int valid;             /* real samples among this rank's rows */
    int64_t global_valid;  /* real samples in the whole global batch (all ranks) */
} gnet_batch;

typedef struct gnet_loader gnet_loader;

/* The loader uses (does not own) src; it owns a sampler made from cfg (shard sizes taken
 * from src). prefetch = 0 reads synchronously in gnet_loader_next (for debugging/tests). */
gnet_loader *gnet_loader_create(gnet_source *src, const gnet_sampler_config *cfg, int size,
                                int prefetch, const char *what);
void gnet_loader_destroy(gnet_loader *l);
int64_t gnet_loader_steps(const gnet_loader *l);
int gnet_loader_local_batch(const gnet_loader *l);
/* Starts (or restarts) an epoch at batch first_step (0 normally; > 0 when resuming). */
void gnet_loader_start_epoch(gnet_loader *l, int64_t epoch, int64_t first_step);
/* The next batch of the epoch; valid until the next call. 0, or -1 after a read error
 * (printed by the source), or past the epoch's end. */
int gnet_loader_next(gnet_loader *l, gnet_batch *out);
double gnet_loader_wait_seconds(const gnet_loader *l); /* total blocked time so far */

#endif
