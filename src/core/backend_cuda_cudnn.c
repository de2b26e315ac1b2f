/* CUDA backend, convolution and pooling on cuDNN's legacy API (still part of cuDNN 9).
 * Each convolution is planned once per shape: descriptors, and for each direction the
 * algorithm cuDNN's heuristics rank first among those allowed (core/cudnn_pick.h), whose
 * workspace grows the one workspace all convolutions share. Bias and ReLU are one extra kernel pass
 * after cudnnConvolutionForward: cuDNN's fused bias+activation call only supports ReLU with
 * one algorithm, which would tie the algorithm choice to the fusion. */
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/backend_cuda_internal.h"
#include "core/check_cuda.h"
#include "core/cudnn_pick.h"

/* A single direction may not ask for more workspace than this: the FFT algorithms can want
 * gigabytes at large batches, and a slightly slower algorithm is better than running out. */
#define WORKSPACE_CAP ((size_t)512 << 20)

static void *xcalloc(size_t size, const char *what)
{
    void *p = gnet_calloc(1, size, what);
    if (!p)
        gnet_fatal(1);
    return p;
}

static cudnnHandle_t handle_of(gnet_cuda_ctx *c) { return (cudnnHandle_t)gnet_cuda_cudnn(c); }
static cudaStream_t stream_of(gnet_cuda_ctx *c) { return (cudaStream_t)gnet_cuda_ctx_stream(c); }

static cudnnTensorDescriptor_t tensor_desc(gnet_shape s, cudnnDataType_t type)
{
    cudnnTensorDescriptor_t t;
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&t));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(t, CUDNN_TENSOR_NCHW, type, s.n, s.c, s.h, s.w));
    return t;
}

/* ---------- convolution ---------- */

static size_t weight_count(const gnet_conv_desc *d)
{
    return (size_t)d->out.c * d->in.c * d->k * d->k;
}

#define DIR_FWD GNET_CONV_FWD
#define DIR_DATA GNET_CONV_DATA
#define DIR_FILTER GNET_CONV_FILTER
typedef gnet_conv_dir conv_dir;

/* One direction's plan: cuDNN's candidates, the order to try them in (cudnn_pick.h) and the
 * one in use (order[at]); its math type is set on the descriptor before each call (one
 * descriptor serves all three directions). */
typedef struct {
    gnet_cudnn_candidate *cand;
    int *order;
    int n_order, at;
} conv_plan;

struct gnet_conv {
    gnet_cuda_ctx *c;
    gnet_conv_desc d;
    gnet_cuda_math math;             /* this layer's: the context's, or fp32 (see create) */
    cudnnTensorDescriptor_t x, y, b; /* in the operand type */
    cudnnTensorDescriptor_t y32;     /* the fp32 output gradient, for the bias gradient */
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    conv_plan plan[3]; /* by conv_dir */
    int has_data; /* the first layer's input gradient is never needed (its input is the image) */
};

static const gnet_cudnn_candidate *in_use(const gnet_conv *cv, conv_dir dir)
{
    const conv_plan *p = &cv->plan[dir];
    return &p->cand[p->order[p->at]];
}

/* bf16 math: the operands are bf16 copies in the context's stages. */
static int is_bf16(const gnet_conv *cv) { return cv->math == GNET_CUDA_BF16; }

static void conv_descriptors(gnet_conv *cv)
{
    const gnet_conv_desc *d = &cv->d;
    gnet_shape bias = {1, d->out.c, 1, 1};
    cudnnDataType_t type = is_bf16(cv) ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    cv->x = tensor_desc(d->in, type);
    cv->y = tensor_desc(d->out, type);
    cv->y32 = tensor_desc(d->out, CUDNN_DATA_FLOAT);
    cv->b = tensor_desc(bias, CUDNN_DATA_FLOAT);
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&cv->w));
    CUDNN_CHECK(
        cudnnSetFilter4dDescriptor(cv->w, type, CUDNN_TENSOR_NCHW, d->out.c, d->in.c, d->k, d->k));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&cv->conv));
    /* The compute type stays fp32 (accumulation) with bf16 operands too. */
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(cv->conv, d->pad, d->pad, d->stride, d->stride, 1,
                                                1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    int n, c, h, w;
    CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(cv->conv, cv->x, cv->w, &n, &c, &h, &w));
    if (n != d->out.n || c != d->out.c || h != d->out.h || w != d->out.w) {
        gnet_errorf(
            "convolution plan: cuDNN's output %dx%dx%dx%d differs from the model's %dx%dx%dx%d", n,
            c, h, w, d->out.n, d->out.c, d->out.h, d->out.w);
        gnet_fatal(1);
    }
}

