/* CPU backend: oneDNN primitives for convolution and pooling, oneDNN's sgemm for the linear
 * layer, OpenMP loops for the element-wise ops. Activations with a multiple of 16 channels
 * live in nChw16c (oneDNN's native AVX-512 layout) from layer to layer, so no activation is
 * reordered inside the step; only the weights are reordered (OIHW arena <-> blocked), once
 * per op per step, which costs far less than the convolution that uses them. */
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/backend.h"
#include "core/check_dnnl.h"
#include "core/fifo.h"
#include "core/smoothed_loss.h"

typedef struct {
    double loss;
    int64_t correct;
} cpu_tally;

typedef struct {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    /* One scratchpad shared by every primitive (user scratchpad mode): ops run one at a
     * time, so the largest need bounds the whole model's. Grown only while planning. */
    void *scratch;
    size_t scratch_bytes;
    /* The running loss tally and the closed ones: the values are ready at once, but they go
     * through the same queue as the CUDA backend's, so the trainer's logic is the same. */
    cpu_tally running, closed[GNET_TALLIES_PENDING];
    gnet_fifo pending;
} cpu_ctx;

static cpu_ctx *ctx_of(gnet_backend *be) { return be->ctx; }

static void *xmalloc(size_t bytes)
{
    /* 64-byte alignment: one AVX-512 vector, what oneDNN's kernels prefer. */
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = gnet_aligned_alloc(64, rounded, "a CPU backend buffer");
    if (!p)
        gnet_fatal(1);
    return p;
}

/* ---------- memory descriptors and primitive plumbing ---------- */

/* Single-channel tensors (the input image) stay NCHW; everything else is nChw16c, padded
 * with zeros up to a multiple of 16 channels when needed (d2l's 24-channel 1x1 convs). */
static dnnl_format_tag_t act_tag(gnet_shape s) { return s.c == 1 ? dnnl_nchw : dnnl_nChw16c; }

static dnnl_memory_desc_t md4(gnet_shape s, dnnl_format_tag_t tag)
{
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {s.n, s.c, s.h, s.w};
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, tag));
    return md;
}

static dnnl_memory_desc_t md_act(gnet_shape s) { return md4(s, act_tag(s)); }

static dnnl_memory_desc_t md_weights(int oc, int ic, int k, dnnl_format_tag_t tag)
{
    gnet_shape w = {oc, ic, k, k};
    return md4(w, tag);
}

static dnnl_memory_desc_t md_1d(int n)
{
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {n};
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_f32, dnnl_x));
    return md;
}

static dnnl_memory_t mem(cpu_ctx *c, const dnnl_memory_desc_t *md)
{
    dnnl_memory_t m;
    DNNL_CHECK(dnnl_memory_create(&m, md, c->eng, DNNL_MEMORY_NONE));
    return m;
}

static const dnnl_memory_desc_t *query(const_dnnl_primitive_desc_t pd, dnnl_query_t what)
{
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

/* A primitive with its own scratchpad memory object (pointing at the shared buffer). */
typedef struct {
    dnnl_primitive_t p;
    dnnl_memory_t scratch;
} prim;

static dnnl_primitive_attr_t attr_new(const dnnl_post_ops_t ops)
{
    dnnl_primitive_attr_t a;
    DNNL_CHECK(dnnl_primitive_attr_create(&a));
    DNNL_CHECK(dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user));
    if (ops)
        DNNL_CHECK(dnnl_primitive_attr_set_post_ops(a, ops));
    return a;
}

static prim prim_make(cpu_ctx *c, dnnl_primitive_desc_t pd)
{
    prim r;
    const dnnl_memory_desc_t *smd = query(pd, dnnl_query_scratchpad_md);
    size_t bytes = dnnl_memory_desc_get_size(smd);
    if (bytes > c->scratch_bytes) {
        free(c->scratch);
        c->scratch = xmalloc(bytes);
        c->scratch_bytes = bytes;
    }
    r.scratch = mem(c, smd);
    DNNL_CHECK(dnnl_primitive_create(&r.p, pd));
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    return r;
}

