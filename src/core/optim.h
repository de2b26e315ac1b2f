/* SGD with PyTorch's semantics (momentum, dampening 0, Nesterov, L2 weight decay added to the
 * gradient) over the whole parameter arena in one fused pass, or LARS, and the learning-rate
 * schedule hook the trainer asks once per step. The momentum buffer is one arena with the
 * parameters' offsets, so checkpoints and resumption treat it like the parameters.
 *
 * LARS (You, Gitman, Ginsburg 2017) as PyTorch Lightning Bolts' LARS optimizer does it, per
 * tensor: a weight (more than one dimension) whose norm and gradient norm are both nonzero
 * gets d = trust * (g + wd*w) with trust = eta*|w| / (|g| + wd*|w| + 1e-8); a bias (one
 * dimension) or a tensor with a zero norm gets d = g, no weight decay and no trust ratio.
 * Then the momentum buffer and the update are SGD's on d: buf = m*buf + d, w -= lr*buf. */
#ifndef GNET_OPTIM_H
#define GNET_OPTIM_H

#include <stdint.h>

#include "core/backend.h"
#include "core/params.h"

typedef struct {
    float lr, momentum, weight_decay;
    int nesterov;
    int lars;       /* 0: SGD over the arena at once; 1: LARS, tensor by tensor */
    float lars_eta; /* LARS's trust coefficient */
} gnet_sgd_config;

typedef struct {
    gnet_backend *be;
    gnet_sgd_config cfg;
    const gnet_param_spec *specs; /* the tensors, for LARS */
    int n_specs;
    size_t count;
    float *momentum; /* backend memory; NULL when cfg.momentum == 0 */
    int64_t steps;   /* updates applied so far (PyTorch's buffer starts at the first) */
} gnet_sgd;

/* specs[n_specs]: the arena's tensors (count floats in all), kept for LARS. */
gnet_sgd *gnet_sgd_create(gnet_backend *be, const gnet_param_spec *specs, int n_specs, size_t count,
                          gnet_sgd_config cfg);
void gnet_sgd_destroy(gnet_sgd *o);
void gnet_sgd_step(gnet_sgd *o, float *params, const float *grads, float lr);

/* Learning rate as a function of the global optimizer step (0-based): a linear warmup, then
 * a constant, step or cosine schedule. The peak lr is the configured lr after the
 * batch-size scaling rule (gnet_lr_scaled). {GNET_LR_CONSTANT, lr} (other fields zero) is
 * the reference's constant lr, returned bit for bit. The step schedule needs step_epochs >= 1
 * and the cosine one epochs > warmup_epochs (the command line checks both). */
typedef enum { GNET_LR_CONSTANT, GNET_LR_STEP, GNET_LR_COSINE } gnet_lr_kind;
typedef enum { GNET_LR_SCALE_NONE, GNET_LR_SCALE_LINEAR, GNET_LR_SCALE_SQRT } gnet_lr_scale;

typedef struct {
    gnet_lr_kind kind;
    float base_lr;     /* the peak lr, already scaled for the batch size */
    int epochs;        /* cosine: the length of training, where it reaches min_lr */
    int warmup_epochs; /* ramp up linearly over these first W epochs: step s < W gets (s+1)/W */
    int step_epochs;   /* step: multiply by gamma every step_epochs epochs */
    float gamma, min_lr;
} gnet_lr_schedule;

float gnet_lr_at(const gnet_lr_schedule *s, int64_t step, int64_t steps_per_epoch);

/* lr for a global batch: none: lr; linear: lr*batch/base_batch (Goyal et al. 2017);
 * sqrt: lr*sqrt(batch/base_batch) (Krizhevsky 2014, Hoffer et al. 2017). */
double gnet_lr_scaled(double lr, gnet_lr_scale rule, int batch, int base_batch);

#endif
