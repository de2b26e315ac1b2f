#include "train/trainer.h"

#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/durable.h"
#include "core/log.h"
#include "core/version.h"
#include "train/report.h"
#include "train/run.h"
#include "train/state.h"
#include "train/stop.h"
#include "train/trace.h"

/* Events the --trace buffer holds: about a dozen per step, so some 40k steps. */
#define TRACE_EVENTS 500000

/* Forward `rows` planned rows of which the first `valid` are samples; padding rows get a
 * zero loss gradient, so the update is that of the valid rows alone. The loss and correct
 * count go to the backend's running tally (take_tally reads them later); the rows count at
 * once. Training and evaluation alike use --label-smoothing's loss, as a PyTorch loop that
 * evaluates with its training criterion does. */
static void forward_rows(gnet_run *r, const float *x, const int32_t *y, int valid, float grad_scale,
                         gnet_tally *t)
{
    gnet_backend *be = r->be;
    gnet_model *m = r->m;
    be->upload(be, r->x, x, (size_t)r->micro * r->size * r->size);
    gnet_model_forward(m, r->x);
    if (valid > 0)
        be->softmax_xent(be, valid, GNET_CLASSES, m->logits, y, (float)r->o->label_smoothing,
                         grad_scale, m->dlogits);
    if (valid < m->batch) /* dlogits is backend memory: zeros go through the backend */
        be->upload(be, m->dlogits + (size_t)valid * GNET_CLASSES, r->zeros,
                   (size_t)(m->batch - valid) * GNET_CLASSES);
    t->seen += valid;
}

/* The backend's oldest closed tally into t (waiting for the device only if the work before
 * its close is unfinished); returns its loss sum. */
static double take_tally(gnet_run *r, gnet_tally *t)
{
    double loss, t0 = gnet_now();
    int64_t correct;
    r->be->tally_take(r->be, &loss, &correct);
    gnet_trace_span(r->trace, GNET_TRACK_TRAIN, "loss wait", t0, gnet_now());
    t->loss_sum += loss;
    t->correct += (double)correct;
    return loss;
}

static void grads_ready(void *ctx, size_t lo) { gnet_reducer_ready(ctx, lo); }

/* Under accumulation: the squared norm of micro-batch k's own gradient (the arena minus its
 * sum before k); then the arena becomes the next one's "before". */
static double micro_norm(gnet_run *r, int k)
{
    gnet_backend *be = r->be;
    size_t n = r->m->n_weights;
    double sq = be->sumsq(be, r->m->grads, k > 0 ? r->snap : NULL, n);
    be->copy(be, r->snap, r->m->grads, n);
    return sq;
}

/* One optimizer step on this rank's rows of a global batch: K micro-batches accumulate
 * gradients (scaled by 1/global batch, so the all-reduced sum is the global mean); the last
 * one's backward starts the bucketed all-reduce as layers finish. With --noise-scale each
 * micro-batch's gradient norm is taken before it is summed away: the last one's per bucket,
 * by the reducer, just before that bucket's all-reduce. The step's loss tally is closed
 * after the update: the step is queued, not finished (CUDA), when this returns. */
static gnet_step_norms train_step(gnet_run *r, const gnet_batch *b, float lr, gnet_tally *t)
{
    int K = r->o->accum_steps, mb = r->micro;
    size_t px = (size_t)r->size * r->size;
    gnet_step_norms sn = {.measured = r->noise_on && b->global_valid == r->o->batch_size};
    for (int k = 0; k < K; k++) {
        int valid = b->valid - k * mb;
        valid = valid < 0 ? 0 : valid > mb ? mb : valid;
        double t0 = gnet_now();
        forward_rows(r, b->x + (size_t)k * mb * px, b->y + (size_t)k * mb, valid,
                     1.0f / (float)b->global_valid, t);
        double t1 = gnet_now();
        int last = k == K - 1;
        if (last)
            gnet_reducer_begin(r->red, sn.measured ? r->be : NULL,
                               sn.measured && k > 0 ? r->snap : NULL);
        gnet_grads_hook start_buckets = {grads_ready, r->red};
        gnet_model_backward(r->m, k > 0, last ? &start_buckets : NULL);
        if (sn.measured && !last)
            sn.local += micro_norm(r, k);
        gnet_trace_span(r->trace, GNET_TRACK_TRAIN, "forward", t0, t1);
        gnet_trace_span(r->trace, GNET_TRACK_TRAIN, "backward", t1, gnet_now());
    }
    double t2 = gnet_now();
    gnet_reducer_finish(r->red);
    double t3 = gnet_now();
    if (sn.measured) {
        sn.local += r->red->sqnorm;
        sn.global = r->be->sumsq(r->be, r->m->grads, NULL, r->m->n_weights);
    }
    /* After the noise scale's norm (it measures the gradient itself), before the update. */
    r->clipped = gnet_clip_apply(r->clip, r->m->params, r->m->grads);
    gnet_optim_step(r->opt, r->m->params, r->m->grads, lr);
    r->be->tally_close(r->be);
    gnet_trace_span(r->trace, GNET_TRACK_TRAIN, "all-reduce wait", t2, t3);
    gnet_trace_span(r->trace, GNET_TRACK_TRAIN, "optimizer", t3, gnet_now());
    return sn;
}