static void prim_free(prim *r)
{
    if (!r->p)
        return;
    DNNL_CHECK(dnnl_primitive_destroy(r->p));
    DNNL_CHECK(dnnl_memory_destroy(r->scratch));
    r->p = NULL;
}

typedef struct {
    int arg;
    dnnl_memory_t m;
    const void *ptr;
} bind;

#define MAX_BINDS 8

static void run(cpu_ctx *c, const prim *r, const bind *b, int nb)
{
    dnnl_exec_arg_t args[MAX_BINDS + 1];
    for (int i = 0; i < nb; i++) {
        /* oneDNN takes a non-const handle even for inputs it only reads. */
        DNNL_CHECK(dnnl_memory_set_data_handle(b[i].m, (void *)b[i].ptr));
        args[i].arg = b[i].arg;
        args[i].memory = b[i].m;
    }
    DNNL_CHECK(dnnl_memory_set_data_handle(r->scratch, c->scratch));
    args[nb].arg = DNNL_ARG_SCRATCHPAD;
    args[nb].memory = r->scratch;
    DNNL_CHECK(dnnl_primitive_execute(r->p, c->stream, nb + 1, args));
}

/* A reorder between two layouts of the same tensor; with accumulate, dst += src. */
typedef struct {
    prim r;
    dnnl_memory_t src, dst;
    size_t dst_bytes;
} reorder;

static reorder reorder_make(cpu_ctx *c, const dnnl_memory_desc_t *from,
                            const dnnl_memory_desc_t *to, int accumulate)
{
    reorder o;
    dnnl_post_ops_t ops = NULL;
    if (accumulate) {
        DNNL_CHECK(dnnl_post_ops_create(&ops));
        DNNL_CHECK(dnnl_post_ops_append_sum(ops, 1.0f));
    }
    dnnl_primitive_attr_t a = attr_new(ops);
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(dnnl_reorder_primitive_desc_create(&pd, from, c->eng, to, c->eng, a));
    o.r = prim_make(c, pd);
    o.src = mem(c, from);
    o.dst = mem(c, to);
    o.dst_bytes = dnnl_memory_desc_get_size(to);
    DNNL_CHECK(dnnl_primitive_attr_destroy(a));
    if (ops)
        DNNL_CHECK(dnnl_post_ops_destroy(ops));
    return o;
}

static void reorder_run(cpu_ctx *c, reorder *o, const void *src, void *dst)
{
    bind b[2] = {{DNNL_ARG_FROM, o->src, src}, {DNNL_ARG_TO, o->dst, dst}};
    run(c, &o->r, b, 2);
}

static void reorder_free(reorder *o)
{
    if (!o->r.p)
        return;
    prim_free(&o->r);
    DNNL_CHECK(dnnl_memory_destroy(o->src));
    DNNL_CHECK(dnnl_memory_destroy(o->dst));
}

/* ---------- convolution ---------- */

struct gnet_conv {
    cpu_ctx *c;
    gnet_conv_desc d; /* what the primitives compute (see center_tap_only) */
    size_t w_count;   /* floats of the caller's OIHW weights */
    size_t w_offset;  /* first float of the caller's weights the primitives read */
    prim fwd, bwd_data, bwd_filter;
    /* arena OIHW <-> the layouts the primitives chose */
    reorder w_fwd, w_bwd, dw_set, dw_add;
    float *w_fwd_buf, *w_bwd_buf, *dw_buf, *db_buf;
    dnnl_memory_t x, w_f, b, y, dy, w_b, dx, dw, db;
};

/* On a 1x1 input, a "same"-padded k x k convolution only ever multiplies its centre tap
 * with data (every other tap sees padding). oneDNN has no fast kernel for that shape (the
 * 28x28 net's b5 runs at 1x1), so it is planned as the 1x1 convolution it is, over a strided
 * view of the centre taps; the other taps' gradients are exactly zero. */
static int center_tap_only(const gnet_conv_desc *d)
{
    return d->k > 1 && d->in.h == 1 && d->in.w == 1 && d->stride == 1 && 2 * d->pad == d->k - 1;
}

