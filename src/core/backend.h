/* The op table a training step needs, implemented by the CPU backend (oneDNN; always built,
 * the reference) and the CUDA backend (cuDNN/cuBLAS). Ops are planned once per shape
 * (conv/pool plans hold their primitives, reordered-weight buffers and workspaces) so that
 * nothing is allocated inside the step. Buffers are backend memory (alloc/free); parameters
 * and gradients are plain (OIHW, row-major) slices of the arenas; activations use the
 * backend's layout (see tensor.h). Every op runs in order on the backend's one compute
 * stream; sync() waits for all of them.
 *
 * What the host waits for: an op returns once its work is queued, except where noted (the
 * result is wanted on the host: download, sumsq, sync, tally_take). The loss and accuracy
 * sums are read late through tallies (softmax_xent adds to one; tally_close queues it;
 * tally_take hands it over), so a step need not wait for its own loss. */
#ifndef GNET_BACKEND_H
#define GNET_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

typedef struct gnet_conv gnet_conv;
typedef struct gnet_pool gnet_pool;

typedef struct {
    gnet_shape in, out; /* out.c = output channels */
    int k, stride, pad; /* square kernel, symmetric padding (PyTorch semantics) */
    int relu;           /* fuse ReLU into the forward */
} gnet_conv_desc;

typedef enum { GNET_POOL_MAX, GNET_POOL_AVG } gnet_pool_alg;

typedef struct {
    gnet_pool_alg alg;
    gnet_shape in, out;
    int k, stride, pad; /* max: padding counts as -inf, floor mode; avg: no padding */
} gnet_pool_desc;

/* The per-step scalars of the adam op: the betas and eps as configured, c1 = 1 - beta1 and
 * c2 = 1 - beta2; bc1 = 1 - beta1^t and bc2_sqrt = sqrt(1 - beta2^t) at the 1-based step t;
 * AdamW: decay = 1 - lr*wd (its decoupled weight decay) and step_size = lr/bc1; LAMB: wd (0
 * for a bias). Computed in double on the host, as PyTorch computes them in Python, then
 * rounded to float. */
typedef struct {
    float beta1, c1, beta2, c2, eps, bc1, bc2_sqrt;
    float decay, step_size; /* AdamW */
    float wd;               /* LAMB */
} gnet_adam_args;

typedef struct gnet_backend gnet_backend;
struct gnet_backend {
    const char *name; /* "cpu" or "cuda" */
    int threads;
    void *ctx;
    void (*destroy)(gnet_backend *be);

    float *(*alloc)(gnet_backend *be, size_t count); /* zero-filled */
    void (*free)(gnet_backend *be, float *p);
    /* host may be reused as soon as upload returns; the copy itself may still be queued
     * (later ops see it). */
    void (*upload)(gnet_backend *be, float *dst, const float *host, size_t count);
    /* Uploads of up to count floats will come every micro-batch (the step's input): the
     * backend may prepare for them once, here (CUDA: pinned staging, so that such an upload
     * returns without waiting for the device). Called while the run is planned; may be
     * called again with a larger count. The CPU backend needs nothing. */
    void (*reserve_upload)(gnet_backend *be, size_t count);
    void (*download)(gnet_backend *be, float *host, const float *src, size_t count);
    void (*sync)(gnet_backend *be);
    /* Optional (NULL: none): called with on_wait_ctx between polls while the host waits for
     * the device inside an op (the CUDA backend; the CPU backend never waits), so that the
     * caller can watch something meanwhile: the trainer runs its communicator's watchdog
     * there (a hung all-reduce would otherwise hang the wait). It must not call the backend. */
    void (*on_wait)(void *ctx);
    void *on_wait_ctx;

    gnet_conv *(*conv_create)(gnet_backend *be, const gnet_conv_desc *d);
    void (*conv_destroy)(gnet_conv *c);
    /* y = relu?(conv(x, w) + b) */
    void (*conv_forward)(gnet_conv *c, const float *x, const float *w, const float *b, float *y);
    /* dx = conv_transpose(dy, w); dy is the gradient at the conv output (before ReLU). */
    void (*conv_backward_data)(gnet_conv *c, const float *dy, const float *w, float *dx);
    /* dw, db = gradients (OIHW, plain); accumulate: add to them instead of overwriting. */
    void (*conv_backward_filter)(gnet_conv *c, const float *x, const float *dy, float *dw,
                                 float *db, int accumulate);

    gnet_pool *(*pool_create)(gnet_backend *be, const gnet_pool_desc *d);
    void (*pool_destroy)(gnet_pool *p);
    void (*pool_forward)(gnet_pool *p, const float *x, float *y);
    /* dx = gradient routed back (overwrites dx). */
    void (*pool_backward)(gnet_pool *p, const float *dy, float *dx);

    /* dy[i] = y[i] > 0 ? dy[i] : 0  (ReLU backward from its output). */
    void (*relu_backward)(gnet_backend *be, const float *y, float *dy, size_t count);
    /* dst += src */
    void (*add)(gnet_backend *be, float *dst, const float *src, size_t count);
    /* Copy channels [src_off, src_off+c) of src (src_c channels) to [dst_off, dst_off+c) of
     * dst (dst_c channels), both n x * x hw: the Inception concat and its backward split.
     * Channel counts and offsets must be multiples of 16. */
    void (*copy_channels)(gnet_backend *be, float *dst, int dst_c, int dst_off, const float *src,
                          int src_c, int src_off, int c, int n, int hw);
    /* Floats an activation of shape s occupies in the backend layout (>= gnet_shape_count:
     * blocked layouts may pad channels). */
    size_t (*act_count)(gnet_backend *be, gnet_shape s);
    /* Convert one activation between the backend layout and plain NCHW (for tests/tools). */
    void (*to_nchw)(gnet_backend *be, gnet_shape s, const float *src, float *dst_host);
    void (*from_nchw)(gnet_backend *be, gnet_shape s, const float *src_host, float *dst);

