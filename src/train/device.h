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
} gnet_device;

/* Opens the backend and communicator the options ask for (auto: CUDA when a device is
 * present, the CPU otherwise; rank 0 says which). 0, or -1 after printing why. */
int gnet_device_open(gnet_device *d, const gnet_options *o, gnet_comm *mpi);
void gnet_device_close(gnet_device *d);

#endif