/* The caller's OIHW weights as the primitives see them: all of it, or the centre taps. */
static dnnl_memory_desc_t arena_weights_md(const gnet_conv *cv)
{
    const gnet_conv_desc *d = &cv->d;
    if (cv->w_offset == 0)
        return md_weights(d->out.c, d->in.c, d->k, dnnl_oihw);
    dnnl_memory_desc_t md;
    size_t taps = cv->w_count / ((size_t)d->out.c * d->in.c);
    dnnl_dims_t dims = {d->out.c, d->in.c, 1, 1};
    dnnl_dims_t strides = {(dnnl_dim_t)(d->in.c * taps), (dnnl_dim_t)taps, 1, 1};
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&md, 4, dims, dnnl_f32, strides));
    return md;
}

static void conv_geometry(const gnet_conv_desc *d, dnnl_dims_t st, dnnl_dims_t pl, dnnl_dims_t pr)
{
    /* PyTorch's floor mode: oneDNN wants the right padding that makes the sizes agree. */
    st[0] = st[1] = d->stride;
    pl[0] = pl[1] = d->pad;
    pr[0] = (d->out.h - 1) * d->stride + d->k - d->in.h - d->pad;
    pr[1] = (d->out.w - 1) * d->stride + d->k - d->in.w - d->pad;
}

static dnnl_primitive_desc_t conv_fwd_pd(cpu_ctx *c, const gnet_conv_desc *d)
{
    dnnl_dims_t st = {0}, pl = {0}, pr = {0}; /* conv_geometry fills the 2 used entries */
    conv_geometry(d, st, pl, pr);
    dnnl_memory_desc_t x = md_act(d->in), y = md_act(d->out), b = md_1d(d->out.c);
    dnnl_memory_desc_t w = md_weights(d->out.c, d->in.c, d->k, dnnl_format_tag_any);
    dnnl_convolution_desc_t cd;
    DNNL_CHECK(dnnl_convolution_forward_desc_init(
        &cd, dnnl_forward_training, dnnl_convolution_direct, &x, &w, &b, &y, st, pl, pr));
    dnnl_post_ops_t ops = NULL;
    if (d->relu) {
        DNNL_CHECK(dnnl_post_ops_create(&ops));
        DNNL_CHECK(dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
    }
    dnnl_primitive_attr_t a = attr_new(ops);
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(dnnl_primitive_desc_create(&pd, &cd, a, c->eng, NULL));
    DNNL_CHECK(dnnl_primitive_attr_destroy(a));
    if (ops)
        DNNL_CHECK(dnnl_post_ops_destroy(ops));
    return pd;
}

static void conv_plan_forward(gnet_conv *cv, dnnl_primitive_desc_t fpd)
{
    cpu_ctx *c = cv->c;
    const gnet_conv_desc *d = &cv->d;
    dnnl_memory_desc_t plain = arena_weights_md(cv);
    const dnnl_memory_desc_t *wmd = query(fpd, dnnl_query_weights_md);
    cv->w_fwd = reorder_make(c, &plain, wmd, 0);
    cv->w_fwd_buf = xmalloc(cv->w_fwd.dst_bytes);
    cv->x = mem(c, query(fpd, dnnl_query_src_md));
    cv->w_f = mem(c, wmd);
    dnnl_memory_desc_t bmd = md_1d(d->out.c);
    cv->b = mem(c, &bmd);
    cv->y = mem(c, query(fpd, dnnl_query_dst_md));
}

static void conv_plan_backward(gnet_conv *cv, const_dnnl_primitive_desc_t fpd)
{
    cpu_ctx *c = cv->c;
    const gnet_conv_desc *d = &cv->d;
    dnnl_dims_t st = {0}, pl = {0}, pr = {0}; /* conv_geometry fills the 2 used entries */
    conv_geometry(d, st, pl, pr);
    dnnl_memory_desc_t x = md_act(d->in), y = md_act(d->out), b = md_1d(d->out.c);
    dnnl_memory_desc_t w = md_weights(d->out.c, d->in.c, d->k, dnnl_format_tag_any);
    dnnl_memory_desc_t plain = arena_weights_md(cv);
    dnnl_primitive_attr_t a = attr_new(NULL);
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd;

    DNNL_CHECK(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &x, &w, &b,
                                                           &y, st, pl, pr));
    DNNL_CHECK(dnnl_primitive_desc_create(&pd, &cd, a, c->eng, fpd));
    const dnnl_memory_desc_t *dwmd = query(pd, dnnl_query_diff_weights_md);
    cv->dw_set = reorder_make(c, dwmd, &plain, 0);
    cv->dw_add = reorder_make(c, dwmd, &plain, 1);
    cv->dw_buf = xmalloc(dnnl_memory_desc_get_size(dwmd));
    cv->db_buf = xmalloc(sizeof(float) * (size_t)d->out.c);
    cv->dw = mem(c, dwmd);
    cv->db = mem(c, &b);
    cv->dy = mem(c, query(pd, dnnl_query_diff_dst_md));
    cv->bwd_filter = prim_make(c, pd);

    /* The first layer's input gradient is never needed (its input is the image). */
    if (d->in.c > 1) {
        DNNL_CHECK(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &x, &w,
                                                            &y, st, pl, pr));
        DNNL_CHECK(dnnl_primitive_desc_create(&pd, &cd, a, c->eng, fpd));
        const dnnl_memory_desc_t *wbmd = query(pd, dnnl_query_weights_md);
        cv->w_bwd = reorder_make(c, &plain, wbmd, 0);
        cv->w_bwd_buf = xmalloc(cv->w_bwd.dst_bytes);
        cv->w_b = mem(c, wbmd);
        cv->dx = mem(c, query(pd, dnnl_query_diff_src_md));
        cv->bwd_data = prim_make(c, pd);
    }
    DNNL_CHECK(dnnl_primitive_attr_destroy(a));
}

