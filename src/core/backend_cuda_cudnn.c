/* CUDA backend, convolution and pooling on cuDNN's legacy API (still part of cuDNN 9).
 * Each convolution is planned once per shape: descriptors, and for each direction the
 * algorithm cuDNN's heuristics rank first among those allowed (see pick_*), whose workspace
 * grows the one workspace all convolutions share. Bias and ReLU are one extra kernel pass
 * after cudnnConvolutionForward: cuDNN's fused bias+activation call only supports ReLU with
 * one algorithm, which would tie the algorithm choice to the fusion. */
#include <stdlib.h>

#include "core/alloc.h"
#include "core/backend_cuda_internal.h"
#include "core/check_cuda.h"

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

/* ---------- algorithm choice ---------- */

/* One ranked result of cuDNN's heuristics, whatever the direction. */
typedef struct {
    int algo;
    cudnnStatus_t status;
    size_t memory;
    cudnnDeterminism_t determinism;
    cudnnMathType_t math;
} candidate;

/* The three perf structs have the same fields under different algorithm types. */
#define CANDIDATES(perf, n, out)                        \
    for (int i_ = 0; i_ < (n); i_++) {                  \
        (out)[i_].algo = (int)(perf)[i_].algo;          \
        (out)[i_].status = (perf)[i_].status;           \
        (out)[i_].memory = (perf)[i_].memory;           \
        (out)[i_].determinism = (perf)[i_].determinism; \
        (out)[i_].math = (perf)[i_].mathType;           \
    }

/* The math type the descriptor carries while cuDNN ranks algorithms: fp32 FMA only (TF32
 * tensor cores would break agreement with the CPU backend), tf32 cuDNN's default math (which
 * allows TF32, as PyTorch's allow_tf32 leaves it), bf16 tensor-op math. */
static cudnnMathType_t base_math(gnet_cuda_math m)
{
    return m == GNET_CUDA_FP32   ? CUDNN_FMA_MATH
           : m == GNET_CUDA_TF32 ? CUDNN_DEFAULT_MATH
                                 : CUDNN_TENSOR_OP_MATH;
}

/* Whether gnet's math lets a candidate run: fp32 never on tensor cores. */
static int math_allowed(const candidate *c, gnet_cuda_math math)
{
    if (c->status != CUDNN_STATUS_SUCCESS)
        return 0;
    return math != GNET_CUDA_FP32 ||
           (c->math != CUDNN_TENSOR_OP_MATH && c->math != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION);
}

static void no_algorithm(const gnet_conv_desc *d, const char *dir)
{
    gnet_errorf(
        "cuDNN offers no usable %s algorithm for a %dx%d convolution %dx%dx%d -> %d channels "
        "(batch %d)",
        dir, d->k, d->k, d->in.c, d->in.h, d->in.w, d->out.c, d->in.n);
    gnet_fatal(1);
}

/* ---------- convolution ---------- */

static size_t weight_count(const gnet_conv_desc *d)
{
    return (size_t)d->out.c * d->in.c * d->k * d->k;
}

typedef enum { DIR_FWD, DIR_DATA, DIR_FILTER } conv_dir;
static const char *const DIR_NAMES[] = {"forward", "backward-data", "backward-filter"};

/* One direction's choice: the algorithm, the math type it was ranked with (set on the
 * descriptor before each call: one descriptor serves all three directions) and its real
 * workspace. */
typedef struct {
    int algo;
    cudnnMathType_t math;
    size_t workspace;
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

static void destroy_descriptors(gnet_conv *cv)
{
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(cv->x));
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(cv->y));
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(cv->b));
    CUDNN_CHECK(cudnnDestroyTensorDescriptor(cv->y32));
    CUDNN_CHECK(cudnnDestroyFilterDescriptor(cv->w));
    CUDNN_CHECK(cudnnDestroyConvolutionDescriptor(cv->conv));
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

/* The best-ranked candidate the layer's math allows whose real workspace (asked with the
 * candidate's own math type on the descriptor, not the heuristic's estimate) fits the cap;
 * with want_deterministic a deterministic one when there is one (so that a run repeats bit
 * for bit on the same GPU). 0, or -1 when none. */
