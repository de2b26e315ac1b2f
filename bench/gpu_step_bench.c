/* Times gnet's training step on the CUDA backend (forward + softmax-xent + backward + SGD,
 * as bench/step_bench.c does on the CPU) on one fixed random batch, and prints one JSON line
 * with the fields of bench/torch_bench.py, for scripts/gpu_check.sh.
 * usage: gnet_gpu_step_bench [--batch 64] [--resize 96] [--steps 20] [--warmup 3]
 *                            [--samples 3] [--precision fp32|tf32|bf16] [--device 0]
 * img_per_s and step_ms are the median of --samples runs of --steps steps each (the warmup
 * before the first only); samples_img_per_s lists each. deterministic is the cuDNN algorithm
 * preference, from GNET_CUDNN_DETERMINISTIC (src/core/backend_cuda.h).
 * Exit 77 (after one line) when there is no CUDA device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "core/backend_cuda.h"

static int parse_math(const char *precision, gnet_cuda_math *math)
{
    const char *const names[] = {"fp32", "tf32", "bf16"};
    const gnet_cuda_math maths[] = {GNET_CUDA_FP32, GNET_CUDA_TF32, GNET_CUDA_BF16};
    for (int i = 0; i < 3; i++)
        if (strcmp(precision, names[i]) == 0) {
            *math = maths[i];
            return 0;
        }
    return -1;
}

/* The JSON line: the median, then every sample. */
static void print_result(gnet_backend *be, gnet_model *m, const char *name, const char *precision,
                         double median, const double *each, int samples, double loss)
{
    printf("{\"impl\":\"gnet\",\"device\":\"%s\",\"precision\":\"%s\",\"deterministic\":%d,\"batch\":%d,"
           "\"resize\":%d,\"img_per_s\":%.2f,\"step_ms\":%.3f,\"samples_img_per_s\":[",
           name, precision, gnet_backend_cuda_deterministic(be), m->batch, m->size, m->batch / median,
           1e3 * median);
    for (int i = 0; i < samples; i++)
        printf("%s%.2f", i ? "," : "", m->batch / each[i]);
    printf("],\"activation_mb\":%.1f,\"loss\":%.4f}\n", m->activation_bytes / 1e6, loss);
}

int main(int argc, char **argv)
{
    /* Line-buffered even into a pipe: a kill or a crash inside cuDNN keeps every line printed
     * so far, the one naming the op included (scripts/gpu_check.sh). */
    setvbuf(stdout, NULL, _IOLBF, 0);
    int batch = bench_arg_int(argc, argv, "--batch", 64), size = bench_arg_int(argc, argv, "--resize", 96);
    int steps = bench_arg_int(argc, argv, "--steps", 20), warmup = bench_arg_int(argc, argv, "--warmup", 3);
    int samples = bench_arg_int(argc, argv, "--samples", 3);
    int device = atoi(bench_arg_str(argc, argv, "--device", "0"));
    const char *precision = bench_arg_str(argc, argv, "--precision", "fp32");
    gnet_cuda_math math;
    if (parse_math(precision, &math) || samples > BENCH_MAX_SAMPLES) {
        fprintf(stderr, "gpu_step_bench: --precision must be fp32, tf32 or bf16, --samples at most %d\n",
                BENCH_MAX_SAMPLES);
        return 2;
    }
    char why[160] = "", name[128] = "";
    if (gnet_cuda_device_count(why, sizeof why) <= device) {
        printf("SKIP: no CUDA device %d (%s)\n", device, why);
        return 77;
    }
    char hint[64];
    snprintf(hint, sizeof hint, "at batch %d", batch);
    gnet_backend *be = gnet_backend_cuda_create(device, math, hint, name, sizeof name);
    gnet_model *m;
    float *x;
    int32_t *y;
    if (bench_setup(be, batch, size, &m, &x, &y))
        return 1;
    double loss, each[BENCH_MAX_SAMPLES];
    double dt = bench_median_step_seconds(be, m, x, y, warmup, steps, samples, each, &loss);
    print_result(be, m, name, precision, dt, each, samples, loss);
    free(y);
    be->free(be, x);
    gnet_model_destroy(m);
    be->destroy(be);
    return 0;
}