static gnet_conv *cpu_conv_create(gnet_backend *be, const gnet_conv_desc *d)
{
    gnet_conv *cv = gnet_calloc(1, sizeof *cv, "a convolution's oneDNN plan");
    if (!cv)
        gnet_fatal(1);
    cv->c = ctx_of(be);
    cv->d = *d;
    cv->w_count = (size_t)d->out.c * d->in.c * d->k * d->k;
    if (center_tap_only(d)) {
        cv->w_offset = (size_t)(d->k / 2) * d->k + d->k / 2;
        cv->d.k = 1;
        cv->d.pad = 0;
    }
    dnnl_primitive_desc_t fpd = conv_fwd_pd(cv->c, &cv->d);
    conv_plan_forward(cv, fpd);
    conv_plan_backward(cv, fpd);
    cv->fwd = prim_make(cv->c, fpd);
    return cv;
}

static void cpu_conv_forward(gnet_conv *cv, const float *x, const float *w, const float *b,
                             float *y)
{
    reorder_run(cv->c, &cv->w_fwd, w + cv->w_offset, cv->w_fwd_buf);
    bind bs[4] = {{DNNL_ARG_SRC, cv->x, x},
                  {DNNL_ARG_WEIGHTS, cv->w_f, cv->w_fwd_buf},
                  {DNNL_ARG_BIAS, cv->b, b},
                  {DNNL_ARG_DST, cv->y, y}};
    run(cv->c, &cv->fwd, bs, 4);
}

static void cpu_conv_backward_data(gnet_conv *cv, const float *dy, const float *w, float *dx)
{
    if (!cv->bwd_data.p) {
        gnet_errorf("conv_backward_data called on a layer planned without an input gradient");
        gnet_fatal(1);
    }
    reorder_run(cv->c, &cv->w_bwd, w + cv->w_offset, cv->w_bwd_buf);
    bind bs[3] = {{DNNL_ARG_DIFF_DST, cv->dy, dy},
                  {DNNL_ARG_WEIGHTS, cv->w_b, cv->w_bwd_buf},
                  {DNNL_ARG_DIFF_SRC, cv->dx, dx}};
    run(cv->c, &cv->bwd_data, bs, 3);
}

