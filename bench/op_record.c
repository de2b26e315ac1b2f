#include "op_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"

/* The recorder's plans: the descriptor only. Handed out cast to gnet_conv / gnet_pool (each
 * backend completes those types its own way; this file completes neither). */
typedef struct {
    gnet_conv_desc d;
    op_list *l;
} rec_conv;
typedef struct {
    gnet_pool_desc d;
    op_list *l;
} rec_pool;

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "op_record: out of host memory\n");
        exit(2);
    }
    return p;
}

/* Counts a call of (kind, key), adding the op at its first call. */
static void note(op_list *l, op_kind kind, const long *key, int len)
{
    op_rec r = {.kind = kind, .calls = 1};
    memcpy(r.key, key, (size_t)len * sizeof *key);
    for (int i = 0; i < l->n; i++)
        if (l->ops[i].kind == kind && memcmp(l->ops[i].key, r.key, sizeof r.key) == 0) {
            l->ops[i].calls++;
            return;
        }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->ops = realloc(l->ops, (size_t)l->cap * sizeof *l->ops);
        if (!l->ops) {
            fprintf(stderr, "op_record: out of host memory\n");
            exit(2);
        }
    }
    l->ops[l->n++] = r;
}

/* The recording backend needs somewhere to point: calloc, which the kernel maps lazily, so
 * that even batch 1024's activations cost address space, not memory (nothing writes them). */
static float *rec_alloc(gnet_backend *be, size_t count)
{
    (void)be;
    return xcalloc(count, sizeof(float));
}

static void rec_free(gnet_backend *be, float *p)
{
    (void)be;
    free(p);
}

/* NCHW without padding: the counts element-wise ops get are the CUDA backend's. */
static size_t rec_act_count(gnet_backend *be, gnet_shape s)
{
    (void)be;
    return gnet_shape_count(s);
}

/* A conv record's key: the descriptor, and (the filter gradient) whether it accumulates. */
static void conv_note(gnet_conv *plan, op_kind kind, int accumulate)
{
    const rec_conv *c = (const rec_conv *)plan;
    const gnet_conv_desc *d = &c->d;
    long k[OP_KEY_LEN] = {d->in.n, d->in.c, d->in.h, d->in.w, d->out.c, d->out.h,
                          d->out.w, d->k,    d->stride, d->pad, d->relu, accumulate};
    note(c->l, kind, k, OP_KEY_LEN);
}

static gnet_conv *rec_conv_create(gnet_backend *be, const gnet_conv_desc *d)
{
    rec_conv *c = xcalloc(1, sizeof *c);
    c->d = *d;
    c->l = be->ctx;
    return (gnet_conv *)c;
}

static void rec_conv_destroy(gnet_conv *c) { free(c); }

static void rec_conv_forward(gnet_conv *c, const float *x, const float *w, const float *b, float *y)
{
    (void)x, (void)w, (void)b, (void)y;
    conv_note(c, OP_CONV_FWD, 0);
}

static void rec_conv_data(gnet_conv *c, const float *dy, const float *w, float *dx)
{
    (void)dy, (void)w, (void)dx;
    conv_note(c, OP_CONV_DATA, 0);
}

static void rec_conv_filter(gnet_conv *c, const float *x, const float *dy, float *dw, float *db,
                            int accumulate)
{
    (void)x, (void)dy, (void)dw, (void)db;
    conv_note(c, OP_CONV_FILTER, accumulate);
}

static gnet_pool *rec_pool_create(gnet_backend *be, const gnet_pool_desc *d)
{
    rec_pool *p = xcalloc(1, sizeof *p);
    p->d = *d;
    p->l = be->ctx;
    return (gnet_pool *)p;
}

static void rec_pool_destroy(gnet_pool *p) { free(p); }

static void pool_note(gnet_pool *p, op_kind kind)
{
    const gnet_pool_desc *d = &((rec_pool *)p)->d;
    long k[] = {d->alg, d->in.n, d->in.c, d->in.h, d->in.w, d->out.h, d->out.w, d->k, d->stride, d->pad};
    note(((rec_pool *)p)->l, kind, k, (int)(sizeof k / sizeof k[0]));
}

static void rec_pool_forward(gnet_pool *p, const float *x, float *y)
{
    (void)x, (void)y;
    pool_note(p, OP_POOL_FWD);
}

static void rec_pool_backward(gnet_pool *p, const float *dy, float *dx)
{
    (void)dy, (void)dx;
    pool_note(p, OP_POOL_BWD);
}

static void rec_relu_backward(gnet_backend *be, const float *y, float *dy, size_t count)
{
    (void)y, (void)dy;
    note(be->ctx, OP_RELU_BWD, (long[]){(long)count}, 1);
}

static void rec_add(gnet_backend *be, float *dst, const float *src, size_t count)
{
    (void)dst, (void)src;
    note(be->ctx, OP_ADD, (long[]){(long)count}, 1);
}

static void rec_copy_channels(gnet_backend *be, float *dst, int dst_c, int dst_off, const float *src,
                              int src_c, int src_off, int c, int n, int hw)
{
    (void)dst, (void)src;
    note(be->ctx, OP_COPY_CHANNELS, (long[]){dst_c, dst_off, src_c, src_off, c, n, hw}, 7);
}