    /* y[n,out] = x[n,in] w[out,in]^T + b */
    void (*linear_forward)(gnet_backend *be, int n, int in, int out, const float *x, const float *w,
                           const float *b, float *y);
    /* dx (may be NULL), dw, db (accumulate: add instead of overwrite). */
    void (*linear_backward)(gnet_backend *be, int n, int in, int out, const float *x,
                            const float *w, const float *dy, float *dx, float *dw, float *db,
                            int accumulate);
    /* Softmax cross-entropy over n rows of `classes` logits against the target distribution
     * q = (1 - label_smoothing) * onehot + label_smoothing / classes, label_smoothing in
     * [0, 1) (PyTorch's CrossEntropyLoss(label_smoothing=...); with 0, q is exactly the
     * onehot and no smoothing term is computed, so the plain loss's bits do not change).
     * Writes dlogits = (softmax - q) * grad_scale, and adds the summed loss (-sum_k q_k log
     * softmax_k per row) and the count of rows whose argmax equals the label to the running
     * tally (kept by the backend; nothing reaches the host here). labels (int32) are host or
     * backend memory; host labels may be reused as soon as it returns. */
    void (*softmax_xent)(gnet_backend *be, int n, int classes, const float *logits,
                         const int32_t *labels, float label_smoothing, float grad_scale,
                         float *dlogits);
    /* Ends the running tally (the softmax_xent calls since the last close; zeros when there
     * were none), queues it for tally_take, and starts a new one at zero. Does not wait
     * (CUDA: an asynchronous copy into pinned memory and an event, after all the work queued
     * so far). At most GNET_TALLIES_PENDING closed tallies may be untaken: more is a bug. */
    void (*tally_close)(gnet_backend *be);
    /* The oldest closed tally not yet taken: its loss sum and correct count. Waits only for
     * the work queued before its close (CPU: none). Taking when none is closed is a bug. */
    void (*tally_take)(gnet_backend *be, double *loss_sum, int64_t *correct);
    /* PyTorch SGD over count floats: d = scale*(g + wd*p); buf = m*buf + d (buf = d on the
     * first step); d = nesterov ? d + m*buf : buf (when m > 0); p -= lr*d. momentum_buf may
     * be NULL when m == 0. scale is 1 for SGD (then d is bit for bit PyTorch's), LARS's
     * trust ratio per tensor, or LAMB's (with m = wd = 0: p -= lr*(trust*dir); optim.h). */
    void (*sgd)(gnet_backend *be, float *p, const float *g, float *momentum_buf, size_t count,
                float lr, float m, float wd, int nesterov, int first_step, float scale);
    /* Adam's moments and direction over count floats, in torch.optim.AdamW's order of
     * operations (a: gnet_adam_args, its bias corrections computed by the caller per step):
     *   m = beta1*m + c1*g;  v = beta2*v + (c2*g)*g
     *   denom = sqrt(v)/bc2_sqrt + eps
     * then, with dir == NULL (AdamW): p = p*decay - (step_size*m)/denom;
     * with dir != NULL (LAMB): dir = (m/bc1)/denom + wd*p, and p is left as it is. The moment
     * buffers m and v start at zero (alloc), as PyTorch's exp_avg and exp_avg_sq do. */
    void (*adam)(gnet_backend *be, float *p, const float *g, float *m, float *v, float *dir,
                 size_t count, const gnet_adam_args *a);
    /* The sum of (a[i] - b[i])^2 over count floats (b NULL: of a[i]^2), accumulated in double,
     * returned to the host (waits for the stream): gradient and weight norms. */
    double (*sumsq)(gnet_backend *be, const float *a, const float *b, size_t count);
    /* a seen as `units` contiguous rows of `len` floats: out[u] = the sum of row u's squares,
     * accumulated in double, rounded to float (out: backend memory, units floats). Queued:
     * per-unit norms without a host wait per unit (gradient clipping, clip.h). */
    void (*unit_sumsq)(gnet_backend *be, const float *a, size_t units, size_t len, float *out);
    /* a[u*len + j] *= factor[u] for every unit u < units (factor: backend memory). */
    void (*scale_units)(gnet_backend *be, float *a, size_t units, size_t len, const float *factor);
    /* dst = src, both backend memory. */
    void (*copy)(gnet_backend *be, float *dst, const float *src, size_t count);
};

/* Closed tallies a backend holds for tally_take (the trainer keeps at most two). */
#define GNET_TALLIES_PENDING 4

/* softmax_xent with its sums wanted at once (tests, benchmarks): close, then take (waits for
 * the device). No other tally may be pending. */
static inline void gnet_softmax_xent_now(gnet_backend *be, int n, int classes, const float *logits,
                                         const int32_t *labels, float label_smoothing,
                                         float grad_scale, float *dlogits, double *loss_sum,
                                         int64_t *correct)
{
    be->softmax_xent(be, n, classes, logits, labels, label_smoothing, grad_scale, dlogits);
    be->tally_close(be);
    be->tally_take(be, loss_sum, correct);
}

/* The CPU backend on oneDNN, with `threads` OpenMP threads (0: all cores). */
gnet_backend *gnet_backend_cpu_create(int threads);
/* "oneDNN X.Y.Z", the library the CPU backend runs on, into buf[n]; returns buf. */
const char *gnet_backend_cpu_version(char *buf, size_t n);

#endif