static void cpu_conv_backward_filter(gnet_conv *cv, const float *x, const float *dy, float *dw,
                                     float *db, int accumulate)
{
    bind bs[4] = {{DNNL_ARG_SRC, cv->x, x},
                  {DNNL_ARG_DIFF_DST, cv->dy, dy},
                  {DNNL_ARG_DIFF_WEIGHTS, cv->dw, cv->dw_buf},
                  {DNNL_ARG_DIFF_BIAS, cv->db, accumulate ? cv->db_buf : db}};
    run(cv->c, &cv->bwd_filter, bs, 4);
    if (cv->w_offset && !accumulate)
        memset(dw, 0, cv->w_count * sizeof(float));
    reorder_run(cv->c, accumulate ? &cv->dw_add : &cv->dw_set, cv->dw_buf, dw + cv->w_offset);
    if (accumulate)
        for (int i = 0; i < cv->d.out.c; i++)
            db[i] += cv->db_buf[i];
}

static void cpu_conv_destroy(gnet_conv *cv)
{
    if (!cv)
        return;
    prim_free(&cv->fwd);
    prim_free(&cv->bwd_data);
    prim_free(&cv->bwd_filter);
    reorder_free(&cv->w_fwd);
    reorder_free(&cv->w_bwd);
    reorder_free(&cv->dw_set);
    reorder_free(&cv->dw_add);
    dnnl_memory_t ms[] = {cv->x, cv->w_f, cv->b, cv->y, cv->dy, cv->w_b, cv->dx, cv->dw, cv->db};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (ms[i])
            DNNL_CHECK(dnnl_memory_destroy(ms[i]));
    free(cv->w_fwd_buf);
    free(cv->w_bwd_buf);
    free(cv->dw_buf);
    free(cv->db_buf);
    free(cv);
}

/* ---------- pooling ---------- */

struct gnet_pool {
    cpu_ctx *c;
    prim fwd, bwd;
    dnnl_memory_t x, y, dy, dx, ws;
    void *ws_buf; /* max pooling's argmax workspace, written forward, read backward */
};

static gnet_pool *cpu_pool_create(gnet_backend *be, const gnet_pool_desc *d)
{
    gnet_pool *p = gnet_calloc(1, sizeof *p, "a pooling layer's oneDNN plan");
    if (!p)
        gnet_fatal(1);
    p->c = ctx_of(be);
    dnnl_alg_kind_t alg =
        d->alg == GNET_POOL_MAX ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding;
    dnnl_dims_t st = {d->stride, d->stride}, k = {d->k, d->k}, pl = {d->pad, d->pad};
    dnnl_dims_t pr = {(d->out.h - 1) * d->stride + d->k - d->in.h - d->pad,
                      (d->out.w - 1) * d->stride + d->k - d->in.w - d->pad};
    dnnl_memory_desc_t x = md_act(d->in), y = md_act(d->out);
    dnnl_primitive_attr_t a = attr_new(NULL);
    dnnl_pooling_desc_t pdsc;
    dnnl_primitive_desc_t fpd, bpd;
    DNNL_CHECK(
        dnnl_pooling_forward_desc_init(&pdsc, dnnl_forward_training, alg, &x, &y, st, k, pl, pr));
    DNNL_CHECK(dnnl_primitive_desc_create(&fpd, &pdsc, a, p->c->eng, NULL));
    DNNL_CHECK(dnnl_pooling_backward_desc_init(&pdsc, alg, &x, &y, st, k, pl, pr));
    DNNL_CHECK(dnnl_primitive_desc_create(&bpd, &pdsc, a, p->c->eng, fpd));
    const dnnl_memory_desc_t *wsmd = query(fpd, dnnl_query_workspace_md);
    size_t ws_bytes = dnnl_memory_desc_get_size(wsmd);
    if (ws_bytes) {
        p->ws = mem(p->c, wsmd);
        p->ws_buf = xmalloc(ws_bytes);
    }
    p->x = mem(p->c, &x);
    p->y = mem(p->c, &y);
    p->dy = mem(p->c, &y);
    p->dx = mem(p->c, &x);
    p->bwd = prim_make(p->c, bpd);
    p->fwd = prim_make(p->c, fpd);
    DNNL_CHECK(dnnl_primitive_attr_destroy(a));
    return p;
}