static void rec_linear_forward(gnet_backend *be, int n, int in, int out, const float *x,
                               const float *w, const float *b, float *y)
{
    (void)x, (void)w, (void)b, (void)y;
    note(be->ctx, OP_LINEAR_FWD, (long[]){n, in, out}, 3);
}

static void rec_linear_backward(gnet_backend *be, int n, int in, int out, const float *x,
                                const float *w, const float *dy, float *dx, float *dw, float *db,
                                int accumulate)
{
    (void)x, (void)w, (void)dy, (void)dw, (void)db;
    note(be->ctx, OP_LINEAR_BWD, (long[]){n, in, out, dx != NULL, accumulate}, 5);
}

static void rec_softmax_xent(gnet_backend *be, int n, int classes, const float *logits,
                             const int32_t *labels, float label_smoothing, float grad_scale,
                             float *dlogits)
{
    (void)logits, (void)labels, (void)label_smoothing, (void)grad_scale, (void)dlogits;
    note(be->ctx, OP_XENT, (long[]){n, classes}, 2);
}

static void rec_sgd(gnet_backend *be, float *p, const float *g, float *buf, size_t count, float lr,
                    float m, float wd, int nesterov, int first_step, float scale)
{
    (void)p, (void)g, (void)buf, (void)lr, (void)m, (void)wd, (void)nesterov, (void)first_step, (void)scale;
    note(be->ctx, OP_SGD, (long[]){(long)count}, 1);
}

static double rec_sumsq(gnet_backend *be, const float *a, const float *b, size_t count)
{
    (void)a;
    note(be->ctx, OP_SUMSQ, (long[]){(long)count, b != NULL}, 2);
    return 0.0;
}

static void rec_copy(gnet_backend *be, float *dst, const float *src, size_t count)
{
    (void)dst, (void)src;
    note(be->ctx, OP_COPY, (long[]){(long)count}, 1);
}

static void rec_tally_close(gnet_backend *be) { (void)be; }

static void install(gnet_backend *be, op_list *l)
{
    *be = (gnet_backend){.name = "record", .threads = 1, .ctx = l};
    be->alloc = rec_alloc;
    be->free = rec_free;
    be->act_count = rec_act_count;
    be->conv_create = rec_conv_create;
    be->conv_destroy = rec_conv_destroy;
    be->conv_forward = rec_conv_forward;
    be->conv_backward_data = rec_conv_data;
    be->conv_backward_filter = rec_conv_filter;
    be->pool_create = rec_pool_create;
    be->pool_destroy = rec_pool_destroy;
    be->pool_forward = rec_pool_forward;
    be->pool_backward = rec_pool_backward;
    be->relu_backward = rec_relu_backward;
    be->add = rec_add;
    be->copy_channels = rec_copy_channels;
    be->linear_forward = rec_linear_forward;
    be->linear_backward = rec_linear_backward;
    be->softmax_xent = rec_softmax_xent;
    be->tally_close = rec_tally_close;
    be->sgd = rec_sgd;
    be->sumsq = rec_sumsq;
    be->copy = rec_copy;
}

int op_record_step(op_list *l, int batch, int size)
{
    gnet_backend be;
    memset(l, 0, sizeof *l);
    install(&be, l);
    gnet_model *m = gnet_model_create(&be, batch, size);
    if (!m)
        return -1;
    float *x = be.alloc(&be, (size_t)batch * size * size);
    gnet_model_forward(m, x);
    be.softmax_xent(&be, batch, GNET_CLASSES, m->logits, NULL, 0.0f, 1.0f / (float)batch, m->dlogits);
    gnet_model_backward(m, 0, NULL);
    /* The trainer's update (the replay runs it with momentum and weight decay: every term). */
    be.sgd(&be, m->params, m->grads, NULL, m->n_weights, 0.05f, 0.0f, 0.0f, 0, 0, 1.0f);
    be.sumsq(&be, m->grads, NULL, m->n_weights);
    be.copy(&be, m->grads, m->grads, m->n_weights);
    be.free(&be, x);
    gnet_model_destroy(m);
    return 0;
}

void op_list_free(op_list *l)
{
    free(l->ops);
    memset(l, 0, sizeof *l);
}

gnet_conv_desc op_conv_desc(const op_rec *r)
{
    const long *k = r->key;
    return (gnet_conv_desc){.in = {(int)k[0], (int)k[1], (int)k[2], (int)k[3]},
                            .out = {(int)k[0], (int)k[4], (int)k[5], (int)k[6]},
                            .k = (int)k[7],
                            .stride = (int)k[8],
                            .pad = (int)k[9],
                            .relu = (int)k[10]};
}

gnet_pool_desc op_pool_desc(const op_rec *r)
{
    const long *k = r->key;
    return (gnet_pool_desc){.alg = (gnet_pool_alg)k[0],
                            .in = {(int)k[1], (int)k[2], (int)k[3], (int)k[4]},
                            .out = {(int)k[1], (int)k[2], (int)k[5], (int)k[6]},
                            .k = (int)k[7],
                            .stride = (int)k[8],
                            .pad = (int)k[9]};
}
