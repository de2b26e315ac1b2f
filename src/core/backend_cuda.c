/* CUDA backend: the context (device, stream, cuDNN and cuBLAS handles, the shared cuDNN
 * workspace), memory, the layout ops, the linear layer (cuBLAS), the loss and the optimizer.
 * Convolution and pooling are in backend_cuda_cudnn.c, the kernels in backend_cuda_kernels.cu.
 * See backend_cuda.h for the contract. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/backend_cuda_internal.h"
#include "core/check_cuda.h"
#include "core/fifo.h"

/* cuBLAS's recommended workspace on Hopper (4 MiB before it). */
#define CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20)

/* Pinned buffers per staging ring: one being copied to the device while the next is filled. */
#define STAGING_SLOTS 2

/* Host data on its way to the device: it is copied (memcpy) into a pinned slot, and the
 * device copy from there is queued (truly asynchronous, unlike one from pageable memory),
 * so the caller's memory is free at once and nothing waits. Slots are used in turn; one is
 * refilled after its last device copy completed (the event). Staging, rather than pinning
 * the loader's own buffers, keeps the loader free of CUDA and keeps upload's contract (host
 * reusable on return) without tracking which loader buffer the device still reads; the
 * price is one host memcpy per upload, made while the device runs earlier work
 * (docs/performance.md). */
typedef struct {
    void *host[STAGING_SLOTS];
    cudaEvent_t copied[STAGING_SLOTS];
    size_t bytes; /* of each slot */
    int next;
} staging;

struct gnet_cuda_ctx {
    int device;
    gnet_cuda_math math;
    int deterministic; /* GNET_CUDNN_DETERMINISTIC, read once at creation (backend_cuda.h) */
    int plan_log;      /* GNET_CUDNN_PLANS, likewise */
    cudaStream_t stream;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    void *workspace;
    size_t workspace_bytes;
    void *blas_workspace;          /* cuBLAS's, ours so that it never allocates during a step */
    void *stage[GNET_CUDA_STAGES]; /* bf16 operand copies (bf16 math only) */
    size_t stage_count[GNET_CUDA_STAGES];
    int32_t *labels;             /* GNET_CUDA_LABEL_CHUNK staged labels */
    staging inputs;              /* upload's, sized by reserve_upload */
    staging label_staging;       /* softmax_xent's host labels, a chunk per slot */
    gnet_cuda_xent_sums *sums;   /* device: the running tally */
    int sums_started;            /* it has a term (else tally_close zeroes it) */
    gnet_cuda_xent_sums *closed; /* pinned, GNET_TALLIES_PENDING closed tallies */
    cudaEvent_t closed_ready[GNET_TALLIES_PENDING];
    gnet_fifo pending;              /* closed, not yet taken */
    cudaEvent_t fence;              /* sync: all the work queued so far */
    double *partial, *partial_host; /* sumsq's per-block sums: device, pinned */
    char oom_hint[128];
};

static gnet_cuda_ctx *ctx_of(gnet_backend *be) { return be->ctx; }

void *gnet_cuda_ctx_stream(gnet_cuda_ctx *c) { return c->stream; }
void *gnet_cuda_cudnn(gnet_cuda_ctx *c) { return c->cudnn; }
gnet_cuda_math gnet_cuda_ctx_math(gnet_cuda_ctx *c) { return c->math; }
int gnet_cuda_ctx_deterministic(gnet_cuda_ctx *c) { return c->deterministic; }
int gnet_cuda_ctx_plan_log(gnet_cuda_ctx *c) { return c->plan_log; }

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

/* ---------- host waits ---------- */

/* Every wait of the host for the device inside an op goes through here. With an on_wait hook
 * (the trainer's communicator watchdog) the host polls and calls it in between, so that a
 * hung all-reduce the device is stuck behind ends the job instead of this wait; without
 * one it blocks in the driver. */
