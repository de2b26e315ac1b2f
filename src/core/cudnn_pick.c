/* See cudnn_pick.h: pure decisions, no CUDA runtime or cuDNN calls. */
#include "core/cudnn_pick.h"

#include <stdio.h>

int gnet_cudnn_math_allowed(cudnnMathType_t m, gnet_cuda_math layer)
{
    switch (layer) {
    case GNET_CUDA_FP32: return m == CUDNN_FMA_MATH;
    case GNET_CUDA_TF32: return m == CUDNN_DEFAULT_MATH || m == CUDNN_TENSOR_OP_MATH;
    case GNET_CUDA_BF16: break;
    }
    return m != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

cudnnMathType_t gnet_cudnn_rank_math(gnet_cuda_math layer)
{
    return layer == GNET_CUDA_FP32   ? CUDNN_FMA_MATH
           : layer == GNET_CUDA_TF32 ? CUDNN_DEFAULT_MATH
                                     : CUDNN_TENSOR_OP_MATH;
}

static int usable(const gnet_cudnn_candidate *c, gnet_cuda_math layer)
{
    return c->status == CUDNN_STATUS_SUCCESS && c->fits && gnet_cudnn_math_allowed(c->math, layer);
}

int gnet_cudnn_order(const gnet_cudnn_candidate *c, int n, gnet_cuda_math layer,
                     int want_deterministic, int *order)
{
    int k = 0;
    /* pass 0: deterministic ones (only when wanted); pass 1: the others, or all. */
    for (int pass = want_deterministic ? 0 : 1; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            int det = c[i].determinism == CUDNN_DETERMINISTIC;
            if (!usable(&c[i], layer) || (pass == 0 && !det) ||
                (pass == 1 && want_deterministic && det))
                continue;
            order[k++] = i;
        }
    return k;
}

int gnet_cudnn_request_count(int max_count) { return max_count > 0 ? max_count : 1; }

static const char *const FWD_NAMES[] = {
    "IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING",
    "WINOGRAD",      "WINOGRAD_NONFUSED"};
static const char *const DATA_NAMES[] = {"ALGO_0",     "ALGO_1",   "FFT",
                                         "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
static const char *const FILTER_NAMES[] = {
    "ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"};

const char *gnet_cudnn_algo_name(gnet_conv_dir dir, int algo, char *buf, size_t n)
{
    const char *const *names = dir == GNET_CONV_FWD    ? FWD_NAMES
                               : dir == GNET_CONV_DATA ? DATA_NAMES
                                                       : FILTER_NAMES;
    int count = dir == GNET_CONV_FWD    ? (int)(sizeof FWD_NAMES / sizeof *FWD_NAMES)
                : dir == GNET_CONV_DATA ? (int)(sizeof DATA_NAMES / sizeof *DATA_NAMES)
                                        : (int)(sizeof FILTER_NAMES / sizeof *FILTER_NAMES);
    if (algo >= 0 && algo < count)
        return names[algo];
    (void)snprintf(buf, n, "algo %d", algo);
    return buf;
}

const char *gnet_cudnn_math_name(cudnnMathType_t m)
{
    switch (m) {
    case CUDNN_DEFAULT_MATH: return "DEFAULT";
    case CUDNN_TENSOR_OP_MATH: return "TENSOR_OP";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "TENSOR_OP_ALLOW_CONVERSION";
    case CUDNN_FMA_MATH: return "FMA";
    }
    return "unknown";
}

static const char *const DIR_NAMES[] = {"forward", "backward-data", "backward-filter"};

const char *gnet_cudnn_plan_line(char *buf, size_t n, const char *layer, gnet_conv_dir dir,
                                 const gnet_cudnn_candidate *chosen, const char *fallback)
{
    char name[24];
    (void)snprintf(buf, n, "cuDNN plan: %s %s: %s, math %s, %s, workspace %.2f MiB%s%s", layer,
                   DIR_NAMES[dir], gnet_cudnn_algo_name(dir, chosen->algo, name, sizeof name),
                   gnet_cudnn_math_name(chosen->math),
                   chosen->determinism == CUDNN_DETERMINISTIC ? "deterministic"
                                                              : "non-deterministic",
                   (double)chosen->workspace / (1024.0 * 1024.0), fallback ? "; " : "",
                   fallback ? fallback : "");
    return buf;
}
