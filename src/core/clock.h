/* The one clock gnet measures with: monotonic seconds (steps, spans, timeouts). */
#ifndef GNET_CLOCK_H
#define GNET_CLOCK_H

#include <time.h>

static inline double gnet_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif
