/* The CUDA backend (built with GNET_CUDA): the op table of backend.h on one GPU, with cuDNN
 * (convolution, pooling), cuBLAS (the linear layer) and small kernels (ReLU backward, add,
 * bias + ReLU, softmax cross-entropy, SGD). Activations are plain NCHW (act_count is the
 * logical count; copy_channels takes any channel range). Everything runs in order on one
 * compute stream (gnet_backend_cuda_stream, which NCCL orders itself after).
 *
 * Memory: every buffer is a plain cudaMalloc, made while the model is planned (alloc, conv
 * and pool creation, one shared cuDNN workspace); the step allocates nothing. Out of memory
 * is fatal, with one line naming the bytes asked for and the caller's hint (the batch size).
 *
 * Host waits: an op only queues work, except download, sumsq, sync and tally_take (their
 * result is the host's), an upload larger than reserve_upload's count (waited for), and a
 * staged upload whose pinned slot is still being copied from (see backend_cuda.c). Each
 * waits on an event: polling, and calling backend.h's on_wait hook between polls, when one
 * is set.
 *
 * Contracts beyond backend.h: pool_backward uses the x and y of that plan's last
 * pool_forward, which the caller keeps unchanged in between (the model does); softmax_xent's
 * labels may be host memory (copied through pinned staging) or device memory. */
#ifndef GNET_BACKEND_CUDA_H
#define GNET_BACKEND_CUDA_H

#include <stddef.h>

#include "core/backend.h"

typedef enum {
    GNET_CUDA_FP32, /* fp32 with FMA-only math: no tensor cores, matches the CPU backend */
    GNET_CUDA_TF32, /* fp32 data, TF32 tensor-core math allowed in cuDNN and cuBLAS */
    /* bf16 tensor-core math with fp32 accumulation: each convolution rounds its operands to
     * bf16 copies and its result back to fp32, the linear layer lets cuBLAS down-convert; the
     * activations between layers, the weights (master copy), gradients and the update stay
     * fp32. Like PyTorch's autocast in what is multiplied in bf16, not in what is stored. */
    GNET_CUDA_BF16
} gnet_cuda_math;

/* Number of usable CUDA devices; 0 when there is none, with the runtime's reason (no device,
 * driver too old for this runtime, ...) written to why. */
int gnet_cuda_device_count(char *why, size_t why_len);

/* The backend on GPU `device` (cudaSetDevice is called). oom_hint (may be NULL) is appended
 * to an out-of-memory error, e.g. "at --batch-size 1024". The name of the device is written
 * to name (name_len bytes) when name is not NULL.
 *
 * The environment variable GNET_CUDNN_DETERMINISTIC (read here, once) sets the cuDNN
 * algorithm preference of the backward convolutions: 1 (the default) takes the best-ranked
 * deterministic algorithm when cuDNN offers one, so that a run repeats bit for bit on one GPU;
 * 0 takes the best-ranked one of any kind (PyTorch's default, torch.backends.cudnn.
 * deterministic = False). Any other value is a fatal error. */
gnet_backend *gnet_backend_cuda_create(int device, gnet_cuda_math math, const char *oom_hint,
                                       char *name, size_t name_len);

/* GPU `device`'s identity: a 48-bit hash of its UUID, exact in a double (equal for two ranks on one
 * physical GPU, whatever their CUDA_VISIBLE_DEVICES numbering). */
double gnet_cuda_device_id(int device);

/* The algorithm preference the backend was created with (1: deterministic first). */
int gnet_backend_cuda_deterministic(gnet_backend *be);

/* "CUDA runtime 13.0, driver 13.0, cuDNN 9.19.0, cuBLAS 13.1.0" into buf[n] ("no driver"
 * where there is none). */
void gnet_cuda_versions(char *buf, size_t n);

/* The backend's compute stream (a cudaStream_t), for the NCCL communicator. */
void *gnet_backend_cuda_stream(gnet_backend *be);

#endif
