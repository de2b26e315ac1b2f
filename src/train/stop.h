/* Stopping on request: SIGTERM or SIGUSR1 (what Slurm sends before a time limit or a
 * preemption, and what mpirun forwards) ask the run to finish the step it is in, save its
 * state and exit with GNET_EXIT_STOPPED. A second signal of the same kind ends the process
 * at once (the default action), so a stuck run can still be killed. */
#ifndef GNET_STOP_H
#define GNET_STOP_H

#include "dist/comm.h"

/* Installs the handlers (SA_RESTART: interrupted reads go on). 0, or -1 after an error. */
int gnet_stop_install(void);
/* The signal this process received, or 0. */
int gnet_stop_signal(void);
/* Collective: the signal number when any rank received one, else 0. Every rank calls it
 * after the same step, so all stop at the same step even when the signal reached them at
 * different moments. */
int gnet_stop_agreed(gnet_comm *c);

#endif