static void cpu_pool_forward(gnet_pool *p, const float *x, float *y)
{
    bind bs[3] = {
        {DNNL_ARG_SRC, p->x, x}, {DNNL_ARG_DST, p->y, y}, {DNNL_ARG_WORKSPACE, p->ws, p->ws_buf}};
    run(p->c, &p->fwd, bs, p->ws ? 3 : 2);
}

static void cpu_pool_backward(gnet_pool *p, const float *dy, float *dx)
{
    bind bs[3] = {{DNNL_ARG_DIFF_DST, p->dy, dy},
                  {DNNL_ARG_DIFF_SRC, p->dx, dx},
                  {DNNL_ARG_WORKSPACE, p->ws, p->ws_buf}};
    run(p->c, &p->bwd, bs, p->ws ? 3 : 2);
}

static void cpu_pool_destroy(gnet_pool *p)
{
    if (!p)
        return;
    prim_free(&p->fwd);
    prim_free(&p->bwd);
    dnnl_memory_t ms[] = {p->x, p->y, p->dy, p->dx, p->ws};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (ms[i])
            DNNL_CHECK(dnnl_memory_destroy(ms[i]));
    free(p->ws_buf);
    free(p);
}

/* ---------- element-wise and layout ops ---------- */

static void cpu_relu_backward(gnet_backend *be, const float *y, float *dy, size_t count)
{
    (void)be;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++)
        dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

static void cpu_add(gnet_backend *be, float *dst, const float *src, size_t count)
{
    (void)be;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++)
        dst[i] += src[i];
}

/* In nChw16c a 16-aligned channel range of one image is one contiguous run, so the concat
 * is a memcpy per image. */
static void cpu_copy_channels(gnet_backend *be, float *dst, int dst_c, int dst_off,
                              const float *src, int src_c, int src_off, int c, int n, int hw)
{
    (void)be;
    if (dst_c % 16 || src_c % 16 || dst_off % 16 || src_off % 16 || c % 16) {
        gnet_errorf("copy_channels: channel ranges must be 16-aligned in the blocked layout");
        gnet_fatal(1);
    }
    size_t run_len = (size_t)c * (size_t)hw;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        memcpy(dst + ((size_t)i * dst_c + dst_off) * hw, src + ((size_t)i * src_c + src_off) * hw,
               run_len * sizeof(float));
}

static void layout_convert(gnet_backend *be, gnet_shape s, const float *src, dnnl_format_tag_t from,
                           float *dst, dnnl_format_tag_t to)
{
    cpu_ctx *c = ctx_of(be);
    dnnl_memory_desc_t a = md4(s, from), b = md4(s, to);
    reorder o = reorder_make(c, &a, &b, 0);
    reorder_run(c, &o, src, dst);
    reorder_free(&o);
}

static size_t cpu_act_count(gnet_backend *be, gnet_shape s)
{
    (void)be;
    dnnl_memory_desc_t md = md_act(s);
    return dnnl_memory_desc_get_size(&md) / sizeof(float);
}

static void cpu_to_nchw(gnet_backend *be, gnet_shape s, const float *src, float *dst_host)
{
    layout_convert(be, s, src, act_tag(s), dst_host, dnnl_nchw);
}

static void cpu_from_nchw(gnet_backend *be, gnet_shape s, const float *src_host, float *dst)
{
    layout_convert(be, s, src_host, dnnl_nchw, dst, act_tag(s));
}

/* ---------- linear, loss, optimizer ---------- */

static void cpu_linear_forward(gnet_backend *be, int n, int in, int out, const float *x,
                               const float *w, const float *b, float *y)
{
    (void)be;
    DNNL_CHECK(dnnl_sgemm('N', 'T', n, out, in, 1.0f, x, in, w, in, 0.0f, y, out));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < out; j++)
            y[(size_t)i * out + j] += b[j];
}

