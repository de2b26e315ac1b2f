/* Diagnostics. Errors are one line on stderr ("gnet: error: ..."), prefixed with the rank
 * when more than one rank runs, so the failing process is always named; the same line also
 * goes to a sink when one is set (a run's log.txt, so that the log of a failed run says why).
 * Info lines go to stdout from rank 0 only. The only process-wide state is the rank/world
 * pair, the sink and the abort hook that the communicator installs (so a fatal error on one
 * rank ends the job). */
#ifndef GNET_LOG_H
#define GNET_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

void gnet_log_set_rank(int rank, int world);
int gnet_log_rank(void);
int gnet_log_world(void);
/* Called by gnet_fatal() instead of exit(1) when set (the communicator sets MPI_Abort). */
void gnet_log_set_abort(void (*abort_fn)(int code));

/* Error lines also go to f (NULL: none), each written whole and flushed; the caller keeps f
 * open until it sets NULL again. Thread-safe: the prefetch thread reports its errors while
 * the main thread may set or clear the sink; a writer of its own to f should hold
 * flockfile(f) for each of its lines, so that an error line never lands inside one. */
void gnet_log_set_sink(FILE *f);
/* For the ranks that do not hold the log: each error line is also appended to path (NULL:
 * none), opened for that line only and never created, so that rank 0's log.txt also says
 * why another rank failed alone (it aborts the job right after). */
void gnet_log_set_sink_path(const char *path);

void gnet_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* For errors every rank finds identically (a bad option): printed once, by rank 0. */
void gnet_errorf_once(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void gnet_infof(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The one form of an error about a file: "FILE: message", or "FILE:LINE: message" for
 * line > 0 (a config or manifest line). file may name the operation too ("cannot load
 * checkpoint X"). Printed as gnet_errorf prints; returns -1. */
int gnet_file_errorf(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int gnet_file_verrorf(const char *file, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Input quoted in a message, made safe for a terminal: control bytes (below 0x20, and 0x7f)
 * become \xNN; cut with "..." to fit out[n]. Returns out. */
const char *gnet_escape(const char *in, char *out, size_t n);
_Noreturn void gnet_fatal(int code);

#endif
