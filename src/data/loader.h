/* Batches for the step: a sampler decides the rows, a source reads them, and a prefetch
 * thread resizes them (PIL-exact, then /255) into the next batch buffer while the current
 * batch trains. Buffers are allocated once (page-aligned host memory, not pinned: the CUDA
 * backend stages uploads through pinned buffers of its own), so the step loop allocates
 * nothing. The time the caller spent blocked in
 * gnet_loader_next is accumulated: the step should never wait for data. */
#ifndef GNET_LOADER_H
#define GNET_LOADER_H

#include <stdint.h>

#include "data/sampler.h"
#include "data/source.h"

typedef struct {
    const float *x;       /* local_batch x 1 x size x size; rows >= valid are padding */
    const int32_t *y;     /* local_batch labels (padding rows: 0) */
    int valid;            /* real samples among this rank's rows */
    int64_t global_valid; /* real samples in the whole global batch (all ranks) */
} gnet_batch;

typedef struct gnet_loader gnet_loader;

/* The loader uses (does not own) src, and must be its only user while it lives: the
 * prefetch thread reads it, and a source is for one thread at a time. It owns a sampler made
 * from cfg (n_shards and shard_size are taken from src). prefetch = 0 reads synchronously in
 * gnet_loader_next (for debugging/tests). NULL after one error line. */
gnet_loader *gnet_loader_create(gnet_source *src, const gnet_sampler_config *cfg, int size,
                                int prefetch, const char *what);
void gnet_loader_destroy(gnet_loader *l);
int64_t gnet_loader_steps(const gnet_loader *l);
int gnet_loader_local_batch(const gnet_loader *l);
/* Starts (or restarts) an epoch at batch first_step in [0, steps] (0 normally; > 0 when
 * resuming; outside that range is a bug: the process ends). Work prefetched for the previous
 * epoch is dropped, and the batch last handed out is no longer valid. */
void gnet_loader_start_epoch(gnet_loader *l, int64_t epoch, int64_t first_step);
/* The next batch of the epoch; valid until the next call of next or start_epoch. 0, or -1
 * after a read error (printed by the source; the epoch ends there), or past the epoch's end
 * or before any start_epoch (one error line). Padding rows are zeros with label 0. */
int gnet_loader_next(gnet_loader *l, gnet_batch *out);
/* Training-time augmentation (--augment), applied to each image after the resize: a
 * horizontal flip with probability 1/2, and/or a random crop of the image padded with
 * background (0) by GNET_AUGMENT_PAD(size) pixels on each side, i.e. a shift by -pad..pad in
 * each direction. Drawn from a stream keyed by (seed, epoch, shard, index within the shard):
 * the same on any number of ranks and after a resume. Call before the first start_epoch. */
enum { GNET_AUGMENT_FLIP = 1, GNET_AUGMENT_CROP = 2 };
#define GNET_AUGMENT_PAD(size) ((size) < 14 ? 1 : ((size) + 7) / 14) /* 2 at 28x28, 7 at 96x96 */
#define GNET_AUGMENT_PURPOSE 0x61756768 /* "augh": keeps this stream apart from the others */
void gnet_loader_set_augment(gnet_loader *l, unsigned flags, uint64_t seed);
/* Total time gnet_loader_next blocked so far (with prefetch = 0: all its reading). */
double gnet_loader_wait_seconds(const gnet_loader *l);

#endif