static void cpu_linear_backward(gnet_backend *be, int n, int in, int out, const float *x,
                                const float *w, const float *dy, float *dx, float *dw, float *db,
                                int accumulate)
{
    (void)be;
    float beta = accumulate ? 1.0f : 0.0f;
    DNNL_CHECK(dnnl_sgemm('T', 'N', out, in, n, 1.0f, dy, out, x, in, beta, dw, in));
    if (dx)
        DNNL_CHECK(dnnl_sgemm('N', 'N', n, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in));
    for (int j = 0; j < out; j++) {
        float s = 0.0f;
        for (int i = 0; i < n; i++)
            s += dy[(size_t)i * out + j];
        db[j] = accumulate ? db[j] + s : s;
    }
}

static void cpu_softmax_xent(gnet_backend *be, int n, int classes, const float *logits,
                             const int32_t *labels, float label_smoothing, float grad_scale,
                             float *dlogits)
{
    double loss = 0.0;
    int64_t hits = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * classes;
        float *dz = dlogits + (size_t)i * classes;
        int arg = 0;
        for (int j = 1; j < classes; j++)
            if (z[j] > z[arg])
                arg = j;
        float sum = 0.0f;
        for (int j = 0; j < classes; j++)
            sum += expf(z[j] - z[arg]);
        // cppcheck-suppress invalidFunctionArg ; sum >= 1: it holds exp(0) for the arg max
        float log_sum = logf(sum);
        float nll = log_sum - (z[labels[i]] - z[arg]);
        loss += gnet_smoothed_loss(z, classes, arg, log_sum, nll, label_smoothing);
        hits += arg == labels[i];
        for (int j = 0; j < classes; j++)
            dz[j] = (expf(z[j] - z[arg] - log_sum) -
                     gnet_smoothed_target(label_smoothing, classes, j == labels[i])) *
                    grad_scale;
    }
    ctx_of(be)->running.loss += loss;
    ctx_of(be)->running.correct += hits;
}

static void cpu_tally_close(gnet_backend *be)
{
    cpu_ctx *c = ctx_of(be);
    int slot = gnet_fifo_push(&c->pending);
    if (slot < 0) {
        gnet_errorf("bug: more than %d loss tallies closed and not taken", GNET_TALLIES_PENDING);
        gnet_fatal(1);
    }
    c->closed[slot] = c->running;
    c->running = (cpu_tally){0};
}

static void cpu_tally_take(gnet_backend *be, double *loss_sum, int64_t *correct)
{
    cpu_ctx *c = ctx_of(be);
    int slot = gnet_fifo_pop(&c->pending);
    if (slot < 0) {
        gnet_errorf("bug: a loss tally taken before it was closed");
        gnet_fatal(1);
    }
    *loss_sum = c->closed[slot].loss;
    *correct = c->closed[slot].correct;
}

static void cpu_reserve_upload(gnet_backend *be, size_t count) { (void)be, (void)count; }

static void cpu_sgd(gnet_backend *be, float *p, const float *g, float *buf, size_t count, float lr,
                    float m, float wd, int nesterov, int first_step, float scale)
{
    (void)be;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++) {
        float d = scale * (g[i] + wd * p[i]);
        if (m != 0.0f) {
            float b = first_step ? d : m * buf[i] + d;
            buf[i] = b;
            d = nesterov ? d + m * b : b;
        }
        p[i] -= lr * d;
    }
}

static void cpu_adam(gnet_backend *be, float *p, const float *g, float *m, float *v, float *dir,
                     size_t count, const gnet_adam_args *a)
{
    (void)be;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++) {
        m[i] = a->beta1 * m[i] + a->c1 * g[i];
        v[i] = a->beta2 * v[i] + (a->c2 * g[i]) * g[i];
        float denom = sqrtf(v[i]) / a->bc2_sqrt + a->eps;
        if (dir)
            dir[i] = (m[i] / a->bc1) / denom + a->wd * p[i];
        else
            p[i] = p[i] * a->decay - (a->step_size * m[i]) / denom;
    }
}

static double cpu_sumsq(gnet_backend *be, const float *a, const float *b, size_t count)
{
    (void)be;
    double s = 0.0;
#pragma omp parallel for simd schedule(static) reduction(+ : s)
    for (size_t i = 0; i < count; i++) {
        double d = b ? (double)a[i] - (double)b[i] : (double)a[i];
        s += d * d;
    }
    return s;
}