/* The step's noise-scale estimates from the ranks' summed local norms: n = ranks x K
 * micro-batches of b = B/n rows; a micro-batch's share of the arena is b/B times its mean
 * gradient, so mean|G_b|^2 = n^2 * sum / n. */
static void add_noise(gnet_run *r, gnet_progress *p, double global, double local_sum)
{
    double n = (double)r->comm->world * r->o->accum_steps, B = r->o->batch_size;
    gnet_noise_add(&p->noise, n * local_sum, global, B / n, B);
}

/* The test set's accuracy and mean loss, summed over ranks. */
static int evaluate(gnet_run *r, double *acc, double *loss)
{
    gnet_tally t = {0};
    gnet_batch b;
    gnet_loader_start_epoch(r->test, 0, 0);
    for (int64_t s = 0; s < gnet_loader_steps(r->test); s++) {
        if (gnet_loader_next(r->test, &b))
            return -1;
        forward_rows(r, b.x, b.y, b.valid, 0.0f, &t);
    }
    r->be->tally_close(r->be); /* every batch's sums, read once at the end */
    (void)take_tally(r, &t);
    double v[3] = {t.correct, t.seen, t.loss_sum};
    r->comm->reduce_sum(r->comm, v, 3);
    *acc = v[1] > 0 ? v[0] / v[1] : 0.0;
    *loss = v[1] > 0 ? v[2] / v[1] : 0.0;
    return 0;
}

static int at_max_steps(const gnet_options *o, const gnet_progress *p)
{
    return o->max_steps && p->step >= o->max_steps;
}

/* --target-acc was reached: training is over. */
static int reached(const gnet_options *o, const gnet_progress *p)
{
    return o->target_acc > 0 && p->target_step > 0;
}

static double wall_seconds(const gnet_run *r, const gnet_progress *p)
{
    return p->run_seconds_before + gnet_now() - r->t_start;
}

/* Adds the time since *t0 to the epoch's and the run's training time, and restarts it. */
static void clock_in(gnet_progress *p, double *t0)
{
    double t = gnet_now();
    p->epoch_seconds += t - *t0;
    p->train_seconds += t - *t0;
    *t0 = t;
}

/* A checkpoint within training: its writing is not training time. */
static int checkpoint(gnet_run *r, gnet_progress *p, double *t0)
{
    r->be->sync(r->be);
    clock_in(p, t0);
    int rc = gnet_state_save(r, p);
    double t1 = gnet_now();
    gnet_trace_span(r->trace, GNET_TRACK_TRAIN, "checkpoint", *t0, t1);
    *t0 = t1;
    return rc;
}

static int next_batch(gnet_run *r, gnet_batch *b)
{
    double t0 = gnet_now();
    int rc = gnet_loader_next(r->train, b);
    gnet_trace_span(r->trace, GNET_TRACK_TRAIN, "data wait", t0, gnet_now());
    return rc;
}

/* A loss that is not finite (at step s): nothing more to learn, and the last checkpoint stays
 * the last good state (none is written). */
