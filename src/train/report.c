#include "train/report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/durable.h"
#include "core/log.h"
#include "train/json.h"
#include "core/clock.h"

struct gnet_report {
    int active; /* rank 0 */
    const gnet_options *o;
    int world, tty;
    char device[16], where[64];
    char dir[900]; /* --out, or "" */
    FILE *log;
    char created[900];  /* the outermost directory of --out that this run created, or "" */
    int made_log;       /* log.txt did not exist before this run */
    double last_draw;   /* when the terminal bar was last drawn */
    int64_t last_tenth; /* plain progress: the last tenth of the epoch reported */
};

/* The files of --out DIR; the last one only without --save. */
static const char *const OUT_FILES[] = {"config.ini", "log.txt", "metrics.jsonl", "checkpoint.h5"};
#define N_OUT_FILES (sizeof OUT_FILES / sizeof OUT_FILES[0])

static int out_file(const char *dir, char *buf, size_t n, const char *name)
{
    if (snprintf(buf, n, "%s/%s", dir, name) < (int)n)
        return 0;
    gnet_errorf("--out %s: path too long", dir);
    return -1;
}

static int out_path(const gnet_report *rep, char *buf, size_t n, const char *name)
{
    return out_file(rep->dir, buf, n, name);
}

static void fill_config(FILE *f, const void *o) { gnet_options_write(o, f); }

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int gnet_report_check(const gnet_options *o, int resuming)
{
    char why[512], path[1024];
    if (!o->out_dir)
        return 0;
    if (strlen(o->out_dir) >= sizeof((gnet_report *)0)->dir) {
        gnet_errorf("--out %s: path too long", o->out_dir);
        return -1;
    }
    if (gnet_output_dir_check(o->out_dir, why, sizeof why)) {
        gnet_errorf("--out %s: %s", o->out_dir, why);
        return -1;
    }
    for (size_t i = 0; i < N_OUT_FILES - (o->save_path != NULL); i++) {
        if (out_file(o->out_dir, path, sizeof path, OUT_FILES[i]))
            return -1;
        if (gnet_output_check(path, o->out_dir, why, sizeof why)) {
            gnet_errorf("--out %s: %s: %s", o->out_dir, path, why);
            return -1;
        }
    }
    if (!resuming && (out_file(o->out_dir, path, sizeof path, "metrics.jsonl") || exists(path))) {
        gnet_errorf("--out %s: already holds a run (metrics.jsonl); continue it with --resume %s, "
                    "or choose another --out",
                    o->out_dir, o->out_dir);
        return -1;
    }
    return 0;
}

/* mkdir -p: --out runs/sweep1/bs64 in a fresh checkout; the outermost directory it created
 * is noted, and gnet_remove_created takes them away again if the start fails. */
static int make_dirs(gnet_report *rep)
{
    char why[768];
    if (gnet_make_dirs(rep->dir, rep->created, sizeof rep->created, why, sizeof why) == 0)
        return 0;
    gnet_errorf("--out %s: %s", rep->dir, why);
    return -1;
}

/* gnet_write_atomic, its failure reported. */
static int write_atomic(const char *path, void (*fill)(FILE *f, const void *ctx), const void *ctx)
{
    char why[768];
    if (gnet_write_atomic(path, fill, ctx, why, sizeof why) == 0)
        return 0;
    gnet_errorf("%s: %s", path, why);
    return -1;
}

/* For appending to log.txt: only a regular file or a new one (durable.h). */
static FILE *open_append(const char *path)
{
    char why[512];
    FILE *f = NULL;
    if (gnet_output_check(path, NULL, why, sizeof why))
        gnet_errorf("%s: %s", path, why);
    else if (!(f = fopen(path, "a")))
        gnet_errorf("%s: cannot open: %s", path, strerror(errno));
    return f;
}

typedef struct {
    char *text;
    size_t len;
} kept_lines;

static void fill_kept(FILE *f, const void *ctx)
{
    const kept_lines *k = ctx;
    (void)fwrite(k->text, 1, k->len, f);
}

/* Whether a line of metrics.jsonl stays: epoch records up to `completed`, evaluation records
 * up to `step`. */
static int keep_line(const char *line, int64_t completed, int64_t step)
{
    int64_t n;
    if (sscanf(line, "{\"epoch\": %" SCNd64, &n) == 1)
        return n <= completed;
    if (sscanf(line, "{\"eval\": true, \"step\": %" SCNd64, &n) == 1)
        return n <= step;
    return 0;
}

