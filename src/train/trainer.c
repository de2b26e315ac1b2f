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
#include "data/dataset.h"

/* Everything one run holds; created once, so the step loop allocates nothing. */
typedef struct {
    const gnet_options *o;
    gnet_backend *be;
    gnet_model *m;
    gnet_sgd *opt;
    gnet_dataset train, test;
    gnet_batcher *train_batcher, *test_batcher;
    int32_t *order, *labels;
    float *x_host, *x;
    int size;
} run;

typedef struct {
    double loss_sum;
    int64_t correct, seen;
} tally;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int image_size(const gnet_options *o) { return o->resize ? o->resize : 28; }

/* --device: the CUDA backend is a later addition; until then auto means the CPU. */
static gnet_backend *open_backend(const gnet_options *o)
{
    if (strcmp(o->device, "cuda") == 0) {
        gnet_errorf("--device cuda: this build of gnet has no CUDA backend yet; use --device cpu");
        return NULL;
    }
    return gnet_backend_cpu_create(o->threads);
}

static int load_data(run *r)
{
    const gnet_options *o = r->o;
    if (o->synthetic) {
        /* A synthetic test set of its own seed, a sixth of the training size (as 10k/60k). */
        int n_test = o->synthetic / 6 > 0 ? o->synthetic / 6 : 1;
        if (gnet_dataset_synthetic(&r->train, o->synthetic, 28, o->seed) ||
            gnet_dataset_synthetic(&r->test, n_test, 28, o->seed + 1))
            return -1;
    } else if (gnet_dataset_load_idx(&r->train, o->idx_dir, 1) ||
               gnet_dataset_load_idx(&r->test, o->idx_dir, 0)) {
        return -1;
    }
    if (o->train_limit && o->train_limit < r->train.n)
        gnet_dataset_truncate(&r->train, o->train_limit);
    if (o->test_limit && o->test_limit < r->test.n)
        gnet_dataset_truncate(&r->test, o->test_limit);
    return 0;
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

static void run_free(run *r)
{
    gnet_batcher_free(r->train_batcher);
    gnet_batcher_free(r->test_batcher);
    gnet_dataset_free(&r->train);
    gnet_dataset_free(&r->test);
    free(r->order);
    free(r->labels);
    free(r->x_host);
    if (r->be) {
        if (r->x)
            r->be->free(r->be, r->x);
        gnet_sgd_destroy(r->opt);
        gnet_model_destroy(r->m);
        r->be->destroy(r->be);
    }
}

static int run_open(run *r, const gnet_options *o, int with_data)
{
    memset(r, 0, sizeof *r);
    r->o = o;
    r->size = image_size(o);
    if (with_data && load_data(r))
        return -1;
    if (!(r->be = open_backend(o)) || !(r->m = gnet_model_create(r->be, o->batch_size, r->size)))
        return -1;
    size_t pixels = (size_t)o->batch_size * r->size * r->size;
    r->x = r->be->alloc(r->be, pixels);
    r->x_host = malloc(pixels * sizeof(float));
    r->labels = malloc((size_t)o->batch_size * sizeof(int32_t));
    if (!r->x_host || !r->labels) {
        gnet_errorf("out of host memory for a batch of %d images of %dx%d", o->batch_size, r->size, r->size);
        return -1;
    }
    if (with_data) {
        r->order = malloc((size_t)(r->train.n > r->test.n ? r->train.n : r->test.n) * sizeof(int32_t));
        r->train_batcher = gnet_batcher_create(&r->train, r->size);
        r->test_batcher = gnet_batcher_create(&r->test, r->size);
        if (!r->order || !r->train_batcher || !r->test_batcher) {
            gnet_errorf("out of host memory preparing the data");
            return -1;
        }
    }
    return 0;
}

/* Forward one batch of b <= batch_size images (the rest of the batch is padding whose
 * gradient is zeroed, so a short last batch updates exactly like a batch of b). */
static void forward_batch(run *r, gnet_batcher *bt, const int32_t *idx, int b, float grad_scale, tally *t)
{
    gnet_backend *be = r->be;
    gnet_model *m = r->m;
    gnet_batcher_fill(bt, idx, b, r->x_host, r->labels);
    be->upload(be, r->x, r->x_host, (size_t)b * r->size * r->size);
    gnet_model_forward(m, r->x);
    double loss;
    int64_t correct;
    be->softmax_xent(be, b, GNET_CLASSES, m->logits, r->labels, grad_scale, m->dlogits, &loss, &correct);
    if (b < m->batch)
        memset(m->dlogits + (size_t)b * GNET_CLASSES, 0,
               (size_t)(m->batch - b) * GNET_CLASSES * sizeof(float));
    t->loss_sum += loss;
    t->correct += correct;
    t->seen += b;
}

static double evaluate(run *r)
{
    tally t = {0};
    int bs = r->o->batch_size;
    for (int32_t i = 0; i < r->test.n; i++)
        r->order[i] = i;
    for (int32_t start = 0; start < r->test.n; start += bs) {
        int b = r->test.n - start < bs ? r->test.n - start : bs;
        forward_batch(r, r->test_batcher, r->order + start, b, 0.0f, &t);
    }
    return t.seen ? (double)t.correct / (double)t.seen : 0.0;
}

/* One epoch (or up to the step limit). Returns the number of steps taken. */
static int64_t train_epoch(run *r, int epoch, int64_t steps_done, tally *t)
{
    const gnet_options *o = r->o;
    int bs = o->batch_size;
    int64_t steps_per_epoch = (r->train.n + bs - 1) / bs, s = 0;
    gnet_lr_schedule sched = {GNET_LR_CONSTANT, (float)o->lr};
    gnet_dataset_order(r->order, r->train.n, !o->no_shuffle, o->seed, (uint64_t)epoch);
    for (int32_t start = 0; start < r->train.n; start += bs, s++) {
        if (o->max_steps && steps_done + s >= o->max_steps)
            break;
        int b = r->train.n - start < bs ? r->train.n - start : bs;
        forward_batch(r, r->train_batcher, r->order + start, b, 1.0f / (float)b, t);
        gnet_model_backward(r->m, 0);
        gnet_sgd_step(r->opt, r->m->params, r->m->grads, gnet_lr_at(&sched, steps_done + s, steps_per_epoch));
    }
    r->be->sync(r->be);
    return s;
}

static int save_checkpoint(run *r, const char *command_line, int64_t epochs, int64_t steps)
{
    const gnet_options *o = r->o;
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

static int load_params(run *r, const char *path)
{
    size_t n = r->m->n_weights;
    float *params = malloc(n * sizeof(float));
    if (!params) {
        gnet_errorf("%s: out of host memory", path);
        return -1;
    }
    int rc = gnet_ckpt_load(path, r->m->params_spec, r->m->n_params, params, NULL, NULL);
    if (rc == 0)
        r->be->upload(r->be, r->m->params, params, n);
    free(params);
    return rc;
}

int gnet_train(const gnet_options *o, const char *command_line)
{
    run r;
    int rc = 1;
    if (o->save_path && check_save_dir(o->save_path))
        return 1;
    if (run_open(&r, o, 1))
        goto out;
    gnet_sgd_config sc = {(float)o->lr, (float)o->momentum, (float)o->weight_decay, o->nesterov};
    r.opt = gnet_sgd_create(r.be, r.m->n_weights, sc);
    if (o->init_path) {
        if (load_params(&r, o->init_path))
            goto out;
    } else {
        gnet_model_init(r.m, o->seed);
    }
    int64_t steps = 0;
    int epoch = 0;
    for (; epoch < o->epochs && !(o->max_steps && steps >= o->max_steps); epoch++) {
        tally t = {0};
        double t0 = now();
        steps += train_epoch(&r, epoch, steps, &t);
        double rate = (double)t.seen / (now() - t0);
        double test_acc = evaluate(&r);
        gnet_infof("epoch %d/%d loss %.3f, train acc %.3f, test acc %.3f, %.1f examples/sec on %s (%d threads)\n",
                   epoch + 1, o->epochs, t.loss_sum / (double)t.seen, (double)t.correct / (double)t.seen,
                   test_acc, rate, r.be->name, r.be->threads);
    }
    rc = o->save_path && save_checkpoint(&r, command_line, epoch, steps) ? 1 : 0;
out:
    run_free(&r);
    return rc;
}

int gnet_eval(const gnet_options *o)
{
    run r;
    int rc = 1;
    if (run_open(&r, o, 1) || load_params(&r, o->eval_path))
        goto out;
    double acc = evaluate(&r);
    gnet_infof("%s: test acc %.4f on %d images at %dx%d\n", o->eval_path, acc, r.test.n, r.size, r.size);
    rc = 0;
out:
    run_free(&r);
    return rc;
}

int gnet_print_shapes(const gnet_options *o)
{
    static const char *names[GNET_BLOCKS] = {"b1", "b2", "b3", "b4", "b5", "linear"};
    gnet_options one = *o;
    one.batch_size = 1;
    run r;
    int rc = 1;
    if (run_open(&r, &one, 0))
        goto out;
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
out:
    run_free(&r);
    return rc;
}
