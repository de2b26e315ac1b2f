/* The CUDA half of gnet_device_open, built into the plugin libgnet_cuda.so
 * (device_plugin.h), which gnet_dist loads only when a run may use a GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/backend_cuda.h"
#include "core/log.h"
#include "train/device_plugin.h"
#include "train/placement.h"

/* The communicator for device buffers is NCCL (a single process: the serial one, unless
 * --comm nccl): gnet does not assume a CUDA-aware MPI, so MPI never sees a GPU buffer (it
 * still bootstraps the job and sums the host metrics). */
static int open_cuda_comm(gnet_device *d, const gnet_options *o, gnet_comm *boot)
{
    if (o->comm && strcmp(o->comm, "mpi") == 0) {
        gnet_errorf_once("--comm mpi with --device cuda would hand GPU buffers to MPI, which gnet "
                         "does not assume is CUDA-aware; use --comm nccl (the default with CUDA)");
        return -1;
    }
    if (strcmp(gnet_cuda_comm_choice(o->comm, boot->world), "serial") == 0) {
        d->owned_comm = gnet_comm_serial_create();
    } else {
        d->owned_comm =
            gnet_comm_nccl_create(boot, gnet_backend_cuda_stream(d->be), o->comm_timeout);
    }
    d->comm = d->owned_comm;
    return 0;
}

/* This rank's GPU among the visible ones; then every rank's GPU identity goes to all, so
 * that two ranks bound to one physical GPU are refused by all ranks alike. */
static int pick_device(gnet_comm *boot, int devices)
{
    char why[256];
    int dev = gnet_pick_gpu(boot->local_rank, boot->local_size, devices, why, sizeof why);
    double *ids = gnet_calloc((size_t)boot->world, sizeof *ids, "the ranks' GPU identities");
    if (!ids)
        return -1;
    if (dev < 0)
        gnet_errorf("local rank %d: %s", boot->local_rank, why);
    ids[boot->rank] = dev >= 0 ? gnet_cuda_device_id(dev) : -1.0; /* ids are >= 0 */
    boot->reduce_sum(boot, ids, boot->world);
    int other = dev >= 0 ? gnet_gpu_shared_with(ids, boot->world, boot->rank) : -1;
    int failed = 0;
    for (int r = 0; r < boot->world; r++)
        failed |= ids[r] < 0;
    if (other >= 0)
        gnet_errorf("rank %d and rank %d are bound to the same GPU; give each rank its own "
                    "(srun --gpus-per-task=1, or CUDA_VISIBLE_DEVICES per rank)",
                    boot->rank, other);
    free(ids);
    return failed || other >= 0 ? -1 : dev;
}

static int open_cuda(gnet_device *d, const gnet_options *o, gnet_comm *boot, int devices)
{
    int dev = pick_device(boot, devices);
    if (dev < 0)
        return -1;
    gnet_cuda_math math = strcmp(o->precision, "tf32") == 0   ? GNET_CUDA_TF32
                          : strcmp(o->precision, "bf16") == 0 ? GNET_CUDA_BF16
                                                              : GNET_CUDA_FP32;
    int micro = o->batch_size / (boot->world * o->accum_steps);
    char hint[96], name[128];
    snprintf(hint, sizeof hint, "at --batch-size %d (%d rows per micro-batch on this GPU)",
             o->batch_size, micro);
    d->be = gnet_backend_cuda_create(dev, math, hint, name, sizeof name);
    if (open_cuda_comm(d, o, boot))
        return -1;
    snprintf(d->summary, sizeof d->summary, "cuda:%d (%s), %s math, %s communicator", dev, name,
             o->precision, d->comm->name);
    return 0;
}

static void versions(char *buf, size_t n)
{
    char cuda[160], nccl[32];
    gnet_cuda_versions(cuda, sizeof cuda);
    gnet_comm_nccl_version(nccl, sizeof nccl);
    (void)snprintf(buf, n, "CUDA on (%s, NCCL %s)", cuda, nccl);
}

/* What gnet_dist finds with dlsym (GNET_CUDA_PLUGIN_SYMBOL). */
const gnet_cuda_plugin gnet_cuda_plugin_v1 = {gnet_cuda_device_count, open_cuda, versions};