static void wait_event(gnet_backend *be, cudaEvent_t ev)
{
    if (!be->on_wait) {
        CUDA_CHECK(cudaEventSynchronize(ev));
        return;
    }
    for (;;) {
        cudaError_t q = cudaEventQuery(ev);
        if (q == cudaSuccess)
            return;
        if (q != cudaErrorNotReady)
            CUDA_CHECK(q);
        /* "Not ready" is also left as the thread's last error, which the next kernel
         * launcher's cudaGetLastError would report: clear it (as PyTorch's event query does). */
        (void)cudaGetLastError();
        be->on_wait(be->on_wait_ctx);
        struct timespec nap = {0, 50000};
        nanosleep(&nap, NULL);
    }
}

/* Waits for all the work queued so far. */
static void wait_stream(gnet_backend *be)
{
    gnet_cuda_ctx *c = ctx_of(be);
    CUDA_CHECK(cudaEventRecord(c->fence, c->stream));
    wait_event(be, c->fence);
}

/* ---------- staged uploads ---------- */

static void staging_open(staging *s)
{
    for (int i = 0; i < STAGING_SLOTS; i++)
        CUDA_CHECK(cudaEventCreateWithFlags(&s->copied[i], cudaEventDisableTiming));
}

static void staging_close(staging *s)
{
    for (int i = 0; i < STAGING_SLOTS; i++) {
        if (s->host[i])
            CUDA_CHECK(cudaFreeHost(s->host[i]));
        CUDA_CHECK(cudaEventDestroy(s->copied[i]));
    }
}

/* Grows every slot to bytes (planning: blocking is fine). */
static void staging_reserve(staging *s, size_t bytes)
{
    if (bytes <= s->bytes)
        return;
    for (int i = 0; i < STAGING_SLOTS; i++) {
        CUDA_CHECK(cudaEventSynchronize(s->copied[i])); /* the device no longer reads it */
        if (s->host[i])
            CUDA_CHECK(cudaFreeHost(s->host[i]));
        CUDA_CHECK(cudaHostAlloc(&s->host[i], bytes, cudaHostAllocDefault));
    }
    s->bytes = bytes;
}

/* Queues the copy of bytes (<= s->bytes) of host memory to dst through the next slot. That
 * slot's previous copy was queued STAGING_SLOTS staged copies ago; in the step it has long
 * completed, so the wait for it returns at once (docs/performance.md names when it does not). */
static void stage_copy(gnet_backend *be, staging *s, void *dst, const void *host, size_t bytes)
{
    gnet_cuda_ctx *c = ctx_of(be);
    int i = s->next;
    s->next = (i + 1) % STAGING_SLOTS;
    wait_event(be, s->copied[i]);
    memcpy(s->host[i], host, bytes);
    CUDA_CHECK(cudaMemcpyAsync(dst, s->host[i], bytes, cudaMemcpyHostToDevice, c->stream));
    CUDA_CHECK(cudaEventRecord(s->copied[i], c->stream));
}

static void cuda_reserve_upload(gnet_backend *be, size_t count)
{
    staging_reserve(&ctx_of(be)->inputs, count * sizeof(float));
}

/* Up to the reserved size (the step's input, the padding rows' zero gradient): staged, no
 * wait. Larger (parameters at the start, checkpoints): a copy from pageable memory, waited
 * for so that host may be reused at once. */
static void cuda_upload(gnet_backend *be, float *dst, const float *host, size_t count)
{
    gnet_cuda_ctx *c = ctx_of(be);
    size_t bytes = count * sizeof(float);
    if (bytes > 0 && bytes <= c->inputs.bytes) {
        stage_copy(be, &c->inputs, dst, host, bytes);
        return;
    }
    CUDA_CHECK(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, c->stream));
    wait_stream(be);
}

/* The result is read right after: waits for the copy. */
static void cuda_download(gnet_backend *be, float *host, const float *src, size_t count)
{
    gnet_cuda_ctx *c = ctx_of(be);
    CUDA_CHECK(
        cudaMemcpyAsync(host, src, count * sizeof(float), cudaMemcpyDeviceToHost, c->stream));
    wait_stream(be);
}

