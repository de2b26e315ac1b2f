/* Times the gnet training step (forward + softmax-xent + backward + SGD) on random data and
 * prints one JSON line, the same fields as bench/torch_bench.py, for step_vs_pytorch.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/backend.h"
#include "core/model.h"
#include "core/rng.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int arg_int(int argc, char **argv, const char *name, int def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return atoi(argv[i + 1]);
    return def;
}

int main(int argc, char **argv)
{
    int batch = arg_int(argc, argv, "--batch", 64), size = arg_int(argc, argv, "--resize", 96);
    int threads = arg_int(argc, argv, "--threads", 0), steps = arg_int(argc, argv, "--steps", 10);
    int warmup = arg_int(argc, argv, "--warmup", 2);
    gnet_backend *be = gnet_backend_cpu_create(threads);
    gnet_model *m = gnet_model_create(be, batch, size);
    if (!m)
        return 1;
    gnet_model_init(m, 1);
    size_t pixels = (size_t)batch * size * size;
    float *x = be->alloc(be, pixels);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch);
    gnet_rng r;
    gnet_rng_init(&r, gnet_rng_key(7, 0, 0, 0));
    for (size_t i = 0; i < pixels; i++)
        x[i] = gnet_rng_uniform(&r);
    for (int i = 0; i < batch; i++)
        y[i] = (int32_t)gnet_rng_below(&r, GNET_CLASSES);
    double t0 = 0.0, loss;
    int64_t correct;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup)
            t0 = now();
        gnet_model_forward(m, x);
        be->softmax_xent(be, batch, GNET_CLASSES, m->logits, y, 1.0f / (float)batch, m->dlogits,
                         &loss, &correct);
        gnet_model_backward(m, 0);
        be->sgd(be, m->params, m->grads, NULL, m->n_weights, 0.05f, 0.0f, 0.0f, 0, s == 0);
        be->sync(be);
    }
    double dt = (now() - t0) / steps;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\":\"gnet\",\"batch\":%d,\"resize\":%d,\"threads\":%d,\"img_per_s\":%.2f,"
           "\"step_ms\":%.2f,\"peak_rss_mb\":%.1f,\"loss\":%.4f}\n",
           batch, size, be->threads, batch / dt, 1e3 * dt, ru.ru_maxrss / 1024.0, loss / batch);
    free(y);
    be->free(be, x);
    gnet_model_destroy(m);
    be->destroy(be);
    return 0;
}
