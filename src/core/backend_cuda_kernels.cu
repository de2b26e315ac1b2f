// The CUDA backend's own kernels: the element-wise ops cuDNN and cuBLAS do not cover in one
// pass. Every kernel is a grid-stride loop over plain float arrays, launched on the caller's
// stream; each launcher returns the launch's error, which the C caller checks (CUDA_CHECK:
// the C11 logging header is not C++).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "core/backend_cuda_internal.h"
#include "core/smoothed_loss.h"

namespace
{

const int kThreads = 256;

// Enough blocks to cover count once, capped: the loops stride over the rest.
unsigned blocks_for(size_t count)
{
    size_t b = (count + kThreads - 1) / kThreads;
    const size_t cap = (size_t)1 << 20;
    return (unsigned)(b == 0 ? 1 : b < cap ? b : cap);
}

cudaStream_t as_stream(void *s) { return static_cast<cudaStream_t>(s); }

__global__ void relu_backward_k(const float *y, float *dy, size_t count)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

__global__ void add_k(float *dst, const float *src, size_t count)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] += src[i];
}

__device__ float to_float(float v) { return v; }
__device__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

// y = relu?(src + bias), src being y itself (fp32) or a bf16 convolution output. The channel
// of element i is (i / hw) % c: with 32-bit indices (every tensor of this network at batch
// <= 1024) the division is far cheaper than the 64-bit one.
template <typename T, typename I>
__global__ void bias_act_k(const T *src, float *y, const float *b, I count, I c, I hw, int relu)
{
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < count;
         i += (I)gridDim.x * blockDim.x) {
        float v = to_float(src[i]) + b[(i / hw) % c];
        y[i] = relu && !(v > 0.0f) ? 0.0f : v;
    }
}

template <typename T>
cudaError_t bias_act(cudaStream_t s, const T *src, float *y, const float *b, int n, int c, int hw,
                     int relu)
{
    size_t count = (size_t)n * c * hw;
    if (count < (size_t)UINT32_MAX - (size_t)kThreads * (1u << 20))
        bias_act_k<T, unsigned><<<blocks_for(count), kThreads, 0, s>>>(
            src, y, b, (unsigned)count, (unsigned)c, (unsigned)hw, relu);
    else
        bias_act_k<T, size_t>
            <<<blocks_for(count), kThreads, 0, s>>>(src, y, b, count, (size_t)c, (size_t)hw, relu);
    return cudaGetLastError();
}

__global__ void to_bf16_k(const float *src, __nv_bfloat16 *dst, size_t count)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

__global__ void from_bf16_k(const __nv_bfloat16 *src, float *dst, size_t count, int accumulate)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = accumulate ? dst[i] + __bfloat162float(src[i]) : __bfloat162float(src[i]);
}

__global__ void bias_rows_k(float *y, const float *b, size_t count, int out)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] += b[i % (size_t)out];
}

// One thread per column: the linear layer has 10 outputs, so this is tiny.
__global__ void col_sum_k(const float *dy, float *db, int n, int out, int accumulate)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= out)
        return;
    float s = 0.0f;
    for (int i = 0; i < n; i++)
        s += dy[(size_t)i * out + j];
    db[j] = accumulate ? db[j] + s : s;
}

// One block walks all rows (a batch is at most a few thousand rows of 10 classes), each
// thread keeping its own sums, then the block reduces them: no per-row buffer is needed.
// The per-row arithmetic is the CPU backend's, in the same order.
__global__ void softmax_xent_k(int n, int classes, const float *logits, const int32_t *labels,
                               float eps, float grad_scale, float *dlogits,
                               gnet_cuda_xent_sums *sums, int first)
{
    __shared__ double loss_s[kThreads];
    __shared__ long long hits_s[kThreads];
    double loss = 0.0;
    long long hits = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float *z = logits + (size_t)i * classes;
        float *dz = dlogits + (size_t)i * classes;
        int label = labels[i], arg = 0;
        for (int j = 1; j < classes; j++)
            if (z[j] > z[arg])
                arg = j;
        float sum = 0.0f;
        for (int j = 0; j < classes; j++)
            sum += expf(z[j] - z[arg]);
        float log_sum = logf(sum);
        loss += gnet_smoothed_loss(z, classes, arg, log_sum, log_sum - (z[label] - z[arg]), eps);
        hits += arg == label;
        for (int j = 0; j < classes; j++)
            dz[j] =
                (expf(z[j] - z[arg] - log_sum) - gnet_smoothed_target(eps, classes, j == label)) *
                grad_scale;
    }
    loss_s[threadIdx.x] = loss;
    hits_s[threadIdx.x] = hits;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half) {
            loss_s[threadIdx.x] += loss_s[threadIdx.x + half];
            hits_s[threadIdx.x] += hits_s[threadIdx.x + half];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        sums->loss = first ? loss_s[0] : sums->loss + loss_s[0];
        sums->correct = first ? hits_s[0] : sums->correct + hits_s[0];
    }
}

