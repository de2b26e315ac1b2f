#include "train/trace.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/durable.h"
#include "core/log.h"

typedef struct {
    const char *name;
    int track;
    double t0, t1;
    size_t count; /* all-reduce: floats; else 0 */
} event;

struct gnet_trace {
    char path[1024];
    int rank;
    pthread_mutex_t lock; /* the communication thread records too */
    event *events;
    size_t n, max, dropped;
};

/* This rank's file, checked now so that a path the end of the run could not write is
 * refused before training rather than after it (durable.h). */
static int trace_path(gnet_trace *t, const char *path, int rank, int world, const char *pending_dir)
{
    char why[512];
    int len = world > 1 ? snprintf(t->path, sizeof t->path, "%s.%d", path, rank)
                        : snprintf(t->path, sizeof t->path, "%s", path);
    if (len >= (int)sizeof t->path) {
        gnet_errorf("--trace %s: path too long", path);
        return -1;
    }
    if (gnet_output_check(t->path, pending_dir, why, sizeof why)) {
        gnet_errorf("--trace %s: %s", t->path, why);
        return -1;
    }
    return 0;
}

gnet_trace *gnet_trace_open(const char *path, int rank, int world, size_t max_events,
                            const char *pending_dir)
{
    gnet_trace *t = calloc(1, sizeof *t);
    if (!t || trace_path(t, path, rank, world, pending_dir)) {
        free(t);
        return NULL;
    }
    char what[1100];
    (void)snprintf(what, sizeof what, "--trace %s (%zu events)", path, max_events);
    if (!(t->events = gnet_calloc(max_events, sizeof *t->events, what))) {
        free(t);
        return NULL;
    }
    t->rank = rank;
    t->max = max_events;
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

static void record(gnet_trace *t, event e)
{
    pthread_mutex_lock(&t->lock);
    if (t->n < t->max)
        t->events[t->n++] = e;
    else
        t->dropped++;
    pthread_mutex_unlock(&t->lock);
}

void gnet_trace_span(gnet_trace *t, int track, const char *name, double t0, double t1)
{
    if (t)
        record(t, (event){name, track, t0, t1, 0});
}

void gnet_trace_allreduce(void *trace, size_t count, double t0, double t1)
{
    if (trace)
        record(trace, (event){"all-reduce", GNET_TRACK_ALLREDUCE, t0, t1, count});
}

static void write_events(FILE *f, const void *trace)
{
    const gnet_trace *t = trace;
    static const char *const tracks[] = {"train", "all-reduce"};
    double origin = t->n ? t->events[0].t0 : 0.0;
    for (size_t i = 1; i < t->n; i++)
        origin = t->events[i].t0 < origin ? t->events[i].t0 : origin;
    (void)fprintf(f,
                  "{\"displayTimeUnit\": \"ms\", \"otherData\": {\"dropped_events\": "
                  "%zu},\n\"traceEvents\": [\n",
                  t->dropped);
    (void)fprintf(f,
                  "{\"ph\": \"M\", \"name\": \"process_name\", \"pid\": %d, \"args\": {\"name\": "
                  "\"rank %d\"}}",
                  t->rank, t->rank);
    for (int k = 0; k < 2; k++)
        (void)fprintf(f,
                      ",\n{\"ph\": \"M\", \"name\": \"thread_name\", \"pid\": %d, \"tid\": %d, "
                      "\"args\": {\"name\": \"%s\"}}",
                      t->rank, k, tracks[k]);
    for (size_t i = 0; i < t->n; i++) {
        const event *e = &t->events[i];
        (void)fprintf(f,
                      ",\n{\"ph\": \"X\", \"name\": \"%s\", \"pid\": %d, \"tid\": %d, \"ts\": "
                      "%.3f, \"dur\": %.3f",
                      e->name, t->rank, e->track, 1e6 * (e->t0 - origin), 1e6 * (e->t1 - e->t0));
        if (e->count)
            (void)fprintf(f, ", \"args\": {\"floats\": %zu, \"MB\": %.2f}", e->count,
                          4e-6 * (double)e->count);
        (void)fputc('}', f);
    }
    (void)fputs("\n]}\n", f);
}

int gnet_trace_close(gnet_trace *t, int write)
{
    if (!t)
        return 0;
    char why[768];
    int rc = write ? gnet_write_atomic(t->path, write_events, t, why, sizeof why) : 0;
    if (rc != 0)
        gnet_errorf("--trace %s: %s", t->path, why);
    pthread_mutex_destroy(&t->lock);
    free(t->events);
    free(t);
    return rc;
}
