#include "train/stop.h"

#include <signal.h>
#include <string.h>

#include "core/log.h"

/* The one piece of process-wide mutable state outside log.c: a signal handler can reach
 * nothing else. */
static volatile sig_atomic_t received;

static void on_signal(int sig)
{
    if (received == sig) {
        (void)signal(sig, SIG_DFL);
        (void)raise(sig);
        return;
    }
    received = sig;
}

int gnet_stop_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGUSR1, &sa, NULL)) {
        gnet_errorf("cannot install the SIGTERM/SIGUSR1 handlers");
        return -1;
    }
    /* A write past the file-size limit (ulimit -f) then fails with EFBIG, which the writer
     * reports and survives, instead of killing the process. */
    (void)signal(SIGXFSZ, SIG_IGN);
    return 0;
}

int gnet_stop_signal(void) { return received; }

gnet_stop_verdict gnet_stop_after_step(gnet_comm *c, double step_loss_here, double sqnorm_here)
{
    if (c->world == 1)
        return (gnet_stop_verdict){received, step_loss_here, sqnorm_here};
    /* Which signals any rank got, as counts; SIGTERM (the harder request) names the stop. */
    double v[4] = {received == SIGTERM, received == SIGUSR1, step_loss_here, sqnorm_here};
    c->reduce_sum(c, v, 4);
    return (gnet_stop_verdict){v[0] > 0 ? SIGTERM : v[1] > 0 ? SIGUSR1 : 0, v[2], v[3]};
}
