#include "train/trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/log.h"
#include "core/model.h"
#include "core/optim.h"
#include "data/loader.h"
#include "dist/reducer.h"
#include "train/device.h"

/* Everything one run holds; created once, so the step loop allocates nothing. */
typedef struct {
    const gnet_options *o;
    gnet_comm *comm; /* the device's communicator */
    gnet_device dev;
    gnet_backend *be;
    gnet_model *m;
    gnet_sgd *opt;
    gnet_reducer *red;
    gnet_dataset train_set, test_set; /* storage of the in-memory sources */
    gnet_source *train_src, *test_src;
    gnet_loader *train, *test;
    float *x; /* one micro-batch of input, backend memory */
    int size, micro;
} run;

typedef struct {
    double loss_sum, correct, seen; /* doubles: reduced across ranks as one vector */
} tally;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A failure on one rank must end every rank: alone, exit normally; in a job, abort it. */
static int fail(const run *r)
{
    if (r->comm->world > 1)
        gnet_fatal(1);
    return 1;
}

/* Fail before training, not after it, when the checkpoint could never be written. */
static int check_save_dir(const char *path)
{
    char dir[1024];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path == 0 ? 1 : slash - path), path);
    if (access(dir, W_OK) != 0) {
        gnet_errorf("--save %s: directory %s does not exist or is not writable", path, dir);
        return -1;
    }
    return 0;
}

static int open_memory_sources(run *r)
{
    const gnet_options *o = r->o;
    if (o->synthetic) {
        /* A synthetic test set of its own seed, a sixth of the training size (as 10k/60k). */
        int n_test = o->synthetic / 6 > 0 ? o->synthetic / 6 : 1;
        if (gnet_dataset_synthetic(&r->train_set, o->synthetic, 28, o->seed) ||
            gnet_dataset_synthetic(&r->test_set, n_test, 28, o->seed + 1))
            return -1;
    } else if (gnet_dataset_load_idx(&r->train_set, o->idx_dir, 1) ||
               gnet_dataset_load_idx(&r->test_set, o->idx_dir, 0)) {
        return -1;
    }
    if (o->train_limit && o->train_limit < r->train_set.n)
        gnet_dataset_truncate(&r->train_set, o->train_limit);
    if (o->test_limit && o->test_limit < r->test_set.n)
        gnet_dataset_truncate(&r->test_set, o->test_limit);
    r->train_src = gnet_source_from_dataset(&r->train_set);
    r->test_src = gnet_source_from_dataset(&r->test_set);
    return r->train_src && r->test_src ? 0 : -1;
}

static int open_sources(run *r)
{
    const gnet_options *o = r->o;
    if (!o->data_dir)
        return open_memory_sources(r);
    if (o->train_limit || o->test_limit) {
        gnet_errorf("--train-limit/--test-limit: only with --idx or --synthetic (prepare a smaller set instead)");
        return -1;
    }
    r->train_src = gnet_source_open_prepared(o->data_dir, "train", r->comm->rank, r->comm->world);
    r->test_src = r->train_src ? gnet_source_open_prepared(o->data_dir, "test", r->comm->rank, r->comm->world) : NULL;
    return r->train_src && r->test_src ? 0 : -1;
}

static int open_loaders(run *r)
{
    const gnet_options *o = r->o;
    const char *what = o->data_dir ? o->data_dir : o->idx_dir ? o->idx_dir : "synthetic data";
    gnet_sampler_config tc = {.mode = GNET_SAMPLE_TRAIN, .global_batch = o->batch_size,
                              .rank = r->comm->rank, .world = r->comm->world,
                              .shuffle = !o->no_shuffle, .drop_last = o->drop_last, .seed = o->seed};
    gnet_sampler_config ec = {.mode = GNET_SAMPLE_EVAL, .global_batch = r->micro * r->comm->world,
                              .rank = r->comm->rank, .world = r->comm->world, .seed = o->seed};
    r->train = gnet_loader_create(r->train_src, &tc, r->size, !o->no_prefetch, what);
    r->test = r->train ? gnet_loader_create(r->test_src, &ec, r->size, !o->no_prefetch, what) : NULL;
    return r->train && r->test ? 0 : -1;
}

