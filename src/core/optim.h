/* The optimizers, as one table of update rules over the parameter arena (optim.c), and the
 * learning-rate schedule hook the trainer asks once per step. Each rule's state (SGD's
 * momentum buffer; Adam's exp_avg and exp_avg_sq) is one backend allocation per kind with
 * the parameters' offsets, so checkpoints, resumption and broadcasts treat it like the
 * parameters. The rules (docs/training.md has each one's formulas):
 *
 * sgd    torch.optim.SGD (momentum, dampening 0, Nesterov, L2 weight decay added to the
 *        gradient), over the whole arena in one fused pass; bit for bit PyTorch's.
 * lars   Lightning Bolts' LARS (You, Gitman, Ginsburg 2017), per tensor: a weight (more than
 *        one dimension) whose norm and gradient norm are both nonzero gets
 *        d = trust * (g + wd*w) with trust = eta*|w| / (|g| + wd*|w| + 1e-8); a bias (one
 *        dimension) or a tensor with a zero norm gets d = g, no weight decay and no trust
 *        ratio. Then SGD's momentum and update on d: buf = m*buf + d, w -= lr*buf.
 * adamw  torch.optim.AdamW (amsgrad off), over the whole arena in one fused pass: the
 *        decoupled decay w *= 1 - lr*wd, then Adam's bias-corrected moments.
 * lamb   You et al. 2019 (LAMB), per tensor: Adam's bias-corrected r = m_hat/(sqrt(v_hat) +
 *        eps), u = r + wd*w, w -= lr * trust * u with trust = |w|/|u| (1 when either is 0);
 *        a bias (one dimension) gets u = r and trust 1. No PyTorch class: tests/ref/lamb_ref.py
 *        states it in torch. */
#ifndef GNET_OPTIM_H
#define GNET_OPTIM_H

#include <stdint.h>

#include "core/backend.h"
#include "core/params.h"

/* The rules, in the table's order; the number is the checkpoint's /meta optimizer (files from
 * before AdamW hold 0 or 1, or none: SGD). */
typedef enum {
    GNET_OPT_SGD,
    GNET_OPT_LARS,
    GNET_OPT_ADAMW,
    GNET_OPT_LAMB,
    GNET_OPT_KINDS
} gnet_opt_kind;

typedef struct {
    gnet_opt_kind kind;
    float momentum, weight_decay; /* weight_decay: L2 for sgd/lars, decoupled for adamw/lamb */
    int nesterov;
    float lars_eta;          /* LARS's trust coefficient */
    float beta1, beta2, eps; /* adamw and lamb (PyTorch's betas and eps) */
} gnet_optim_config;

/* State kinds a rule may keep. */
#define GNET_OPTIM_STATES_MAX 2

typedef struct gnet_optim gnet_optim;

/* One row of the table. Exactly one of arena_step (one pass over the whole arena) and
 * tensor_step (called for each tensor in arena order) is set. */
typedef struct {
    const char *name;      /* --optimizer's value */
    const char *reference; /* what it equals */
    /* Its state kinds, named as the checkpoint's HDF5 groups; with momentum_only, they exist
     * only when momentum != 0 (PyTorch's SGD keeps no buffer without momentum). */
    int n_states;
    const char *states[GNET_OPTIM_STATES_MAX];
    int momentum_only;
    int adam;    /* uses beta1, beta2, eps (a resumed run must have the same) */
    int scratch; /* needs a tensor-sized work buffer (LAMB's u) */
    void (*arena_step)(gnet_optim *o, float *params, const float *grads, float lr);
    void (*tensor_step)(gnet_optim *o, const gnet_param_spec *s, float *params, const float *grads,
                        float lr);
} gnet_optim_rule;

/* The row of a kind. */
const gnet_optim_rule *gnet_optim_rule_of(gnet_opt_kind kind);

struct gnet_optim {
    gnet_backend *be;
    gnet_optim_config cfg;
    const gnet_optim_rule *rule;
    const gnet_param_spec *specs; /* the tensors, for per-tensor rules */
    int n_specs;
    size_t count;
    int n_states;                        /* the rule's states this config keeps (0 or n_states) */
    float *state[GNET_OPTIM_STATES_MAX]; /* backend memory, count floats each, zero at first */
    float *scratch;                      /* the largest tensor's size, or NULL */
    int64_t steps; /* updates applied so far (Adam's bias corrections use steps + 1) */
};

/* specs[n_specs]: the arena's tensors (count floats in all), kept for per-tensor rules. */
gnet_optim *gnet_optim_create(gnet_backend *be, const gnet_param_spec *specs, int n_specs,
                              size_t count, gnet_optim_config cfg);
void gnet_optim_destroy(gnet_optim *o);
/* One update of params from grads (the global batch's mean gradient) at learning rate lr. */
void gnet_optim_step(gnet_optim *o, float *params, const float *grads, float lr);

/* Learning rate as a function of the global optimizer step (0-based): a linear warmup, then
 * a constant, step or cosine schedule. The peak lr is the configured lr after the
 * batch-size scaling rule (gnet_lr_scaled). {GNET_LR_CONSTANT, lr} (other fields zero) is
 * the reference's constant lr, returned bit for bit. The step schedule needs step_epochs >= 1
 * and the cosine one epochs > warmup_epochs (the command line checks both). */
typedef enum { GNET_LR_CONSTANT, GNET_LR_STEP, GNET_LR_COSINE } gnet_lr_kind;
typedef enum { GNET_LR_SCALE_NONE, GNET_LR_SCALE_LINEAR, GNET_LR_SCALE_SQRT } gnet_lr_scale;

typedef struct {
    gnet_lr_kind kind;
    float base_lr;        /* the peak lr, already scaled for the batch size */
    int epochs;           /* cosine: the length of training, where it reaches min_lr */
    int warmup_epochs;    /* ramp up linearly over these first W epochs: step s < W gets (s+1)/W */
    int64_t warmup_steps; /* > 0: ramp up over this many steps instead (a step budget's unit) */
    int step_epochs;      /* step: multiply by gamma every step_epochs epochs */
    float gamma, min_lr;
} gnet_lr_schedule;

float gnet_lr_at(const gnet_lr_schedule *s, int64_t step, int64_t steps_per_epoch);

/* lr for a global batch: none: lr; linear: lr*batch/base_batch (Goyal et al. 2017);
 * sqrt: lr*sqrt(batch/base_batch) (Krizhevsky 2014, Hoffer et al. 2017). */
double gnet_lr_scaled(double lr, gnet_lr_scale rule, int batch, int base_batch);

#endif
