/* The communicator the trainer uses: who am I (rank, world, local rank on this node), and
 * the collectives of data-parallel training. MPI bootstraps a launched job (mpirun, srun
 * --mpi=pmix); a process started alone gets the serial communicator (gnet_comm_init); the
 * gradient all-reduce runs over MPI (host buffers, CPU backend) or NCCL (device buffers,
 * CUDA backend).
 *
 * Rules: every rank issues the same collectives in the same order. All-reduces are started
 * asynchronously in FIFO order (so backward can overlap with them) and completed by
 * allreduce_wait; the blocking calls (broadcast, reduce_sum, barrier) first wait for any
 * started all-reduce, so the two never interleave (NCCL: broadcast and barrier do;
 * reduce_sum, of host doubles that no device all-reduce touches, does not, since the trainer
 * calls it every step). Counts are element counts. Any failure is fatal for the whole job:
 * the failing rank prints its error and aborts every rank. */
#ifndef GNET_COMM_H
#define GNET_COMM_H

#include <stddef.h>

typedef struct gnet_comm gnet_comm;
struct gnet_comm {
    const char *name; /* "mpi", "nccl" or "serial" */
    int rank, world, local_rank, local_size;
    void *impl;
    void (*broadcast)(gnet_comm *c, float *buf, size_t count, int root);
    /* Blocking broadcast of n bytes of host memory, exactly (ids, hashes). */
    void (*broadcast_bytes)(gnet_comm *c, void *buf, size_t n, int root);
    /* Sum buf[0..count) over all ranks, in place, in the background. */
    void (*allreduce_start)(gnet_comm *c, float *buf, size_t count);
    /* Later work sees every started all-reduce complete. MPI: blocks until they are. NCCL:
     * orders the compute stream after them (an event) and returns at once; the host never
     * waits for them there, and watch keeps the timeout. */
    void (*allreduce_wait)(gnet_comm *c);
    /* Never blocks: ends the job, as a blocking wait would, when a started collective failed
     * or has been unfinished for timeout_s. NCCL only (its all-reduces finish on the device,
     * unwatched by allreduce_wait): call it while the host waits for the device anyway (the
     * trainer hooks it into the backend's waits, backend.h on_wait). MPI, serial: nothing
     * (their waits block with their own timeout). */
    void (*watch)(gnet_comm *c);
    /* Blocking sum of n doubles on the host (epoch metrics). */
    void (*reduce_sum)(gnet_comm *c, double *v, int n);
    void (*barrier)(gnet_comm *c);
    void (*destroy)(gnet_comm *c);
    /* Optional observer (--trace): called, from the thread that ran it, when an all-reduce
     * of count floats ran from t0 to t1 (gnet_now() seconds). Set it while no all-reduce is
     * in flight. The MPI communicator calls it; the NCCL one does not (its all-reduces run
     * on the GPU's stream, not on a host thread). */
    void (*on_allreduce)(void *ctx, size_t count, double t0, double t1);
    void *on_allreduce_ctx;
    /* A collective still unfinished after this many seconds ends the job with a message
     * naming the ranks that never reached it (0: wait forever). Every rank sets the same. */
    double timeout_s;
};

#define GNET_COMM_TIMEOUT_S 300.0

/* Initialises MPI (thread level SERIALIZED at least: the communication thread and the main
 * thread take turns, except that with MULTIPLE the main thread may name hung ranks while an
 * all-reduce is stuck), learns rank/world/local rank, installs the abort hook so that
 * gnet_fatal on any rank ends the job, and returns the MPI communicator. */
gnet_comm *gnet_comm_init_mpi(int *argc, char ***argv);
/* CUDA builds: the NCCL communicator for device buffers, on top of the MPI (or serial) one (which
 * it uses for the unique id, metric sums and barriers, and which must outlive it). The caller has
 * bound the GPU of this rank's local_rank; compute_stream is the backend's cudaStream_t. A
 * collective that does not finish within timeout_s aborts the job. */
gnet_comm *gnet_comm_nccl_create(gnet_comm *mpi, void *compute_stream, double timeout_s);
/* The world-of-one communicator ("serial"): every collective is the identity; no MPI call. */
gnet_comm *gnet_comm_serial_create(void);
/* Whether a launcher started this process, so that MPI must bootstrap it. GNET_MPI=1 forces
 * yes and GNET_MPI=0 no; otherwise yes when any of OMPI_COMM_WORLD_SIZE (Open MPI's mpirun),
 * PMIX_RANK (mpirun, srun --mpi=pmix), PMI_RANK (MPICH, srun --mpi=pmi2) is set, or when
 * SLURM_NTASKS > 1 (srun without an MPI plugin: MPI then fails loudly instead of each task
 * training alone). */
int gnet_comm_launched(void);
/* The MPI library's version (its first line, e.g. "Open MPI v4.1.4, ...") into buf[n]; valid
 * before MPI is initialised. CUDA builds: gnet_comm_nccl_version gives NCCL's ("2.28.3"). */
void gnet_comm_mpi_version(char *buf, size_t n);
void gnet_comm_nccl_version(char *buf, size_t n);
/* The communicator of this process: gnet_comm_init_mpi when gnet_comm_launched(), else the
 * serial one, so that a plain single process needs no MPI runtime (libmpi only to load). */
gnet_comm *gnet_comm_init(int *argc, char ***argv);
/* Destroys the communicator, then finalises MPI if it was initialised. */
void gnet_comm_finalize(gnet_comm *c);

#endif