static void free_plans(gnet_conv *cv)
{
    for (int i = 0; i < 3; i++) {
        free(cv->plan[i].cand);
        free(cv->plan[i].order);
        cv->plan[i] = (conv_plan){0};
    }
}

static void destroy_descriptors(gnet_conv *cv)
{
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(cv->x));
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(cv->y));
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(cv->b));
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(cv->y32));
    CUDNN_CHECK(cudnnDestroyFilterDescriptor(cv->w));
    CUDNN_CHECK(cudnnDestroyConvolutionDescriptor(cv->conv));
    free_plans(cv);
}

/* The workspace `algo` needs in direction dir, with the math type now on the descriptor. */
static cudnnStatus_t workspace_of(const gnet_conv *cv, cudnnHandle_t h, conv_dir dir, int algo,
                                  size_t *bytes)
{
    switch (dir) {
    case DIR_FWD:
        return cudnnGetConvolutionForwardWorkspaceSize(h, cv->x, cv->w, cv->conv, cv->y,
                                                       (cudnnConvolutionFwdAlgo_t)algo, bytes);
    case DIR_DATA:
        return cudnnGetConvolutionBackwardDataWorkspaceSize(
            h, cv->w, cv->y, cv->conv, cv->x, (cudnnConvolutionBwdDataAlgo_t)algo, bytes);
    case DIR_FILTER: break;
    }
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(
        h, cv->x, cv->y, cv->conv, cv->w, (cudnnConvolutionBwdFilterAlgo_t)algo, bytes);
}

/* The three perf structs have the same fields under different algorithm types. */
#define CANDIDATES(perf, n, out)                        \
    for (int i_ = 0; i_ < (n); i_++) {                  \
        (out)[i_].algo = (int)(perf)[i_].algo;          \
        (out)[i_].status = (perf)[i_].status;           \
        (out)[i_].determinism = (perf)[i_].determinism; \
        (out)[i_].math = (perf)[i_].mathType;           \
    }

/* cuDNN's ranking for one direction, asked with the layer's rank math type, for as many
 * algorithms as this cuDNN has (its MaxCount, not the headers' enum counts): a calloc'd
 * list of *n. */
static gnet_cudnn_candidate *ranked(gnet_conv *cv, cudnnHandle_t h, conv_dir dir, int *n)
{
    int max = 0;
    CUDNN_CHECK(cudnnSetConvolutionMathType(cv->conv, gnet_cudnn_rank_math(cv->math)));
    if (dir == DIR_FWD)
        CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max));
    else if (dir == DIR_DATA)
        CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max));
    else
        CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max));
    int want = gnet_cudnn_request_count(max);
    gnet_cudnn_candidate *c = xcalloc((size_t)want * sizeof *c, "cuDNN's algorithm list");
    *n = 0;
    if (dir == DIR_FWD) {
        cudnnConvolutionFwdAlgoPerf_t *perf = xcalloc((size_t)want * sizeof *perf, "cuDNN perf");
        CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, cv->x, cv->w, cv->conv, cv->y, want,
                                                           n, perf));
        CANDIDATES(perf, *n, c);
        free(perf);
    } else if (dir == DIR_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t *perf =
            xcalloc((size_t)want * sizeof *perf, "cuDNN perf");
        CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, cv->w, cv->y, cv->conv, cv->x,
                                                                want, n, perf));
        CANDIDATES(perf, *n, c);
        free(perf);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t *perf =
            xcalloc((size_t)want * sizeof *perf, "cuDNN perf");
        CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, cv->x, cv->y, cv->conv, cv->w,
                                                                  want, n, perf));
        CANDIDATES(perf, *n, c);
        free(perf);
    }
    return c;
}

/* Each candidate's real workspace, asked with its own math type on the descriptor (not the
 * heuristic's estimate), and whether it fits the cap. */
