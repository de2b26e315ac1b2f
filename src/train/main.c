/* gnet_dist: one process per rank (mpirun, srun --mpi=pmix, or alone). Joins the job, parses
 * the command line, then trains, evaluates or prints shapes. */
#include <stdio.h>
#include <string.h>

#include "dist/comm.h"
#include "train/cli.h"
#include "train/trainer.h"

static int dispatch(int argc, char **argv, gnet_comm *comm)
{
    gnet_options o;
    int rc = gnet_cli_parse(argc, argv, &o);
    if (rc == 1)
        return 0;
    if (rc)
        return rc;
    if (o.print_shapes)
        return gnet_print_shapes(&o, comm);
    if (o.eval_path)
        return gnet_eval(&o, comm);
    /* The command line, recorded in the checkpoint's metadata. */
    char command_line[1024] = "";
    for (int i = 0; i < argc; i++) {
        size_t used = strlen(command_line);
        snprintf(command_line + used, sizeof command_line - used, "%s%s", i ? " " : "", argv[i]);
    }
    return gnet_train(&o, comm, command_line);
}

int main(int argc, char **argv)
{
    gnet_comm *comm = gnet_comm_init_mpi(&argc, &argv);
    int rc = dispatch(argc, argv, comm);
    gnet_comm_finalize(comm);
    return rc;
}