static int diverged(const gnet_run *r, const gnet_pending_step *s, double loss)
{
    char last[96] = "no step had a finite loss";
    if (r->last_loss_step > 0)
        (void)snprintf(last, sizeof last, "the last finite loss was %.4g at step %" PRId64,
                       r->last_loss, r->last_loss_step);
    gnet_errorf_once("training diverged: the loss is %s at step %" PRId64 " (epoch %" PRId64
                     ", its step %" PRId64 "); %s; lower --lr (%g) or add --warmup-epochs",
                     isnan(loss) ? "NaN" : "infinite", s->step, s->epoch + 1, s->epoch_step, last,
                     r->o->lr);
    return GNET_EXIT_DIVERGED;
}

/* The first evaluation at or above --target-acc: where training got there. */
static void check_target(gnet_run *r, gnet_progress *p, double acc, double epoch)
{
    const gnet_options *o = r->o;
    if (o->target_acc <= 0 || p->target_step > 0 || acc < o->target_acc)
        return;
    p->target_step = p->step;
    p->target_images = p->train_images;
    p->target_train_s = p->train_seconds;
    p->target_epoch = epoch;
    p->target_wall_s = wall_seconds(r, p);
    p->target_test_acc = acc;
    gnet_report_line(r->report,
                     "reached the target test acc %g (%.4f) at step %" PRId64
                     " (epoch %.2f, %.0f images, %.1f s of training)",
                     o->target_acc, acc, p->step, epoch, p->train_images, p->train_seconds);
}

/* An evaluation within training, after step p->step (lr: its lr): with --eval-every an eval
 * record (the training loss since the last one, then the count restarts), and the target
 * check. Not training time: the caller has stopped the clock. */
static int evaluation(gnet_run *r, gnet_progress *p, float lr, double *acc, double *loss)
{
    double t0 = gnet_now();
    if (evaluate(r, acc, loss))
        return -1;
    double t1 = gnet_now();
    gnet_trace_span(r->trace, GNET_TRACK_TRAIN, "evaluate", t0, t1);
    double epoch = (double)p->epoch + (double)p->epoch_step / (double)gnet_loader_steps(r->train);
    check_target(r, p, *acc, epoch);
    if (!r->o->eval_every)
        return 0;
    gnet_eval_record e = {.step = p->step,
                          .images = p->train_images,
                          .epoch = epoch,
                          .lr = lr,
                          .train_loss = p->since_seen > 0 ? p->since_loss / p->since_seen : NAN,
                          .test_loss = *loss,
                          .test_acc = *acc,
                          .train_s = p->train_seconds,
                          .wall_s = wall_seconds(r, p),
                          .eval_s = t1 - t0};
    gnet_noise_fields(&p->noise, e.noise, sizeof e.noise);
    p->since_loss = p->since_seen = 0;
    return gnet_report_eval(r->report, &e);
}

/* Step s's collective verdict (stop, divergence, the noise scale's sum), once its loss is
 * read: one step late in the step loop, so a non-finite loss is seen after the next step was
 * queued, never after a checkpoint of it. */
static int after_step(gnet_run *r, gnet_progress *p, const gnet_pending_step *s, double loss_here,
                      int *stop)
{
    gnet_stop_verdict v = gnet_stop_after_step(r->comm, loss_here, s->norms.local);
    if (!isfinite(v.step_loss)) {
        p->diverged_step = s->step;
        return diverged(r, s, v.step_loss);
    }
    if (s->norms.measured)
        add_noise(r, p, s->norms.global, v.sqnorm);
    r->last_loss = v.step_loss / (double)s->global_valid;
    r->last_loss_step = s->step;
    p->since_loss += v.step_loss;
    p->since_seen += (double)s->global_valid;
    *stop = v.signal;
    return 0;
}

/* Reads the loss of the queued steps, oldest first, until `keep` are unread, each followed by
 * its verdict. The step loop keeps one (the step it just queued runs on while the one before
 * is judged: the host never waits for its newest step); whatever needs every step's loss
 * (epoch end, evaluation, checkpoint, --max-steps, a stop, the end) keeps none. */
/* Weights that are not finite while the loss still is: a NaN pre-activation comes out of a
 * ReLU as 0 on both backends (oneDNN's fused ReLU, the CUDA bias_act), so a NaN weight behind
 * one never reaches the loss. Checked where every step is drained anyway: one sum of squares
 * (NaN or infinite when any weight is); the replicas are equal, so every rank agrees. */
