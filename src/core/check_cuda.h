/* Checked-call macros for the CUDA libraries (included only by CUDA-edge code, built with
 * GNET_CUDA): file:line, the call, the library's own error string, then gnet_fatal. */
#ifndef GNET_CHECK_CUDA_H
#define GNET_CHECK_CUDA_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <nccl.h>

#include "core/log.h"

#define CUDA_CHECK(call)                                                                           \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            gnet_errorf("%s:%d: CUDA: %s: %s", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            gnet_fatal(1);                                                                         \
        }                                                                                          \
    } while (0)

#define NCCL_CHECK(call)                                                                           \
    do {                                                                                           \
        ncclResult_t e_ = (call);                                                                  \
        if (e_ != ncclSuccess) {                                                                   \
            gnet_errorf("%s:%d: NCCL: %s: %s", __FILE__, __LINE__, #call, ncclGetErrorString(e_)); \
            gnet_fatal(1);                                                                         \
        }                                                                                          \
    } while (0)

#define CUDNN_CHECK(call)                                                  \
    do {                                                                   \
        cudnnStatus_t e_ = (call);                                         \
        if (e_ != CUDNN_STATUS_SUCCESS) {                                  \
            gnet_errorf("%s:%d: cuDNN: %s: %s", __FILE__, __LINE__, #call, \
                        cudnnGetErrorString(e_));                          \
            gnet_fatal(1);                                                 \
        }                                                                  \
    } while (0)

#define CUBLAS_CHECK(call)                                                  \
    do {                                                                    \
        cublasStatus_t e_ = (call);                                         \
        if (e_ != CUBLAS_STATUS_SUCCESS) {                                  \
            gnet_errorf("%s:%d: cuBLAS: %s: %s", __FILE__, __LINE__, #call, \
                        cublasGetStatusString(e_));                         \
            gnet_fatal(1);                                                  \
        }                                                                   \
    } while (0)

#endif