/* The lines of metrics.jsonl to keep (keep_line). */
static int read_kept(const char *path, int64_t completed, int64_t step, kept_lines *k)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0
                               : (gnet_errorf("%s: cannot open: %s", path, strerror(errno)), -1);
    FILE *mem = open_memstream(&k->text, &k->len);
    char *line = NULL;
    size_t cap = 0;
    while (mem && getline(&line, &cap, f) > 0)
        if (keep_line(line, completed, step))
            (void)fputs(line, mem);
    free(line);
    int bad = ferror(f);
    (void)fclose(f);
    if (!mem || fclose(mem) || bad) {
        gnet_errorf("%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* A resumed run: metrics.jsonl drops the records after the checkpoint (see report.h). */
static int keep_records(const gnet_report *rep, const gnet_report_resume *at)
{
    char path[1024];
    if (out_path(rep, path, sizeof path, "metrics.jsonl"))
        return -1;
    kept_lines k = {0};
    int rc = read_kept(path, at->completed, at->step, &k);
    if (rc == 0 && k.text)
        rc = write_atomic(path, fill_kept, &k);
    free(k.text);
    return rc;
}

/* Creates the run directory's files; gnet_report_check has passed. config.ini comes last,
 * so a start that fails leaves the previous one in place. Errors from here on reach
 * log.txt too (log.h's sink). */
static int open_dir(gnet_report *rep, const gnet_report_resume *resume)
{
    char config[1024], log[1024];
    if (out_path(rep, config, sizeof config, "config.ini") ||
        out_path(rep, log, sizeof log, "log.txt") || make_dirs(rep))
        return -1;
    rep->made_log = !exists(log);
    if (!(rep->log = open_append(log)))
        return -1;
    gnet_log_set_sink(rep->log);
    if (resume && keep_records(rep, resume))
        return -1;
    return write_atomic(config, fill_config, rep->o);
}

/* A start that failed after open_dir began: what this run created goes (a log.txt it
 * created, the directories), what was there before stays. */
static void abandon(gnet_report *rep)
{
    char log[1024];
    gnet_log_set_sink(NULL);
    if (rep->log)
        (void)fclose(rep->log);
    rep->log = NULL;
    if (rep->made_log && out_path(rep, log, sizeof log, "log.txt") == 0)
        (void)remove(log);
    gnet_remove_created(rep->dir, rep->created);
}

gnet_report *gnet_report_open(const gnet_options *o, int rank, int world, const char *device,
                              const char *where, const gnet_report_resume *resume)
{
    gnet_report *rep = gnet_calloc(1, sizeof *rep, "the run's report");
    if (!rep)
        return NULL;
    rep->active = rank == 0;
    rep->o = o;
    rep->world = world;
    /* mpirun hands its ranks a pseudo-terminal even when its own output is a file: a rank
     * of a launched job writes plain lines. */
    rep->tty = isatty(STDOUT_FILENO) && !getenv("OMPI_COMM_WORLD_SIZE");
    rep->last_tenth = -1;
    (void)snprintf(rep->device, sizeof rep->device, "%s", device);
    (void)snprintf(rep->where, sizeof rep->where, "%s", where);
    if (!rep->active && o->out_dir) {
        char log[1024];
        if (out_file(o->out_dir, log, sizeof log, "log.txt") == 0)
            gnet_log_set_sink_path(log);
    }
    if (rep->active && o->out_dir) {
        (void)snprintf(rep->dir, sizeof rep->dir, "%s", o->out_dir); /* fits: gnet_report_check */
        if (open_dir(rep, resume)) {
            abandon(rep);
            free(rep);
            return NULL;
        }
    }
    return rep;
}

void gnet_report_close(gnet_report *rep)
{
    if (!rep)
        return;
    gnet_log_set_sink(NULL);
    gnet_log_set_sink_path(NULL);
    if (rep->log && fclose(rep->log))
        gnet_errorf("--out %s: cannot write log.txt: %s", rep->dir, strerror(errno));
    free(rep);
}

/* Clears the terminal's progress bar before a line is printed over it. */
static void clear_bar(const gnet_report *rep)
{
    if (rep->tty && rep->last_draw > 0)
        (void)fputs("\r\033[K", stdout);
}

/* fmt's line to log.txt, whole even when the prefetch thread reports an error meanwhile. */
static void log_vline(gnet_report *rep, const char *fmt, va_list ap)
{
    if (!rep->log)
        return;
    flockfile(rep->log); /* an error line from the prefetch thread waits for this one */
    (void)vfprintf(rep->log, fmt, ap);
    (void)fputc('\n', rep->log);
    (void)fflush(rep->log);
    funlockfile(rep->log);
}

void gnet_report_log(gnet_report *rep, const char *fmt, ...)
{
    if (!rep || !rep->active)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vline(rep, fmt, ap);
    va_end(ap);
}

void gnet_report_line(gnet_report *rep, const char *fmt, ...)
{
    if (!rep || !rep->active)
        return;
    clear_bar(rep);
    rep->last_draw = 0;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    (void)fflush(stdout);
    va_start(ap, fmt);
    log_vline(rep, fmt, ap);
    va_end(ap);
}

static void format_eta(char *buf, size_t n, double seconds)
{
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        (void)snprintf(buf, n, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else
        (void)snprintf(buf, n, "%ldm%02lds", s / 60, s % 60);
}

void gnet_report_progress(gnet_report *rep, int64_t epoch, int64_t first, int64_t done,
                          int64_t steps, double images, double seconds)
{
    if (!rep || !rep->active || rep->o->progress_off || seconds <= 0 || done <= first)
        return;
    int64_t tenth = done * 10 / steps;
    double now = gnet_now();
    /* The plain line skips 100%: the epoch line follows at once. */
    if (rep->tty ? now - rep->last_draw < 0.25 && done < steps
                 : tenth == rep->last_tenth || tenth == 0 || done == steps)
        return;
    char eta[32];
    format_eta(eta, sizeof eta, seconds / (double)(done - first) * (double)(steps - done));
    if (rep->tty) {
        char bar[21];
        int filled = (int)(20 * done / steps);
        for (int i = 0; i < 20; i++)
            bar[i] = (char)(i < filled ? '=' : i == filled ? '>' : ' ');
        bar[20] = '\0';
        printf("\r  epoch %" PRId64 "/%d [%s] %" PRId64 "/%" PRId64 " steps, %.1f img/s, ETA %s ",
               epoch + 1, rep->o->epochs, bar, done, steps, images / seconds, eta);
    } else {
        printf("  epoch %" PRId64 "/%d: %3" PRId64 "%% (%" PRId64 "/%" PRId64
               " steps), %.1f img/s, ETA %s\n",
               epoch + 1, rep->o->epochs, tenth * 10, done, steps, images / seconds, eta);
    }
    (void)fflush(stdout);
    rep->last_draw = now;
    rep->last_tenth = tenth;
}

static int append_metrics(gnet_report *rep, const char *record)
{
    char path[1024];
    if (!rep->dir[0])
        return 0;
    if (out_path(rep, path, sizeof path, "metrics.jsonl"))
        return -1;
    char why[768];
    if (gnet_append_durable(path, record, why, sizeof why) == 0)
        return 0;
    gnet_errorf("%s: %s", path, why);
    return -1;
}

/* The fields every record ends with: how the run was set up. */
static void run_fields(const gnet_report *rep, char *buf, size_t n)
{
    const gnet_options *o = rep->o;
    (void)snprintf(buf, n,
                   "\"ranks\": %d, \"global_batch\": %d, \"resize\": %d, \"device\": \"%s\"",
                   rep->world, o->batch_size, o->resize ? o->resize : 28, rep->device);
}

int gnet_report_epoch(gnet_report *rep, const gnet_epoch_record *e)
{
    if (!rep->active)
        return 0;
    gnet_report_line(
        rep,
        "epoch %" PRId64 "/%d loss %.3f, train acc %.3f, test acc %.3f, %.1f examples/sec on %s",
        e->epoch, rep->o->epochs, e->loss, e->train_acc, e->test_acc, e->img_per_s, rep->where);
    rep->last_tenth = -1;
    char record[1024], fields[256], loss[32], test_loss[32];
    run_fields(rep, fields, sizeof fields);
    (void)snprintf(record, sizeof record,
                   "{\"epoch\": %" PRId64 ", \"epochs\": %d, \"step\": %" PRId64
                   ", \"loss\": %s, \"train_acc\": %.6f, "
                   "\"test_loss\": %s, \"test_acc\": %.6f, \"img_per_s\": %.2f, \"epoch_s\": "
                   "%.3f, \"wall_s\": %.3f, "
                   "\"lr\": %.7g%s, %s}\n",
                   e->epoch, rep->o->epochs, e->step,
                   gnet_json_num(loss, sizeof loss, "%.6f", e->loss), e->train_acc,
                   gnet_json_num(test_loss, sizeof test_loss, "%.6f", e->test_loss), e->test_acc,
                   e->img_per_s, e->epoch_s, e->wall_s, e->lr, e->noise, fields);
    return append_metrics(rep, record);
}

int gnet_report_eval(gnet_report *rep, const gnet_eval_record *e)
{
    if (!rep->active)
        return 0;
    char record[1024], fields[256], train_loss[32], test_loss[32];
    run_fields(rep, fields, sizeof fields);
    (void)snprintf(record, sizeof record,
                   "{\"eval\": true, \"step\": %" PRId64
                   ", \"images\": %.0f, \"epoch\": %.6f, \"lr\": %.7g, "
                   "\"train_loss\": %s, \"test_loss\": %s, \"test_acc\": %.6f, \"train_s\": "
                   "%.3f, \"wall_s\": %.3f, "
                   "\"eval_s\": %.3f%s, %s}\n",
                   e->step, e->images, e->epoch, e->lr,
                   gnet_json_num(train_loss, sizeof train_loss, "%.6f", e->train_loss),
                   gnet_json_num(test_loss, sizeof test_loss, "%.6f", e->test_loss), e->test_acc,
                   e->train_s, e->wall_s, e->eval_s, e->noise, fields);
    return append_metrics(rep, record);
}

/* The final record's --target-acc fields (after a comma), or "". */
static void target_fields(const gnet_target *t, char *buf, size_t n)
{
    if (!t)
        buf[0] = '\0';
    else if (t->step == 0)
        (void)snprintf(buf, n, ", \"target_acc\": %g, \"target_reached\": false", t->acc);
    else
        (void)snprintf(
            buf, n,
            ", \"target_acc\": %g, \"target_reached\": true, \"target_step\": %" PRId64
            ", \"target_images\": %.0f, \"target_epoch\": %.6f, \"target_train_s\": %.3f, "
            "\"target_wall_s\": %.3f, \"target_test_acc\": %.6f",
            t->acc, t->step, t->images, t->epoch, t->train_s, t->wall_s, t->test_acc);
}

#define NULL_METRICS "\"loss\": null, \"train_acc\": null, \"test_acc\": null, \"lr\": null"

/* The final record: metrics (the last epoch's, or null), then extra (", ..." or ""). */
static int write_final(gnet_report *rep, int64_t epochs, int64_t steps, const char *metrics,
                       double img_per_s, double wall_s, const char *extra)
{
    char record[1024], fields[256];
    run_fields(rep, fields, sizeof fields);
    (void)snprintf(record, sizeof record,
                   "{\"final\": true, \"epochs\": %" PRId64 ", \"steps\": %" PRId64
                   ", %s, \"img_per_s\": %.2f, "
                   "\"wall_s\": %.3f%s, %s}\n",
                   epochs, steps, metrics, img_per_s, wall_s, extra, fields);
    return append_metrics(rep, record);
}

int gnet_report_final(gnet_report *rep, const gnet_epoch_record *last, int64_t steps,
                      double img_per_s, double wall_s, const gnet_target *target)
{
    if (!rep->active)
        return 0;
    char target_text[256], loss[32], metrics[160] = NULL_METRICS;
    target_fields(target, target_text, sizeof target_text);
    if (last)
        (void)snprintf(metrics, sizeof metrics,
                       "\"loss\": %s, \"train_acc\": %.6f, \"test_acc\": %.6f, \"lr\": %.7g",
                       gnet_json_num(loss, sizeof loss, "%.6f", last->loss), last->train_acc,
                       last->test_acc, last->lr);
    return write_final(rep, last ? last->epoch : 0, steps, metrics, img_per_s, wall_s, target_text);
}

int gnet_report_diverged(gnet_report *rep, int64_t step, int64_t epochs, double img_per_s,
                         double wall_s)
{
    if (!rep->active)
        return 0;
    char extra[96];
    (void)snprintf(extra, sizeof extra, ", \"diverged\": true, \"diverged_step\": %" PRId64, step);
    return write_final(rep, epochs, step, NULL_METRICS, img_per_s, wall_s, extra);
}