static int weights_diverged(gnet_run *r, gnet_progress *p)
{
    if (p->step == 0 || isfinite(r->be->sumsq(r->be, r->m->params, NULL, r->m->n_weights)))
        return 0;
    p->diverged_step = p->step;
    gnet_errorf_once("training diverged: a weight is NaN or infinite after step %" PRId64
                     " although the loss is finite; lower --lr (%g) or add --warmup-epochs",
                     p->step, r->o->lr);
    return GNET_EXIT_DIVERGED;
}

static int settle(gnet_run *r, gnet_progress *p, int keep, int *stop)
{
    while (r->pending_fifo.count > keep) {
        const gnet_pending_step *s = &r->pending[gnet_fifo_pop(&r->pending_fifo)];
        int rc = after_step(r, p, s, take_tally(r, &p->t), stop);
        if (rc)
            return rc;
    }
    return keep == 0 ? weights_diverged(r, p) : 0;
}

/* Queues one step on the backend, and moves p's counters on; its loss is read later. */
static void queue_step(gnet_run *r, gnet_progress *p, const gnet_batch *b, float lr)
{
    gnet_step_norms sn = train_step(r, b, lr, &p->t);
    p->epoch_step++;
    p->step++;
    p->train_images += (double)b->global_valid;
    int slot = gnet_fifo_push(&r->pending_fifo);
    if (slot < 0) {
        gnet_errorf("bug: more than %d steps with an unread loss", GNET_PENDING_STEPS);
        gnet_fatal(1);
    }
    r->pending[slot] = (gnet_pending_step){p->step, p->epoch, p->epoch_step, b->global_valid, sn};
    /* The run's first step says whether clipping acted (tests/clip_test.sh reads it). */
    if (r->clip && p->step == 1 && r->clipped.total_norm > 0)
        gnet_report_line(r->report, "--clip-norm at step 1: gradient norm %.6g, factor %.6g",
                         r->clipped.total_norm, r->clipped.coef);
    else if (r->clip && p->step == 1)
        gnet_report_line(r->report, "--clip agc at step 1: %zu of %zu units clipped",
                         r->clipped.clipped, r->clipped.units);
}

/* Within an epoch after a step: an evaluation every --eval-every steps, then a checkpoint
 * every --checkpoint-every (in that order, so that a checkpoint comes after every record of
 * its step), both after every step's loss is read. The epoch's last step leaves both to the
 * epoch's end. */
static int step_extras(gnet_run *r, gnet_progress *p, float lr, double *t0, int *stop)
{
    const gnet_options *o = r->o;
    int eval = o->eval_every && p->step % o->eval_every == 0;
    int save = o->checkpoint_every && p->step % o->checkpoint_every == 0;
    if (p->epoch_step == gnet_loader_steps(r->train) || !(eval || save))
        return 0;
    int rc = settle(r, p, 0, stop);
    if (rc)
        return rc;
    if (eval) {
        double acc, loss;
        r->be->sync(r->be);
        clock_in(p, t0);
        if (evaluation(r, p, lr, &acc, &loss))
            return -1;
        *t0 = gnet_now();
    }
    if (save && checkpoint(r, p, t0))
        return -1;
    return 0;
}

/* Trains epoch p->epoch from its step p->epoch_step on, until its end, --max-steps, the
 * target or a stop signal (then *stop is the signal, the same on every rank). Each step is
 * judged (loss, stop, divergence) after the next one is queued, so a stop or a divergence
 * ends the epoch one step later than it was seen; every step's loss is read before this
 * returns. Returns 0, -1 or GNET_EXIT_DIVERGED. */
