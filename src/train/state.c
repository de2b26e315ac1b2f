#include "train/state.h"

#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/log.h"

void gnet_state_resume_file(const char *path, char *buf, size_t n)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        (void)snprintf(buf, n, "%s/checkpoint.h5", path);
    else
        (void)snprintf(buf, n, "%s", path);
}

/* FNV-1a over the bytes: replicas must agree bit for bit, not approximately. */
static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

int gnet_state_check_replicas(gnet_run *r, const char *when)
{
    if (r->comm->world == 1)
        return 0;
    size_t n = r->m->n_weights;
    r->be->download(r->be, r->host, r->m->params, n);
    uint64_t h = hash_bytes(r->host, n * sizeof(float));
    uint64_t ref = h;
    r->comm->broadcast_bytes(r->comm, &ref, sizeof ref, 0);
    double differ = ref != h;
    r->comm->reduce_sum(r->comm, &differ, 1);
    if (differ > 0) {
        gnet_errorf_once("parameters differ across ranks %s: %.0f rank(s) disagree with rank 0",
                         when, differ);
        return -1;
    }
    return 0;
}

/* Rank 0's parameters (and optimizer state) go to every rank, so replicas start identical. */
static int share_from_rank0(gnet_run *r)
{
    size_t n = r->m->n_weights;
    r->comm->broadcast(r->comm, r->m->params, n, 0);
    for (int i = 0; i < r->opt->n_states; i++)
        r->comm->broadcast(r->comm, r->opt->state[i], n, 0);
    return gnet_state_check_replicas(r, "after the initial broadcast");
}

_Static_assert(GNET_OPTIM_STATES_MAX <= GNET_CKPT_STATES_MAX, "a checkpoint holds every state");

/* The optimizer's state buffers as the checkpoint's groups: the backend's (on_device) or
 * their host staging after the parameters in r->host. */
static gnet_ckpt_state ckpt_state(const gnet_run *r, int on_device)
{
    gnet_ckpt_state s = {.n = r->opt->n_states};
    for (int i = 0; i < s.n; i++) {
        s.group[i] = r->opt->rule->states[i];
        s.data[i] = on_device ? r->opt->state[i] : r->host + (size_t)(i + 1) * r->m->n_weights;
    }
    return s;
}

/* Adam's hyperparameters must be the checkpoint's: its moments were averaged with them. */
static int check_adam(const gnet_run *r, const char *file, const gnet_ckpt_meta *m)
{
    const gnet_options *o = r->o;
    const struct {
        const char *name;
        double was, now;
    } opts[] = {{"--adam-beta1", m->adam_beta1, o->adam_beta1},
                {"--adam-beta2", m->adam_beta2, o->adam_beta2},
                {"--adam-eps", m->adam_eps, o->adam_eps}};
    if (!r->opt->rule->adam)
        return 0;
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (opts[i].was != opts[i].now) {
            gnet_errorf("--resume %s: the checkpoint was trained with %s %g, this run asks for "
                        "%g (its exp_avg and exp_avg_sq were averaged with that value)",
                        file, opts[i].name, opts[i].was, opts[i].now);
            return -1;
        }
    return 0;
}

static int init_params(gnet_run *r, const char *path)
{
    size_t n = r->m->n_weights;
    int ok = 1;
    if (path && r->comm->rank == 0) {
        ok = gnet_ckpt_load(path, r->m->params_spec, r->m->n_params, r->host, NULL, NULL) == 0;
        if (ok)
            r->be->upload(r->be, r->m->params, r->host, n);
    } else if (!path) {
        gnet_model_init(r->m, r->o->seed, gnet_options_init_scheme(r->o));
    }
    if (gnet_run_agree(r->comm, ok))
        return -1;
    return share_from_rank0(r);
}

/* A checkpoint's optimizer number as --optimizer names it. */
static const char *optimizer_name(int32_t kind)
{
    return kind >= 0 && kind < GNET_OPT_KINDS ? gnet_optim_rule_of((gnet_opt_kind)kind)->name
                                              : "(unknown)";
}

/* A checkpoint's gradient clipping (older files: none). */
static gnet_clip_config clip_of(const gnet_ckpt_meta *m)
{
    return (gnet_clip_config){(gnet_clip_kind)m->clip, m->clip_norm, m->agc_lambda};
}

static int clip_differs(gnet_clip_config c, const gnet_ckpt_meta *m)
{
    gnet_clip_config k = clip_of(m);
    return c.kind != k.kind || (c.kind == GNET_CLIP_NORM && c.max_norm != k.max_norm) ||
           (c.kind == GNET_CLIP_AGC && c.lambda != k.lambda);
}

/* The clipping as the options that choose it. */
static const char *clip_text(gnet_clip_config c, char *buf, size_t n)
{
    if (c.kind == GNET_CLIP_NORM)
        (void)snprintf(buf, n, "--clip-norm %g", c.max_norm);
    else if (c.kind == GNET_CLIP_AGC)
        (void)snprintf(buf, n, "--clip agc --agc-lambda %g", c.lambda);
    else
        (void)snprintf(buf, n, "--clip none");
    return buf;
}

