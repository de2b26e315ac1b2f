#include "core/optim.h"

#include <stdlib.h>

#include "core/log.h"

gnet_sgd *gnet_sgd_create(gnet_backend *be, size_t count, gnet_sgd_config cfg)
{
    gnet_sgd *o = calloc(1, sizeof *o);
    if (!o) {
        gnet_errorf("out of host memory creating the optimizer");
        gnet_fatal(1);
    }
    o->be = be;
    o->cfg = cfg;
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

void gnet_sgd_step(gnet_sgd *o, float *params, const float *grads, float lr)
{
    o->be->sgd(o->be, params, grads, o->momentum, o->count, lr, o->cfg.momentum,
               o->cfg.weight_decay, o->cfg.nesterov, o->steps == 0);
    o->steps++;
}

float gnet_lr_at(const gnet_lr_schedule *s, int64_t step, int64_t steps_per_epoch)
{
    (void)step;
    (void)steps_per_epoch;
    switch (s->kind) {
    case GNET_LR_CONSTANT:
        break;
    }
    return s->base_lr;
}
