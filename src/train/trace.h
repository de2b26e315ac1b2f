/* --trace: a timeline of the step in Chrome's trace-event JSON (open it in Perfetto or
 * chrome://tracing), one file per rank (FILE with one rank, FILE.<rank> with several), the
 * way Horovod's timeline shows it. Spans: forward, backward, optimizer, waiting for the
 * all-reduce, for data and for a loss read one step late ("loss wait"), evaluation and
 * checkpoints on the "train" track; each bucket's
 * all-reduce, from the moment it ran to its end, on the "all-reduce" track (recorded by the
 * communication thread, so the overlap with backward is visible). With the CUDA backend the
 * compute spans are host-side enqueue times.
 *
 * Events go to a buffer sized at open (no allocation in the step); when it is full, later
 * events are counted and dropped, and the file says how many. The file is written at close,
 * atomically. Every function accepts a NULL trace (no --trace) and does nothing. */
#ifndef GNET_TRACE_H
#define GNET_TRACE_H

#include <stddef.h>

typedef struct gnet_trace gnet_trace;

enum { GNET_TRACK_TRAIN = 0, GNET_TRACK_ALLREDUCE = 1 };

/* At the start of a run: this rank's file (FILE, or FILE.<rank> with several ranks) must be
 * writable when the run ends, i.e. absent or a regular file in an existing, writable
 * directory, or in pending_dir (--out, which the run creates; or NULL): gnet_output_check.
 * NULL after one error line naming it. Check path first: NULL is no tracing. */
gnet_trace *gnet_trace_open(const char *path, int rank, int world, size_t max_events,
                            const char *pending_dir);
/* A span [t0, t1] (gnet_now() seconds) named by a string literal. Thread-safe. */
void gnet_trace_span(gnet_trace *t, int track, const char *name, double t0, double t1);
/* The communicator's hook: an all-reduce of count floats ran from t0 to t1. */
void gnet_trace_allreduce(void *trace, size_t count, double t0, double t1);
/* Writes the file (unless write is 0: a run refused before training writes nothing) and
 * frees the trace: 0, or -1 after an error line. */
int gnet_trace_close(gnet_trace *t, int write);

#endif
