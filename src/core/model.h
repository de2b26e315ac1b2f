/* The d2l.ai GoogLeNet, built from a table that mirrors the PyTorch definition, planned for
 * one batch size and image size. Parameters, gradients (and, in optim, momentum) are single
 * contiguous backend allocations in PyTorch state_dict order; layers hold offsets into them.
 * Activations are allocated once here, so forward/backward allocate nothing.
 *
 * One step: gnet_model_forward(x) -> m->logits; the caller computes the loss gradient into
 * m->dlogits; gnet_model_backward() fills m->grads (or adds to them, for accumulation). */
#ifndef GNET_MODEL_H
#define GNET_MODEL_H

#include <stdint.h>

#include "core/backend.h"
#include "core/params.h"

#define GNET_CLASSES 10
#define GNET_BLOCKS 6 /* b1..b5 and the linear layer: what --print-shapes reports */

typedef struct gnet_layer gnet_layer;

typedef struct {
    gnet_backend *be;
    int batch, size; /* input: batch x 1 x size x size */
    int n_layers;
    gnet_layer *layers;
    int n_params;
    gnet_param_spec *params_spec;
    size_t n_weights; /* floats in each arena */
    float *params, *grads;
    float *logits, *dlogits; /* batch x GNET_CLASSES, backend memory */
    gnet_shape block_out[GNET_BLOCKS];
    /* Shared buffers for backward: two ping-pong gradients of the largest activation, and
     * scratch the Inception branches use one after another. */
    float *diff[2], *scratch_dy, *scratch_da, *scratch_dx;
    size_t activation_bytes; /* all of the above that scales with the batch */
} gnet_model;

/* Called during backward, after each layer with parameters, with the lowest arena offset of
 * that layer: every gradient at or above it is final (the trainer starts the all-reduce of
 * the buckets that became complete: gnet_reducer_ready). On a backend with asynchronous
 * streams the hook must order itself after the compute stream. */
typedef struct {
    void (*ready)(void *ctx, size_t lo);
    void *ctx;
} gnet_grads_hook;

/* Returns NULL (after one error line) when size is too small for the network. */
gnet_model *gnet_model_create(gnet_backend *be, int batch, int size);
void gnet_model_destroy(gnet_model *m);

/* Weight initialisation: Xavier-uniform (d2l's, the reference: U(+-sqrt(6/(fan_in+fan_out))))
 * or He-uniform (Kaiming, for ReLU: U(+-sqrt(6/fan_in)), keeping activations' variance
 * through the ReLUs of a network without batch norm). */
typedef enum { GNET_INIT_XAVIER, GNET_INIT_HE } gnet_init_scheme;

/* Weights by `scheme`, PyTorch-default biases (U(+-1/sqrt(fan_in))), each tensor from its own
 * RNG stream keyed by (seed, tensor index): the same seed gives the same weights. */
void gnet_model_init(gnet_model *m, uint64_t seed, gnet_init_scheme scheme);

/* x: batch x 1 x size x size, backend memory. */
void gnet_model_forward(gnet_model *m, const float *x);
/* From m->dlogits (already scaled); accumulate adds to m->grads instead of overwriting.
 * hook (or NULL) hears of each layer's gradients as they become final. */
void gnet_model_backward(gnet_model *m, int accumulate, const gnet_grads_hook *hook);

#endif