/* B is the global batch: each of P ranks takes B/P rows, in K micro-batches. */
static int check_batch(const gnet_options *o, int world)
{
    if (o->batch_size % (world * o->accum_steps)) {
        gnet_errorf_once("--batch-size %d is not divisible by %d rank(s) x %d accumulation step(s)",
                         o->batch_size, world, o->accum_steps);
        return -1;
    }
    return 0;
}

static void grads_ready(void *ctx, size_t lo) { gnet_reducer_ready(ctx, lo); }

static int open_model(run *r)
{
    const gnet_options *o = r->o;
    if (gnet_device_open(&r->dev, o, r->comm))
        return -1;
    r->be = r->dev.be;
    r->comm = r->dev.comm;
    if (!(r->m = gnet_model_create(r->be, r->micro, r->size)))
        return -1;
    r->x = r->be->alloc(r->be, (size_t)r->micro * r->size * r->size);
    gnet_sgd_config sc = {(float)o->lr, (float)o->momentum, (float)o->weight_decay, o->nesterov};
    r->opt = gnet_sgd_create(r->be, r->m->n_weights, sc);
    r->red = gnet_reducer_create(r->comm, r->m->grads, r->m->params_spec, r->m->n_params,
                                 (size_t)(o->bucket_mb * 1e6), !o->no_overlap);
    r->m->grads_ready_ctx = r->red;
    return 0;
}

static void run_free(run *r)
{
    gnet_loader_destroy(r->train);
    gnet_loader_destroy(r->test);
    if (r->train_src)
        r->train_src->destroy(r->train_src);
    if (r->test_src)
        r->test_src->destroy(r->test_src);
    gnet_dataset_free(&r->train_set);
    gnet_dataset_free(&r->test_set);
    gnet_reducer_destroy(r->red);
    gnet_sgd_destroy(r->opt);
    if (r->be) {
        if (r->x)
            r->be->free(r->be, r->x);
        gnet_model_destroy(r->m);
    }
    gnet_device_close(&r->dev);
}

static int run_open(run *r, const gnet_options *o, gnet_comm *comm, int with_data)
{
    memset(r, 0, sizeof *r);
    r->o = o;
    r->comm = comm;
    r->size = o->resize ? o->resize : 28;
    r->micro = o->batch_size / (comm->world * o->accum_steps);
    if (with_data && (open_sources(r) || open_loaders(r)))
        return -1;
    return open_model(r);
}

/* Forward `rows` planned rows of which the first `valid` are samples; padding rows get a
 * zero loss gradient, so the update is that of the valid rows alone. */
static void forward_rows(run *r, const float *x, const int32_t *y, int valid, float grad_scale, tally *t)
{
    gnet_backend *be = r->be;
    gnet_model *m = r->m;
    be->upload(be, r->x, x, (size_t)r->micro * r->size * r->size);
    gnet_model_forward(m, r->x);
    double loss = 0.0;
    int64_t correct = 0;
    if (valid > 0)
        be->softmax_xent(be, valid, GNET_CLASSES, m->logits, y, grad_scale, m->dlogits, &loss, &correct);
    if (valid < m->batch)
        memset(m->dlogits + (size_t)valid * GNET_CLASSES, 0,
               (size_t)(m->batch - valid) * GNET_CLASSES * sizeof(float));
    t->loss_sum += loss;
    t->correct += (double)correct;
    t->seen += valid;
}

/* One optimizer step on this rank's rows of a global batch: K micro-batches accumulate
 * gradients (scaled by 1/global batch, so the all-reduced sum is the global mean); the last
 * one's backward starts the bucketed all-reduce as layers finish. */
static void train_step(run *r, const gnet_batch *b, float lr, tally *t)
{
    int K = r->o->accum_steps, mb = r->micro;
    size_t px = (size_t)r->size * r->size;
    for (int k = 0; k < K; k++) {
        int valid = b->valid - k * mb;
        valid = valid < 0 ? 0 : valid > mb ? mb : valid;
        forward_rows(r, b->x + (size_t)k * mb * px, b->y + (size_t)k * mb, valid,
                     1.0f / (float)b->global_valid, t);
        int last = k == K - 1;
        if (last)
            gnet_reducer_begin(r->red);
        r->m->grads_ready = last ? grads_ready : NULL;
        gnet_model_backward(r->m, k > 0);
    }
    gnet_reducer_finish(r->red);
    gnet_sgd_step(r->opt, r->m->params, r->m->grads, lr);
}

