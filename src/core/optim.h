/* SGD with PyTorch's semantics (momentum, dampening 0, Nesterov, L2 weight decay added to the
 * gradient) over the whole parameter arena in one fused pass, and the learning-rate schedule
 * hook the trainer asks once per step. The momentum buffer is one arena with the parameters'
 * offsets, so checkpoints and resumption treat it like the parameters. */
#ifndef GNET_OPTIM_H
#define GNET_OPTIM_H

#include <stdint.h>

#include "core/backend.h"

typedef struct {
    float lr, momentum, weight_decay;
    int nesterov;
} gnet_sgd_config;

typedef struct {
    gnet_backend *be;
    gnet_sgd_config cfg;
    size_t count;
    float *momentum; /* backend memory; NULL when cfg.momentum == 0 */
    int64_t steps;   /* updates applied so far (PyTorch's buffer starts at the first) */
} gnet_sgd;

gnet_sgd *gnet_sgd_create(gnet_backend *be, size_t count, gnet_sgd_config cfg);
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
