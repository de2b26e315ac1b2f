/* gnet_dist: one process per rank (mpirun, srun --mpi=pmix, or alone: then without MPI).
 * Joins the job, parses the command line, then trains, evaluates or prints shapes. */
#include <stdio.h>
#include <string.h>

#include "dist/comm.h"
#include "train/cli.h"
#include "train/trainer.h"

static int run(const gnet_options *o, int argc, char **argv, gnet_comm *comm)
{
    if (o->version) {
        char v[768];
        if (comm->rank == 0)
            printf("%s\n", gnet_dist_version(v, sizeof v));
        return 0;
    }
    if (o->dry_run)
        return gnet_options_dry_run(o, comm->world);
    if (o->print_shapes)
        return gnet_print_shapes(o, comm);
    if (o->eval_path)
        return gnet_eval(o, comm);
    /* The command line, recorded in the checkpoint's metadata. */
    char command_line[1024] = "";
    for (int i = 0; i < argc; i++) {
        size_t used = strlen(command_line);
        (void)snprintf(command_line + used, sizeof command_line - used, "%s%s", i ? " " : "",
                       argv[i]);
    }
    return gnet_train(o, comm, command_line);
}

static int dispatch(int argc, char **argv, gnet_comm *comm)
{
    gnet_options o;
    int rc = gnet_cli_parse(argc, argv, &o);
    if (rc == 0)
        rc = run(&o, argc, argv, comm);
    else if (rc == 1) /* --help */
        rc = 0;
    gnet_options_free(&o);
    return rc;
}

int main(int argc, char **argv)
{
    gnet_comm *comm = gnet_comm_init(&argc, &argv);
    int rc = dispatch(argc, argv, comm);
    gnet_comm_finalize(comm);
    return rc;
}
