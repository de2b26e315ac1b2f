/* Why a run stops before its end. On request: SIGTERM or SIGUSR1 (what Slurm sends before a time
 * limit or a preemption, and what mpirun forwards) ask the run to finish the step it is in, save
 * its state and exit with GNET_EXIT_STOPPED. A second signal of the same kind ends the process at
 * once (the default action), so a stuck run can still be killed. */
#ifndef GNET_STOP_H
#define GNET_STOP_H

#include "dist/comm.h"

/* Exit code of a run whose loss became NaN or Inf (distinct from errors, 1, bad options, 2,
 * and a stop on request, 3). */
#define GNET_EXIT_DIVERGED 4

/* Installs the handlers (SA_RESTART: interrupted reads go on) and ignores SIGXFSZ. 0, or -1
 * after an error. */
int gnet_stop_install(void);
/* The signal this process received, or 0. */
int gnet_stop_signal(void);
/* What the ranks agree on after a step. */
typedef struct {
    int signal;       /* SIGTERM or SIGUSR1 when any rank received one, else 0 */
    double step_loss; /* the step's loss summed over all ranks' rows: NaN or Inf = diverged */
    double sqnorm;    /* the ranks' local gradient squared norms, summed (the noise scale) */
} gnet_stop_verdict;

/* Collective, after every step (one reduction of four doubles; none with one rank): every
 * rank stops at the same step even when a signal reached them at different moments, and a
 * loss that is not finite on any rank is seen by all. The same reduction carries the sum of
 * the ranks' local gradient norms, so measuring the noise scale adds no collective. */
gnet_stop_verdict gnet_stop_after_step(gnet_comm *c, double step_loss_here, double sqnorm_here);

#endif