static int choose(gnet_conv *cv, cudnnHandle_t h, conv_dir dir, const candidate *c, int n,
                  int want_deterministic)
{
    for (int pass = want_deterministic ? 0 : 1; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            size_t bytes = 0;
            if (!math_allowed(&c[i], cv->math) ||
                (pass == 0 && c[i].determinism != CUDNN_DETERMINISTIC))
                continue;
            CUDNN_CHECK(cudnnSetConvolutionMathType(cv->conv, c[i].math));
            if (workspace_of(cv, h, dir, c[i].algo, &bytes) != CUDNN_STATUS_SUCCESS ||
                bytes > WORKSPACE_CAP)
                continue;
            cv->plan[dir] = (conv_plan){c[i].algo, c[i].math, bytes};
            return 0;
        }
    return -1;
}

/* cuDNN's ranking for one direction, asked with the layer's base math type. */
static int ranked(gnet_conv *cv, cudnnHandle_t h, conv_dir dir, candidate *c)
{
    int n = 0;
    CUDNN_CHECK(cudnnSetConvolutionMathType(cv->conv, base_math(cv->math)));
    if (dir == DIR_FWD) {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
            h, cv->x, cv->w, cv->conv, cv->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
        CANDIDATES(perf, n, c);
    } else if (dir == DIR_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
            h, cv->w, cv->y, cv->conv, cv->x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
        CANDIDATES(perf, n, c);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
            h, cv->x, cv->y, cv->conv, cv->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
        CANDIDATES(perf, n, c);
    }
    return n;
}

/* Plans the directions the layer needs (the backward ones deterministic when possible, unless
 * the context was created with GNET_CUDNN_DETERMINISTIC=0; cuDNN marks only backward
 * algorithms non-deterministic): -1 and the direction that has no algorithm, or 0. */
