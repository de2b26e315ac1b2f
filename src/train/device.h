/* The device edge of gnet_dist: which backend computes (--device) and which communicator
 * carries the gradients (--comm). This is the one place the trainer meets the CUDA build
 * (GNET_CUDA); the rest of the trainer sees only the backend op table and gnet_comm. */
#ifndef GNET_DEVICE_H
#define GNET_DEVICE_H

#include "core/backend.h"
#include "dist/comm.h"
#include "train/cli.h"

typedef struct {
    gnet_backend *be;
    /* The communicator the run uses: the MPI one that bootstrapped the job, or an NCCL one
     * on top of it (owned: gnet_device_close destroys it, before MPI is finalised). */
    gnet_comm *comm;
    gnet_comm *owned_comm;
    /* One line on what was chosen, e.g. "cuda:0 (NVIDIA H100 80GB HBM3), fp32 math, nccl
     * communicator" or "cpu (16 threads), serial communicator; no CUDA: <reason>". */
    char summary[256];
} gnet_device;

/* Opens the backend and communicator the options ask for, on top of `boot` (the MPI or serial
 * communicator that started the process). --device auto: CUDA when a device is present, the CPU
 * otherwise; cuda without a device is an error. With CUDA each rank uses GPU local_rank and --comm
 * defaults to NCCL; --precision fp32|tf32|bf16 picks the math (backend_cuda.h). d->summary says
 * what was chosen (the trainer prints it as "device: ..." once the run has started, so that a run
 * refused before then prints nothing to stdout). 0, or -1 after printing why. */
int gnet_device_open(gnet_device *d, const gnet_options *o, gnet_comm *boot);
void gnet_device_close(gnet_device *d);

/* Where every rank runs, for the log of a run of several ranks: on rank 0, one line per rank,
 * "rank R of W: host H, local rank L of N, DEVICE" (DEVICE: the rank's summary without its
 * "; no CUDA" note), joined by newlines, malloc'd for the caller to free; NULL on the other
 * ranks, with a single rank, or out of memory. A collective of `boot` (the communicator that
 * started the process, which knows the local ranks): every rank calls it, once the run has
 * started, so that a refused run still prints nothing. */
char *gnet_device_where(const gnet_device *d, gnet_comm *boot);

/* What this build computes and communicates with, for --version and the log: "CUDA off" or
 * "CUDA on (CUDA runtime ..., cuDNN ..., NCCL ...)". */
void gnet_device_versions(char *buf, size_t n);

#endif
