#include "train/device.h"

#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* CPU threads per rank: ranks on one node share its cores. */
static int cpu_threads(const gnet_options *o, const gnet_comm *c)
{
    if (o->threads)
        return o->threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores / c->local_size > 0 ? (int)(cores / c->local_size) : 1;
}

int gnet_device_open(gnet_device *d, const gnet_options *o, gnet_comm *mpi)
{
    memset(d, 0, sizeof *d);
    if (strcmp(o->device, "cuda") == 0) {
        gnet_errorf("--device cuda: this build of gnet has no CUDA backend yet; use --device cpu");
        return -1;
    }
    if (o->comm && strcmp(o->comm, "nccl") == 0) {
        gnet_errorf("--comm nccl: NCCL needs the CUDA backend; use --comm mpi with --device cpu");
        return -1;
    }
    d->be = gnet_backend_cpu_create(cpu_threads(o, mpi));
    d->comm = mpi;
    return d->be ? 0 : -1;
}

void gnet_device_close(gnet_device *d)
{
    if (d->owned_comm)
        d->owned_comm->destroy(d->owned_comm);
    if (d->be)
        d->be->destroy(d->be);
    memset(d, 0, sizeof *d);
}
