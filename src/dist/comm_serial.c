/* The world-of-one communicator, and the choice between it and MPI (gnet_comm_init): a
 * process that no launcher started needs no MPI runtime (on a machine without one, Open
 * MPI's singleton MPI_Init fails: it execs orted). With one rank every collective is the
 * identity, so broadcast, all-reduce, metric sums and the barrier do nothing. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "dist/comm.h"

static void serial_broadcast(gnet_comm *c, float *buf, size_t count, int root)
{
    (void)c, (void)buf, (void)count, (void)root;
}

static void serial_broadcast_bytes(gnet_comm *c, void *buf, size_t n, int root)
{
    (void)c, (void)buf, (void)n, (void)root;
}

static void serial_allreduce_start(gnet_comm *c, float *buf, size_t count)
{
    (void)c, (void)buf, (void)count;
}

static void serial_allreduce_wait(gnet_comm *c) { (void)c; }

static void serial_watch(gnet_comm *c) { (void)c; }

static void serial_reduce_sum(gnet_comm *c, double *v, int n) { (void)c, (void)v, (void)n; }

static void serial_barrier(gnet_comm *c) { (void)c; }

static void serial_destroy(gnet_comm *c) { free(c); }

gnet_comm *gnet_comm_serial_create(void)
{
    gnet_comm *c = gnet_calloc(1, sizeof *c, "the serial communicator");
    if (!c)
        gnet_fatal(1);
    c->name = "serial";
    c->rank = 0;
    c->world = 1;
    c->local_rank = 0;
    c->local_size = 1;
    c->broadcast = serial_broadcast;
    c->broadcast_bytes = serial_broadcast_bytes;
    c->allreduce_start = serial_allreduce_start;
    c->allreduce_wait = serial_allreduce_wait;
    c->watch = serial_watch;
    c->reduce_sum = serial_reduce_sum;
    c->barrier = serial_barrier;
    c->destroy = serial_destroy;
    gnet_log_set_rank(0, 1);
    return c;
}

static int env_set(const char *name) { return getenv(name) != NULL; }

int gnet_comm_launched(void)
{
    const char *force = getenv("GNET_MPI");
    if (force && *force)
        return strcmp(force, "0") != 0;
    const char *ntasks = getenv("SLURM_NTASKS");
    return env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMIX_RANK") || env_set("PMI_RANK") ||
           (ntasks && atoi(ntasks) > 1);
}

gnet_comm *gnet_comm_init(int *argc, char ***argv)
{
    return gnet_comm_launched() ? gnet_comm_init_mpi(argc, argv) : gnet_comm_serial_create();
}
