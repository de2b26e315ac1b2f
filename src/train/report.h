/* What a run tells its user (rank 0 only; on other ranks every call does nothing): the
 * d2l-style epoch line, a progress line within the epoch (a bar redrawn in place on a
 * terminal, a plain line every 10% of the epoch otherwise, e.g. under Slurm), and with
 * --out DIR the run directory:
 *   DIR/config.ini     the resolved options (gnet_dist --config reads it back)
 *   DIR/log.txt        the report lines (epoch lines, resumes, stops, the summary) and
 *                      every error line rank 0 prints while it is open (log.h's sink)
 *   DIR/metrics.jsonl  one JSON object per epoch: epoch, epochs, step, loss, train_acc,
 *                      test_loss, test_acc, img_per_s, epoch_s, wall_s (since the run began,
 *                      all sessions), lr, [gns_g2, gns_trace, b_simple, gns_steps: with
 *                      --noise-scale], ranks, global_batch, resize, device; with
 *                      --eval-every, one with "eval": true per evaluation (see
 *                      gnet_eval_record, and at every epoch end); and at the end one with
 *                      "final": true, epochs (completed), steps, the last epoch's loss and
 *                      accuracies, img_per_s over the whole run, wall_s, and with
 *                      --target-acc whether and where it was reached
 *   DIR/checkpoint.h5  written by the trainer (state.c), not here
 * Functions returning int give 0, or -1 after one error line naming the file. */
#ifndef GNET_REPORT_H
#define GNET_REPORT_H

#include <stdint.h>

#include "train/cli.h"

typedef struct gnet_report gnet_report;

typedef struct {
    int64_t epoch; /* 1-based: epochs completed */
    int64_t step;  /* optimizer steps taken in all */
    double loss, train_acc, test_loss, test_acc, img_per_s, epoch_s, wall_s, lr;
    char noise[192]; /* gnet_noise_fields: "" or `, "gns_g2": ...` */
} gnet_epoch_record;

/* An evaluation within training (--eval-every, and each epoch end with it). */
typedef struct {
    int64_t step;
    double images;     /* training images seen (global, all sessions) */
    double epoch;      /* fractional: epochs completed + this epoch's share */
    double lr;         /* of the last step */
    double train_loss; /* mean training loss since the last eval record (NaN: no rows) */
    double test_loss, test_acc;
    double train_s, wall_s, eval_s; /* training time (all sessions), wall time, this evaluation */
    char noise[192];
} gnet_eval_record;

/* --target-acc: what the final record says (step 0: not reached). */
typedef struct {
    double acc;
    int64_t step;
    double images, train_s, epoch, wall_s;
    double test_acc; /* that evaluation's */
} gnet_target;

/* Rank 0, before a run creates anything: --out DIR is a writable directory or can be
 * created (mkdir -p), each of its files (config.ini, log.txt, metrics.jsonl, and
 * checkpoint.h5 unless --save) is absent or a regular file (durable.h), and unless
 * resuming DIR holds no run yet (no metrics.jsonl). 0 (also without --out), or -1 after one
 * error line. Changes nothing. */
int gnet_report_check(const gnet_options *o, int resuming);

/* Where a resumed run's checkpoint stands: metrics.jsonl drops the records of epochs after
 * `completed`, of evaluations after `step`, and the final record, so that it reads as if the
 * run had never stopped. */
typedef struct {
    int64_t completed, step;
} gnet_report_resume;

/* device: the backend's name ("cpu", "cuda"); where: it with the job size, for the epoch
 * line, e.g. "cpu (2 ranks)". resume: NULL for a new run. With --out (rank 0), after
 * gnet_report_check passed: creates DIR (and its parents), opens log.txt, trims
 * metrics.jsonl (resume), writes config.ini, and from then on every error line of this
 * process also goes to log.txt (log.h's sink) until gnet_report_close. NULL after an error,
 * having removed what it created (directories, a new log.txt); what was there before stays. */
gnet_report *gnet_report_open(const gnet_options *o, int rank, int world, const char *device,
                              const char *where, const gnet_report_resume *resume);
void gnet_report_close(gnet_report *rep);

/* A line to log.txt only (a newline is added): what the log keeps for later, e.g. the
 * version that ran. */
void gnet_report_log(gnet_report *rep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A line to stdout and log.txt (a newline is added). */
void gnet_report_line(gnet_report *rep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Within epoch (0-based) of steps steps: done taken, of which those after first in this
 * session, with images (global) in seconds. */
void gnet_report_progress(gnet_report *rep, int64_t epoch, int64_t first, int64_t done,
                          int64_t steps, double images, double seconds);

int gnet_report_epoch(gnet_report *rep, const gnet_epoch_record *e);
int gnet_report_eval(gnet_report *rep, const gnet_eval_record *e);
/* last: the last completed epoch (NULL when none completed: its fields are null); target:
 * NULL without --target-acc. */
int gnet_report_final(gnet_report *rep, const gnet_epoch_record *last, int64_t steps,
                      double img_per_s, double wall_s, const gnet_target *target);
/* The final record of a run that ended because step's loss was not finite (exit code 4):
 * "diverged": true and the step, after `epochs` completed epochs; its metrics are null,
 * img_per_s is the training rate until then. A
 * sweep then counts the run as finished instead of resuming it into the same divergence. */
int gnet_report_diverged(gnet_report *rep, int64_t step, int64_t epochs, double img_per_s,
                         double wall_s);

#endif