static void size_workspaces(gnet_conv *cv, cudnnHandle_t h, conv_dir dir, gnet_cudnn_candidate *c,
                            int n)
{
    for (int i = 0; i < n; i++) {
        if (c[i].status != CUDNN_STATUS_SUCCESS || !gnet_cudnn_math_allowed(c[i].math, cv->math))
            continue;
        CUDNN_CHECK(cudnnSetConvolutionMathType(cv->conv, c[i].math));
        c[i].fits = workspace_of(cv, h, dir, c[i].algo, &c[i].workspace) == CUDNN_STATUS_SUCCESS &&
                    c[i].workspace <= WORKSPACE_CAP;
    }
}

/* A layer's name in plan lines and errors. */
static void layer_name(const gnet_conv_desc *d, char *buf, size_t n)
{
    (void)snprintf(buf, n, "conv %dx%d/%d %d->%d @%dx%d batch %d", d->k, d->k, d->stride, d->in.c,
                   d->out.c, d->in.h, d->in.w, d->in.n);
}

/* With GNET_CUDNN_PLANS=1: one line for the direction's plan now in use. */
static void plan_line(const gnet_conv *cv, conv_dir dir, const char *fallback)
{
    if (!gnet_cuda_ctx_plan_log(cv->c))
        return;
    char layer[96], line[384];
    layer_name(&cv->d, layer, sizeof layer);
    gnet_infof("%s",
               gnet_cudnn_plan_line(line, sizeof line, layer, dir, in_use(cv, dir), fallback));
}

/* Plans the directions the layer needs (the backward ones deterministic first, unless the
 * context was created with GNET_CUDNN_DETERMINISTIC=0; cuDNN marks only backward algorithms
 * non-deterministic): -1 and the direction that has no usable algorithm, or 0. */
static int plan_all(gnet_conv *cv, conv_dir *failed)
{
    cudnnHandle_t h = handle_of(cv->c);
    int deterministic = gnet_cuda_ctx_deterministic(cv->c);
    for (int dir = DIR_FWD; dir <= DIR_FILTER; dir++) {
        if (dir == DIR_DATA && !cv->has_data)
            continue;
        conv_plan *p = &cv->plan[dir];
        int n = 0;
        p->cand = ranked(cv, h, (conv_dir)dir, &n);
        size_workspaces(cv, h, (conv_dir)dir, p->cand, n);
        p->order = xcalloc((size_t)(n > 0 ? n : 1) * sizeof *p->order, "cuDNN's algorithm order");
        p->n_order =
            gnet_cudnn_order(p->cand, n, cv->math, deterministic && dir != DIR_FWD, p->order);
        if (p->n_order == 0) {
            *failed = (conv_dir)dir;
            return -1;
        }
    }
    return 0;
}

static void no_algorithm(const gnet_conv_desc *d, conv_dir dir)
{
    static const char *const names[] = {"forward", "backward-data", "backward-filter"};
    char layer[96];
    layer_name(d, layer, sizeof layer);
    gnet_errorf("cuDNN offers no usable %s algorithm for %s", names[dir], layer);
    gnet_fatal(1);
}

/* The workspace and bf16 stages the plans in use need. */
static void reserve_buffers(gnet_conv *cv)
{
    const gnet_conv_desc *d = &cv->d;
    if (is_bf16(cv)) {
        gnet_cuda_stage_reserve(cv->c, GNET_CUDA_STAGE_IN, gnet_shape_count(d->in));
        gnet_cuda_stage_reserve(cv->c, GNET_CUDA_STAGE_OUT, gnet_shape_count(d->out));
        gnet_cuda_stage_reserve(cv->c, GNET_CUDA_STAGE_W, weight_count(d));
    }
    size_t need = 0;
    for (int i = 0; i < 3; i++)
        if (cv->plan[i].n_order > 0 && in_use(cv, (conv_dir)i)->workspace > need)
            need = in_use(cv, (conv_dir)i)->workspace;
    gnet_cuda_workspace_reserve(cv->c, need);
}

/* Plans the layer in `math`: 0, or -1 and the direction without an algorithm. */
static int plan_in(gnet_conv *cv, gnet_cuda_math math, conv_dir *failed)
{
    cv->math = math;
    conv_descriptors(cv);
    return plan_all(cv, failed);
}

static void log_plans(const gnet_conv *cv, const char *fallback)
{
    for (int i = 0; i < 3; i++)
        if (cv->plan[i].n_order > 0)
            plan_line(cv, (conv_dir)i, fallback);
}

