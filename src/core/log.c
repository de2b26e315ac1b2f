#include "core/log.h"

#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_rank = 0, g_world = 1;
static void (*g_abort)(int) = NULL;
/* The sink, and the lock that keeps it from being cleared (and its file closed) while
 * another thread writes an error to it. */
static FILE *g_sink = NULL;
static char g_sink_path[4096]; /* "" when none */
static pthread_mutex_t g_sink_lock = PTHREAD_MUTEX_INITIALIZER;

void gnet_log_set_rank(int rank, int world)
{
    g_rank = rank;
    g_world = world;
}
int gnet_log_rank(void) { return g_rank; }
int gnet_log_world(void) { return g_world; }
void gnet_log_set_abort(void (*abort_fn)(int code)) { g_abort = abort_fn; }

void gnet_log_set_sink(FILE *f)
{
    pthread_mutex_lock(&g_sink_lock);
    g_sink = f;
    pthread_mutex_unlock(&g_sink_lock);
}

void gnet_log_set_sink_path(const char *path)
{
    pthread_mutex_lock(&g_sink_lock);
    (void)snprintf(g_sink_path, sizeof g_sink_path, "%s", path ? path : "");
    pthread_mutex_unlock(&g_sink_lock);
}

/* One line appended to the sink path: O_APPEND keeps it whole beside rank 0's lines;
 * O_NONBLOCK, so that something that is not a file there (refused by rank 0) never blocks. */
static void append_line(const char *path, const char *line)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return;
    (void)!write(fd, line, strlen(line));
    (void)close(fd);
}

static void print_error(int with_rank, const char *fmt, va_list ap)
{
    /* Nothing is left to tell about a failure to print an error: results are ignored. */
    char msg[1024], line[1100];
    (void)vsnprintf(msg, sizeof msg, fmt, ap);
    if (with_rank)
        (void)snprintf(line, sizeof line, "gnet: [rank %d] error: %s\n", g_rank, msg);
    else
        (void)snprintf(line, sizeof line, "gnet: error: %s\n", msg);
    (void)fputs(line, stderr);
    (void)fflush(stderr);
    pthread_mutex_lock(&g_sink_lock);
    if (g_sink) {
        (void)fputs(line, g_sink); /* one stdio call: the line stays whole */
        (void)fflush(g_sink);
    }
    if (g_sink_path[0])
        append_line(g_sink_path, line);
    pthread_mutex_unlock(&g_sink_lock);
}

void gnet_errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    print_error(g_world > 1, fmt, ap);
    va_end(ap);
}

int gnet_file_verrorf(const char *file, int line, const char *fmt, va_list ap)
{
    char msg[768];
    (void)vsnprintf(msg, sizeof msg, fmt, ap); /* cut short, not lost, when long */
    if (line > 0)
        gnet_errorf("%s:%d: %s", file, line, msg);
    else
        gnet_errorf("%s: %s", file, msg);
    return -1;
}

int gnet_file_errorf(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = gnet_file_verrorf(file, line, fmt, ap);
    va_end(ap);
    return rc;
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

const char *gnet_escape(const char *in, char *out, size_t n)
{
    size_t used = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        char piece[5] = {(char)*p, '\0'};
        if (*p < 0x20 || *p == 0x7f)
            (void)snprintf(piece, sizeof piece, "\\x%02x", *p);
        size_t len = strlen(piece);
        if (used + len + 4 > n) { /* room for "..." and the terminator */
            (void)snprintf(out + used, n - used, "...");
            return out;
        }
        memcpy(out + used, piece, len);
        used += len;
    }
    out[used] = '\0';
    return out;
}
