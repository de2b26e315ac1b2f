/* Gradient all-reduce in buckets, overlapped with backward (what PyTorch DDP does).
 * The gradient arena is in state_dict (= forward) order and backward produces it from the
 * end, so buckets are consecutive arena ranges cut at parameter boundaries from the end,
 * each about bucket_bytes. Backward reports "every gradient at offset >= lo is final" after
 * each layer (gnet_reducer_ready); each bucket whose range lies above lo is started then, in
 * the same order on every rank. gnet_reducer_finish starts the rest and waits for all.
 * Without overlap, everything is started by finish, as one bucket per range.
 * For the gradient noise scale (train/noise.h), a step may ask for the squared norm of this
 * rank's own gradient: it is taken bucket by bucket just before each bucket's all-reduce
 * starts (after it, the bucket holds the sum over ranks). */
#ifndef GNET_REDUCER_H
#define GNET_REDUCER_H

#include <stddef.h>

#include "core/backend.h"
#include "core/params.h"
#include "dist/comm.h"

typedef struct {
    size_t lo, hi; /* arena range [lo, hi) */
} gnet_bucket;

typedef struct {
    gnet_comm *comm;
    float *grads;
    int overlap;
    int n_buckets, next; /* buckets[0] is the arena's end; next = first not yet started */
    gnet_bucket *buckets;
    gnet_backend *norm_be; /* this step measures: sqnorm += |grads - norm_base|^2 per bucket */
    const float *norm_base;
    double sqnorm;
} gnet_reducer;

gnet_reducer *gnet_reducer_create(gnet_comm *comm, float *grads, const gnet_param_spec *specs,
                                  int n_specs, size_t bucket_bytes, int overlap);
void gnet_reducer_destroy(gnet_reducer *r);
/* A step's all-reduce begins. norm_be != NULL: measure the local gradient's squared norm into
 * r->sqnorm (of grads - base when base != NULL: the last micro-batch's share under
 * accumulation), with that backend's sumsq. */
void gnet_reducer_begin(gnet_reducer *r, gnet_backend *norm_be, const float *base);
void gnet_reducer_ready(gnet_reducer *r, size_t lo);
void gnet_reducer_finish(gnet_reducer *r);

#endif
