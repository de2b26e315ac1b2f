#include "core/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/rng.h"

typedef enum { LK_CONV, LK_POOL, LK_INCEPTION, LK_GAP, LK_LINEAR } layer_kind;

/* One row per module of the PyTorch nn.Sequential; `key` is its state_dict prefix. */
typedef struct {
    layer_kind kind;
    const char *key;
    int c, k, stride, pad; /* conv: out channels + geometry; pool: geometry; linear: c = out */
    int inc[6];            /* Inception(in, c1, (c2a, c2b), (c3a, c3b), c4) */
    int block;             /* >= 0: this layer ends block b1..b5 / the head */
} layer_def;

/* The network table stays one block per line, as d2l's nn.Sequential reads. */
// clang-format off
#define CONV(key_, c_, k_, s_, p_) {.kind = LK_CONV, .key = (key_), .c = (c_), .k = (k_), .stride = (s_), .pad = (p_), .block = -1}
#define POOL(b_) {.kind = LK_POOL, .k = 3, .stride = 2, .pad = 1, .block = (b_)}
#define INCEPTION(key_, ...) {.kind = LK_INCEPTION, .key = (key_), .inc = {__VA_ARGS__}, .block = -1}

static const layer_def GOOGLENET[] = {
    CONV("0.0", 64, 7, 2, 3), POOL(0),
    CONV("1.0", 64, 1, 1, 0), CONV("1.2", 192, 3, 1, 1), POOL(1),
    INCEPTION("2.0", 64, 96, 128, 16, 32, 32),
    INCEPTION("2.1", 128, 128, 192, 32, 96, 64), POOL(2),
    INCEPTION("3.0", 192, 96, 208, 16, 48, 64),
    INCEPTION("3.1", 160, 112, 224, 24, 64, 64),
    INCEPTION("3.2", 128, 128, 256, 24, 64, 64),
    INCEPTION("3.3", 112, 144, 288, 32, 64, 64),
    INCEPTION("3.4", 256, 160, 320, 32, 128, 128), POOL(3),
    INCEPTION("4.0", 256, 160, 320, 32, 128, 128),
    INCEPTION("4.1", 384, 192, 384, 48, 128, 128),
    {.kind = LK_GAP, .block = 4},
    {.kind = LK_LINEAR, .key = "5", .c = GNET_CLASSES, .block = 5},
};
// clang-format on
#define N_LAYERS ((int)(sizeof GOOGLENET / sizeof GOOGLENET[0]))

typedef struct {
    gnet_conv *plan;
    gnet_conv_desc d;
    size_t w, b; /* arena offsets */
    float *y;    /* kept output; NULL for an Inception branch's last conv (it goes to the concat) */
} conv_unit;

typedef struct {
    gnet_pool *plan;
    float *y;
} pool_unit;

typedef struct {
    conv_unit p1, p2a, p2b, p3a, p3b, p4b;
    pool_unit p4a;
} inception_unit;

struct gnet_layer {
    layer_kind kind;
    gnet_shape in, out;
    int has_params;
    size_t param_lo; /* first arena offset of this layer's parameters */
    const float *x;  /* the previous layer's output (or the model input) */
    float *y;
    union {
        conv_unit conv;
        pool_unit pool;
        inception_unit inc;
        struct {
            size_t w, b;
        } lin;
    } u;
};

/* ---------- building ---------- */

typedef struct {
    gnet_model *m;
    int cap;
    size_t diff_max, dy_max, da_max, dx_max, act_bytes;
    int ok;
} builder;

static void *xcalloc(size_t n, size_t size)
{
    void *p = gnet_calloc(n, size, "the model");
    if (!p)
        gnet_fatal(1);
    return p;
}

