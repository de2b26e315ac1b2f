/* Throughput of the prefetching loader with the trainer off: the consumer only calls
 * gnet_loader_next, so batches/s is what the prefetch thread sustains (or, with --step-ms,
 * it sleeps that long per batch to stand in for a step, to show next() then never blocks). Sources: the IDX files in memory (--idx DIR) and, with
 * --prepared DIR, the HDF5 shards. One JSON line per (source, size). Training needs about 4
 * batches of 64 per second at 96x96 on this machine; the target is 20x that. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/source.h"

#define NEED_BATCHES_PER_S 80.0

typedef struct {
    const char *idx, *prepared;
    int batch, batches, step_ms;
} options;

static const char *arg_str(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

static void pause_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Takes o->batches batches after a short warm-up, wrapping into new epochs as needed. */
static int run(gnet_source *src, const char *name, int size, const options *o)
{
    gnet_sampler_config c = {GNET_SAMPLE_TRAIN, 0, NULL, o->batch, 0, 1, 1, 0, 1};
    gnet_loader *l = gnet_loader_create(src, &c, size, 1, name);
    if (!l)
        return -1;
    int64_t steps = gnet_loader_steps(l), k = 0, epoch = 0;
    int warmup = 3, rc = 0;
    double t0 = 0.0, wait0 = 0.0;
    gnet_loader_start_epoch(l, 0, 0);
    for (int i = 0; i < warmup + o->batches && rc == 0; i++, k++) {
        if (i == warmup)
            t0 = gnet_now(), wait0 = gnet_loader_wait_seconds(l);
        if (k == steps)
            gnet_loader_start_epoch(l, ++epoch, k = 0);
        gnet_batch b;
        rc = gnet_loader_next(l, &b);
        if (o->step_ms > 0)
            pause_ms(o->step_ms);
    }
    double dt = gnet_now() - t0, blocked = gnet_loader_wait_seconds(l) - wait0;
    gnet_loader_destroy(l);
    if (rc != 0)
        return -1;
    double bps = o->batches / dt;
    /* Alone, the loader must reach the target rate; behind a step, it must never hold the
     * step up (blocked under 1% of the step time). */
    int ok = o->step_ms > 0 ? blocked < 0.01 * 1e-3 * o->step_ms * o->batches
                            : bps >= NEED_BATCHES_PER_S;
    printf("{\"bench\":\"loader\",\"source\":\"%s\",\"size\":%d,\"batch\":%d,\"batches\":%d,"
           "\"step_ms\":%d,\"batches_per_s\":%.1f,\"img_per_s\":%.0f,\"blocked_s\":%.4f,"
           "\"blocked_ms_per_batch\":%.3f,\"need_batches_per_s\":%.0f,\"ok\":%s}\n",
           name, size, o->batch, o->batches, o->step_ms, bps, bps * o->batch, blocked,
           1e3 * blocked / o->batches, NEED_BATCHES_PER_S,
           ok ? "true" : "false");
    fflush(stdout);
    return 0;
}

static int run_sizes(gnet_source *src, const char *name, const options *o)
{
    int rc = 0;
    rc |= run(src, name, 28, o);
    rc |= run(src, name, 96, o);
    return rc;
}

static int bench_idx(const options *o)
{
    gnet_dataset d;
    if (gnet_dataset_load_idx(&d, o->idx, 1) != 0)
        return -1;
    gnet_source *src = gnet_source_from_dataset(&d);
    int rc = src ? run_sizes(src, "idx", o) : -1;
    if (src)
        src->destroy(src);
    gnet_dataset_free(&d);
    return rc;
}

static int bench_prepared(const options *o)
{
    gnet_source *src = gnet_source_open_prepared(o->prepared, "train", 0, 1);
    if (!src)
        return -1;
    int rc = run_sizes(src, "prepared", o);
    src->destroy(src);
    return rc;
}

int main(int argc, char **argv)
{
    options o = {
        arg_str(argc, argv, "--idx", "/usr/share/datasets/fashion-mnist"),
        arg_str(argc, argv, "--prepared", NULL),
        atoi(arg_str(argc, argv, "--batch", "64")),
        atoi(arg_str(argc, argv, "--batches", "400")),
        atoi(arg_str(argc, argv, "--step-ms", "0")),
    };
    if (o.batch < 1 || o.batches < 1 || o.step_ms < 0) {
        fprintf(stderr, "usage: gnet_loader_bench [--idx DIR] [--prepared DIR] [--batch B] "
                        "[--batches N] [--step-ms MS]\n");
        return 2;
    }
    int rc = bench_idx(&o);
    if (o.prepared)
        rc |= bench_prepared(&o);
    return rc ? 1 : 0;
}
