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

/* Learning rate as a function of training progress. Only the constant schedule (what the
 * reference uses) exists so far; later schedules add kinds here, not in the trainer. */
typedef enum { GNET_LR_CONSTANT } gnet_lr_kind;

typedef struct {
    gnet_lr_kind kind;
    float base_lr;
} gnet_lr_schedule;

float gnet_lr_at(const gnet_lr_schedule *s, int64_t step, int64_t steps_per_epoch);

#endif
