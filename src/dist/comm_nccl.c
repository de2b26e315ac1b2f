/* NCCL communicator (CUDA builds): gradient all-reduces and the parameter broadcast run on
 * device buffers on a dedicated NCCL stream, ordered after the compute stream by events;
 * host-side metric sums, barriers and broadcasts of host buffers (the trainer's replica
 * check) go through the communicator that bootstrapped the job (MPI, or serial for one
 * process; it also carries the ncclUniqueId from rank 0).
 *
 * allreduce_wait does not wait: it orders the compute stream after the NCCL stream with an
 * event (the update then runs on the device right after the last bucket, with no host round
 * trip). NCCL has no watchdog of its own, so watch (non-blocking: the trainer calls it from
 * the backend's waits, where the host waits for the device anyway) checks that event and
 * ncclCommGetAsyncError, and once it has been unfinished for timeout_s, or NCCL reports an
 * error, aborts the communicator and the job with a message naming this rank. A hung
 * collective stalls the device, so the host soon waits for it and the check runs. */
#include <cuda_runtime_api.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/alloc.h"
#include "core/check_cuda.h"
#include "core/clock.h"
#include "dist/comm.h"

typedef struct {
    gnet_comm *mpi;
    ncclComm_t nccl;
    cudaStream_t compute, stream;
    cudaEvent_t ready, done; /* done: recorded on the NCCL stream by the last allreduce_wait */
    int unfinished;          /* done not yet seen complete */
    double since;            /* when done was recorded */
    double timeout_s;
} nccl_impl;

static nccl_impl *impl_of(gnet_comm *c) { return c->impl; }

/* The NCCL stream waits for everything the compute stream has queued so far. */
static void after_compute(nccl_impl *n)
{
    CUDA_CHECK(cudaEventRecord(n->ready, n->compute));
    CUDA_CHECK(cudaStreamWaitEvent(n->stream, n->ready, 0));
}

static void nccl_allreduce_start(gnet_comm *c, float *buf, size_t count)
{
    nccl_impl *n = impl_of(c);
    after_compute(n);
    NCCL_CHECK(ncclAllReduce(buf, buf, count, ncclFloat32, ncclSum, n->nccl, n->stream));
}

/* Whether the collectives before the last record of done have finished. When not, ends the
 * job if NCCL reported an error or done has been unfinished for timeout_s (0: never).
 * Never blocks. Timing from the last record is enough: a hung collective stalls the device,
 * so the host soon blocks in a wait (watching) and records no more. */
static int finished(nccl_impl *n)
{
    if (!n->unfinished)
        return 1;
    cudaError_t q = cudaEventQuery(n->done);
    if (q == cudaSuccess) {
        n->unfinished = 0;
        return 1;
    }
    if (q != cudaErrorNotReady)
        CUDA_CHECK(q);
    /* "Not ready" is also left as the thread's last error, which the next kernel launcher's
     * cudaGetLastError would report: clear it (as PyTorch's event query does). */
    (void)cudaGetLastError();
    ncclResult_t async = ncclSuccess;
    NCCL_CHECK(ncclCommGetAsyncError(n->nccl, &async));
    double waited = gnet_now() - n->since;
    if (async != ncclSuccess || (n->timeout_s > 0 && waited > n->timeout_s)) {
        gnet_errorf(
            "NCCL collective %s, %.0f s after it was queued; aborting the job (--comm-timeout)",
            async != ncclSuccess ? ncclGetErrorString(async) : "unfinished", waited);
        ncclCommAbort(n->nccl);
        gnet_fatal(1);
    }
    return 0;
}

static void nccl_watch(gnet_comm *c) { (void)finished(impl_of(c)); }

/* Later compute (the optimizer step) reads the reduced gradients: the compute stream waits
 * for them on the device; the host goes on. */
static void nccl_allreduce_wait(gnet_comm *c)
{
    nccl_impl *n = impl_of(c);
    CUDA_CHECK(cudaEventRecord(n->done, n->stream));
    n->unfinished = 1;
    n->since = gnet_now();
    CUDA_CHECK(cudaStreamWaitEvent(n->compute, n->done, 0));
}

/* The host waits for every queued collective (outside the step: the parameter broadcast,
 * barriers, destroy), watching. */
static void host_wait(gnet_comm *c)
{
    nccl_allreduce_wait(c);
    while (!finished(impl_of(c))) {
        struct timespec nap = {0, 100000};
        nanosleep(&nap, NULL);
    }
}

/* Whether buf is host memory, which NCCL cannot read (cudaPointerGetAttributes reports plain
 * malloc'd memory as unregistered). */
static int on_host(const void *buf)
{
    struct cudaPointerAttributes a;
    CUDA_CHECK(cudaPointerGetAttributes(&a, buf));
    return a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged;
}