/* bf16 -> fp32 for the whole layer (why: the reason, for the plan lines); fatal when fp32 has
 * no algorithm either. */
static void to_fp32(gnet_conv *cv, const char *why)
{
    char fallback[160];
    conv_dir failed = DIR_FWD;
    destroy_descriptors(cv);
    if (plan_in(cv, GNET_CUDA_FP32, &failed))
        no_algorithm(&cv->d, failed);
    (void)snprintf(fallback, sizeof fallback, "bf16 -> fp32 for this layer: %s", why);
    reserve_buffers(cv);
    log_plans(cv, fallback);
}

static gnet_conv *cuda_conv_create(gnet_backend *be, const gnet_conv_desc *d)
{
    gnet_conv *cv = xcalloc(sizeof *cv, "a convolution's cuDNN plan");
    cv->c = be->ctx;
    cv->d = *d;
    cv->has_data = d->in.c > 1;
    conv_dir failed = DIR_FWD;
    if (plan_in(cv, gnet_cuda_ctx_math(cv->c), &failed) == 0) {
        reserve_buffers(cv);
        log_plans(cv, NULL);
    } else if (is_bf16(cv)) {
        /* cuDNN may have no bf16 algorithm for a layer (the first one's single input channel
         * is the likely case): that layer computes in fp32. */
        static const char *const names[] = {"forward", "backward-data", "backward-filter"};
        char why[96];
        (void)snprintf(why, sizeof why, "no bf16 %s algorithm", names[failed]);
        to_fp32(cv, why);
    } else {
        no_algorithm(d, failed);
    }
    return cv;
}

/* A cuDNN call of direction dir failed with st (not a checked call: a bf16 algorithm that
 * fails at execution falls back). bf16: the next candidate in the order, then fp32 for the
 * layer; the caller runs the call again. fp32 and tf32: fatal, as a checked call is. */
static void recover(gnet_conv *cv, conv_dir dir, cudnnStatus_t st, const char *call)
{
    char why[192], name[24];
    conv_plan *p = &cv->plan[dir];
    if (!is_bf16(cv)) {
        gnet_errorf("cuDNN: %s: %s", call, cudnnGetErrorString(st));
        gnet_fatal(1);
    }
    (void)snprintf(why, sizeof why, "bf16 %s failed at execution (%s)",
                   gnet_cudnn_algo_name(dir, in_use(cv, dir)->algo, name, sizeof name),
                   cudnnGetErrorString(st));
    if (p->at + 1 < p->n_order) {
        p->at++;
        gnet_cuda_workspace_reserve(cv->c, in_use(cv, dir)->workspace);
        char fallback[224];
        (void)snprintf(fallback, sizeof fallback, "after %s: the next candidate", why);
        plan_line(cv, dir, fallback);
        return;
    }
    to_fp32(cv, why);
}

/* bf16 math: the operands go through bf16 copies (one convolution at a time uses the stages). */
static const void *as_bf16(gnet_conv *cv, int stage, const float *src, size_t count)
{
    void *dst = gnet_cuda_stage(cv->c, stage);
    CUDA_CHECK(gnet_cuda_to_bf16(stream_of(cv->c), src, dst, count));
    return dst;
}

static cudnnStatus_t try_forward(gnet_conv *cv, const float *x, const float *w, float *y, void **ys)
{
    const float one = 1.0f, zero = 0.0f;
    const gnet_conv_desc *d = &cv->d;
    const void *xs = x, *ws = w;
    *ys = y;
    if (is_bf16(cv)) {
        xs = as_bf16(cv, GNET_CUDA_STAGE_IN, x, gnet_shape_count(d->in));
        ws = as_bf16(cv, GNET_CUDA_STAGE_W, w, weight_count(d));
        *ys = gnet_cuda_stage(cv->c, GNET_CUDA_STAGE_OUT);
    }
    const gnet_cudnn_candidate *p = in_use(cv, DIR_FWD);
    CUDNN_CHECK(cudnnSetConvolutionMathType(cv->conv, p->math));
    return cudnnConvolutionForward(handle_of(cv->c), &one, cv->x, xs, cv->w, ws, cv->conv,
                                   (cudnnConvolutionFwdAlgo_t)p->algo, gnet_cuda_workspace(cv->c),
                                   p->workspace, &zero, cv->y, *ys);
}

