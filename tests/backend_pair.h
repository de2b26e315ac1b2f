/* One tensor on two backends: the reference (the CPU backend) and the one checked against it
 * (the CUDA backend, or a second CPU backend standing in for it), filled from the same host
 * values, and the error of the checked one's result. Shared by tests/test_cuda_ops.c (every
 * op on chosen shapes, and the whole model) and bench/gpu_ops_bench.c (every op on the
 * model's own shapes, timed), so that both compare in the same way. */
#ifndef GNET_BACKEND_PAIR_H
#define GNET_BACKEND_PAIR_H

#include <stddef.h>

#include "core/backend.h"
#include "core/rng.h"

/* ref: the reference backend; dut: the one compared with it; rng: every random input. */
typedef struct {
    gnet_backend *ref, *dut;
    gnet_rng rng;
} gnet_duo;

/* The same tensor on both: c on the reference, g on the other. */
typedef struct {
    float *c, *g;
} pair;

/* malloc of n floats (n may be 0); exits 2 when the host is out of memory. */
float *duo_fmalloc(size_t n);
/* n host floats uniform in [lo, hi) from the duo's rng (free() them). */
float *duo_random_host(gnet_duo *d, size_t n, float lo, float hi);

/* An activation of shape s (each backend's layout) from NCHW host values. */
pair duo_act(gnet_duo *d, gnet_shape s, const float *host);
pair duo_random_act(gnet_duo *d, gnet_shape s, float lo, float hi);
/* A plain array (parameters, gradients, linear-layer rows, element-wise operands). */
pair duo_plain(gnet_duo *d, size_t n, const float *host);
pair duo_random_plain(gnet_duo *d, size_t n, float lo, float hi);
void duo_free(gnet_duo *d, pair p);

/* max|got - ref| / max|ref| (max|got - ref| when ref is all zeros; infinity when got has a
 * non-finite value): the error scaled by the tensor, not per element, so that elements near
 * zero do not dominate. */
double duo_rel_err(const float *got, const float *ref, size_t n);
/* That error of the checked backend's copy of a plain array / of an activation of shape s. */
double duo_plain_err(gnet_duo *d, pair p, size_t n);
double duo_act_err(gnet_duo *d, pair p, gnet_shape s);

#endif
