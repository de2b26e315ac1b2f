/* Time of one sum all-reduce of the whole gradient buffer (5,977,530 floats) through the
 * gnet communicator, and of the same buffer in buckets. Run under mpirun; rank 0 prints one
 * JSON line. usage: allreduce_bench [--count N] [--iters N] [--bucket-mb MB] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "dist/comm.h"

static double arg(int argc, char **argv, const char *name, double def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return atof(argv[i + 1]);
    return def;
}

/* Mean seconds per all-reduce of buf in pieces of `piece` floats (all started, then waited). */
static double time_allreduce(gnet_comm *c, float *buf, size_t count, size_t piece, int iters)
{
    c->barrier(c);
    double t0 = gnet_now();
    for (int it = 0; it < iters; it++) {
        for (size_t off = 0; off < count; off += piece)
            c->allreduce_start(c, buf + off, count - off < piece ? count - off : piece);
        c->allreduce_wait(c);
    }
    c->barrier(c);
    return (gnet_now() - t0) / iters;
}

int main(int argc, char **argv)
{
    gnet_comm *c = gnet_comm_init_mpi(&argc, &argv);
    size_t count = (size_t)arg(argc, argv, "--count", 5977530);
    int iters = (int)arg(argc, argv, "--iters", 20);
    size_t bucket = (size_t)(arg(argc, argv, "--bucket-mb", 4) * 1e6 / sizeof(float));
    float *buf = calloc(count, sizeof(float));
    if (!buf) {
        gnet_errorf("out of memory");
        gnet_fatal(1);
    }
    time_allreduce(c, buf, count, count, 2);
    double whole = time_allreduce(c, buf, count, count, iters);
    double buckets = time_allreduce(c, buf, count, bucket, iters);
    gnet_infof("{\"ranks\":%d,\"floats\":%zu,\"whole_ms\":%.2f,\"bucketed_ms\":%.2f,\"bucket_mb\":%.1f,"
               "\"algbw_gbs\":%.2f}\n",
               c->world, count, 1e3 * whole, 1e3 * buckets, bucket * sizeof(float) / 1e6,
               count * sizeof(float) / whole / 1e9);
    free(buf);
    gnet_comm_finalize(c);
    return 0;
}
