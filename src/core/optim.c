#include "core/optim.h"

#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/log.h"

/* The momentum buffer, when the config keeps one. */
static float *momentum_buf(const gnet_optim *o, size_t offset)
{
    return o->n_states ? o->state[0] + offset : NULL;
}

static void sgd_arena(gnet_optim *o, float *p, const float *g, float lr)
{
    const gnet_optim_config *c = &o->cfg;
    o->be->sgd(o->be, p, g, momentum_buf(o, 0), o->count, lr, c->momentum, c->weight_decay,
               c->nesterov, o->steps == 0, 1.0f);
}

/* LARS's step on one tensor (see optim.h). The norms come back to the host: a few dozen
 * small reductions per step, not one fused pass. */
static void lars_tensor(gnet_optim *o, const gnet_param_spec *s, float *p, const float *g, float lr)
{
    gnet_backend *be = o->be;
    const gnet_optim_config *c = &o->cfg;
    float wd = 0.0f, trust = 1.0f;
    if (s->ndim > 1) {
        double w = sqrt(be->sumsq(be, p + s->offset, NULL, s->count));
        double gn = sqrt(be->sumsq(be, g + s->offset, NULL, s->count));
        if (w > 0.0 && gn > 0.0) {
            wd = c->weight_decay;
            trust = (float)(c->lars_eta * w / (gn + c->weight_decay * w + 1e-8));
        }
    }
    be->sgd(be, p + s->offset, g + s->offset, momentum_buf(o, s->offset), s->count, lr, c->momentum,
            wd, c->nesterov, o->steps == 0, trust);
}

/* Adam's scalars at this step (t = steps + 1), in double as PyTorch's Python computes them. */
static gnet_adam_args adam_args(const gnet_optim *o, float lr, float wd)
{
    const gnet_optim_config *c = &o->cfg;
    double t = (double)(o->steps + 1), b1 = c->beta1, b2 = c->beta2;
    double bc1 = 1.0 - pow(b1, t);
    return (gnet_adam_args){.beta1 = c->beta1,
                            .c1 = (float)(1.0 - b1),
                            .beta2 = c->beta2,
                            .c2 = (float)(1.0 - b2),
                            .eps = c->eps,
                            .bc1 = (float)bc1,
                            .bc2_sqrt = (float)sqrt(1.0 - pow(b2, t)),
                            .decay = (float)(1.0 - (double)lr * wd),
                            .step_size = (float)(lr / bc1),
                            .wd = wd};
}

static void adamw_arena(gnet_optim *o, float *p, const float *g, float lr)
{
    gnet_adam_args a = adam_args(o, lr, o->cfg.weight_decay);
    o->be->adam(o->be, p, g, o->state[0], o->state[1], NULL, o->count, &a);
}

/* LAMB's step on one tensor (see optim.h): u into the scratch buffer, its norm and the
 * weight's on the host, then w -= lr * (trust * u) with the sgd op (no momentum, no decay).
 * A bias gets no decay and trust 1, as LARS's biases do. */
static void lamb_tensor(gnet_optim *o, const gnet_param_spec *s, float *p, const float *g, float lr)
{
    gnet_backend *be = o->be;
    float *w = p + s->offset, *u = o->scratch;
    int weight = s->ndim > 1;
    gnet_adam_args a = adam_args(o, lr, weight ? o->cfg.weight_decay : 0.0f);
    be->adam(be, w, g + s->offset, o->state[0] + s->offset, o->state[1] + s->offset, u, s->count,
             &a);
    float trust = 1.0f;
    if (weight) {
        double wn = sqrt(be->sumsq(be, w, NULL, s->count));
        double un = sqrt(be->sumsq(be, u, NULL, s->count));
        if (wn > 0.0 && un > 0.0)
            trust = (float)(wn / un);
    }
    be->sgd(be, w, u, NULL, s->count, lr, 0.0f, 0.0f, 0, 0, trust);
}

static const gnet_optim_rule RULES[GNET_OPT_KINDS] = {
    [GNET_OPT_SGD] = {.name = "sgd",
                      .reference = "torch.optim.SGD(momentum, dampening=0, weight_decay, nesterov)",
                      .n_states = 1,
                      .states = {"optimizer"},
                      .momentum_only = 1,
                      .arena_step = sgd_arena},
    [GNET_OPT_LARS] = {.name = "lars",
                       .reference = "pl_bolts.optimizers.lars.LARS (Lightning Bolts; "
                                    "tests/ref/lars_ref.py)",
                       .n_states = 1,
                       .states = {"optimizer"},
                       .momentum_only = 1,
                       .tensor_step = lars_tensor},
    [GNET_OPT_ADAMW] = {.name = "adamw",
                        .reference = "torch.optim.AdamW(betas, eps, weight_decay, amsgrad=False)",
                        .n_states = 2,
                        .states = {"exp_avg", "exp_avg_sq"},
                        .adam = 1,
                        .arena_step = adamw_arena},
    [GNET_OPT_LAMB] = {.name = "lamb",
                       .reference = "You et al. 2019, Algorithm 2 with phi = identity "
                                    "(tests/ref/lamb_ref.py)",
                       .n_states = 2,
                       .states = {"exp_avg", "exp_avg_sq"},
                       .adam = 1,
                       .scratch = 1,
                       .tensor_step = lamb_tensor},
};

