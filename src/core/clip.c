#include "core/clip.h"

#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/log.h"

/* NFNets' constants: the floor of a weight unit's norm, and of a gradient unit's norm in the
 * denominator (a "just-in-case" there: a zero gradient never triggers the clip). */
#define AGC_W_EPS 1e-3f
#define AGC_G_EPS 1e-6f
/* PyTorch's clip_grad_norm_: max_norm / (total_norm + 1e-6). */
#define NORM_EPS 1e-6f

struct gnet_clip {
    gnet_backend *be;
    gnet_clip_config cfg;
    const gnet_param_spec *specs;
    int n_clipped; /* agc: the tensors clipped (all but the final classifier's) */
    size_t count, units;
    float *dev_sq;     /* agc: units weight sums of squares, then units gradient ones */
    float *dev_factor; /* the factors uploaded for scale_units (agc: units; norm: 1) */
    float *host_sq, *host_factor;
};

/* A tensor's units: output channels or rows (more than one dimension), else one. */
static size_t units_of(const gnet_param_spec *s) { return s->ndim > 1 ? (size_t)s->shape[0] : 1; }

/* The final classifier is the last tensor of two dimensions and what follows it (its bias). */
static int classifier_start(const gnet_param_spec *specs, int n)
{
    int i = n - 1;
    while (i > 0 && specs[i].ndim != 2)
        i--;
    return i;
}

gnet_clip *gnet_clip_create(gnet_backend *be, const gnet_param_spec *specs, int n_specs,
                            size_t count, gnet_clip_config cfg)
{
    if (cfg.kind == GNET_CLIP_NONE)
        return NULL;
    gnet_clip *c = gnet_calloc(1, sizeof *c, "the gradient clipping");
    if (!c)
        gnet_fatal(1);
    *c = (gnet_clip){.be = be, .cfg = cfg, .specs = specs, .count = count, .units = 1};
    if (cfg.kind == GNET_CLIP_AGC) {
        c->n_clipped = classifier_start(specs, n_specs);
        c->units = 0;
        for (int i = 0; i < c->n_clipped; i++)
            c->units += units_of(&specs[i]);
        c->dev_sq = be->alloc(be, 2 * c->units);
        c->host_sq = gnet_malloc(2 * c->units * sizeof(float), "the clipping's unit norms");
    }
    c->dev_factor = be->alloc(be, c->units);
    c->host_factor = gnet_malloc(c->units * sizeof(float), "the clipping's factors");
    if ((cfg.kind == GNET_CLIP_AGC && !c->host_sq) || !c->host_factor)
        gnet_fatal(1);
    return c;
}

void gnet_clip_destroy(gnet_clip *c)
{
    if (!c)
        return;
    if (c->dev_sq)
        c->be->free(c->be, c->dev_sq);
    c->be->free(c->be, c->dev_factor);
    free(c->host_sq);
    free(c->host_factor);
    free(c);
}

static gnet_clip_stats clip_norm(gnet_clip *c, float *grads)
{
    gnet_backend *be = c->be;
    gnet_clip_stats st = {.units = 1, .coef = 1.0f};
    st.total_norm = sqrt(be->sumsq(be, grads, NULL, c->count));
    /* In float, as PyTorch computes it from its float32 total_norm tensor. */
    float coef = (float)c->cfg.max_norm / ((float)st.total_norm + NORM_EPS);
    if (coef < 1.0f) {
        st.coef = coef;
        st.clipped = 1;
        c->host_factor[0] = coef;
        be->upload(be, c->dev_factor, c->host_factor, 1);
        be->scale_units(be, grads, 1, c->count, c->dev_factor);
    }
    return st;
}

/* NFNets' factor for one unit from its sums of squares (1: not clipped). */
static float agc_factor(float lambda, float w_sq, float g_sq)
{
    float max_norm = lambda * fmaxf(sqrtf(w_sq), AGC_W_EPS), g_norm = sqrtf(g_sq);
    return g_norm > max_norm ? max_norm / fmaxf(g_norm, AGC_G_EPS) : 1.0f;
}

static gnet_clip_stats clip_agc(gnet_clip *c, const float *params, float *grads)
{
    gnet_backend *be = c->be;
    gnet_clip_stats st = {.units = c->units, .coef = 1.0f};
    size_t u = 0;
    for (int i = 0; i < c->n_clipped; i++) {
        const gnet_param_spec *s = &c->specs[i];
        size_t n = units_of(s);
        be->unit_sumsq(be, params + s->offset, n, s->count / n, c->dev_sq + u);
        be->unit_sumsq(be, grads + s->offset, n, s->count / n, c->dev_sq + c->units + u);
        u += n;
    }
    be->download(be, c->host_sq, c->dev_sq, 2 * c->units);
    for (u = 0; u < c->units; u++) {
        c->host_factor[u] =
            agc_factor((float)c->cfg.lambda, c->host_sq[u], c->host_sq[c->units + u]);
        st.clipped += c->host_factor[u] != 1.0f;
    }
    if (st.clipped == 0)
        return st;
    be->upload(be, c->dev_factor, c->host_factor, c->units);
    u = 0;
    for (int i = 0; i < c->n_clipped; i++) {
        const gnet_param_spec *s = &c->specs[i];
        size_t n = units_of(s);
        be->scale_units(be, grads + s->offset, n, s->count / n, c->dev_factor + u);
        u += n;
    }
    return st;
}

gnet_clip_stats gnet_clip_apply(gnet_clip *c, const float *params, float *grads)
{
    if (!c)
        return (gnet_clip_stats){.coef = 1.0f};
    return c->cfg.kind == GNET_CLIP_NORM ? clip_norm(c, grads) : clip_agc(c, params, grads);
}
