#include "train/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "train/placement.h"
#ifdef GNET_CUDA
#include "core/backend_cuda.h"
#endif

/* CPU threads per rank: ranks on one node share its cores. */
static int cpu_threads(const gnet_options *o, const gnet_comm *c)
{
    if (o->threads)
        return o->threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores / c->local_size > 0 ? (int)(cores / c->local_size) : 1;
}

static int open_cpu(gnet_device *d, const gnet_options *o, gnet_comm *boot,
                    const char *why_not_cuda)
{
    if (strcmp(o->precision, "fp32") != 0) {
        gnet_errorf_once("--precision %s needs the CUDA backend; the CPU computes in fp32",
                         o->precision);
        return -1;
    }
    if (o->comm && strcmp(o->comm, "nccl") == 0) {
        gnet_errorf_once(
            "--comm nccl: NCCL needs the CUDA backend; use --comm mpi with --device cpu");
        return -1;
    }
    d->be = gnet_backend_cpu_create(cpu_threads(o, boot));
    d->comm = boot;
    (void)snprintf(d->summary, sizeof d->summary, "cpu (%d threads), %s communicator%s%s",
                   d->be->threads, boot->name, why_not_cuda ? "; no CUDA: " : "",
                   why_not_cuda ? why_not_cuda : "");
    return 0;
}

#ifdef GNET_CUDA
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
#endif

int gnet_device_open(gnet_device *d, const gnet_options *o, gnet_comm *boot)
{
    memset(d, 0, sizeof *d);
    if (strcmp(o->device, "cpu") == 0)
        return open_cpu(d, o, boot, NULL);
#ifdef GNET_CUDA
    char why[160] = "";
    int devices = gnet_cuda_device_count(why, sizeof why);
    if (devices > 0)
        return open_cuda(d, o, boot, devices);
#else
    const char *why = "this gnet was built without the CUDA toolkit (GNET_CUDA=OFF)";
#endif
    if (strcmp(o->device, "cuda") == 0) {
        gnet_errorf("--device cuda: no usable CUDA device (%s)", why);
        return -1;
    }
    return open_cpu(d, o, boot, why);
}

void gnet_device_close(gnet_device *d)
{
    if (d->owned_comm)
        d->owned_comm->destroy(d->owned_comm);
    if (d->be)
        d->be->destroy(d->be);
    memset(d, 0, sizeof *d);
}

#define WHERE_LINE 224 /* bytes of one rank's line, its NUL included */

char *gnet_device_where(const gnet_device *d, gnet_comm *boot)
{
    if (boot->world < 2)
        return NULL;
    char host[64] = "?", line[WHERE_LINE];
    if (gethostname(host, sizeof host) != 0)
        (void)snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = '\0';
    int dev_len = (int)strcspn(d->summary, ";");
    (void)snprintf(line, sizeof line, "rank %d of %d: host %s, local rank %d of %d, %.*s",
                   boot->rank, boot->world, host, boot->local_rank, boot->local_size, dev_len,
                   d->summary);
    /* Rank 0 collects the lines one broadcast per rank (every rank takes part in each). */
    char *all =
        boot->rank == 0 ? gnet_malloc((size_t)boot->world * WHERE_LINE, "the ranks' hosts") : NULL;
    size_t used = 0;
    for (int r = 0; r < boot->world; r++) {
        char buf[WHERE_LINE];
        if (r == boot->rank)
            memcpy(buf, line, sizeof buf);
        boot->broadcast_bytes(boot, buf, sizeof buf, r);
        buf[sizeof buf - 1] = '\0';
        if (all)
            used += (size_t)snprintf(all + used, (size_t)boot->world * WHERE_LINE - used, "%s%s",
                                     r ? "\n" : "", buf);
    }
    return all;
}

void gnet_device_versions(char *buf, size_t n)
{
#ifdef GNET_CUDA
    char cuda[160], nccl[32];
    gnet_cuda_versions(cuda, sizeof cuda);
    gnet_comm_nccl_version(nccl, sizeof nccl);
    (void)snprintf(buf, n, "CUDA on (%s, NCCL %s)", cuda, nccl);
#else
    (void)snprintf(buf, n, "CUDA off");
#endif
}
