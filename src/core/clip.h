/* Gradient clipping: a transformation of the all-reduced gradient arena, applied on every
 * rank after the all-reduce (and accumulation) and before the optimizer's update (weight
 * decay included), from numbers every rank has bit for bit, so that the ranks stay replicas
 * and 1, 2 or 4 ranks take the same steps. Stateless from step to step. docs/training.md has
 * the definitions.
 *
 * norm  torch.nn.utils.clip_grad_norm_(params, max_norm) of PyTorch 1.13 (norm_type 2): the
 *       norm of all gradients as one vector, total = sqrt(sum g^2) (the sum in double);
 *       coef = max_norm / (total + 1e-6) in float; when coef < 1 every gradient is multiplied
 *       by it (PyTorch clamps coef to 1 and multiplies always: a product by 1 changes no bit).
 * agc   adaptive gradient clipping (Brock et al. 2021, NFNets), unit by unit: a unit is an
 *       output channel of a convolution weight (OIHW: a contiguous block), a row of a linear
 *       weight, a whole bias; with max = lambda * max(|W_u|, 1e-3), a unit with |G_u| > max
 *       becomes G_u * (max / max(|G_u|, 1e-6)) (the NFNets code's denominator). The final
 *       classifier (the last linear layer's weight and bias) is not clipped, as in NFNets.
 *
 * Cost: one host wait per step (norm: the sum of squares; agc: one download of every unit's
 * two sums of squares, computed on the backend by unit_sumsq), then the scaling on the
 * backend; the scratch is allocated by gnet_clip_create, none in the step. */
#ifndef GNET_CLIP_H
#define GNET_CLIP_H

#include <stddef.h>

#include "core/backend.h"
#include "core/params.h"

typedef enum { GNET_CLIP_NONE, GNET_CLIP_NORM, GNET_CLIP_AGC } gnet_clip_kind;

typedef struct {
    gnet_clip_kind kind;
    double max_norm; /* norm: > 0 */
    double lambda;   /* agc: > 0 */
} gnet_clip_config;

/* What the last gnet_clip_apply did (on the host): norm: the gradient's norm before and the
 * factor applied (1: none); agc: the units clipped, of all the clipped tensors' units. */
typedef struct {
    double total_norm;
    float coef;
    size_t clipped, units;
} gnet_clip_stats;

typedef struct gnet_clip gnet_clip;

/* specs[n_specs]: the arena's tensors in arena order (count floats in all). NULL for
 * GNET_CLIP_NONE (gnet_clip_apply and gnet_clip_destroy accept NULL). */
gnet_clip *gnet_clip_create(gnet_backend *be, const gnet_param_spec *specs, int n_specs,
                            size_t count, gnet_clip_config cfg);
void gnet_clip_destroy(gnet_clip *c);

/* Clips grads (the global batch's mean gradient, backend memory) in place; params are the
 * weights (agc's |W_u|). Returns what it did (zeros for NULL). */
gnet_clip_stats gnet_clip_apply(gnet_clip *c, const float *params, float *grads);

#endif
