/* A failure every rank agreed on, after the run switched communicators, ends cleanly: run
 * under mpirun -np 2 by fault_test.sh, which checks the exit code 1 of every rank, the one
 * error line and no MPI_Abort banner. As gnet_comm_nccl_create does, the run's communicator
 * is a copy of the one that started the job (here a plain copy, whose collectives are the
 * original's, so that it runs without a GPU); the ranks agree on the copy, and the job ends through the original,
 * as gnet_dist's main does. */
#include "core/log.h"
#include "dist/comm.h"
#include "train/agree.h"

int main(int argc, char **argv)
{
    gnet_comm *boot = gnet_comm_init_mpi(&argc, &argv);
    gnet_comm device = *boot;
    device.name = "copy";
    int ok = boot->rank != 1, rc = 0;
    if (!ok)
        gnet_errorf("a failure of rank 1 after the switch to the device's communicator");
    if (gnet_run_agree(&device, ok))
        rc = gnet_run_fail(boot);
    gnet_comm_finalize(boot);
    return rc;
}