static int train_epoch(gnet_run *r, gnet_progress *p, int *stop)
{
    const gnet_options *o = r->o;
    int64_t steps = gnet_loader_steps(r->train), first = p->epoch_step;
    gnet_lr_schedule sched = gnet_options_lr_schedule(o);
    double t0 = gnet_now(), begin = t0, images = 0;
    gnet_batch b;
    gnet_loader_start_epoch(r->train, p->epoch, p->epoch_step);
    while (p->epoch_step < steps && !at_max_steps(o, p) && !reached(o, p) && !*stop) {
        if (next_batch(r, &b))
            return -1;
        float lr = gnet_lr_at(&sched, p->step, steps);
        queue_step(r, p, &b, lr);
        images += (double)b.global_valid;
        gnet_report_progress(r->report, p->epoch, first, p->epoch_step, steps, images,
                             gnet_now() - begin);
        int rc = settle(r, p, 1, stop);
        if (rc || (rc = step_extras(r, p, lr, &t0, stop)))
            return rc;
    }
    int rc = settle(r, p, 0, stop);
    if (rc)
        return rc;
    r->be->sync(r->be);
    clock_in(p, &t0);
    return 0;
}

/* The epoch's line and record: metrics summed over ranks, then the test accuracy. */
static int end_epoch(gnet_run *r, gnet_progress *p, gnet_epoch_record *rec)
{
    double v[3] = {p->t.loss_sum, p->t.correct, p->t.seen}, acc, loss;
    r->comm->reduce_sum(r->comm, v, 3);
    gnet_lr_schedule sched = gnet_options_lr_schedule(r->o);
    float lr = gnet_lr_at(&sched, p->step - 1, gnet_loader_steps(r->train));
    if (evaluation(r, p, lr, &acc, &loss))
        return -1;
    *rec = (gnet_epoch_record){.epoch = p->epoch + 1,
                               .step = p->step,
                               .loss = v[0] / v[2],
                               .train_acc = v[1] / v[2],
                               .test_loss = loss,
                               .test_acc = acc,
                               .img_per_s = v[2] / p->epoch_seconds,
                               .epoch_s = p->epoch_seconds,
                               .wall_s = wall_seconds(r, p),
                               .lr = lr};
    gnet_noise_fields(&p->noise, rec->noise, sizeof rec->noise);
    p->epoch++;
    p->epoch_step = 0;
    p->t = (gnet_tally){0};
    p->epoch_seconds = 0;
    return gnet_report_epoch(r->report, rec);
}

static const char *resume_hint(const gnet_run *r)
{
    return r->o->out_dir ? r->o->out_dir : r->save_path;
}

static int stopped(gnet_run *r, const gnet_progress *p, int sig)
{
    const char *name = sig == SIGTERM ? "SIGTERM" : "SIGUSR1";
    if (!r->save_path) {
        gnet_report_line(r->report,
                         "stopped by %s after step %" PRId64
                         "; no checkpoint written (no --out or --save)",
                         name, p->step);
        return GNET_EXIT_STOPPED;
    }
    if (gnet_state_save(r, p))
        return -1;
    gnet_report_line(r->report,
                     "stopped by %s in epoch %" PRId64 " after its step %" PRId64 " (step %" PRId64
                     " in all); saved %s: continue with --resume %s",
                     name, p->epoch + 1, p->epoch_step, p->step, r->save_path, resume_hint(r));
    return GNET_EXIT_STOPPED;
}

/* The end of training (all epochs, or --max-steps): the summary, the replica check, the
 * final checkpoint and record. */
static int finish(gnet_run *r, const gnet_progress *p, const gnet_epoch_record *last)
{
    double wall = wall_seconds(r, p);
    double img_per_s = p->train_seconds > 0 ? p->train_images / p->train_seconds : 0.0;
    gnet_report_line(
        r->report,
        "trained %" PRId64
        " steps in %.1f s (%.1f examples/sec, %.1f s wall); the step waited %.2f s for data",
        p->step, p->train_seconds, img_per_s, wall, gnet_loader_wait_seconds(r->train));
    if (gnet_state_check_replicas(r, "after training"))
        return -1;
    if (r->save_path && gnet_state_save(r, p))
        return -1;
    gnet_target t = {r->o->target_acc, p->target_step,   p->target_images,  p->target_train_s,
                     p->target_epoch,  p->target_wall_s, p->target_test_acc};
    return gnet_report_final(r->report, last, p->step, img_per_s, wall,
                             r->o->target_acc > 0 ? &t : NULL);
}