static void cuda_sync(gnet_backend *be) { wait_stream(be); }

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

/* Whether p is device (or managed) memory; plain malloc'd memory reports as unregistered. */
static int on_device(const void *p)
{
    struct cudaPointerAttributes a;
    CUDA_CHECK(cudaPointerGetAttributes(&a, p));
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

/* The loss and correct count go to the running tally on the device (c->sums); nothing
 * reaches the host here (tally_close, tally_take). The trainer passes host labels (staged),
 * tests also device ones. */
static void cuda_softmax_xent(gnet_backend *be, int n, int classes, const float *logits,
                              const int32_t *labels, float label_smoothing, float grad_scale,
                              float *dlogits)
{
    gnet_cuda_ctx *c = ctx_of(be);
    int device_labels = n > 0 && on_device(labels);
    for (int lo = 0; lo < n; lo += GNET_CUDA_LABEL_CHUNK) {
        int rows = n - lo < GNET_CUDA_LABEL_CHUNK ? n - lo : GNET_CUDA_LABEL_CHUNK;
        size_t bytes = (size_t)rows * sizeof(int32_t);
        if (device_labels)
            CUDA_CHECK(
                cudaMemcpyAsync(c->labels, labels + lo, bytes, cudaMemcpyDefault, c->stream));
        else
            stage_copy(be, &c->label_staging, c->labels, labels + lo, bytes);
        CUDA_CHECK(gnet_cuda_softmax_xent(
            c->stream, rows, classes, logits + (size_t)lo * classes, c->labels, label_smoothing,
            grad_scale, dlogits + (size_t)lo * classes, c->sums, !c->sums_started));
        c->sums_started = 1;
    }
}

/* The running tally into the next pinned slot, after everything queued so far (in the step:
 * after the update, so a tally taken means its step is complete). */
static void cuda_tally_close(gnet_backend *be)
{
    gnet_cuda_ctx *c = ctx_of(be);
    int slot = gnet_fifo_push(&c->pending);
    if (slot < 0) {
        gnet_errorf("bug: more than %d loss tallies closed and not taken", GNET_TALLIES_PENDING);
        gnet_fatal(1);
    }
    if (!c->sums_started)
        CUDA_CHECK(cudaMemsetAsync(c->sums, 0, sizeof *c->sums, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(&c->closed[slot], c->sums, sizeof *c->sums, cudaMemcpyDeviceToHost,
                               c->stream));
    CUDA_CHECK(cudaEventRecord(c->closed_ready[slot], c->stream));
    c->sums_started = 0;
}

static void cuda_tally_take(gnet_backend *be, double *loss_sum, int64_t *correct)
{
    gnet_cuda_ctx *c = ctx_of(be);
    int slot = gnet_fifo_pop(&c->pending);
    if (slot < 0) {
        gnet_errorf("bug: a loss tally taken before it was closed");
        gnet_fatal(1);
    }
    wait_event(be, c->closed_ready[slot]);
    *loss_sum = c->closed[slot].loss;
    *correct = (int64_t)c->closed[slot].correct;
}

static void cuda_sgd(gnet_backend *be, float *p, const float *g, float *buf, size_t count, float lr,
                     float m, float wd, int nesterov, int first_step, float scale)
{
    CUDA_CHECK(gnet_cuda_sgd(ctx_of(be)->stream, p, g, buf, count, lr, m, wd, nesterov, first_step,
                             scale));
}

static void cuda_adam(gnet_backend *be, float *p, const float *g, float *m, float *v, float *dir,
                      size_t count, const gnet_adam_args *a)
{
    CUDA_CHECK(gnet_cuda_adam(ctx_of(be)->stream, p, g, m, v, dir, count, a));
}

static double cuda_sumsq(gnet_backend *be, const float *a, const float *b, size_t count)
{
    gnet_cuda_ctx *c = ctx_of(be);
    CUDA_CHECK(gnet_cuda_sumsq(c->stream, a, b, count, c->partial));
    CUDA_CHECK(cudaMemcpyAsync(c->partial_host, c->partial, GNET_CUDA_SUMSQ_BLOCKS * sizeof(double),
                               cudaMemcpyDeviceToHost, c->stream));
    wait_stream(be); /* the result is the host's (LARS, --noise-scale) */
    double s = 0.0;
    for (int i = 0; i < GNET_CUDA_SUMSQ_BLOCKS; i++)
        s += c->partial_host[i];
    return s;
}

static void cuda_unit_sumsq(gnet_backend *be, const float *a, size_t units, size_t len, float *out)
{
    CUDA_CHECK(gnet_cuda_unit_sumsq(ctx_of(be)->stream, a, units, len, out));
}

static void cuda_scale_units(gnet_backend *be, float *a, size_t units, size_t len,
                             const float *factor)
{
    CUDA_CHECK(gnet_cuda_scale_units(ctx_of(be)->stream, a, units, len, factor));
}

static void cuda_copy(gnet_backend *be, float *dst, const float *src, size_t count)
{
    gnet_cuda_ctx *c = ctx_of(be);
    CUDA_CHECK(
        cudaMemcpyAsync(dst, src, count * sizeof(float), cudaMemcpyDeviceToDevice, c->stream));
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

void gnet_cuda_versions(char *buf, size_t n)
{
    int rt = 0, drv = 0, blas = 0;
    CUDA_CHECK(cudaRuntimeGetVersion(&rt));
    if (cudaDriverGetVersion(&drv) != cudaSuccess)
        drv = 0;
    (void)cudaGetLastError();
    (void)cublasGetProperty(MAJOR_VERSION, &blas);
    int blas_minor = 0, blas_patch = 0;
    (void)cublasGetProperty(MINOR_VERSION, &blas_minor);
    (void)cublasGetProperty(PATCH_LEVEL, &blas_patch);
    size_t dnn = cudnnGetVersion(); /* major*10000 + minor*100 + patch (cuDNN 9) */
    char driver[32] = "no driver";
    if (drv > 0)
        snprintf(driver, sizeof driver, "driver %d.%d", drv / 1000, drv % 1000 / 10);
    snprintf(buf, n, "CUDA runtime %d.%d, %s, cuDNN %zu.%zu.%zu, cuBLAS %d.%d.%d", rt / 1000,
             rt % 1000 / 10, driver, dnn / 10000, dnn / 100 % 100, dnn % 100, blas, blas_minor,
             blas_patch);
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
    c->partial = gnet_cuda_malloc(c, GNET_CUDA_SUMSQ_BLOCKS * sizeof(double));
    CUDA_CHECK(cudaMallocHost((void **)&c->partial_host, GNET_CUDA_SUMSQ_BLOCKS * sizeof(double)));
}

/* What lets the step run without host waits: the staging rings, the tally slots, the fence. */
static void async_open(gnet_cuda_ctx *c)
{
    c->labels = gnet_cuda_malloc(c, GNET_CUDA_LABEL_CHUNK * sizeof(int32_t));
    staging_open(&c->inputs);
    staging_open(&c->label_staging);
    staging_reserve(&c->label_staging, GNET_CUDA_LABEL_CHUNK * sizeof(int32_t));
    c->sums = gnet_cuda_malloc(c, sizeof *c->sums);
    CUDA_CHECK(cudaMallocHost((void **)&c->closed, GNET_TALLIES_PENDING * sizeof *c->closed));
    for (int i = 0; i < GNET_TALLIES_PENDING; i++)
        CUDA_CHECK(cudaEventCreateWithFlags(&c->closed_ready[i], cudaEventDisableTiming));
    gnet_fifo_init(&c->pending, GNET_TALLIES_PENDING);
    CUDA_CHECK(cudaEventCreateWithFlags(&c->fence, cudaEventDisableTiming));
}

static void async_close(gnet_cuda_ctx *c)
{
    CUDA_CHECK(cudaFree(c->labels));
    staging_close(&c->inputs);
    staging_close(&c->label_staging);
    CUDA_CHECK(cudaFree(c->sums));
    CUDA_CHECK(cudaFreeHost(c->closed));
    for (int i = 0; i < GNET_TALLIES_PENDING; i++)
        CUDA_CHECK(cudaEventDestroy(c->closed_ready[i]));
    CUDA_CHECK(cudaEventDestroy(c->fence));
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
    async_close(c);
    CUDA_CHECK(cudaFree(c->partial));
    CUDA_CHECK(cudaFreeHost(c->partial_host));
    CUBLAS_CHECK(cublasDestroy(c->cublas));
    CUDNN_CHECK(cudnnDestroy(c->cudnn));
    CUDA_CHECK(cudaStreamDestroy(c->stream));
    free(c);
    free(be);
}

void *gnet_backend_cuda_stream(gnet_backend *be) { return ctx_of(be)->stream; }

int gnet_backend_cuda_deterministic(gnet_backend *be) { return ctx_of(be)->deterministic; }

/* GNET_CUDNN_DETERMINISTIC: unset, empty or 1 prefers deterministic backward algorithms (a run
 * repeats bit for bit on one GPU); 0 takes cuDNN's best-ranked ones, as PyTorch does by default
 * (benchmarks compare both). Read here only, once per backend, so that no global decides it
 * later; anything else is refused rather than guessed. */
static int deterministic_from_env(void)
{
    const char *v = getenv("GNET_CUDNN_DETERMINISTIC");
    if (!v || !*v || strcmp(v, "1") == 0)
        return 1;
    if (strcmp(v, "0") == 0) {
        gnet_infof(
            "cuDNN: best-ranked algorithms, deterministic or not (GNET_CUDNN_DETERMINISTIC=0)");
        return 0;
    }
    gnet_errorf("GNET_CUDNN_DETERMINISTIC must be 0 or 1, not \"%s\"", v);
    gnet_fatal(1);
}

/* GNET_CUDNN_PLANS=1: the cuDNN planner prints each convolution's plan per direction
 * (scripts/gpu_check.sh sets it); unset, empty or 0: silent. Read once, like the above. */
static int plan_log_from_env(void)
{
    const char *v = getenv("GNET_CUDNN_PLANS");
    if (!v || !*v || strcmp(v, "0") == 0)
        return 0;
    if (strcmp(v, "1") == 0)
        return 1;
    gnet_errorf("GNET_CUDNN_PLANS must be 0 or 1, not \"%s\"", v);
    gnet_fatal(1);
}

static void install_ops(gnet_backend *be)
{
    be->destroy = cuda_destroy;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->upload = cuda_upload;
    be->reserve_upload = cuda_reserve_upload;
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
    be->tally_close = cuda_tally_close;
    be->tally_take = cuda_tally_take;
    be->sgd = cuda_sgd;
    be->adam = cuda_adam;
    be->sumsq = cuda_sumsq;
    be->unit_sumsq = cuda_unit_sumsq;
    be->scale_units = cuda_scale_units;
    be->copy = cuda_copy;
    gnet_cuda_conv_install(be);
}

gnet_backend *gnet_backend_cuda_create(int device, gnet_cuda_math math, const char *oom_hint,
                                       char *name, size_t name_len)
{
    gnet_backend *be = gnet_calloc(1, sizeof *be, "the CUDA backend");
    gnet_cuda_ctx *c = gnet_calloc(1, sizeof *c, "the CUDA backend's state");
    if (!be || !c)
        gnet_fatal(1);
    c->device = device;
    c->math = math;
    c->deterministic = deterministic_from_env();
    c->plan_log = plan_log_from_env();
    snprintf(c->oom_hint, sizeof c->oom_hint, "%s", oom_hint ? oom_hint : "");
    ctx_open(c);
    async_open(c);
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