static void cuda_conv_forward(gnet_conv *cv, const float *x, const float *w, const float *b,
                              float *y)
{
    void *ys = y;
    cudnnStatus_t st;
    while ((st = try_forward(cv, x, w, y, &ys)) != CUDNN_STATUS_SUCCESS)
        recover(cv, DIR_FWD, st, "cudnnConvolutionForward");
    const gnet_shape o = cv->d.out;
    if (is_bf16(cv))
        CUDA_CHECK(
            gnet_cuda_bias_act_bf16(stream_of(cv->c), ys, y, b, o.n, o.c, o.h * o.w, cv->d.relu));
    else
        CUDA_CHECK(gnet_cuda_bias_act(stream_of(cv->c), y, b, o.n, o.c, o.h * o.w, cv->d.relu));
}

static cudnnStatus_t try_backward_data(gnet_conv *cv, const float *dy, const float *w, float *dx)
{
    const float one = 1.0f, zero = 0.0f;
    const gnet_conv_desc *d = &cv->d;
    const void *dys = dy, *ws = w;
    void *dxs = dx;
    if (is_bf16(cv)) {
        dys = as_bf16(cv, GNET_CUDA_STAGE_OUT, dy, gnet_shape_count(d->out));
        ws = as_bf16(cv, GNET_CUDA_STAGE_W, w, weight_count(d));
        dxs = gnet_cuda_stage(cv->c, GNET_CUDA_STAGE_IN);
    }
    const gnet_cudnn_candidate *p = in_use(cv, DIR_DATA);
    CUDNN_CHECK(cudnnSetConvolutionMathType(cv->conv, p->math));
    cudnnStatus_t st =
        cudnnConvolutionBackwardData(handle_of(cv->c), &one, cv->w, ws, cv->y, dys, cv->conv,
                                     (cudnnConvolutionBwdDataAlgo_t)p->algo,
                                     gnet_cuda_workspace(cv->c), p->workspace, &zero, cv->x, dxs);
    if (st == CUDNN_STATUS_SUCCESS && is_bf16(cv))
        CUDA_CHECK(gnet_cuda_from_bf16(stream_of(cv->c), dxs, dx, gnet_shape_count(d->in), 0));
    return st;
}

static void cuda_conv_backward_data(gnet_conv *cv, const float *dy, const float *w, float *dx)
{
    if (!cv->has_data) {
        gnet_errorf("conv_backward_data called on a layer planned without an input gradient");
        gnet_fatal(1);
    }
    cudnnStatus_t st;
    while ((st = try_backward_data(cv, dy, w, dx)) != CUDNN_STATUS_SUCCESS)
        recover(cv, DIR_DATA, st, "cudnnConvolutionBackwardData");
}

/* bf16: the filter gradient comes out in bf16 and is added to the fp32 arena after. */
static cudnnStatus_t try_backward_filter(gnet_conv *cv, const float *x, const float *dy, float *dw,
                                         int accumulate)
{
    const float one = 1.0f, zero = 0.0f, beta = accumulate ? 1.0f : 0.0f;
    const gnet_conv_desc *d = &cv->d;
    const void *xs = x, *dys = dy;
    void *dws = dw;
    if (is_bf16(cv)) {
        xs = as_bf16(cv, GNET_CUDA_STAGE_IN, x, gnet_shape_count(d->in));
        dys = as_bf16(cv, GNET_CUDA_STAGE_OUT, dy, gnet_shape_count(d->out));
        dws = gnet_cuda_stage(cv->c, GNET_CUDA_STAGE_W);
    }
    const gnet_cudnn_candidate *p = in_use(cv, DIR_FILTER);
    CUDNN_CHECK(cudnnSetConvolutionMathType(cv->conv, p->math));
    cudnnStatus_t st = cudnnConvolutionBackwardFilter(
        handle_of(cv->c), &one, cv->x, xs, cv->y, dys, cv->conv,
        (cudnnConvolutionBwdFilterAlgo_t)p->algo, gnet_cuda_workspace(cv->c), p->workspace,
        is_bf16(cv) ? &zero : &beta, cv->w, dws);
    if (st == CUDNN_STATUS_SUCCESS && is_bf16(cv))
        CUDA_CHECK(gnet_cuda_from_bf16(stream_of(cv->c), dws, dw, weight_count(d), accumulate));
    return st;
}