static int train_loop(gnet_run *r, gnet_progress *p)
{
    const gnet_options *o = r->o;
    int64_t steps = gnet_loader_steps(r->train);
    gnet_epoch_record rec;
    int done_one = 0, stop = 0;
    while (p->epoch < o->epochs && !reached(o, p)) {
        if (p->epoch_step < steps) {
            if (at_max_steps(o, p))
                break;
            int rc = train_epoch(r, p, &stop);
            if (rc == GNET_EXIT_DIVERGED)
                (void)gnet_report_diverged(r->report, p->diverged_step, p->epoch,
                                           p->train_seconds > 0 ? p->train_images / p->train_seconds
                                                                : 0.0,
                                           wall_seconds(r, p));
            if (rc)
                return rc;
            if (stop)
                return stopped(r, p, stop);
            if (p->epoch_step < steps)
                break;
        }
        if (end_epoch(r, p, &rec))
            return -1;
        done_one = 1;
        int due = (o->checkpoint_epochs && p->epoch % o->checkpoint_epochs == 0) ||
                  (o->checkpoint_every && p->step % o->checkpoint_every == 0);
        if (due && r->save_path && gnet_state_save(r, p))
            return -1;
    }
    return finish(r, p, done_one ? &rec : NULL);
}

static void describe(const gnet_run *r, char *buf, size_t n)
{
    if (r->comm->world > 1)
        (void)snprintf(buf, n, "%s (%d ranks)", r->be->name, r->comm->world);
    else if (strcmp(r->be->name, "cpu") == 0)
        (void)snprintf(buf, n, "%s (%d threads)", r->be->name, r->be->threads);
    else
        (void)snprintf(buf, n, "%s (1 GPU)", r->be->name);
}

/* Where the checkpoint goes (--save, else --out's checkpoint.h5) and that rank 0 may write it
 * and --out's files; each rank's --trace file. Runs before anything is created, and the
 * ranks agree on it, so that a refused output leaves nothing behind (durable.h). */
static int check_outputs(gnet_run *r)
{
    const gnet_options *o = r->o;
    char why[512];
    int ok = 1;
    if (o->save_path) {
        r->save_path = o->save_path;
    } else if (o->out_dir) {
        (void)snprintf(r->out_checkpoint, sizeof r->out_checkpoint, "%s/checkpoint.h5", o->out_dir);
        r->save_path = r->out_checkpoint;
    }
    if (r->comm->rank == 0) {
        ok = gnet_report_check(o, o->resume_path != NULL) == 0;
        if (ok && o->save_path && gnet_output_check(o->save_path, o->out_dir, why, sizeof why)) {
            gnet_errorf("--save %s: %s", o->save_path, why);
            ok = 0;
        }
    }
    if (ok && o->trace_path) {
        r->trace =
            gnet_trace_open(o->trace_path, r->comm->rank, r->comm->world, TRACE_EVENTS, o->out_dir);
        ok = r->trace != NULL;
    }
    if (r->trace) {
        r->comm->on_allreduce = gnet_trace_allreduce;
        r->comm->on_allreduce_ctx = r->trace;
    }
    return gnet_run_agree(r->comm, ok);
}

/* Creates what the run writes (rank 0's --out), once everything was checked and the
 * starting state loaded: a refused start writes nothing. */
static int open_outputs(gnet_run *r, const gnet_progress *p)
{
    const gnet_options *o = r->o;
    char where[64];
    describe(r, where, sizeof where);
    gnet_report_resume at = {p->epoch, p->step};
    r->report = gnet_report_open(o, r->comm->rank, r->comm->world, r->be->name, where,
                                 o->resume_path ? &at : NULL);
    if (gnet_run_agree(r->comm, r->report != NULL))
        return -1;
    if (o->resume_path)
        gnet_report_line(r->report,
                         "resumed %s: epoch %" PRId64 " after its step %" PRId64 " (step %" PRId64
                         " in all)",
                         o->resume_path, p->epoch + 1, p->epoch_step, p->step);
    return 0;
}

/* started: training began (else the start was refused, and the trace is not written). */
static int close_outputs(gnet_run *r, int started)
{
    r->comm->on_allreduce = NULL;
    int rc = gnet_trace_close(r->trace, started);
    r->trace = NULL;
    gnet_report_close(r->report);
    r->report = NULL;
    return rc;
}

/* Everything that can be checked is, before anything is written: the options, every rank's
 * data (gnet_run_open), the outputs, the checkpoint to start from (--init, --resume, with
 * its fit to this run's options); then the outputs are created. */