// PyTorch's SGD, each operation rounded on its own (the _rn intrinsics forbid FMA
// contraction), as the CPU backend computes it: the two give the same bits.
__global__ void sgd_k(float *p, const float *g, float *buf, size_t count, float lr, float m,
                      float wd, int nesterov, int first_step, float scale)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        float d = __fmul_rn(scale, __fadd_rn(g[i], __fmul_rn(wd, p[i])));
        if (m != 0.0f) {
            float b = first_step ? d : __fadd_rn(__fmul_rn(m, buf[i]), d);
            buf[i] = b;
            d = nesterov ? __fadd_rn(d, __fmul_rn(m, b)) : b;
        }
        p[i] = __fsub_rn(p[i], __fmul_rn(lr, d));
    }
}

// The adam op of backend.h, rounded operation by operation as the CPU backend computes it
// (the _rn intrinsics: no FMA contraction; IEEE sqrt and division), so the two agree.
__global__ void adam_k(float *p, const float *g, float *m, float *v, float *dir, size_t count,
                       gnet_adam_args a)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        float mi = __fadd_rn(__fmul_rn(a.beta1, m[i]), __fmul_rn(a.c1, g[i]));
        float vi = __fadd_rn(__fmul_rn(a.beta2, v[i]), __fmul_rn(__fmul_rn(a.c2, g[i]), g[i]));
        m[i] = mi;
        v[i] = vi;
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), a.bc2_sqrt), a.eps);
        if (dir)
            dir[i] = __fadd_rn(__fdiv_rn(__fdiv_rn(mi, a.bc1), denom), __fmul_rn(a.wd, p[i]));
        else
            p[i] =
                __fsub_rn(__fmul_rn(p[i], a.decay), __fdiv_rn(__fmul_rn(a.step_size, mi), denom));
    }
}

// Each block sums the squares of its grid-stride share in double and writes one partial:
// the host adds the GNET_CUDA_SUMSQ_BLOCKS partials in a fixed order (no atomics), so the
// result does not depend on scheduling.
__global__ void sumsq_k(const float *a, const float *b, size_t count, double *partial)
{
    __shared__ double s[kThreads];
    double acc = 0.0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        double d = b ? (double)a[i] - (double)b[i] : (double)a[i];
        acc += d * d;
    }
    s[threadIdx.x] = acc;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half)
            s[threadIdx.x] += s[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        partial[blockIdx.x] = s[0];
}

// One block per unit (grid-striding over units): its threads sum the unit's squares in
// double, reduced in shared memory in a fixed order.
__global__ void unit_sumsq_k(const float *a, size_t units, size_t len, float *out)
{
    __shared__ double s[kThreads];
    for (size_t u = blockIdx.x; u < units; u += gridDim.x) {
        double acc = 0.0;
        for (size_t j = threadIdx.x; j < len; j += blockDim.x) {
            double x = (double)a[u * len + j];
            acc += x * x;
        }
        s[threadIdx.x] = acc;
        __syncthreads();
        for (int half = blockDim.x / 2; half > 0; half /= 2) {
            if ((int)threadIdx.x < half)
                s[threadIdx.x] += s[threadIdx.x + half];
            __syncthreads();
        }
        if (threadIdx.x == 0)
            out[u] = (float)s[0];
        __syncthreads(); // s is reused by the next unit
    }
}

__global__ void scale_units_k(float *a, size_t len, size_t count, const float *factor)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        a[i] = __fmul_rn(a[i], factor[i / len]);
}

} // namespace

