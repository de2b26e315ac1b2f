#include "core/optim.h"

#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/log.h"

gnet_sgd *gnet_sgd_create(gnet_backend *be, const gnet_param_spec *specs, int n_specs, size_t count,
                          gnet_sgd_config cfg)
{
    gnet_sgd *o = gnet_calloc(1, sizeof *o, "the optimizer");
    if (!o)
        gnet_fatal(1);
    o->be = be;
    o->cfg = cfg;
    o->specs = specs;
    o->n_specs = n_specs;
    o->count = count;
    if (cfg.momentum != 0.0f)
        o->momentum = be->alloc(be, count);
    return o;
}

void gnet_sgd_destroy(gnet_sgd *o)
{
    if (!o)
        return;
    if (o->momentum)
        o->be->free(o->be, o->momentum);
    free(o);
}

/* LARS's step on one tensor (see optim.h). The norms come back to the host: a few dozen
 * small reductions per step, not one fused pass. */
static void lars_tensor(gnet_sgd *o, const gnet_param_spec *s, float *p, const float *g, float lr)
{
    gnet_backend *be = o->be;
    const gnet_sgd_config *c = &o->cfg;
    float *buf = o->momentum ? o->momentum + s->offset : NULL;
    float wd = 0.0f, trust = 1.0f;
    if (s->ndim > 1) {
        double w = sqrt(be->sumsq(be, p + s->offset, NULL, s->count));
        double gn = sqrt(be->sumsq(be, g + s->offset, NULL, s->count));
        if (w > 0.0 && gn > 0.0) {
            wd = c->weight_decay;
            trust = (float)(c->lars_eta * w / (gn + c->weight_decay * w + 1e-8));
        }
    }
    be->sgd(be, p + s->offset, g + s->offset, buf, s->count, lr, c->momentum, wd, c->nesterov,
            o->steps == 0, trust);
}

void gnet_sgd_step(gnet_sgd *o, float *params, const float *grads, float lr)
{
    if (o->cfg.lars) {
        for (int i = 0; i < o->n_specs; i++)
            lars_tensor(o, &o->specs[i], params, grads, lr);
    } else {
        o->be->sgd(o->be, params, grads, o->momentum, o->count, lr, o->cfg.momentum,
                   o->cfg.weight_decay, o->cfg.nesterov, o->steps == 0, 1.0f);
    }
    o->steps++;
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
        int64_t start = s->warmup_epochs * steps_per_epoch;
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
    int64_t warmup = s->warmup_epochs * steps_per_epoch;
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
