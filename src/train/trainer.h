/* What gnet_dist does: train (the epoch loop with d2l-style epoch lines and an optional final
 * checkpoint), evaluate a checkpoint on the test set, or print the network's shapes. Every
 * rank of the job calls the same function; rank 0 prints. Each returns the process exit
 * code (0 on success, 1 after an error, 2 for an impossible batch split). In a job of
 * several ranks, a failure on one rank aborts them all (MPI_Abort) with its message. */
#ifndef GNET_TRAINER_H
#define GNET_TRAINER_H

#include <stddef.h>

#include "dist/comm.h"
#include "train/cli.h"

int gnet_train(const gnet_options *o, gnet_comm *comm, const char *command_line);
int gnet_eval(const gnet_options *o, gnet_comm *comm);
int gnet_print_shapes(const gnet_options *o, gnet_comm *comm);
/* "gnet_dist <git version> (oneDNN ..., HDF5 ..., zlib ...), Open MPI v..., CUDA on (...)|off":
 * --version's line, also the first line of a run's log.txt. */
const char *gnet_dist_version(char *buf, size_t n);

#endif