extern "C" {

cudaError_t gnet_cuda_relu_backward(void *stream, const float *y, float *dy, size_t count)
{
    relu_backward_k<<<blocks_for(count), kThreads, 0, as_stream(stream)>>>(y, dy, count);
    return cudaGetLastError();
}

cudaError_t gnet_cuda_add(void *stream, float *dst, const float *src, size_t count)
{
    add_k<<<blocks_for(count), kThreads, 0, as_stream(stream)>>>(dst, src, count);
    return cudaGetLastError();
}

cudaError_t gnet_cuda_bias_act(void *stream, float *y, const float *b, int n, int c, int hw,
                               int relu)
{
    return bias_act<float>(as_stream(stream), y, y, b, n, c, hw, relu);
}

cudaError_t gnet_cuda_bias_act_bf16(void *stream, const void *src, float *y, const float *b, int n,
                                    int c, int hw, int relu)
{
    return bias_act(as_stream(stream), static_cast<const __nv_bfloat16 *>(src), y, b, n, c, hw,
                    relu);
}

cudaError_t gnet_cuda_to_bf16(void *stream, const float *src, void *dst, size_t count)
{
    to_bf16_k<<<blocks_for(count), kThreads, 0, as_stream(stream)>>>(
        src, static_cast<__nv_bfloat16 *>(dst), count);
    return cudaGetLastError();
}

cudaError_t gnet_cuda_from_bf16(void *stream, const void *src, float *dst, size_t count,
                                int accumulate)
{
    from_bf16_k<<<blocks_for(count), kThreads, 0, as_stream(stream)>>>(
        static_cast<const __nv_bfloat16 *>(src), dst, count, accumulate);
    return cudaGetLastError();
}

cudaError_t gnet_cuda_bias_rows(void *stream, float *y, const float *b, int n, int out)
{
    size_t count = (size_t)n * out;
    bias_rows_k<<<blocks_for(count), kThreads, 0, as_stream(stream)>>>(y, b, count, out);
    return cudaGetLastError();
}

cudaError_t gnet_cuda_col_sum(void *stream, const float *dy, float *db, int n, int out,
                              int accumulate)
{
    col_sum_k<<<blocks_for((size_t)out), kThreads, 0, as_stream(stream)>>>(dy, db, n, out,
                                                                           accumulate);
    return cudaGetLastError();
}

cudaError_t gnet_cuda_softmax_xent(void *stream, int n, int classes, const float *logits,
                                   const int32_t *labels, float label_smoothing, float grad_scale,
                                   float *dlogits, gnet_cuda_xent_sums *sums, int first)
{
    softmax_xent_k<<<1, kThreads, 0, as_stream(stream)>>>(
        n, classes, logits, labels, label_smoothing, grad_scale, dlogits, sums, first);
    return cudaGetLastError();
}

cudaError_t gnet_cuda_sgd(void *stream, float *p, const float *g, float *buf, size_t count,
                          float lr, float m, float wd, int nesterov, int first_step, float scale)
{
    sgd_k<<<blocks_for(count), kThreads, 0, as_stream(stream)>>>(p, g, buf, count, lr, m, wd,
                                                                 nesterov, first_step, scale);
    return cudaGetLastError();
}

cudaError_t gnet_cuda_adam(void *stream, float *p, const float *g, float *m, float *v, float *dir,
                           size_t count, const gnet_adam_args *a)
{
    adam_k<<<blocks_for(count), kThreads, 0, as_stream(stream)>>>(p, g, m, v, dir, count, *a);
    return cudaGetLastError();
}

cudaError_t gnet_cuda_sumsq(void *stream, const float *a, const float *b, size_t count,
                            double *partial)
{
    sumsq_k<<<GNET_CUDA_SUMSQ_BLOCKS, kThreads, 0, as_stream(stream)>>>(a, b, count, partial);
    return cudaGetLastError();
}

cudaError_t gnet_cuda_unit_sumsq(void *stream, const float *a, size_t units, size_t len, float *out)
{
    unsigned blocks = (unsigned)(units < 65535 ? (units == 0 ? 1 : units) : 65535);
    unit_sumsq_k<<<blocks, kThreads, 0, as_stream(stream)>>>(a, units, len, out);
    return cudaGetLastError();
}

cudaError_t gnet_cuda_scale_units(void *stream, float *a, size_t units, size_t len,
                                  const float *factor)
{
    size_t count = units * len;
    scale_units_k<<<blocks_for(count), kThreads, 0, as_stream(stream)>>>(a, len, count, factor);
    return cudaGetLastError();
}

} // extern "C"
