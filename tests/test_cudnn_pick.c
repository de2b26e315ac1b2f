/* The cuDNN planner's pure decisions (src/core/cudnn_pick.c) on hand-made candidate lists:
 * which math types each precision accepts, the order candidates are tried in (cuDNN's rank,
 * deterministic first when wanted, unusable ones dropped: the bf16 fallback walks it), the
 * perf array length taken from cuDNN's MaxCount, and the plan lines (the case plan_lines
 * prints some: scripts/gpu_check.sh --dry-run shows them). No GPU, no cuDNN call. */
#include <stdio.h>
#include <string.h>

#include "core/cudnn_pick.h"
#include "test_util.h"

#define OK CUDNN_STATUS_SUCCESS
#define DET CUDNN_DETERMINISTIC
#define NONDET CUDNN_NON_DETERMINISTIC

static void test_fp32_fma_only(void)
{
    EXPECT(gnet_cudnn_math_allowed(CUDNN_FMA_MATH, GNET_CUDA_FP32));
    /* The default math permits TF32 on Ampere and later: not fp32. */
    EXPECT(!gnet_cudnn_math_allowed(CUDNN_DEFAULT_MATH, GNET_CUDA_FP32));
    EXPECT(!gnet_cudnn_math_allowed(CUDNN_TENSOR_OP_MATH, GNET_CUDA_FP32));
    EXPECT(!gnet_cudnn_math_allowed(CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, GNET_CUDA_FP32));
    EXPECT(gnet_cudnn_rank_math(GNET_CUDA_FP32) == CUDNN_FMA_MATH);
}

static void test_tf32_no_conversion(void)
{
    EXPECT(gnet_cudnn_math_allowed(CUDNN_DEFAULT_MATH, GNET_CUDA_TF32));
    EXPECT(gnet_cudnn_math_allowed(CUDNN_TENSOR_OP_MATH, GNET_CUDA_TF32));
    EXPECT(!gnet_cudnn_math_allowed(CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, GNET_CUDA_TF32));
    EXPECT(!gnet_cudnn_math_allowed(CUDNN_FMA_MATH, GNET_CUDA_TF32));
    EXPECT(gnet_cudnn_rank_math(GNET_CUDA_TF32) == CUDNN_DEFAULT_MATH);
}

static void test_bf16_filter(void)
{
    EXPECT(gnet_cudnn_math_allowed(CUDNN_TENSOR_OP_MATH, GNET_CUDA_BF16));
    EXPECT(gnet_cudnn_math_allowed(CUDNN_DEFAULT_MATH, GNET_CUDA_BF16));
    EXPECT(gnet_cudnn_math_allowed(CUDNN_FMA_MATH, GNET_CUDA_BF16));
    EXPECT(!gnet_cudnn_math_allowed(CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, GNET_CUDA_BF16));
    EXPECT(gnet_cudnn_rank_math(GNET_CUDA_BF16) == CUDNN_TENSOR_OP_MATH);
}

/* A ranked list as cuDNN's heuristics might return it for an fp32 layer. */
static const gnet_cudnn_candidate k_fp32_list[] = {
    {.algo = 1, .status = OK, .determinism = NONDET, .math = CUDNN_DEFAULT_MATH, .fits = 1},
    {.algo = 0, .status = OK, .determinism = NONDET, .math = CUDNN_FMA_MATH, .fits = 1},
    {.algo = 2, .status = CUDNN_STATUS_NOT_SUPPORTED, .determinism = DET, .math = CUDNN_FMA_MATH},
    {.algo = 5, .status = OK, .determinism = DET, .math = CUDNN_FMA_MATH, .fits = 0},
    {.algo = 3, .status = OK, .determinism = DET, .math = CUDNN_FMA_MATH, .fits = 1},
    {.algo = 6, .status = OK, .determinism = DET, .math = CUDNN_TENSOR_OP_MATH, .fits = 1},
};
#define N_FP32 (int)(sizeof k_fp32_list / sizeof *k_fp32_list)

static void test_order_deterministic_first(void)
{
    int order[N_FP32];
    /* FMA only, succeeded, fits: 3 (deterministic) before 0. */
    int n = gnet_cudnn_order(k_fp32_list, N_FP32, GNET_CUDA_FP32, 1, order);
    EXPECT(n == 2);
    EXPECT(order[0] == 4 && order[1] == 1);
    /* Best-ranked of any kind: cuDNN's rank. */
    n = gnet_cudnn_order(k_fp32_list, N_FP32, GNET_CUDA_FP32, 0, order);
    EXPECT(n == 2);
    EXPECT(order[0] == 1 && order[1] == 4);
}

