/* Times the gnet training step (forward + softmax-xent + backward + SGD) on random data and
 * prints one JSON line, the same fields as bench/torch_bench.py, for step_vs_pytorch.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_util.h"

int main(int argc, char **argv)
{
    int batch = bench_arg_int(argc, argv, "--batch", 64), size = bench_arg_int(argc, argv, "--resize", 96);
    int threads = bench_arg_int(argc, argv, "--threads", 0), steps = bench_arg_int(argc, argv, "--steps", 10);
    int warmup = bench_arg_int(argc, argv, "--warmup", 2);
    gnet_backend *be = gnet_backend_cpu_create(threads);
    gnet_model *m;
    float *x;
    int32_t *y;
    if (bench_setup(be, batch, size, &m, &x, &y))
        return 1;
    double loss, dt = bench_step_seconds(be, m, x, y, warmup, steps, &loss);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\":\"gnet\",\"batch\":%d,\"resize\":%d,\"threads\":%d,\"img_per_s\":%.2f,"
           "\"step_ms\":%.2f,\"peak_rss_mb\":%.1f,\"loss\":%.4f}\n",
           batch, size, be->threads, batch / dt, 1e3 * dt, ru.ru_maxrss / 1024.0, loss);
    free(y);
    be->free(be, x);
    gnet_model_destroy(m);
    be->destroy(be);
    return 0;
}
