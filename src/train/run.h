/* What one gnet_dist run holds, shared by the trainer's files: trainer.c (the step and epoch
 * loops), state.c (initial parameters, checkpoints, resumption), report.c (epoch lines,
 * progress, the --out directory) and trace.c (the --trace timeline). Everything is created
 * once by gnet_run_open, so the step loop allocates nothing. */
#ifndef GNET_RUN_H
#define GNET_RUN_H

#include <stdint.h>

#include "core/clip.h"
#include "core/clock.h"
#include "core/fifo.h"
#include "core/model.h"
#include "core/optim.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "dist/reducer.h"
#include "train/agree.h"
#include "train/cli.h"
#include "train/device.h"
#include "train/noise.h"

/* Exit codes of gnet_dist besides 0, 1 (an error) and 2 (bad options): stopped by SIGTERM or
 * SIGUSR1 with the state saved, to be resumed (Slurm requeue). */
#define GNET_EXIT_STOPPED 3

typedef struct gnet_report gnet_report;
typedef struct gnet_trace gnet_trace;

/* Sums over samples; doubles, so that all ranks' tallies reduce as one vector. */
typedef struct {
    double loss_sum, correct, seen;
} gnet_tally;

/* Where training stands: what a checkpoint records so that a resumed run continues exactly. */
typedef struct {
    int64_t epoch;        /* the epoch in progress, 0-based (== epochs when training is done) */
    int64_t epoch_step;   /* optimizer steps taken in it */
    int64_t step;         /* optimizer steps taken in all */
    gnet_tally t;         /* the epoch's metrics so far: this rank's, plus (rank 0, after a
                           resume) the sum of all ranks' before the checkpoint */
    double epoch_seconds; /* training time in this epoch so far */
    double run_seconds_before;          /* wall time of earlier sessions of the run */
    double train_seconds, train_images; /* the run's totals (all sessions), global */
    double since_loss,
        since_seen;   /* training loss sum and rows since the last eval record, global */
    gnet_noise noise; /* the gradient noise scale's averages (--noise-scale) */
    /* --target-acc: where the first evaluation reaching it was (step 0: not reached). */
    int64_t target_step;
    double target_images, target_train_s, target_epoch, target_wall_s, target_test_acc;
    int64_t diverged_step; /* the step whose summed loss was not finite (0: none) */
} gnet_progress;

/* What a step measured for the noise scale (train/noise.h). */
typedef struct {
    int measured;  /* --noise-scale and a full batch (a short last batch has another b) */
    double local;  /* this rank's micro-batch gradients: the sum of their squared norms */
    double global; /* the all-reduced gradient's squared norm */
} gnet_step_norms;

/* A step queued on the backend whose loss the trainer has not read yet (it is read one step
 * late, trainer.c), with what its verdict needs. */
typedef struct {
    int64_t step, epoch, epoch_step; /* the progress counters just after it */
    int64_t global_valid;            /* its real samples over all ranks */
    gnet_step_norms norms;
} gnet_pending_step;

/* Steps whose loss is unread: the one just queued, and the one before it while it is read. */
#define GNET_PENDING_STEPS 2

typedef struct {
    const gnet_options *o;
    gnet_comm *comm; /* the device's communicator (MPI, or NCCL over it) */
    gnet_device dev;
    gnet_backend *be;
    gnet_model *m;
    gnet_optim *opt;
    gnet_clip *clip;         /* NULL: no gradient clipping */
    gnet_clip_stats clipped; /* what it did in the last step */
    gnet_reducer *red;
    gnet_dataset train_set, test_set; /* storage of the in-memory sources */
    gnet_source *train_src, *test_src;
    gnet_loader *train, *test;
    float *x;        /* one micro-batch of input, backend memory */
    float *snap;     /* --noise-scale under accumulation: the gradient sum before a micro-batch */
    int noise_on;    /* --noise-scale with a second batch size (ranks x micro-batches > 1) */
    float *host;     /* (1 + GNET_OPTIM_STATES_MAX) x n_weights floats of host staging: the
                  * parameters, then each optimizer state (checkpoints, replica checks) */
    float *zeros;    /* micro x GNET_CLASSES host zeros: the padding rows' loss gradient */
    int size, micro; /* image side; rows per micro-batch */
    const char *save_path;     /* --save, or DIR/checkpoint.h5 with --out; NULL: none */
    char out_checkpoint[1024]; /* storage for the latter */
    const char *command_line;  /* recorded in checkpoints */
    gnet_report *report;
    gnet_trace *trace;
    double t_start;   /* when this session began (monotonic seconds) */
    double last_loss; /* the mean loss of the last step with a finite one, and that step */
    int64_t last_loss_step;
    gnet_pending_step pending[GNET_PENDING_STEPS]; /* in the order of pending_fifo */
    gnet_fifo pending_fifo;
} gnet_run;

/* Opens everything a run needs (with_data: the loaders too; without, only the model, for
 * --print-shapes): 0, or -1 after an error line. gnet_run_close frees whatever was opened. */
int gnet_run_open(gnet_run *r, const gnet_options *o, gnet_comm *comm, int with_data);
void gnet_run_close(gnet_run *r);

#endif