static void test_order_tf32(void)
{
    int order[N_FP32];
    int n = gnet_cudnn_order(k_fp32_list, N_FP32, GNET_CUDA_TF32, 1, order);
    EXPECT(n == 2);
    EXPECT(order[0] == 5 && order[1] == 0); /* tensor-op deterministic, then default math */
}

/* The bf16 fallback walks the order: the next candidate after one fails at execution, and
 * none left (n) means fp32 for the layer. */
static void test_bf16_fallback_order(void)
{
    const gnet_cudnn_candidate c[] = {
        {.algo = 1, .status = OK, .determinism = DET, .math = CUDNN_TENSOR_OP_MATH, .fits = 1},
        {.algo = 0,
         .status = OK,
         .determinism = DET,
         .math = CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION,
         .fits = 1},
        {.algo = 7, .status = OK, .determinism = DET, .math = CUDNN_DEFAULT_MATH, .fits = 1},
    };
    int order[3];
    int n = gnet_cudnn_order(c, 3, GNET_CUDA_BF16, 0, order);
    EXPECT(n == 2);
    EXPECT(order[0] == 0 && order[1] == 2);
    EXPECT(gnet_cudnn_order(c, 0, GNET_CUDA_BF16, 0, order) == 0);
    const gnet_cudnn_candidate none[] = {
        {.algo = 1, .status = CUDNN_STATUS_NOT_SUPPORTED, .math = CUDNN_TENSOR_OP_MATH, .fits = 1}};
    EXPECT(gnet_cudnn_order(none, 1, GNET_CUDA_BF16, 1, order) == 0);
}

static void test_max_count(void)
{
    /* cuDNN's own count, whatever the headers' enums say; never 0 (a broken answer). */
    EXPECT(gnet_cudnn_request_count(12) == 12);
    EXPECT(gnet_cudnn_request_count(CUDNN_CONVOLUTION_FWD_ALGO_COUNT) ==
           CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
    EXPECT(gnet_cudnn_request_count(0) == 1);
    EXPECT(gnet_cudnn_request_count(-3) == 1);
}

static void test_plan_lines(void)
{
    char line[384], name[24];
    const gnet_cudnn_candidate fwd = {.algo = 1,
                                      .status = OK,
                                      .determinism = DET,
                                      .math = CUDNN_FMA_MATH,
                                      .workspace = (size_t)3 << 20,
                                      .fits = 1};
    gnet_cudnn_plan_line(line, sizeof line, "conv 3x3/1 64->192 @24x24 batch 64", GNET_CONV_FWD,
                         &fwd, NULL);
    printf("%s\n", line);
    EXPECT(strstr(line, "forward: IMPLICIT_PRECOMP_GEMM, math FMA, deterministic, workspace 3.00 MiB"));
    const gnet_cudnn_candidate filt = {.algo = 3,
                                       .status = OK,
                                       .determinism = NONDET,
                                       .math = CUDNN_FMA_MATH,
                                       .fits = 1};
    gnet_cudnn_plan_line(line, sizeof line, "conv 7x7/2 1->64 @96x96 batch 64", GNET_CONV_FILTER,
                         &filt, "bf16 -> fp32 for this layer: no bf16 backward-filter algorithm");
    printf("%s\n", line);
    EXPECT(strstr(line, "backward-filter: ALGO_3, math FMA, non-deterministic"));
    EXPECT(strstr(line, "; bf16 -> fp32 for this layer"));
    EXPECT(strcmp(gnet_cudnn_algo_name(GNET_CONV_DATA, 9, name, sizeof name), "algo 9") == 0);
}

static const test_case k_cases[] = {
    TEST_CASE(fp32_fma_only),
    TEST_CASE(tf32_no_conversion),
    TEST_CASE(bf16_filter),
    TEST_CASE(order_deterministic_first),
    TEST_CASE(order_tf32),
    TEST_CASE(bf16_fallback_order),
    TEST_CASE(max_count),
    TEST_CASE(plan_lines),
};

int main(int argc, char **argv)
{
    const test_case *tc = test_case_select(argc, argv, k_cases, sizeof k_cases / sizeof k_cases[0]);
    printf("cudnn_pick.%s\n", tc->name);
    tc->run();
    TEST_MAIN_END();
}
