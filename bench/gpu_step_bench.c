/* Times gnet's training step on the CUDA backend (forward + softmax-xent + backward + SGD,
 * as bench/step_bench.c does on the CPU) on one fixed random batch, and prints one JSON line
 * with the fields of bench/torch_bench.py, for scripts/gpu_check.sh.
 * usage: gnet_gpu_step_bench [--batch 64] [--resize 96] [--steps 20] [--warmup 3]
 *                            [--precision fp32|tf32|bf16] [--device 0]
 * Exit 77 (after one line) when there is no CUDA device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/backend_cuda.h"
#include "core/model.h"
#include "core/rng.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const char *arg_str(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

/* A positive integer option, or def. */
static int arg_int(int argc, char **argv, const char *name, int def)
{
    int v = atoi(arg_str(argc, argv, name, "0"));
    return v > 0 ? v : def;
}

/* One fixed batch: uniform pixels, random labels (host; softmax_xent copies them in). */
static float *random_batch(gnet_backend *be, int batch, int size, int32_t *labels)
{
    size_t pixels = (size_t)batch * size * size;
    float *host = malloc(pixels * sizeof(float));
    if (!host) {
        fprintf(stderr, "gpu_step_bench: out of host memory\n");
        exit(1);
    }
    gnet_rng r;
    gnet_rng_init(&r, gnet_rng_key(7, 0, 0, 0));
    for (size_t i = 0; i < pixels; i++)
        host[i] = (float)gnet_rng_uniform(&r);
    for (int i = 0; i < batch; i++)
        labels[i] = (int32_t)gnet_rng_below(&r, GNET_CLASSES);
    float *x = be->alloc(be, pixels);
    be->upload(be, x, host, pixels);
    free(host);
    return x;
}

int main(int argc, char **argv)
{
    int batch = arg_int(argc, argv, "--batch", 64), size = arg_int(argc, argv, "--resize", 96);
    int steps = arg_int(argc, argv, "--steps", 20), warmup = arg_int(argc, argv, "--warmup", 3);
    int device = atoi(arg_str(argc, argv, "--device", "0"));
    const char *precision = arg_str(argc, argv, "--precision", "fp32");
    const char *const names[] = {"fp32", "tf32", "bf16"};
    const gnet_cuda_math maths[] = {GNET_CUDA_FP32, GNET_CUDA_TF32, GNET_CUDA_BF16};
    int which = -1;
    for (int i = 0; i < 3; i++)
        if (strcmp(precision, names[i]) == 0)
            which = i;
    if (which < 0) {
        fprintf(stderr, "gpu_step_bench: --precision must be fp32, tf32 or bf16\n");
        return 2;
    }
    char why[160] = "", name[128] = "";
    if (gnet_cuda_device_count(why, sizeof why) <= device) {
        printf("SKIP: no CUDA device %d (%s)\n", device, why);
        return 77;
    }
    char hint[64];
    snprintf(hint, sizeof hint, "at batch %d", batch);
    gnet_backend *be = gnet_backend_cuda_create(device, maths[which], hint, name, sizeof name);
    gnet_model *m = gnet_model_create(be, batch, size);
    if (!m)
        return 1;
    gnet_model_init(m, 1);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch);
    if (!y)
        return 1;
    float *x = random_batch(be, batch, size, y);
    double t0 = 0.0, loss = 0.0;
    int64_t correct;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) {
            be->sync(be);
            t0 = now();
        }
        gnet_model_forward(m, x);
        be->softmax_xent(be, batch, GNET_CLASSES, m->logits, y, 1.0f / (float)batch, m->dlogits,
                         &loss, &correct);
        gnet_model_backward(m, 0);
        be->sgd(be, m->params, m->grads, NULL, m->n_weights, 0.05f, 0.0f, 0.0f, 0, s == 0);
    }
    be->sync(be);
    double dt = (now() - t0) / steps;
    printf("{\"impl\":\"gnet\",\"device\":\"%s\",\"precision\":\"%s\",\"batch\":%d,\"resize\":%d,"
           "\"img_per_s\":%.2f,\"step_ms\":%.3f,\"activation_mb\":%.1f,\"loss\":%.4f}\n",
           name, precision, batch, size, batch / dt, 1e3 * dt, m->activation_bytes / 1e6,
           loss / batch);
    free(y);
    be->free(be, x);
    gnet_model_destroy(m);
    be->destroy(be);
    return 0;
}