static void cuda_conv_backward_filter(gnet_conv *cv, const float *x, const float *dy, float *dw,
                                      float *db, int accumulate)
{
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    cudnnStatus_t st;
    while ((st = try_backward_filter(cv, x, dy, dw, accumulate)) != CUDNN_STATUS_SUCCESS)
        recover(cv, DIR_FILTER, st, "cudnnConvolutionBackwardFilter");
    CUDNN_CHECK(
        cudnnConvolutionBackwardBias(handle_of(cv->c), &one, cv->y32, dy, &beta, cv->b, db));
}

static void cuda_conv_destroy(gnet_conv *cv)
{
    if (!cv)
        return;
    destroy_descriptors(cv);
    free(cv);
}

/* ---------- pooling ---------- */

struct gnet_pool {
    gnet_cuda_ctx *c;
    cudnnPoolingDescriptor_t pool;
    cudnnTensorDescriptor_t x, y;
    /* cuDNN's backward recomputes the routing from x and y instead of keeping an argmax
     * workspace: the last forward's buffers, which the model keeps until backward. */
    const float *last_x, *last_y;
};

static gnet_pool *cuda_pool_create(gnet_backend *be, const gnet_pool_desc *d)
{
    gnet_pool *p = xcalloc(sizeof *p, "a pooling layer's cuDNN plan");
    p->c = be->ctx;
    p->x = tensor_desc(d->in, CUDNN_DATA_FLOAT);
    p->y = tensor_desc(d->out, CUDNN_DATA_FLOAT);
    /* MAX_DETERMINISTIC routes a tie's gradient to one input, like PyTorch and oneDNN.
     * test_cuda_ops checks the padded windows against the CPU backend on signed inputs. */
    cudnnPoolingMode_t mode = d->alg == GNET_POOL_MAX ? CUDNN_POOLING_MAX_DETERMINISTIC
                                                      : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING;
    CUDNN_CHECK(cudnnCreatePoolingDescriptor(&p->pool));
    CUDNN_CHECK(cudnnSetPooling2dDescriptor(p->pool, mode, CUDNN_PROPAGATE_NAN, d->k, d->k, d->pad,
                                            d->pad, d->stride, d->stride));
    int n, c, h, w;
    CUDNN_CHECK(cudnnGetPooling2dForwardOutputDim(p->pool, p->x, &n, &c, &h, &w));
    if (n != d->out.n || c != d->out.c || h != d->out.h || w != d->out.w) {
        gnet_errorf("pooling plan: cuDNN's output %dx%dx%dx%d differs from the model's %dx%dx%dx%d",
                    n, c, h, w, d->out.n, d->out.c, d->out.h, d->out.w);
        gnet_fatal(1);
    }
    return p;
}

static void cuda_pool_forward(gnet_pool *p, const float *x, float *y)
{
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnPoolingForward(handle_of(p->c), p->pool, &one, p->x, x, &zero, p->y, y));
    p->last_x = x;
    p->last_y = y;
}

static void cuda_pool_backward(gnet_pool *p, const float *dy, float *dx)
{
    if (!p->last_x) {
        gnet_errorf("pool_backward called before pool_forward");
        gnet_fatal(1);
    }
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnPoolingBackward(handle_of(p->c), p->pool, &one, p->y, p->last_y, p->y, dy,
                                     p->x, p->last_x, &zero, p->x, dx));
}

static void cuda_pool_destroy(gnet_pool *p)
{
    if (!p)
        return;
    CUDNN_CHECK(cudnnDestroyPoolingDescriptor(p->pool));
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->x));
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(p->y));
    free(p);
}

void gnet_cuda_conv_install(gnet_backend *be)
{
    be->conv_create = cuda_conv_create;
    be->conv_destroy = cuda_conv_destroy;
    be->conv_forward = cuda_conv_forward;
    be->conv_backward_data = cuda_conv_backward_data;
    be->conv_backward_filter = cuda_conv_backward_filter;
    be->pool_create = cuda_pool_create;
    be->pool_destroy = cuda_pool_destroy;
    be->pool_forward = cuda_pool_forward;
    be->pool_backward = cuda_pool_backward;
}
