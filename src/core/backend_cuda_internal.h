/* Shared by the files of the CUDA backend (backend_cuda.c: table, memory, linear, loss,
 * optimizer; backend_cuda_cudnn.c: cuDNN convolution and pooling; backend_cuda_kernels.cu:
 * the element-wise kernels). Not for use outside src/core/backend_cuda*. */
#ifndef GNET_BACKEND_CUDA_INTERNAL_H
#define GNET_BACKEND_CUDA_INTERNAL_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backend_cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows of labels staged per softmax_xent kernel launch (the staging buffer is made once). */
#define GNET_CUDA_LABEL_CHUNK 65536

/* What softmax_xent sums on the device (the running tally) and tally_close copies out. */
typedef struct {
    double loss;
    long long correct;
} gnet_cuda_xent_sums;

typedef struct gnet_cuda_ctx gnet_cuda_ctx;

/* cudaMalloc of bytes, fatal with the out-of-memory message of backend_cuda.h on failure. */
void *gnet_cuda_malloc(gnet_cuda_ctx *c, size_t bytes);
/* The stream all ops run on (a cudaStream_t). */
void *gnet_cuda_ctx_stream(gnet_cuda_ctx *c);

/* Element-wise kernels on `stream` (a cudaStream_t); each returns its launch's error. */
cudaError_t gnet_cuda_relu_backward(void *stream, const float *y, float *dy, size_t count);
cudaError_t gnet_cuda_add(void *stream, float *dst, const float *src, size_t count);
/* y[n, c, :] = relu?(y[n, c, :] + b[c]) over n x c planes of hw floats (NCHW). */
cudaError_t gnet_cuda_bias_act(void *stream, float *y, const float *b, int n, int c, int hw,
                               int relu);
/* The same from a bf16 convolution output src (n x c x hw bf16) into y. */
cudaError_t gnet_cuda_bias_act_bf16(void *stream, const void *src, float *y, const float *b, int n,
                                    int c, int hw, int relu);
/* dst (bf16) = src rounded to nearest even. */
cudaError_t gnet_cuda_to_bf16(void *stream, const float *src, void *dst, size_t count);
/* dst = src (bf16), or dst += src with accumulate. */
cudaError_t gnet_cuda_from_bf16(void *stream, const void *src, float *dst, size_t count,
                                int accumulate);
/* y[i, :] += b over n rows of `out` floats. */
cudaError_t gnet_cuda_bias_rows(void *stream, float *y, const float *b, int n, int out);
/* db[j] (+)= sum_i dy[i, j] over n rows of `out` floats. */
cudaError_t gnet_cuda_col_sum(void *stream, const float *dy, float *db, int n, int out,
                              int accumulate);
/* Rows [0, n) of one chunk: dlogits, and the loss and correct count added to *sums (or
 * written, when first), label_smoothing as in backend.h. labels are device memory. */
cudaError_t gnet_cuda_softmax_xent(void *stream, int n, int classes, const float *logits,
                                   const int32_t *labels, float label_smoothing, float grad_scale,
                                   float *dlogits, gnet_cuda_xent_sums *sums, int first);
/* The SGD of backend.h in one pass over the arena. */
cudaError_t gnet_cuda_sgd(void *stream, float *p, const float *g, float *buf, size_t count,
                          float lr, float m, float wd, int nesterov, int first_step, float scale);
/* The adam op of backend.h in one pass over count floats (dir NULL: AdamW's update). */
cudaError_t gnet_cuda_adam(void *stream, float *p, const float *g, float *m, float *v, float *dir,
                           size_t count, const gnet_adam_args *a);
/* Blocks of the sum-of-squares kernel: partial[GNET_CUDA_SUMSQ_BLOCKS] (device) receives one
 * double per block; the caller adds them. b may be NULL (sum of a^2). */
#define GNET_CUDA_SUMSQ_BLOCKS 256
cudaError_t gnet_cuda_sumsq(void *stream, const float *a, const float *b, size_t count,
                            double *partial);

/* The unit_sumsq and scale_units ops of backend.h (a block per unit for the sums). */
cudaError_t gnet_cuda_unit_sumsq(void *stream, const float *a, size_t units, size_t len,
                                 float *out);
cudaError_t gnet_cuda_scale_units(void *stream, float *a, size_t units, size_t len,
                                  const float *factor);

/* backend_cuda_cudnn.c: the table's conv and pool entries. */
void gnet_cuda_conv_install(gnet_backend *be);
/* The one cuDNN workspace every convolution shares (ops run one at a time on the stream),
 * grown while planning; freed with the context. */
void gnet_cuda_workspace_reserve(gnet_cuda_ctx *c, size_t bytes);
void *gnet_cuda_workspace(gnet_cuda_ctx *c);
/* bf16 math: three staging buffers of bf16 copies (the input-shaped, output-shaped and
 * weight-shaped operands of one convolution at a time), shared like the workspace and grown
 * while planning; counts are elements. */
enum { GNET_CUDA_STAGE_IN, GNET_CUDA_STAGE_OUT, GNET_CUDA_STAGE_W, GNET_CUDA_STAGES };
void gnet_cuda_stage_reserve(gnet_cuda_ctx *c, int which, size_t count);
void *gnet_cuda_stage(gnet_cuda_ctx *c, int which);
/* The cuDNN handle (a cudnnHandle_t) bound to the stream, and the math mode. */
void *gnet_cuda_cudnn(gnet_cuda_ctx *c);
gnet_cuda_math gnet_cuda_ctx_math(gnet_cuda_ctx *c);
/* Whether backward algorithms are chosen deterministic first (GNET_CUDNN_DETERMINISTIC). */
int gnet_cuda_ctx_deterministic(gnet_cuda_ctx *c);
/* Whether the planner prints one line per convolution and direction (GNET_CUDNN_PLANS=1). */
int gnet_cuda_ctx_plan_log(gnet_cuda_ctx *c);

#ifdef __cplusplus
}
#endif

#endif