/* Host bytes (ids, hashes) go over MPI, after every queued collective. */
static void nccl_broadcast_bytes(gnet_comm *c, void *buf, size_t bytes, int root)
{
    host_wait(c);
    impl_of(c)->mpi->broadcast_bytes(impl_of(c)->mpi, buf, bytes, root);
}

static void nccl_broadcast(gnet_comm *c, float *buf, size_t count, int root)
{
    nccl_impl *n = impl_of(c);
    if (on_host(buf)) {
        host_wait(c);
        n->mpi->broadcast(n->mpi, buf, count, root);
        return;
    }
    after_compute(n);
    NCCL_CHECK(ncclBroadcast(buf, buf, count, ncclFloat32, root, n->nccl, n->stream));
    host_wait(c);
}

/* Host doubles (metric sums, the per-step stop verdict): no device all-reduce touches them,
 * so no wait for those; waiting here would put a host wait for the all-reduce in every step. */
static void nccl_reduce_sum(gnet_comm *c, double *v, int count)
{
    impl_of(c)->mpi->reduce_sum(impl_of(c)->mpi, v, count);
}

static void nccl_barrier(gnet_comm *c)
{
    host_wait(c);
    impl_of(c)->mpi->barrier(impl_of(c)->mpi);
}

static void nccl_destroy(gnet_comm *c)
{
    nccl_impl *n = impl_of(c);
    host_wait(c); /* nothing may still run on the communicator it frees */
    NCCL_CHECK(ncclCommDestroy(n->nccl));
    CUDA_CHECK(cudaEventDestroy(n->ready));
    CUDA_CHECK(cudaEventDestroy(n->done));
    CUDA_CHECK(cudaStreamDestroy(n->stream));
    free(n);
    free(c);
}

/* NCCL connects its peers and allocates their buffers at the first collective. Do one of a
 * single float now, before the model takes the GPU's memory: a GPU too full for NCCL fails
 * here, with the free memory named, not in the first training step with a raw NCCL error. */
static void warm_up(gnet_comm *c)
{
    nccl_impl *n = impl_of(c);
    float *one = NULL;
    CUDA_CHECK(cudaMalloc((void **)&one, sizeof *one));
    CUDA_CHECK(cudaMemsetAsync(one, 0, sizeof *one, n->compute));
    ncclResult_t r = ncclAllReduce(one, one, 1, ncclFloat32, ncclSum, n->nccl, n->compute);
    cudaError_t e = r == ncclSuccess ? cudaStreamSynchronize(n->compute) : cudaSuccess;
    if (r != ncclSuccess || e != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        (void)cudaGetLastError();
        (void)cudaMemGetInfo(&free_b, &total_b);
        gnet_errorf(
            "NCCL could not set up its all-reduce on this GPU (%s) with %.1f MiB free of %.1f MiB; "
            "free the GPU or check NCCL_DEBUG=WARN's reason",
            r != ncclSuccess ? ncclGetErrorString(r) : cudaGetErrorString(e),
            (double)free_b / 1048576.0, (double)total_b / 1048576.0);
        gnet_fatal(1);
    }
    CUDA_CHECK(cudaFree(one));
}

gnet_comm *gnet_comm_nccl_create(gnet_comm *mpi, void *compute_stream, double timeout_s)
{
    gnet_comm *c = gnet_calloc(1, sizeof *c, "the NCCL communicator");
    nccl_impl *n = gnet_calloc(1, sizeof *n, "the NCCL communicator's state");
    if (!c || !n)
        gnet_fatal(1);
    *c = *mpi;
    n->mpi = mpi;
    n->compute = (cudaStream_t)compute_stream;
    n->timeout_s = timeout_s;
    ncclUniqueId id;
    if (mpi->rank == 0)
        NCCL_CHECK(ncclGetUniqueId(&id));
    mpi->broadcast_bytes(mpi, &id, sizeof id, 0); /* the id is opaque bytes */
    CUDA_CHECK(cudaStreamCreateWithFlags(&n->stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&n->ready, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&n->done, cudaEventDisableTiming));
    NCCL_CHECK(ncclCommInitRank(&n->nccl, mpi->world, id, mpi->rank));
    c->name = "nccl";
    c->impl = n;
    c->broadcast = nccl_broadcast;
    c->broadcast_bytes = nccl_broadcast_bytes;
    c->allreduce_start = nccl_allreduce_start;
    c->allreduce_wait = nccl_allreduce_wait;
    c->watch = nccl_watch;
    c->reduce_sum = nccl_reduce_sum;
    c->barrier = nccl_barrier;
    c->destroy = nccl_destroy;
    warm_up(c);
    return c;
}

void gnet_comm_nccl_version(char *buf, size_t n)
{
    int v = 0;
    NCCL_CHECK(ncclGetVersion(&v));
    /* NCCL_VERSION_CODE: major*10000 + minor*100 + patch since 2.9 */
    (void)snprintf(buf, n, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
}
