#include "train/agree.h"

#include "core/log.h"

/* Set once every rank has learnt of the same failure: the job can then end with
 * MPI_Finalize and the exit code on every rank, instead of MPI_Abort, whose multi-line
 * banner would follow the one error line. */
static int failed_together;

int gnet_run_agree(gnet_comm *comm, int ok)
{
    double bad = !ok;
    comm->reduce_sum(comm, &bad, 1);
    if (bad > 0)
        failed_together = 1;
    return bad > 0 ? -1 : 0;
}

int gnet_run_fail(const gnet_comm *comm)
{
    if (comm->world > 1 && !failed_together)
        gnet_fatal(1);
    return 1;
}