const gnet_optim_rule *gnet_optim_rule_of(gnet_opt_kind kind) { return &RULES[kind]; }

static size_t largest_tensor(const gnet_param_spec *specs, int n_specs)
{
    size_t most = 0;
    for (int i = 0; i < n_specs; i++)
        most = specs[i].count > most ? specs[i].count : most;
    return most;
}

gnet_optim *gnet_optim_create(gnet_backend *be, const gnet_param_spec *specs, int n_specs,
                              size_t count, gnet_optim_config cfg)
{
    gnet_optim *o = gnet_calloc(1, sizeof *o, "the optimizer");
    if (!o)
        gnet_fatal(1);
    o->be = be;
    o->cfg = cfg;
    o->rule = &RULES[cfg.kind];
    o->specs = specs;
    o->n_specs = n_specs;
    o->count = count;
    o->n_states = o->rule->momentum_only && cfg.momentum == 0.0f ? 0 : o->rule->n_states;
    for (int i = 0; i < o->n_states; i++)
        o->state[i] = be->alloc(be, count);
    if (o->rule->scratch)
        o->scratch = be->alloc(be, largest_tensor(specs, n_specs));
    return o;
}

void gnet_optim_destroy(gnet_optim *o)
{
    if (!o)
        return;
    for (int i = 0; i < o->n_states; i++)
        o->be->free(o->be, o->state[i]);
    if (o->scratch)
        o->be->free(o->be, o->scratch);
    free(o);
}

void gnet_optim_step(gnet_optim *o, float *params, const float *grads, float lr)
{
    if (o->rule->arena_step)
        o->rule->arena_step(o, params, grads, lr);
    else
        for (int i = 0; i < o->n_specs; i++)
            o->rule->tensor_step(o, &o->specs[i], params, grads, lr);
    o->steps++;
}

/* Warmup's length in steps: --warmup-steps when given, else whole epochs. */
static int64_t warmup_len(const gnet_lr_schedule *s, int64_t steps_per_epoch)
{
    return s->warmup_steps > 0 ? s->warmup_steps : s->warmup_epochs * steps_per_epoch;
}

/* The schedule's lr at a step, which warmup ramps up to. */
static double decayed(const gnet_lr_schedule *s, int64_t step, int64_t steps_per_epoch)
{
    switch (s->kind) {
    case GNET_LR_STEP: {
        const int64_t decays = step / (s->step_epochs * steps_per_epoch); /* completed intervals */
        return s->base_lr * pow(s->gamma, (double)decays);
    }
    case GNET_LR_COSINE: {
        /* SGDR's annealing without restarts, over the steps after warmup, so that warmup
         * ends at the peak lr. */
        const double pi = 3.14159265358979323846;
        int64_t start = warmup_len(s, steps_per_epoch);
        double t = (double)(step - start) / (double)(s->epochs * steps_per_epoch - start);
        t = fmin(fmax(t, 0.0), 1.0);
        return s->min_lr + (s->base_lr - s->min_lr) * 0.5 * (1.0 + cos(pi * t));
    }
    case GNET_LR_CONSTANT: break;
    }
    return s->base_lr;
}

float gnet_lr_at(const gnet_lr_schedule *s, int64_t step, int64_t steps_per_epoch)
{
    double lr = decayed(s, step, steps_per_epoch);
    int64_t warmup = warmup_len(s, steps_per_epoch);
    /* (step + 1) / warmup: the first step already moves (lr/warmup), the last warmup step
     * reaches the full lr. */
    if (step < warmup)
        lr *= (double)(step + 1) / (double)warmup;
    return (float)lr;
}

double gnet_lr_scaled(double lr, gnet_lr_scale rule, int batch, int base_batch)
{
    double k = (double)batch / base_batch;
    switch (rule) {
    case GNET_LR_SCALE_LINEAR: return lr * k;
    case GNET_LR_SCALE_SQRT: return lr * sqrt(k);
    case GNET_LR_SCALE_NONE: break;
    }
    return lr;
}
