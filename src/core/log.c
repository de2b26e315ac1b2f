#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int g_rank = 0, g_world = 1;
static void (*g_abort)(int) = NULL;

void gnet_log_set_rank(int rank, int world) { g_rank = rank; g_world = world; }
int gnet_log_rank(void) { return g_rank; }
int gnet_log_world(void) { return g_world; }
void gnet_log_set_abort(void (*abort_fn)(int code)) { g_abort = abort_fn; }

static void print_error(int with_rank, const char *fmt, va_list ap)
{
    /* Nothing is left to tell about a failure to print an error: results are ignored. */
    char msg[1024];
    (void)vsnprintf(msg, sizeof msg, fmt, ap);
    if (with_rank)
        (void)fprintf(stderr, "gnet: [rank %d] error: %s\n", g_rank, msg);
    else
        (void)fprintf(stderr, "gnet: error: %s\n", msg);
    (void)fflush(stderr);
}

void gnet_errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_error(g_world > 1, fmt, ap);
    va_end(ap);
}

void gnet_errorf_once(const char *fmt, ...)
{
    if (g_rank != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    print_error(0, fmt, ap);
    va_end(ap);
}

void gnet_infof(const char *fmt, ...)
{
    if (g_rank != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    (void)vprintf(fmt, ap); /* progress output: a failed write is not an error of the run */
    va_end(ap);
    (void)fflush(stdout);
}

_Noreturn void gnet_fatal(int code)
{
    if (g_abort)
        g_abort(code);
    exit(code);
}
