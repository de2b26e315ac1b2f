/* CUDA backend: the context (device, stream, cuDNN and cuBLAS handles, the shared cuDNN
 * workspace), memory, the layout ops, the linear layer (cuBLAS), the loss and the optimizer.
 * Convolution and pooling are in backend_cuda_conv.c, the kernels in backend_cuda_kernels.cu.
 * See backend_cuda.h for the contract. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend_cuda_internal.h"
#include "core/check_cuda.h"

/* cuBLAS's recommended workspace on Hopper (4 MiB before it). */
#define CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20)

struct gnet_cuda_ctx {
    int device;
    gnet_cuda_math math;
    cudaStream_t stream;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    void *workspace;
    size_t workspace_bytes;
    void *blas_workspace;          /* cuBLAS's, ours so that it never allocates during a step */
    void *stage[GNET_CUDA_STAGES]; /* bf16 operand copies (bf16 math only) */
    size_t stage_count[GNET_CUDA_STAGES];
    int32_t *labels;                /* GNET_CUDA_LABEL_CHUNK staged labels */
    gnet_cuda_xent_sums *sums;      /* device */
    gnet_cuda_xent_sums *sums_host; /* pinned */
    double *partial, *partial_host; /* sumsq's per-block sums: device, pinned */
    char oom_hint[128];
};

static gnet_cuda_ctx *ctx_of(gnet_backend *be) { return be->ctx; }

void *gnet_cuda_ctx_stream(gnet_cuda_ctx *c) { return c->stream; }
void *gnet_cuda_cudnn(gnet_cuda_ctx *c) { return c->cudnn; }
gnet_cuda_math gnet_cuda_ctx_math(gnet_cuda_ctx *c) { return c->math; }

/* ---------- memory ---------- */

static double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

/* The one out-of-memory message, whatever ran out (a cudaMalloc, or a library handle that
 * allocates): what failed, how much was free, and the batch size to change. */
static void out_of_memory(gnet_cuda_ctx *c, const char *what)
{
    size_t free_b = 0, total_b = 0;
    (void)cudaGetLastError(); /* out of memory is not sticky: reset it and go on */
    (void)cudaMemGetInfo(&free_b, &total_b);
    gnet_errorf("CUDA out of memory on GPU %d: %s with %.1f MiB free of %.1f MiB%s%s; use a "
                "smaller --batch-size (or --accum-steps)",
                c->device, what, mib(free_b), mib(total_b), c->oom_hint[0] ? " " : "", c->oom_hint);
    gnet_fatal(1);
}

void *gnet_cuda_malloc(gnet_cuda_ctx *c, size_t bytes)
{
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation) {
        char what[64];
        snprintf(what, sizeof what, "asked for %.1f MiB", mib(bytes));
        out_of_memory(c, what);
    }
    CUDA_CHECK(e);
    return p;
}

void gnet_cuda_workspace_reserve(gnet_cuda_ctx *c, size_t bytes)
{
    if (bytes <= c->workspace_bytes)
        return;
    /* Planning only: nothing queued may still use the old workspace. */
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    CUDA_CHECK(cudaFree(c->workspace));
    c->workspace = gnet_cuda_malloc(c, bytes);
    c->workspace_bytes = bytes;
}

void *gnet_cuda_workspace(gnet_cuda_ctx *c) { return c->workspace; }

void gnet_cuda_stage_reserve(gnet_cuda_ctx *c, int which, size_t count)
{
    if (count <= c->stage_count[which])
        return;
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    CUDA_CHECK(cudaFree(c->stage[which]));
    c->stage[which] = gnet_cuda_malloc(c, count * 2); /* bf16: 2 bytes */
    c->stage_count[which] = count;
}

void *gnet_cuda_stage(gnet_cuda_ctx *c, int which) { return c->stage[which]; }

static float *cuda_alloc(gnet_backend *be, size_t count)
{
    gnet_cuda_ctx *c = ctx_of(be);
    float *p = gnet_cuda_malloc(c, count * sizeof(float));
    CUDA_CHECK(cudaMemsetAsync(p, 0, count * sizeof(float), c->stream));
    return p;
}

static void cuda_free(gnet_backend *be, float *p)
{
    (void)be;
    /* cudaFree waits for the device, so queued work that used p has finished. */
    CUDA_CHECK(cudaFree(p));
}