static void cpu_unit_sumsq(gnet_backend *be, const float *a, size_t units, size_t len, float *out)
{
    (void)be;
#pragma omp parallel for schedule(static)
    for (size_t u = 0; u < units; u++) {
        double s = 0.0;
        for (size_t j = 0; j < len; j++)
            s += (double)a[u * len + j] * (double)a[u * len + j];
        out[u] = (float)s;
    }
}

/* One unit (a whole tensor, for --clip-norm) is split across the threads by elements. */
static void cpu_scale_units(gnet_backend *be, float *a, size_t units, size_t len,
                            const float *factor)
{
    (void)be;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < units * len; i++)
        a[i] *= factor[i / len];
}

/* ---------- memory and lifetime ---------- */

static float *cpu_alloc(gnet_backend *be, size_t count)
{
    (void)be;
    float *p = xmalloc(count * sizeof(float));
    memset(p, 0, count * sizeof(float));
    return p;
}

static void cpu_free(gnet_backend *be, float *p)
{
    (void)be;
    free(p);
}

static void cpu_copy(gnet_backend *be, float *dst, const float *src, size_t count)
{
    (void)be;
    memcpy(dst, src, count * sizeof(float));
}

static void cpu_sync(gnet_backend *be) { DNNL_CHECK(dnnl_stream_wait(ctx_of(be)->stream)); }

static void cpu_destroy(gnet_backend *be)
{
    if (!be)
        return;
    cpu_ctx *c = ctx_of(be);
    DNNL_CHECK(dnnl_stream_destroy(c->stream));
    DNNL_CHECK(dnnl_engine_destroy(c->eng));
    free(c->scratch);
    free(c);
    free(be);
}

gnet_backend *gnet_backend_cpu_create(int threads)
{
    gnet_backend *be = gnet_calloc(1, sizeof *be, "the CPU backend");
    cpu_ctx *c = gnet_calloc(1, sizeof *c, "the CPU backend's state");
    if (!be || !c)
        gnet_fatal(1);
    be->threads = threads > 0 ? threads : omp_get_num_procs();
    omp_set_num_threads(be->threads);
    DNNL_CHECK(dnnl_engine_create(&c->eng, dnnl_cpu, 0));
    DNNL_CHECK(dnnl_stream_create(&c->stream, c->eng, dnnl_stream_default_flags));
    gnet_fifo_init(&c->pending, GNET_TALLIES_PENDING);
    be->name = "cpu";
    be->ctx = c;
    be->destroy = cpu_destroy;
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->upload = cpu_copy;
    be->reserve_upload = cpu_reserve_upload;
    be->download = cpu_copy;
    be->sync = cpu_sync;
    be->conv_create = cpu_conv_create;
    be->conv_destroy = cpu_conv_destroy;
    be->conv_forward = cpu_conv_forward;
    be->conv_backward_data = cpu_conv_backward_data;
    be->conv_backward_filter = cpu_conv_backward_filter;
    be->pool_create = cpu_pool_create;
    be->pool_destroy = cpu_pool_destroy;
    be->pool_forward = cpu_pool_forward;
    be->pool_backward = cpu_pool_backward;
    be->relu_backward = cpu_relu_backward;
    be->add = cpu_add;
    be->copy_channels = cpu_copy_channels;
    be->act_count = cpu_act_count;
    be->to_nchw = cpu_to_nchw;
    be->from_nchw = cpu_from_nchw;
    be->linear_forward = cpu_linear_forward;
    be->linear_backward = cpu_linear_backward;
    be->softmax_xent = cpu_softmax_xent;
    be->tally_close = cpu_tally_close;
    be->tally_take = cpu_tally_take;
    be->sgd = cpu_sgd;
    be->adam = cpu_adam;
    be->sumsq = cpu_sumsq;
    be->unit_sumsq = cpu_unit_sumsq;
    be->scale_units = cpu_scale_units;
    be->copy = cpu_copy;
    return be;
}

const char *gnet_backend_cpu_version(char *buf, size_t n)
{
    const dnnl_version_t *d = dnnl_version();
    (void)snprintf(buf, n, "oneDNN %d.%d.%d", d->major, d->minor, d->patch);
    return buf;
}