static int evaluate(run *r, double *acc)
{
    tally t = {0};
    gnet_batch b;
    gnet_loader_start_epoch(r->test, 0, 0);
    for (int64_t s = 0; s < gnet_loader_steps(r->test); s++) {
        if (gnet_loader_next(r->test, &b))
            return -1;
        forward_rows(r, b.x, b.y, b.valid, 0.0f, &t);
    }
    double v[2] = {t.correct, t.seen};
    r->comm->reduce_sum(r->comm, v, 2);
    *acc = v[1] > 0 ? v[0] / v[1] : 0.0;
    return 0;
}

/* One epoch (or up to the step limit); returns the steps taken or -1. */
static int64_t train_epoch(run *r, int epoch, int64_t steps_done, tally *t)
{
    const gnet_options *o = r->o;
    int64_t steps = gnet_loader_steps(r->train), s = 0;
    gnet_lr_schedule sched = gnet_options_lr_schedule(o);
    gnet_batch b;
    gnet_loader_start_epoch(r->train, epoch, 0);
    for (; s < steps && !(o->max_steps && steps_done + s >= o->max_steps); s++) {
        if (gnet_loader_next(r->train, &b))
            return -1;
        train_step(r, &b, gnet_lr_at(&sched, steps_done + s, steps), t);
    }
    r->be->sync(r->be);
    double v[3] = {t->loss_sum, t->correct, t->seen};
    r->comm->reduce_sum(r->comm, v, 3);
    *t = (tally){v[0], v[1], v[2]};
    return s;
}