/* What must match for the resumed run to be the run the checkpoint belongs to. */
static int check_compatible(const gnet_run *r, const char *file, const gnet_ckpt_meta *m)
{
    const gnet_options *o = r->o;
    const char *why = "the data order and the step count depend on it";
    char a[64], b[64];
    if (m->batch_size != o->batch_size)
        gnet_errorf("--resume %s: the checkpoint was trained with --batch-size %d, this run asks "
                    "for %d (%s)",
                    file, m->batch_size, o->batch_size, why);
    else if (m->resize != o->resize)
        gnet_errorf(
            "--resume %s: the checkpoint was trained with --resize %d, this run asks for %d", file,
            m->resize ? m->resize : 28, o->resize ? o->resize : 28);
    else if (m->seed != o->seed)
        gnet_errorf(
            "--resume %s: the checkpoint was trained with --seed %llu, this run asks for %llu (%s)",
            file, (unsigned long long)m->seed, (unsigned long long)o->seed, why);
    else if (m->momentum != o->momentum)
        gnet_errorf("--resume %s: the checkpoint was trained with --momentum %g, this run asks for "
                    "%g (its momentum buffer belongs to that value)",
                    file, m->momentum, o->momentum);
    else if (m->target_acc != o->target_acc)
        gnet_errorf("--resume %s: the checkpoint was trained with --target-acc %g, this run asks "
                    "for %g (where the run ends, and whether it already did, belong to that value)",
                    file, m->target_acc, o->target_acc);
    else if (m->label_smoothing != o->label_smoothing)
        gnet_errorf("--resume %s: the checkpoint was trained with --label-smoothing %g, this run "
                    "asks for %g (the epoch's loss so far was summed with that value)",
                    file, m->label_smoothing, o->label_smoothing);
    else if (clip_differs(gnet_options_clip(o), m))
        gnet_errorf("--resume %s: the checkpoint was trained with %s, this run asks for %s (the "
                    "run so far was clipped that way; --init starts a new run from its weights)",
                    file, clip_text(clip_of(m), a, sizeof a),
                    clip_text(gnet_options_clip(o), b, sizeof b));
    else if (m->optimizer != (int32_t)r->opt->cfg.kind)
        gnet_errorf("--resume %s: the checkpoint was trained with --optimizer %s, this run asks "
                    "for %s (its optimizer state belongs to that one)",
                    file, optimizer_name(m->optimizer), o->optimizer);
    else
        return check_adam(r, file, m);
    return -1;
}

/* Rank 0 reads the checkpoint into host staging and checks it belongs to this run. */
static int load_rank0(gnet_run *r, const char *file, gnet_ckpt_meta *m)
{
    size_t n = r->m->n_weights;
    gnet_ckpt_state host = ckpt_state(r, 0), dev = ckpt_state(r, 1);
    if (gnet_ckpt_load(file, r->m->params_spec, r->m->n_params, r->host, &host, m) ||
        check_compatible(r, file, m))
        return -1;
    r->be->upload(r->be, r->m->params, r->host, n);
    for (int i = 0; i < host.n; i++)
        r->be->upload(r->be, dev.data[i], host.data[i], n);
    if (m->ranks != r->comm->world)
        gnet_infof("resuming on %d rank(s) a run checkpointed on %d: the batches are the same, "
                   "float sums may differ in the last bits\n",
                   r->comm->world, m->ranks);
    return 0;
}

static int resume(gnet_run *r, gnet_progress *p)
{
    char file[1024];
    gnet_state_resume_file(r->o->resume_path, file, sizeof file);
    gnet_ckpt_meta m;
    memset(&m, 0, sizeof m);
    int ok = r->comm->rank != 0 || load_rank0(r, file, &m) == 0;
    if (gnet_run_agree(r->comm, ok))
        return -1;
    /* Rank 0's position goes to every rank as a sum over ranks that only rank 0 adds to
     * (steps below 2^53 are exact in a double). */
    double v[] = {(double)m.epoch,     (double)m.epoch_step,  (double)m.step,   m.epoch_seconds,
                  m.run_seconds,       m.train_seconds,       m.train_images,   m.since_loss,
                  m.since_seen,        m.gns_g2_ema,          m.gns_tr_ema,     m.gns_weight,
                  (double)m.gns_steps, (double)m.target_step, m.target_images,  m.target_train_s,
                  m.target_epoch,      m.target_wall_s,       m.target_test_acc};
    r->comm->reduce_sum(r->comm, v, sizeof v / sizeof v[0]);
    *p = (gnet_progress){.epoch = (int64_t)v[0],
                         .epoch_step = (int64_t)v[1],
                         .step = (int64_t)v[2],
                         .epoch_seconds = v[3],
                         .run_seconds_before = v[4],
                         .train_seconds = v[5],
                         .train_images = v[6],
                         .since_loss = v[7],
                         .since_seen = v[8],
                         .noise = {.beta = r->o->noise_ema,
                                   .g2_ema = v[9],
                                   .tr_ema = v[10],
                                   .weight = v[11],
                                   .steps = (int64_t)v[12]},
                         .target_step = (int64_t)v[13],
                         .target_images = v[14],
                         .target_train_s = v[15],
                         .target_epoch = v[16],
                         .target_wall_s = v[17],
                         .target_test_acc = v[18]};
    /* The epoch's metrics so far are all ranks' sums: rank 0 carries them, the rest add theirs. */
    if (r->comm->rank == 0)
        p->t = (gnet_tally){m.epoch_loss_sum, m.epoch_correct, m.epoch_seen};
    r->opt->steps = p->step;
    return share_from_rank0(r);
}