/* Checked here, not with the other combinations in cli.c: a config file may leave the
 * destination to the command line that runs it (configs/study, scripts/sweep.sh). */
static int check_train_options(const gnet_options *o, int world)
{
    if (gnet_options_check_batch(o, world))
        return 2;
    if ((o->checkpoint_every || o->checkpoint_epochs) && !o->save_path && !o->out_dir) {
        gnet_errorf_once(
            "--checkpoint-every/--checkpoint-epochs: give --out DIR or --save FILE to write it to");
        return 2;
    }
    return 0;
}

int gnet_train(const gnet_options *o, gnet_comm *comm, const char *command_line)
{
    int rc = check_train_options(o, comm->world);
    if (rc)
        return rc;
    gnet_run r = {0};
    gnet_progress p;
    if (gnet_stop_install() || gnet_run_open(&r, o, comm, 1)) {
        rc = -1;
    } else {
        r.command_line = command_line;
        rc = check_outputs(&r) || gnet_state_init(&r, o->init_path, &p) || open_outputs(&r, &p) ? -1
                                                                                                : 0;
        int started = rc == 0;
        if (started) {
            char version[768];
            gnet_report_log(r.report, "%s", gnet_dist_version(version, sizeof version));
            gnet_report_line(r.report, "device: %s", r.dev.summary);
            char *where = gnet_device_where(&r.dev, comm); /* every rank's host, once */
            if (where)
                gnet_report_line(r.report, "%s", where);
            free(where);
            if (o->noise_scale && !r.noise_on)
                gnet_report_line(r.report,
                                 "--noise-scale: one rank without --accum-steps has no second "
                                 "batch size to compare, so no noise scale is measured");
            rc = train_loop(&r, &p);
        }
        if (close_outputs(&r, started) && rc >= 0)
            rc = -1;
    }
    gnet_run_close(&r);
    return rc < 0 ? gnet_run_fail(comm) : rc;
}

int gnet_eval(const gnet_options *o, gnet_comm *comm)
{
    gnet_run r;
    gnet_progress p;
    double acc, loss;
    int rc = 0;
    if (gnet_options_check_batch(o, comm->world))
        return 2;
    if (gnet_run_open(&r, o, comm, 1) || gnet_state_init(&r, o->eval_path, &p) ||
        evaluate(&r, &acc, &loss))
        rc = -1;
    else
        gnet_infof("%s: test acc %.4f on %lld images at %dx%d\n", o->eval_path, acc,
                   (long long)r.test_src->shard_size[0], r.size, r.size);
    gnet_run_close(&r);
    return rc < 0 ? gnet_run_fail(comm) : 0;
}

int gnet_print_shapes(const gnet_options *o, gnet_comm *comm)
{
    static const char *names[GNET_BLOCKS] = {"b1", "b2", "b3", "b4", "b5", "linear"};
    gnet_options one = *o;
    one.batch_size = comm->world;
    one.accum_steps = 1;
    gnet_run r;
    int rc = 1;
    if (gnet_run_open(&r, &one, comm, 0) == 0) {
        gnet_infof("input 1x%dx%d\n", r.size, r.size);
        for (int i = 0; i < GNET_BLOCKS; i++) {
            gnet_shape s = r.m->block_out[i];
            if (s.h == 1 && s.w == 1 && i >= 4)
                gnet_infof("%-6s output %d\n", names[i], s.c);
            else
                gnet_infof("%-6s output %dx%dx%d\n", names[i], s.c, s.h, s.w);
        }
        size_t n = r.m->n_weights;
        gnet_infof("parameters %zu,%03zu,%03zu\n", n / 1000000, n / 1000 % 1000, n % 1000);
        rc = 0;
    }
    gnet_run_close(&r);
    return rc;
}

const char *gnet_dist_version(char *buf, size_t n)
{
    char core[256], dnnl[64], mpi[128], device[320];
    gnet_comm_mpi_version(mpi, sizeof mpi);
    gnet_device_versions(device, sizeof device);
    (void)snprintf(buf, n, "gnet_dist %s, %s, %s, %s", gnet_version(core, sizeof core),
                   gnet_backend_cpu_version(dnnl, sizeof dnnl), mpi, device);
    return buf;
}