static int save_checkpoint(run *r, const char *command_line, int64_t epochs, int64_t steps)
{
    const gnet_options *o = r->o;
    if (r->comm->rank != 0)
        return 0;
    gnet_ckpt_meta meta = {.epoch = epochs, .step = steps, .seed = o->seed, .batch_size = o->batch_size,
                           .resize = o->resize, .lr = o->lr, .momentum = o->momentum,
                           .weight_decay = o->weight_decay};
    snprintf(meta.config, sizeof meta.config, "%s", command_line);
    size_t n = r->m->n_weights;
    float *params = malloc(n * sizeof(float)), *mom = NULL;
    int rc = -1;
    if (params && (!r->opt->momentum || (mom = malloc(n * sizeof(float))))) {
        r->be->download(r->be, params, r->m->params, n);
        if (mom)
            r->be->download(r->be, mom, r->opt->momentum, n);
        rc = gnet_ckpt_save(o->save_path, r->m->params_spec, r->m->n_params, params, mom, &meta);
    } else {
        gnet_errorf("%s: out of host memory staging the checkpoint", o->save_path);
    }
    free(params);
    free(mom);
    return rc;
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

/* Every rank compares the hash of its parameters with rank 0's: replicas that drift apart
 * (a broken broadcast or all-reduce) are an error, not a silently different model. */
static int check_replicas(run *r, const char *when)
{
    if (r->comm->world == 1)
        return 0;
    size_t n = r->m->n_weights;
    float *host = malloc(n * sizeof(float));
    if (!host) {
        gnet_errorf("out of host memory checking replicas");
        return -1;
    }
    r->be->download(r->be, host, r->m->params, n);
    uint64_t h = hash_bytes(host, n * sizeof(float));
    free(host);
    float mine[4], ref[4]; /* 16-bit pieces: exact in a float, so a float broadcast carries them */
    for (int i = 0; i < 4; i++)
        mine[i] = ref[i] = (float)((h >> (16 * i)) & 0xffff);
    r->comm->broadcast(r->comm, ref, 4, 0);
    double differ = memcmp(mine, ref, sizeof mine) != 0;
    r->comm->reduce_sum(r->comm, &differ, 1);
    if (differ > 0) {
        gnet_errorf_once("parameters differ across ranks %s: %.0f rank(s) disagree with rank 0", when, differ);
        return -1;
    }
    return 0;
}

/* Rank 0's parameters (initialised from the seed, or read from a checkpoint) go to every
 * rank, so replicas start identical whatever their seeds. */
static int init_params(run *r, const char *path)
{
    size_t n = r->m->n_weights;
    int rc = 0;
    if (path && r->comm->rank == 0) {
        float *host = malloc(n * sizeof(float));
        rc = host ? gnet_ckpt_load(path, r->m->params_spec, r->m->n_params, host, NULL, NULL) : -1;
        if (rc == 0)
            r->be->upload(r->be, r->m->params, host, n);
        free(host);
    } else if (!path) {
        gnet_model_init(r->m, r->o->seed);
    }
    if (rc)
        return -1;
    r->comm->broadcast(r->comm, r->m->params, n, 0);
    return check_replicas(r, "after the initial broadcast");
}

static void print_epoch(const run *r, int epoch, const tally *t, double seconds, double test_acc)
{
    char where[64];
    if (r->comm->world > 1)
        snprintf(where, sizeof where, "%s (%d ranks)", r->be->name, r->comm->world);
    else
        snprintf(where, sizeof where, "%s (%d threads)", r->be->name, r->be->threads);
    gnet_infof("epoch %d/%d loss %.3f, train acc %.3f, test acc %.3f, %.1f examples/sec on %s\n",
               epoch + 1, r->o->epochs, t->loss_sum / t->seen, t->correct / t->seen, test_acc,
               t->seen / seconds, where);
}

static int train_loop(run *r, const char *command_line)
{
    const gnet_options *o = r->o;
    int64_t steps = 0;
    int epoch = 0;
    double train_seconds = 0.0;
    for (; epoch < o->epochs && !(o->max_steps && steps >= o->max_steps); epoch++) {
        tally t = {0};
        double t0 = now(), acc;
        int64_t s = train_epoch(r, epoch, steps, &t);
        double dt = now() - t0;
        if (s < 0 || evaluate(r, &acc))
            return -1;
        steps += s;
        train_seconds += dt;
        print_epoch(r, epoch, &t, dt, acc);
    }
    gnet_infof("trained %lld steps in %.1f s; the step waited %.2f s for data\n", (long long)steps,
               train_seconds, gnet_loader_wait_seconds(r->train));
    if (check_replicas(r, "after training"))
        return -1;
    return o->save_path ? save_checkpoint(r, command_line, epoch, steps) : 0;
}

int gnet_train(const gnet_options *o, gnet_comm *comm, const char *command_line)
{
    run r;
    int rc = 1;
    if (check_batch(o, comm->world))
        return 2;
    if (o->save_path && comm->rank == 0 && check_save_dir(o->save_path))
        return fail(&(run){.comm = comm});
    if (run_open(&r, o, comm, 1) || init_params(&r, o->init_path) || train_loop(&r, command_line))
        rc = fail(&r);
    else
        rc = 0;
    run_free(&r);
    return rc;
}

int gnet_eval(const gnet_options *o, gnet_comm *comm)
{
    run r;
    int rc = 1;
    double acc;
    if (check_batch(o, comm->world))
        return 2;
    if (run_open(&r, o, comm, 1) || init_params(&r, o->eval_path) || evaluate(&r, &acc)) {
        rc = fail(&r);
    } else {
        gnet_infof("%s: test acc %.4f on %lld images at %dx%d\n", o->eval_path, acc,
                   (long long)r.test_src->shard_size[0], r.size, r.size);
        rc = 0;
    }
    run_free(&r);
    return rc;
}

int gnet_print_shapes(const gnet_options *o, gnet_comm *comm)
{
    static const char *names[GNET_BLOCKS] = {"b1", "b2", "b3", "b4", "b5", "linear"};
    gnet_options one = *o;
    one.batch_size = comm->world;
    one.accum_steps = 1;
    run r;
    int rc = 1;
    if (run_open(&r, &one, comm, 0) == 0) {
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
    run_free(&r);
    return rc;
}