int gnet_state_init(gnet_run *r, const char *path, gnet_progress *p)
{
    memset(p, 0, sizeof *p);
    gnet_noise_init(&p->noise, r->o->noise_ema);
    return r->o->resume_path ? resume(r, p) : init_params(r, path);
}

static gnet_ckpt_meta meta_of(const gnet_run *r, const gnet_progress *p, const double tally[3])
{
    const gnet_options *o = r->o;
    gnet_clip_config clip = gnet_options_clip(o);
    gnet_ckpt_meta m = {.epoch = p->epoch,
                        .step = p->step,
                        .epoch_step = p->epoch_step,
                        .epoch_loss_sum = tally[0],
                        .epoch_correct = tally[1],
                        .epoch_seen = tally[2],
                        .epoch_seconds = p->epoch_seconds,
                        .run_seconds = p->run_seconds_before + gnet_now() - r->t_start,
                        .train_seconds = p->train_seconds,
                        .train_images = p->train_images,
                        .ranks = r->comm->world,
                        .seed = o->seed,
                        .batch_size = o->batch_size,
                        .resize = o->resize,
                        .lr = o->lr,
                        .momentum = o->momentum,
                        .weight_decay = o->weight_decay,
                        .optimizer = (int32_t)r->opt->cfg.kind,
                        .lars_eta = o->lars_eta,
                        .adam_beta1 = o->adam_beta1,
                        .adam_beta2 = o->adam_beta2,
                        .adam_eps = o->adam_eps,
                        .label_smoothing = o->label_smoothing,
                        .clip = (int32_t)clip.kind,
                        .clip_norm = clip.max_norm,
                        .agc_lambda = clip.lambda,
                        .since_loss = p->since_loss,
                        .since_seen = p->since_seen,
                        .gns_g2_ema = p->noise.g2_ema,
                        .gns_tr_ema = p->noise.tr_ema,
                        .gns_weight = p->noise.weight,
                        .gns_steps = p->noise.steps,
                        .target_acc = o->target_acc,
                        .target_step = p->target_step,
                        .target_images = p->target_images,
                        .target_train_s = p->target_train_s,
                        .target_epoch = p->target_epoch,
                        .target_wall_s = p->target_wall_s,
                        .target_test_acc = p->target_test_acc};
    (void)snprintf(m.config, sizeof m.config, "%s", r->command_line);
    return m;
}

/* A process killed while writing leaves PATH.tmp.<pid> behind (the rename never came):
 * remove those of processes that are gone, so a crash leaves nothing half-written for long. */
static void remove_stale_temps(const char *path)
{
    char pattern[1100];
    glob_t g;
    (void)snprintf(pattern, sizeof pattern, "%s.tmp.*", path);
    if (glob(pattern, GLOB_NOSORT, NULL, &g) != 0)
        return;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *end;
        long pid = strtol(strrchr(g.gl_pathv[i], '.') + 1, &end, 10);
        if (*end == '\0' && pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH &&
            unlink(g.gl_pathv[i]) == 0)
            gnet_infof("removed %s, left by a process that died writing it\n", g.gl_pathv[i]);
    }
    globfree(&g);
}

int gnet_state_save(gnet_run *r, const gnet_progress *p)
{
    double tally[3] = {p->t.loss_sum, p->t.correct, p->t.seen};
    r->comm->reduce_sum(r->comm, tally, 3);
    int ok = 1;
    if (r->comm->rank == 0) {
        size_t n = r->m->n_weights;
        gnet_ckpt_state host = ckpt_state(r, 0), dev = ckpt_state(r, 1);
        r->be->download(r->be, r->host, r->m->params, n);
        for (int i = 0; i < host.n; i++)
            r->be->download(r->be, host.data[i], dev.data[i], n);
        gnet_ckpt_meta m = meta_of(r, p, tally);
        remove_stale_temps(r->save_path);
        ok = gnet_ckpt_save(r->save_path, r->m->params_spec, r->m->n_params, r->host, &host, &m) ==
             0;
    }
    return gnet_run_agree(r->comm, ok);
}
