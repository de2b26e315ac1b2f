/* The cuDNN planner's decisions as pure functions over a candidate list (no CUDA runtime or
 * cuDNN call: tests/test_cudnn_pick.c runs them without a GPU). backend_cuda_cudnn.c feeds
 * them cuDNN's ranked heuristics results and the real workspace sizes. */
#ifndef GNET_CUDNN_PICK_H
#define GNET_CUDNN_PICK_H

#include <cudnn.h>
#include <stddef.h>

#include "core/backend_cuda.h"

/* One ranked result of cuDNN's heuristics, whatever the direction; workspace is the real size
 * asked with the candidate's own math type (fits: it is at most the cap and was answered). */
typedef struct {
    int algo;
    cudnnStatus_t status;
    cudnnDeterminism_t determinism;
    cudnnMathType_t math;
    size_t workspace;
    int fits;
} gnet_cudnn_candidate;

typedef enum { GNET_CONV_FWD, GNET_CONV_DATA, GNET_CONV_FILTER } gnet_conv_dir;

/* Whether a layer computing in `layer` math may run a candidate of math type m: fp32 only
 * CUDNN_FMA_MATH (the default math permits TF32 on Ampere and later); tf32 default or tensor-op;
 * bf16 any but ..._ALLOW_CONVERSION (which may down-convert to fp16). */
int gnet_cudnn_math_allowed(cudnnMathType_t m, gnet_cuda_math layer);

/* The math type the descriptor carries while cuDNN ranks: fp32 FMA, tf32 default, bf16
 * tensor-op. */
cudnnMathType_t gnet_cudnn_rank_math(gnet_cuda_math layer);

/* The order to try candidates in: indexes into c[0..n) of those that succeeded, the layer's
 * math allows and fit, best-ranked first; with want_deterministic the deterministic ones
 * first, then the rest. Returns how many were written to order (at most n). */
int gnet_cudnn_order(const gnet_cudnn_candidate *c, int n, gnet_cuda_math layer,
                     int want_deterministic, int *order);

/* The perf array length to ask cuDNN for: its own maximum (cudnnGet*AlgorithmMaxCount), at
 * least 1, whatever the enum counts of the headers this was built with. */
int gnet_cudnn_request_count(int max_count);

/* cuDNN's name of an algorithm in a direction ("IMPLICIT_PRECOMP_GEMM", "ALGO_1"), or
 * "algo N" for one newer than these headers. */
const char *gnet_cudnn_algo_name(gnet_conv_dir dir, int algo, char *buf, size_t n);
const char *gnet_cudnn_math_name(cudnnMathType_t m);

/* One plan line: layer, direction, algorithm, math, determinism, workspace, and the fallback
 * that led there (NULL: none). Returns buf. */
const char *gnet_cudnn_plan_line(char *buf, size_t n, const char *layer, gnet_conv_dir dir,
                                 const gnet_cudnn_candidate *chosen, const char *fallback);

#endif