static size_t add_param(builder *bd, const char *prefix, const char *suffix, int ndim,
                        const int *shape)
{
    gnet_model *m = bd->m;
    if (m->n_params == bd->cap) {
        bd->cap = bd->cap ? 2 * bd->cap : 64;
        m->params_spec = gnet_realloc(m->params_spec, (size_t)bd->cap * sizeof *m->params_spec,
                                      "the parameter table");
        if (!m->params_spec)
            gnet_fatal(1);
    }
    gnet_param_spec *s = &m->params_spec[m->n_params++];
    memset(s, 0, sizeof *s);
    if (snprintf(s->name, sizeof s->name, "%s.%s", prefix, suffix) >= (int)sizeof s->name) {
        gnet_errorf("parameter name %s.%s is too long", prefix, suffix);
        gnet_fatal(1);
    }
    s->ndim = ndim;
    s->count = 1;
    for (int i = 0; i < ndim; i++) {
        s->shape[i] = shape[i];
        s->count *= (size_t)shape[i];
    }
    s->offset = m->n_weights;
    m->n_weights += s->count;
    return s->offset;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

static float *alloc_act(builder *bd, gnet_shape s)
{
    size_t n = bd->m->be->act_count(bd->m->be, s);
    bd->act_bytes += n * sizeof(float);
    return bd->m->be->alloc(bd->m->be, n);
}

static int out_size(int in, int k, int stride, int pad) { return (in + 2 * pad - k) / stride + 1; }

static gnet_shape plan_conv(builder *bd, conv_unit *cu, const char *prefix, const char *name,
                            gnet_shape in, int oc, int k, int stride, int pad, int keep_output)
{
    char full[GNET_PARAM_NAME_MAX];
    (void)snprintf(full, sizeof full, name ? "%s.%s" : "%s", prefix, name); /* table keys: short */
    gnet_shape out = {in.n, oc, out_size(in.h, k, stride, pad), out_size(in.w, k, stride, pad)};
    if (out.h < 1 || out.w < 1) {
        bd->ok = 0;
        return out;
    }
    int wshape[4] = {oc, in.c, k, k};
    cu->w = add_param(bd, full, "weight", 4, wshape);
    cu->b = add_param(bd, full, "bias", 1, &oc);
    cu->d = (gnet_conv_desc){.in = in, .out = out, .k = k, .stride = stride, .pad = pad, .relu = 1};
    cu->plan = bd->m->be->conv_create(bd->m->be, &cu->d);
    cu->y = keep_output ? alloc_act(bd, out) : NULL;
    return out;
}

static gnet_shape plan_pool(builder *bd, pool_unit *pu, gnet_pool_alg alg, gnet_shape in, int k,
                            int stride, int pad)
{
    gnet_shape out = {in.n, in.c, out_size(in.h, k, stride, pad), out_size(in.w, k, stride, pad)};
    if (out.h < 1 || out.w < 1) {
        bd->ok = 0;
        return out;
    }
    gnet_pool_desc d = {.alg = alg, .in = in, .out = out, .k = k, .stride = stride, .pad = pad};
    pu->plan = bd->m->be->pool_create(bd->m->be, &d);
    pu->y = alloc_act(bd, out);
    return out;
}

static gnet_shape plan_inception(builder *bd, inception_unit *u, const char *key, gnet_shape in,
                                 const int *c)
{
    gnet_backend *be = bd->m->be;
    gnet_shape s1 = plan_conv(bd, &u->p1, key, "p1_1", in, c[0], 1, 1, 0, 0);
    gnet_shape s2a = plan_conv(bd, &u->p2a, key, "p2_1", in, c[1], 1, 1, 0, 1);
    gnet_shape s2 = plan_conv(bd, &u->p2b, key, "p2_2", s2a, c[2], 3, 1, 1, 0);
    gnet_shape s3a = plan_conv(bd, &u->p3a, key, "p3_1", in, c[3], 1, 1, 0, 1);
    gnet_shape s3 = plan_conv(bd, &u->p3b, key, "p3_2", s3a, c[4], 5, 1, 2, 0);
    gnet_shape s4a = plan_pool(bd, &u->p4a, GNET_POOL_MAX, in, 3, 1, 1);
    gnet_shape s4 = plan_conv(bd, &u->p4b, key, "p4_2", s4a, c[5], 1, 1, 0, 0);
    gnet_shape branches[4] = {s1, s2, s3, s4};
    for (int i = 0; i < 4; i++)
        bd->dy_max = max_sz(bd->dy_max, be->act_count(be, branches[i]));
    bd->da_max = max_sz(bd->da_max, max_sz(be->act_count(be, s2a), be->act_count(be, s3a)));
    bd->da_max = max_sz(bd->da_max, be->act_count(be, s4a));
    bd->dx_max = max_sz(bd->dx_max, be->act_count(be, in));
    return (gnet_shape){in.n, c[0] + c[2] + c[4] + c[5], in.h, in.w};
}

static gnet_shape plan_layer(builder *bd, gnet_layer *L, const layer_def *def, gnet_shape in)
{
    gnet_model *m = bd->m;
    L->kind = def->kind;
    L->in = in;
    switch (def->kind) {
    case LK_CONV:
        L->out =
            plan_conv(bd, &L->u.conv, def->key, NULL, in, def->c, def->k, def->stride, def->pad, 1);
        L->y = L->u.conv.y;
        break;
    case LK_POOL:
        L->out = plan_pool(bd, &L->u.pool, GNET_POOL_MAX, in, def->k, def->stride, def->pad);
        L->y = L->u.pool.y;
        break;
    case LK_GAP:
        L->out = plan_pool(bd, &L->u.pool, GNET_POOL_AVG, in, in.h, 1, 0);
        L->y = L->u.pool.y;
        break;
    case LK_INCEPTION:
        L->out = plan_inception(bd, &L->u.inc, def->key, in, def->inc);
        if (bd->ok)
            L->y = alloc_act(bd, L->out);
        break;
    case LK_LINEAR: {
        int features = in.c * in.h * in.w;
        int wshape[2] = {def->c, features};
        L->u.lin.w = add_param(bd, def->key, "weight", 2, wshape);
        L->u.lin.b = add_param(bd, def->key, "bias", 1, &def->c);
        L->out = (gnet_shape){in.n, def->c, 1, 1};
        L->y = m->logits;
        break;
    }
    }
    return L->out;
}

gnet_model *gnet_model_create(gnet_backend *be, int batch, int size)
{
    gnet_model *m = xcalloc(1, sizeof *m);
    m->be = be;
    m->batch = batch;
    m->size = size;
    m->n_layers = N_LAYERS;
    m->layers = xcalloc(N_LAYERS, sizeof *m->layers);
    m->logits = be->alloc(be, (size_t)batch * GNET_CLASSES);
    m->dlogits = be->alloc(be, (size_t)batch * GNET_CLASSES);
    builder bd = {.m = m, .ok = 1};
    gnet_shape cur = {batch, 1, size, size};
    const float *x = NULL;
    for (int i = 0; i < N_LAYERS && bd.ok; i++) {
        gnet_layer *L = &m->layers[i];
        L->x = x;
        bd.diff_max = max_sz(bd.diff_max, be->act_count(be, cur));
        L->param_lo = m->n_weights;
        cur = plan_layer(&bd, L, &GOOGLENET[i], cur);
        L->has_params = m->n_weights > L->param_lo;
        x = L->y;
        if (GOOGLENET[i].block >= 0)
            m->block_out[GOOGLENET[i].block] = cur;
    }
    if (!bd.ok) {
        gnet_errorf("image size %d is too small for GoogLeNet (a layer's output would be empty)",
                    size);
        gnet_model_destroy(m);
        return NULL;
    }
    m->params = be->alloc(be, m->n_weights);
    m->grads = be->alloc(be, m->n_weights);
    for (int i = 0; i < 2; i++)
        m->diff[i] = be->alloc(be, bd.diff_max);
    m->scratch_dy = be->alloc(be, bd.dy_max);
    m->scratch_da = be->alloc(be, bd.da_max);
    m->scratch_dx = be->alloc(be, bd.dx_max);
    m->activation_bytes =
        bd.act_bytes + sizeof(float) * (2 * bd.diff_max + bd.dy_max + bd.da_max + bd.dx_max);
    return m;
}

static void destroy_conv(gnet_backend *be, conv_unit *cu)
{
    be->conv_destroy(cu->plan);
    be->free(be, cu->y);
}

static void destroy_pool(gnet_backend *be, pool_unit *pu)
{
    be->pool_destroy(pu->plan);
    be->free(be, pu->y);
}

static void destroy_layer(gnet_backend *be, gnet_layer *L)
{
    switch (L->kind) {
    case LK_CONV: destroy_conv(be, &L->u.conv); break;
    case LK_POOL:
    case LK_GAP: destroy_pool(be, &L->u.pool); break;
    case LK_INCEPTION: {
        inception_unit *u = &L->u.inc;
        conv_unit *convs[] = {&u->p1, &u->p2a, &u->p2b, &u->p3a, &u->p3b, &u->p4b};
        for (int i = 0; i < 6; i++)
            destroy_conv(be, convs[i]);
        destroy_pool(be, &u->p4a);
        be->free(be, L->y);
        break;
    }
    case LK_LINEAR: break;
    }
}

void gnet_model_destroy(gnet_model *m)
{
    if (!m)
        return;
    gnet_backend *be = m->be;
    for (int i = 0; i < m->n_layers; i++)
        destroy_layer(be, &m->layers[i]);
    float *bufs[] = {m->params,  m->grads,      m->logits,     m->dlogits,   m->diff[0],
                     m->diff[1], m->scratch_dy, m->scratch_da, m->scratch_dx};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        be->free(be, bufs[i]);
    free(m->layers);
    free(m->params_spec);
    free(m);
}

/* ---------- initialisation ---------- */

void gnet_model_init(gnet_model *m, uint64_t seed, gnet_init_scheme scheme)
{
    float *host = xcalloc(m->n_weights, sizeof(float));
    for (int i = 0; i < m->n_params; i++) {
        const gnet_param_spec *s = &m->params_spec[i];
        /* A weight's fans come from its own shape; a bias takes its weight's fan_in. */
        const gnet_param_spec *w = s->ndim == 1 ? s - 1 : s;
        double receptive = w->ndim == 4 ? (double)w->shape[2] * w->shape[3] : 1.0;
        double fan_in = w->shape[1] * receptive, fan_out = w->shape[0] * receptive;
        double bound = s->ndim == 1             ? 1.0 / sqrt(fan_in)
                       : scheme == GNET_INIT_HE ? sqrt(6.0 / fan_in)
                                                : sqrt(6.0 / (fan_in + fan_out));
        gnet_rng r;
        gnet_rng_init(&r, gnet_rng_key(seed, 0x696e6974 /* "init" */, (uint64_t)i, 0));
        for (size_t j = 0; j < s->count; j++)
            host[s->offset + j] = (float)((2.0 * gnet_rng_uniform(&r) - 1.0) * bound);
    }
    m->be->upload(m->be, m->params, host, m->n_weights);
    free(host);
}

/* ---------- forward ---------- */

static void conv_fwd(gnet_model *m, conv_unit *cu, const float *x, float *y)
{
    m->be->conv_forward(cu->plan, x, m->params + cu->w, m->params + cu->b, y);
}

/* Each branch's last conv writes to scratch, then into its channel slice of the output. */
static void inception_forward(gnet_model *m, gnet_layer *L)
{
    gnet_backend *be = m->be;
    inception_unit *u = &L->u.inc;
    const float *x = L->x;
    int hw = L->in.h * L->in.w, oc = L->out.c, off = 0;
    conv_unit *last[4] = {&u->p1, &u->p2b, &u->p3b, &u->p4b};
    conv_fwd(m, &u->p2a, x, u->p2a.y);
    conv_fwd(m, &u->p3a, x, u->p3a.y);
    be->pool_forward(u->p4a.plan, x, u->p4a.y);
    const float *branch_in[4] = {x, u->p2a.y, u->p3a.y, u->p4a.y};
    for (int i = 0; i < 4; i++) {
        int c = last[i]->d.out.c;
        conv_fwd(m, last[i], branch_in[i], m->scratch_dy);
        be->copy_channels(be, L->y, oc, off, m->scratch_dy, c, 0, c, L->in.n, hw);
        off += c;
    }
}

static void layer_forward(gnet_model *m, gnet_layer *L)
{
    gnet_backend *be = m->be;
    switch (L->kind) {
    case LK_CONV: conv_fwd(m, &L->u.conv, L->x, L->y); break;
    case LK_POOL:
    case LK_GAP: be->pool_forward(L->u.pool.plan, L->x, L->y); break;
    case LK_INCEPTION: inception_forward(m, L); break;
    case LK_LINEAR:
        be->linear_forward(be, L->in.n, L->in.c * L->in.h * L->in.w, L->out.c, L->x,
                           m->params + L->u.lin.w, m->params + L->u.lin.b, L->y);
        break;
    }
}

void gnet_model_forward(gnet_model *m, const float *x)
{
    m->layers[0].x = x;
    for (int i = 0; i < m->n_layers; i++)
        layer_forward(m, &m->layers[i]);
}

/* ---------- backward ---------- */

/* dy: gradient at the conv's output *after* ReLU masking. dx may be NULL. */
static void conv_bwd(gnet_model *m, conv_unit *cu, const float *x, const float *dy, float *dx,
                     int acc)
{
    gnet_backend *be = m->be;
    be->conv_backward_filter(cu->plan, x, dy, m->grads + cu->w, m->grads + cu->b, acc);
    if (dx)
        be->conv_backward_data(cu->plan, dy, m->params + cu->w, dx);
}

/* A two-conv branch: gradient at the branch output slice (in scratch_dy) back to its input. */
static void branch_bwd(gnet_model *m, conv_unit *a, conv_unit *b, const float *x, float *dx,
                       int acc)
{
    gnet_backend *be = m->be;
    conv_bwd(m, b, a->y, m->scratch_dy, m->scratch_da, acc);
    be->relu_backward(be, a->y, m->scratch_da, be->act_count(be, a->d.out));
    conv_bwd(m, a, x, m->scratch_da, dx, acc);
}

static void inception_backward(gnet_model *m, gnet_layer *L, float *dy, float *dx, int acc)
{
    gnet_backend *be = m->be;
    inception_unit *u = &L->u.inc;
    int n = L->in.n, hw = L->in.h * L->in.w, oc = L->out.c;
    size_t in_count = be->act_count(be, L->in);
    /* Every branch ends in ReLU: mask the whole concatenated gradient in one pass. */
    be->relu_backward(be, L->y, dy, be->act_count(be, L->out));
    int off = 0;
    be->copy_channels(be, m->scratch_dy, u->p1.d.out.c, 0, dy, oc, off, u->p1.d.out.c, n, hw);
    conv_bwd(m, &u->p1, L->x, m->scratch_dy, dx, acc);
    off += u->p1.d.out.c;
    be->copy_channels(be, m->scratch_dy, u->p2b.d.out.c, 0, dy, oc, off, u->p2b.d.out.c, n, hw);
    branch_bwd(m, &u->p2a, &u->p2b, L->x, m->scratch_dx, acc);
    be->add(be, dx, m->scratch_dx, in_count);
    off += u->p2b.d.out.c;
    be->copy_channels(be, m->scratch_dy, u->p3b.d.out.c, 0, dy, oc, off, u->p3b.d.out.c, n, hw);
    branch_bwd(m, &u->p3a, &u->p3b, L->x, m->scratch_dx, acc);
    be->add(be, dx, m->scratch_dx, in_count);
    off += u->p3b.d.out.c;
    be->copy_channels(be, m->scratch_dy, u->p4b.d.out.c, 0, dy, oc, off, u->p4b.d.out.c, n, hw);
    conv_bwd(m, &u->p4b, u->p4a.y, m->scratch_dy, m->scratch_da, acc);
    be->pool_backward(u->p4a.plan, m->scratch_da, m->scratch_dx);
    be->add(be, dx, m->scratch_dx, in_count);
}

static void layer_backward(gnet_model *m, gnet_layer *L, float *dy, float *dx, int acc)
{
    gnet_backend *be = m->be;
    switch (L->kind) {
    case LK_CONV:
        be->relu_backward(be, L->y, dy, be->act_count(be, L->out));
        conv_bwd(m, &L->u.conv, L->x, dy, dx, acc);
        break;
    case LK_POOL:
    case LK_GAP: be->pool_backward(L->u.pool.plan, dy, dx); break;
    case LK_INCEPTION: inception_backward(m, L, dy, dx, acc); break;
    case LK_LINEAR:
        be->linear_backward(be, L->in.n, L->in.c * L->in.h * L->in.w, L->out.c, L->x,
                            m->params + L->u.lin.w, dy, dx, m->grads + L->u.lin.w,
                            m->grads + L->u.lin.b, acc);
        break;
    }
}

void gnet_model_backward(gnet_model *m, int accumulate, const gnet_grads_hook *hook)
{
    float *dy = m->dlogits;
    for (int i = m->n_layers - 1; i >= 0; i--) {
        /* Ping-pong: layer i reads diff[(i+1)&1] and writes diff[i&1]; the image needs none. */
        float *dx = i == 0 ? NULL : m->diff[i & 1];
        gnet_layer *L = &m->layers[i];
        layer_backward(m, L, dy, dx, accumulate);
        if (L->has_params && hook)
            hook->ready(hook->ctx, L->param_lo);
        dy = dx;
    }
}
