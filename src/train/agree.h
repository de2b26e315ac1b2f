/* How a failure ends a job of several ranks: cleanly when every rank knows of it, by
 * aborting the job when one rank fails alone. Whether the ranks agreed is one flag of the
 * process, not of a communicator: the run switches from the communicator that started the
 * job to the device's (NCCL over MPI, gnet_device_open), and a flag kept in one of them
 * would be missed by whoever asks the other. */
#ifndef GNET_AGREE_H
#define GNET_AGREE_H

#include "dist/comm.h"

/* Collective: 0 on every rank when ok on every rank, else -1 on every rank. One rank's
 * failure becomes everyone's, so no rank goes on into a collective the failed one will
 * never join. */
int gnet_run_agree(gnet_comm *comm, int ok);

/* A failure on one rank must end every rank: alone, or when every rank knows of it (a
 * gnet_run_agree failed, on any communicator), return 1 (the job ends with MPI_Finalize);
 * else abort the job. */
int gnet_run_fail(const gnet_comm *comm);

#endif