static int plan_all(gnet_conv *cv, conv_dir *failed)
{
    cudnnHandle_t h = handle_of(cv->c);
    int deterministic = gnet_cuda_ctx_deterministic(cv->c);
    candidate c[CUDNN_CONVOLUTION_FWD_ALGO_COUNT + CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT +
                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    for (int dir = DIR_FWD; dir <= DIR_FILTER; dir++) {
        if (dir == DIR_DATA && !cv->has_data)
            continue;
        int n = ranked(cv, h, (conv_dir)dir, c);
        if (choose(cv, h, (conv_dir)dir, c, n, deterministic && dir != DIR_FWD)) {
            *failed = (conv_dir)dir;
            return -1;
        }
    }
    return 0;
}

static gnet_conv *cuda_conv_create(gnet_backend *be, const gnet_conv_desc *d)
{
    gnet_conv *cv = xcalloc(sizeof *cv, "a convolution's cuDNN plan");
    cv->c = be->ctx;
    cv->d = *d;
    cv->has_data = d->in.c > 1;
    cv->math = gnet_cuda_ctx_math(cv->c);
    conv_descriptors(cv);
    conv_dir failed = DIR_FWD;
    int rc = plan_all(cv, &failed);
    if (rc && is_bf16(cv)) {
        /* cuDNN may have no bf16 algorithm for a layer (the first one's single input channel
         * is the likely case): that layer computes in fp32. */
        destroy_descriptors(cv);
        cv->math = GNET_CUDA_FP32;
        conv_descriptors(cv);
        rc = plan_all(cv, &failed);
    }
    if (rc)
        no_algorithm(d, DIR_NAMES[failed]);
    if (is_bf16(cv)) {
        gnet_cuda_stage_reserve(cv->c, GNET_CUDA_STAGE_IN, gnet_shape_count(d->in));
        gnet_cuda_stage_reserve(cv->c, GNET_CUDA_STAGE_OUT, gnet_shape_count(d->out));
        gnet_cuda_stage_reserve(cv->c, GNET_CUDA_STAGE_W, weight_count(d));
    }
    size_t need = 0;
    for (int i = 0; i < 3; i++)
        need = cv->plan[i].workspace > need ? cv->plan[i].workspace : need;
    gnet_cuda_workspace_reserve(cv->c, need);
    return cv;
}

/* bf16 math: the operands go through bf16 copies (one convolution at a time uses the stages). */
static const void *as_bf16(gnet_conv *cv, int stage, const float *src, size_t count)
{
    void *dst = gnet_cuda_stage(cv->c, stage);
    CUDA_CHECK(gnet_cuda_to_bf16(stream_of(cv->c), src, dst, count));
    return dst;
}

static void cuda_conv_forward(gnet_conv *cv, const float *x, const float *w, const float *b,
                              float *y)
{
    const float one = 1.0f, zero = 0.0f;
    const gnet_conv_desc *d = &cv->d;
    const void *xs = x, *ws = w;
    void *ys = y;
    if (is_bf16(cv)) {
        xs = as_bf16(cv, GNET_CUDA_STAGE_IN, x, gnet_shape_count(d->in));
        ws = as_bf16(cv, GNET_CUDA_STAGE_W, w, weight_count(d));
        ys = gnet_cuda_stage(cv->c, GNET_CUDA_STAGE_OUT);
    }
    const conv_plan *p = &cv->plan[DIR_FWD];
    CUDNN_CHECK(cudnnSetConvolutionMathType(cv->conv, p->math));
    CUDNN_CHECK(cudnnConvolutionForward(
        handle_of(cv->c), &one, cv->x, xs, cv->w, ws, cv->conv, (cudnnConvolutionFwdAlgo_t)p->algo,
        gnet_cuda_workspace(cv->c), p->workspace, &zero, cv->y, ys));
    const gnet_shape o = d->out;
    if (is_bf16(cv))
        CUDA_CHECK(
            gnet_cuda_bias_act_bf16(stream_of(cv->c), ys, y, b, o.n, o.c, o.h * o.w, d->relu));
    else
        CUDA_CHECK(gnet_cuda_bias_act(stream_of(cv->c), y, b, o.n, o.c, o.h * o.w, d->relu));
}

static void cuda_conv_backward_data(gnet_conv *cv, const float *dy, const float *w, float *dx)
{
    if (!cv->has_data) {
        gnet_errorf("conv_backward_data called on a layer planned without an input gradient");
        gnet_fatal(1);
    }
    const float one = 1.0f, zero = 0.0f;
    const gnet_conv_desc *d = &cv->d;
    const void *dys = dy, *ws = w;
    void *dxs = dx;
    if (is_bf16(cv)) {
        dys = as_bf16(cv, GNET_CUDA_STAGE_OUT, dy, gnet_shape_count(d->out));
        ws = as_bf16(cv, GNET_CUDA_STAGE_W, w, weight_count(d));
        dxs = gnet_cuda_stage(cv->c, GNET_CUDA_STAGE_IN);
    }
    const conv_plan *p = &cv->plan[DIR_DATA];
    CUDNN_CHECK(cudnnSetConvolutionMathType(cv->conv, p->math));
    CUDNN_CHECK(cudnnConvolutionBackwardData(handle_of(cv->c), &one, cv->w, ws, cv->y, dys,
                                             cv->conv, (cudnnConvolutionBwdDataAlgo_t)p->algo,
                                             gnet_cuda_workspace(cv->c), p->workspace, &zero, cv->x,
                                             dxs));
    if (is_bf16(cv))
        CUDA_CHECK(gnet_cuda_from_bf16(stream_of(cv->c), dxs, dx, gnet_shape_count(d->in), 0));
}

static void cuda_conv_backward_filter(gnet_conv *cv, const float *x, const float *dy, float *dw,
                                      float *db, int accumulate)
{
    const float one = 1.0f, zero = 0.0f, beta = accumulate ? 1.0f : 0.0f;
    const gnet_conv_desc *d = &cv->d;
    cudnnHandle_t h = handle_of(cv->c);
    const void *xs = x, *dys = dy;
    void *dws = dw;
    if (is_bf16(cv)) {
        xs = as_bf16(cv, GNET_CUDA_STAGE_IN, x, gnet_shape_count(d->in));
        dys = as_bf16(cv, GNET_CUDA_STAGE_OUT, dy, gnet_shape_count(d->out));
        dws = gnet_cuda_stage(cv->c, GNET_CUDA_STAGE_W);
    }
    /* bf16: the filter gradient comes out in bf16 and is added to the fp32 arena after. */
    const conv_plan *p = &cv->plan[DIR_FILTER];
    CUDNN_CHECK(cudnnSetConvolutionMathType(cv->conv, p->math));
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(
        h, &one, cv->x, xs, cv->y, dys, cv->conv, (cudnnConvolutionBwdFilterAlgo_t)p->algo,
        gnet_cuda_workspace(cv->c), p->workspace, is_bf16(cv) ? &zero : &beta, cv->w, dws));
    if (is_bf16(cv))
        CUDA_CHECK(gnet_cuda_from_bf16(stream_of(cv->c), dws, dw, weight_count(d), accumulate));
    CUDNN_CHECK(cudnnConvolutionBackwardBias(h, &one, cv->y32, dy, &beta, cv->b, db));
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