/* Host <-> device copies are synchronous for the caller: pageable host memory may be reused
 * as soon as upload returns, and download's result is read right after. */
static void cuda_upload(gnet_backend *be, float *dst, const float *host, size_t count)
{
    gnet_cuda_ctx *c = ctx_of(be);
    CUDA_CHECK(
        cudaMemcpyAsync(dst, host, count * sizeof(float), cudaMemcpyHostToDevice, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}

static void cuda_download(gnet_backend *be, float *host, const float *src, size_t count)
{
    gnet_cuda_ctx *c = ctx_of(be);
    CUDA_CHECK(
        cudaMemcpyAsync(host, src, count * sizeof(float), cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}

static void cuda_sync(gnet_backend *be) { CUDA_CHECK(cudaStreamSynchronize(ctx_of(be)->stream)); }

/* ---------- element-wise and layout ops ---------- */

static void cuda_relu_backward(gnet_backend *be, const float *y, float *dy, size_t count)
{
    CUDA_CHECK(gnet_cuda_relu_backward(ctx_of(be)->stream, y, dy, count));
}

static void cuda_add(gnet_backend *be, float *dst, const float *src, size_t count)
{
    CUDA_CHECK(gnet_cuda_add(ctx_of(be)->stream, dst, src, count));
}

/* NCHW: a channel range of one image is one contiguous run, and the runs of successive
 * images are a fixed pitch apart, so the whole concat slice is one 2-D copy. */
static void cuda_copy_channels(gnet_backend *be, float *dst, int dst_c, int dst_off,
                               const float *src, int src_c, int src_off, int c, int n, int hw)
{
    size_t f = sizeof(float);
    CUDA_CHECK(cudaMemcpy2DAsync(dst + (size_t)dst_off * hw, (size_t)dst_c * hw * f,
                                 src + (size_t)src_off * hw, (size_t)src_c * hw * f,
                                 (size_t)c * hw * f, (size_t)n, cudaMemcpyDeviceToDevice,
                                 ctx_of(be)->stream));
}

static size_t cuda_act_count(gnet_backend *be, gnet_shape s)
{
    (void)be;
    return gnet_shape_count(s);
}

static void cuda_to_nchw(gnet_backend *be, gnet_shape s, const float *src, float *dst_host)
{
    cuda_download(be, dst_host, src, gnet_shape_count(s));
}

static void cuda_from_nchw(gnet_backend *be, gnet_shape s, const float *src_host, float *dst)
{
    cuda_upload(be, dst, src_host, gnet_shape_count(s));
}

/* ---------- linear (cuBLAS) ---------- */

/* cuBLAS is column-major: a row-major [r, c] matrix is, to it, the [c, r] transpose. */

/* C = A B (column-major, cuBLAS's conventions) in the backend's math: bf16 lets cuBLAS round
 * the fp32 operands to bf16 (fp32 accumulation); fp32 and tf32 follow the handle's math mode. */
static void gemm(gnet_cuda_ctx *c, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                 const float *a, int lda, const float *b, int ldb, float beta, float *out, int ldc)
{
    const float one = 1.0f;
    if (c->math == GNET_CUDA_BF16)
        CUBLAS_CHECK(cublasGemmEx(c->cublas, ta, tb, m, n, k, &one, a, CUDA_R_32F, lda, b,
                                  CUDA_R_32F, ldb, &beta, out, CUDA_R_32F, ldc,
                                  CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT));
    else
        CUBLAS_CHECK(
            cublasSgemm(c->cublas, ta, tb, m, n, k, &one, a, lda, b, ldb, &beta, out, ldc));
}

static void cuda_linear_forward(gnet_backend *be, int n, int in, int out, const float *x,
                                const float *w, const float *b, float *y)
{
    gnet_cuda_ctx *c = ctx_of(be);
    /* y^T[out, n] = w[out, in] x^T[in, n] */
    gemm(c, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, w, in, x, in, 0.0f, y, out);
    CUDA_CHECK(gnet_cuda_bias_rows(c->stream, y, b, n, out));
}

static void cuda_linear_backward(gnet_backend *be, int n, int in, int out, const float *x,
                                 const float *w, const float *dy, float *dx, float *dw, float *db,
                                 int accumulate)
{
    gnet_cuda_ctx *c = ctx_of(be);
    /* dw^T[in, out] = x^T[in, n] dy[n, out] */
    gemm(c, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, x, in, dy, out, accumulate ? 1.0f : 0.0f, dw, in);
    /* dx^T[in, n] = w^T[in, out] dy^T[out, n] */
    if (dx)
        gemm(c, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, w, in, dy, out, 0.0f, dx, in);
    CUDA_CHECK(gnet_cuda_col_sum(c->stream, dy, db, n, out, accumulate));
}

/* ---------- loss and optimizer ---------- */

static void cuda_softmax_xent(gnet_backend *be, int n, int classes, const float *logits,
                              const int32_t *labels, float grad_scale, float *dlogits,
                              double *loss_sum, int64_t *correct)
{
    gnet_cuda_ctx *c = ctx_of(be);
    for (int lo = 0; lo < n; lo += GNET_CUDA_LABEL_CHUNK) {
        int rows = n - lo < GNET_CUDA_LABEL_CHUNK ? n - lo : GNET_CUDA_LABEL_CHUNK;
        /* Default: the trainer passes host labels, tests may pass device ones. */
        CUDA_CHECK(cudaMemcpyAsync(c->labels, labels + lo, (size_t)rows * sizeof(int32_t),
                                   cudaMemcpyDefault, c->stream));
        CUDA_CHECK(gnet_cuda_softmax_xent(c->stream, rows, classes, logits + (size_t)lo * classes,
                                          c->labels, grad_scale, dlogits + (size_t)lo * classes,
                                          c->sums, lo == 0));
    }
    CUDA_CHECK(
        cudaMemcpyAsync(c->sums_host, c->sums, sizeof *c->sums, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    *loss_sum = n > 0 ? c->sums_host->loss : 0.0;
    *correct = n > 0 ? (int64_t)c->sums_host->correct : 0;
}

static void cuda_sgd(gnet_backend *be, float *p, const float *g, float *buf, size_t count, float lr,
                     float m, float wd, int nesterov, int first_step, float scale)
{
    CUDA_CHECK(gnet_cuda_sgd(ctx_of(be)->stream, p, g, buf, count, lr, m, wd, nesterov, first_step,
                             scale));
}

static double cuda_sumsq(gnet_backend *be, const float *a, const float *b, size_t count)
{
    gnet_cuda_ctx *c = ctx_of(be);
    CUDA_CHECK(gnet_cuda_sumsq(c->stream, a, b, count, c->partial));
    CUDA_CHECK(cudaMemcpyAsync(c->partial_host, c->partial, GNET_CUDA_SUMSQ_BLOCKS * sizeof(double),
                               cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    double s = 0.0;
    for (int i = 0; i < GNET_CUDA_SUMSQ_BLOCKS; i++)
        s += c->partial_host[i];
    return s;
}

static void cuda_copy(gnet_backend *be, float *dst, const float *src, size_t count)
{
    gnet_cuda_ctx *c = ctx_of(be);
    CUDA_CHECK(cudaMemcpyAsync(dst, src, count * sizeof(float), cudaMemcpyDeviceToDevice, c->stream));
}

/* ---------- device, context and table ---------- */

int gnet_cuda_device_count(char *why, size_t why_len)
{
    int count = 0; /* left untouched when there is no driver */
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        snprintf(why, why_len, "%s", cudaGetErrorString(e));
        (void)cudaGetLastError();
        return 0;
    }
    if (count == 0)
        snprintf(why, why_len, "the CUDA runtime reports no device");
    return count;
}

double gnet_cuda_device_id(int device)
{
    struct cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a over the 16 bytes, folded to 48 bits */
    for (int i = 0; i < 16; i++)
        h = (h ^ (unsigned char)prop.uuid.bytes[i]) * 0x100000001b3ULL;
    return (double)(h >> 16);
}

static void ctx_open(gnet_cuda_ctx *c)
{
    CUDA_CHECK(cudaSetDevice(c->device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    /* Both handles allocate device memory: a failure is reported as running out of it (with
     * the library's own reason). */
    char what[160];
    cudnnStatus_t ds = cudnnCreate(&c->cudnn);
    if (ds != CUDNN_STATUS_SUCCESS) {
        snprintf(what, sizeof what, "cudnnCreate failed (%s)", cudnnGetErrorString(ds));
        out_of_memory(c, what);
    }
    CUDNN_CHECK(cudnnSetStream(c->cudnn, c->stream));
    cublasStatus_t bs = cublasCreate(&c->cublas);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        snprintf(what, sizeof what, "cublasCreate failed (%s)", cublasGetStatusString(bs));
        out_of_memory(c, what);
    }
    CUBLAS_CHECK(cublasSetStream(c->cublas, c->stream));
    /* After cublasSetStream, which resets the workspace to cuBLAS's own pool. */
    c->blas_workspace = gnet_cuda_malloc(c, CUBLAS_WORKSPACE_BYTES);
    CUBLAS_CHECK(cublasSetWorkspace(c->cublas, c->blas_workspace, CUBLAS_WORKSPACE_BYTES));
    /* fp32: pedantic math keeps cuBLAS off tensor cores (no TF32), like the CPU and PyTorch's
     * default matmul; tf32 lets it use them; bf16 asks per call (gemm). */
    cublasMath_t mode = c->math == GNET_CUDA_FP32   ? CUBLAS_PEDANTIC_MATH
                        : c->math == GNET_CUDA_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                    : CUBLAS_DEFAULT_MATH;
    CUBLAS_CHECK(cublasSetMathMode(c->cublas, mode));
    c->labels = gnet_cuda_malloc(c, GNET_CUDA_LABEL_CHUNK * sizeof(int32_t));
    c->sums = gnet_cuda_malloc(c, sizeof *c->sums);
    CUDA_CHECK(cudaMallocHost((void **)&c->sums_host, sizeof *c->sums_host));
    c->partial = gnet_cuda_malloc(c, GNET_CUDA_SUMSQ_BLOCKS * sizeof(double));
    CUDA_CHECK(cudaMallocHost((void **)&c->partial_host, GNET_CUDA_SUMSQ_BLOCKS * sizeof(double)));
}

static void cuda_destroy(gnet_backend *be)
{
    if (!be)
        return;
    gnet_cuda_ctx *c = ctx_of(be);
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    CUDA_CHECK(cudaFree(c->workspace));
    CUDA_CHECK(cudaFree(c->blas_workspace));
    for (int i = 0; i < GNET_CUDA_STAGES; i++)
        CUDA_CHECK(cudaFree(c->stage[i]));
    CUDA_CHECK(cudaFree(c->labels));
    CUDA_CHECK(cudaFree(c->sums));
    CUDA_CHECK(cudaFreeHost(c->sums_host));
    CUDA_CHECK(cudaFree(c->partial));
    CUDA_CHECK(cudaFreeHost(c->partial_host));
    CUBLAS_CHECK(cublasDestroy(c->cublas));
    CUDNN_CHECK(cudnnDestroy(c->cudnn));
    CUDA_CHECK(cudaStreamDestroy(c->stream));
    free(c);
    free(be);
}

void *gnet_backend_cuda_stream(gnet_backend *be) { return ctx_of(be)->stream; }

static void install_ops(gnet_backend *be)
{
    be->destroy = cuda_destroy;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->upload = cuda_upload;
    be->download = cuda_download;
    be->sync = cuda_sync;
    be->relu_backward = cuda_relu_backward;
    be->add = cuda_add;
    be->copy_channels = cuda_copy_channels;
    be->act_count = cuda_act_count;
    be->to_nchw = cuda_to_nchw;
    be->from_nchw = cuda_from_nchw;
    be->linear_forward = cuda_linear_forward;
    be->linear_backward = cuda_linear_backward;
    be->softmax_xent = cuda_softmax_xent;
    be->sgd = cuda_sgd;
    be->sumsq = cuda_sumsq;
    be->copy = cuda_copy;
    gnet_cuda_conv_install(be);
}

gnet_backend *gnet_backend_cuda_create(int device, gnet_cuda_math math, const char *oom_hint,
                                       char *name, size_t name_len)
{
    gnet_backend *be = calloc(1, sizeof *be);
    gnet_cuda_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        gnet_errorf("out of host memory creating the CUDA backend");
        gnet_fatal(1);
    }
    c->device = device;
    c->math = math;
    snprintf(c->oom_hint, sizeof c->oom_hint, "%s", oom_hint ? oom_hint : "");
    ctx_open(c);
    if (name) {
        struct cudaDeviceProp prop;
        CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
        snprintf(name, name_len, "%s", prop.name);
    }
    be->name = "cuda";
    be->threads = 1; /* one host thread drives the GPU */
    be->ctx = c;
    install_ops(be);
    return be;
}
