/* The communicator the trainer uses: who am I (rank, world, local rank on this node), and
 * the collectives of data-parallel training. MPI always bootstraps the job (mpirun, srun
 * --mpi=pmix, or a plain single process); the gradient all-reduce runs over MPI (host
 * buffers, CPU backend) or NCCL (device buffers, CUDA backend).
 *
 * Rules: every rank issues the same collectives in the same order. All-reduces are started
 * asynchronously in FIFO order (so backward can overlap with them) and completed by
 * allreduce_wait; the blocking calls (broadcast, reduce_sum, barrier) first wait for any
 * started all-reduce, so the two never interleave. Counts are element counts. Any failure is
 * fatal for the whole job: the failing rank prints its error and aborts every rank. */
#ifndef GNET_COMM_H
#define GNET_COMM_H

#include <stddef.h>

typedef struct gnet_comm gnet_comm;
struct gnet_comm {
    const char *name; /* "mpi" or "nccl" */
    int rank, world, local_rank, local_size;
    void *impl;
    void (*broadcast)(gnet_comm *c, float *buf, size_t count, int root);
    /* Sum buf[0..count) over all ranks, in place, in the background. */
    void (*allreduce_start)(gnet_comm *c, float *buf, size_t count);
    /* Blocks until every started all-reduce is complete. */
    void (*allreduce_wait)(gnet_comm *c);
    /* Blocking sum of n doubles on the host (epoch metrics). */
    void (*reduce_sum)(gnet_comm *c, double *v, int n);
    void (*barrier)(gnet_comm *c);
    void (*destroy)(gnet_comm *c);
};

/* Initialises MPI (thread level SERIALIZED: the communication thread and the main thread
 * never call MPI at the same time), learns rank/world/local rank, installs the abort hook so
 * that gnet_fatal on any rank ends the job, and returns the MPI communicator. */
gnet_comm *gnet_comm_init_mpi(int *argc, char ***argv);
/* CUDA builds: the NCCL communicator for device buffers, on top of the MPI one (which it
 * uses for the unique id, metric sums and barriers, and which must outlive it). The caller
 * has bound the GPU of this rank's local_rank; compute_stream is the backend's cudaStream_t.
 * A collective that does not finish within timeout_s aborts the job. */
gnet_comm *gnet_comm_nccl_create(gnet_comm *mpi, void *compute_stream, double timeout_s);
/* Finalises MPI after destroying the communicator. */
void gnet_comm_finalize(gnet_comm *c);

#endif
