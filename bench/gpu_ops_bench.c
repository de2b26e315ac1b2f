/* Every backend op of one GoogLeNet training step, on the CUDA backend against the CPU backend
 * (in the manner of llm.c's dev/cuda): the ops and their shapes are those the model issues
 * (bench/op_record.c runs a step on a recording backend: every distinct conv and pool shape,
 * forward and both backward directions, the linear layer, softmax_xent, relu_backward, add,
 * copy_channels, sgd, and the sumsq and copy of --noise-scale). Each op runs once on both
 * backends from the same random inputs (tests/backend_pair.h, as tests/test_cuda_ops.c
 * compares), then alone on the GPU, timed on the host between two be->sync calls (so a
 * launch-bound op shows its launch cost, as it does in the step), repeated to about
 * --target-ms. One Markdown row per op, in the step's order, then the slowest ops.
 *
 * usage: gnet_gpu_ops_bench [--batch 64] [--resize 96] [--precision fp32|tf32|bf16]
 *                           [--target-ms 5] [--threads 0] [--device 0] [--cpu-vs-cpu]
 * Error: max|gpu - cpu| / max|cpu| per result tensor. Bound: convolutions and the linear
 * layer 1e-4 in fp32, 5e-2 in tf32, 1e-1 in bf16 (tests/test_cuda_ops.c's: sanity, not
 * precision, below fp32); every other op computes in fp32 in all modes: 1e-4 (sumsq, summed
 * in double: 1e-10). --cpu-vs-cpu puts a second CPU backend in the GPU's place (no GPU
 * needed: the harness itself, errors 0). The cuDNN algorithm preference is
 * GNET_CUDNN_DETERMINISTIC's (src/core/backend_cuda.h).
 * Exit: 0 every op within its bound, 1 some op over it, 2 usage, 77 (after one line) no CUDA
 * device. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_pair.h"
#include "bench_util.h"
#include "core/backend_cuda.h"
#include "core/clock.h"
#include "core/log.h"
#include "op_record.h"

#define TOL_FP32 1e-4
#define TOL_TF32 5e-2
#define TOL_BF16 1e-1
#define TOL_SUMSQ 1e-10
#define SLOWEST 15 /* rows of the closing table */

/* A conv plan pair per distinct descriptor: its three directions are three rows, and oneDNN
 * compiles primitives at plan time, so planning once per shape keeps the CPU side short. */
typedef struct {
    long key[11];
    gnet_conv *plan[2]; /* [0] reference, [1] checked */
} conv_plans;

typedef struct {
    gnet_duo d;
    double math_tol; /* convolutions and the linear layer */
    double target_s; /* timed run per op */
    conv_plans *convs;
    int n_convs;
} bench;

typedef struct {
    double err, tol, us;
} op_result;

/* One op being run. Operand roles by kind (the fields unused are zero):
 *   conv, linear:  x w b y (forward), dy w dx (data), x dy dw db (filter / linear bwd)
 *   pool:          x y (forward), dy dx (backward, after a forward)
 *   softmax_xent:  x = logits, dx = dlogits, labels
 *   relu_backward: y, dy    add, copy: y += / = x    copy_channels: y <- x
 *   sgd:           x = params, dy = gradient, y = momentum    sumsq: x (and dy, the b) */
typedef struct op_run {
    bench *b;
    const op_rec *r;
    pair x, w, b_, y, dy, dx, dw, db;
    gnet_conv *conv[2];
    gnet_pool *pool[2];
    int32_t *labels;
    double value[2]; /* sumsq's results */
    void (*call)(struct op_run *o, int s); /* the op once on side s (0 reference, 1 checked) */
    double (*error)(struct op_run *o);     /* after one call on each side */
} op_run;

static gnet_backend *side(const op_run *o, int s) { return s ? o->b->d.dut : o->b->d.ref; }
static float *at(pair p, int s) { return s ? p.g : p.c; }
static gnet_duo *duo(op_run *o) { return &o->b->d; }

/* ---------- convolution ---------- */

static conv_plans *plans_for(bench *b, const op_rec *r)
{
    for (int i = 0; i < b->n_convs; i++)
        if (memcmp(b->convs[i].key, r->key, sizeof b->convs[i].key) == 0)
            return &b->convs[i];
    b->convs = realloc(b->convs, (size_t)(b->n_convs + 1) * sizeof *b->convs);
    if (!b->convs)
        exit(2);
    conv_plans *p = &b->convs[b->n_convs++];
    memcpy(p->key, r->key, sizeof p->key);
    gnet_conv_desc d = op_conv_desc(r);
    p->plan[0] = b->d.ref->conv_create(b->d.ref, &d);
    p->plan[1] = b->d.dut->conv_create(b->d.dut, &d);
    return p;
}

static void conv_fwd_call(op_run *o, int s)
{
    side(o, s)->conv_forward(o->conv[s], at(o->x, s), at(o->w, s), at(o->b_, s), at(o->y, s));
}

static void conv_data_call(op_run *o, int s)
{
    side(o, s)->conv_backward_data(o->conv[s], at(o->dy, s), at(o->w, s), at(o->dx, s));
}

static void conv_filter_call(op_run *o, int s)
{
    side(o, s)->conv_backward_filter(o->conv[s], at(o->x, s), at(o->dy, s), at(o->dw, s),
                                     at(o->db, s), (int)o->r->key[11]);
}

static double conv_fwd_err(op_run *o) { return duo_act_err(duo(o), o->y, op_conv_desc(o->r).out); }
static double conv_data_err(op_run *o) { return duo_act_err(duo(o), o->dx, op_conv_desc(o->r).in); }

static double conv_filter_err(op_run *o)
{
    gnet_conv_desc d = op_conv_desc(o->r);
    size_t wn = (size_t)d.out.c * d.in.c * d.k * d.k;
    return fmax(duo_plain_err(duo(o), o->dw, wn), duo_plain_err(duo(o), o->db, (size_t)d.out.c));
}

/* Weights and biases at PyTorch's default scale, activations and gradients in [-1, 1]. */
static void setup_conv(op_run *o)
{
    gnet_conv_desc d = op_conv_desc(o->r);
    conv_plans *p = plans_for(o->b, o->r);
    o->conv[0] = p->plan[0];
    o->conv[1] = p->plan[1];
    size_t wn = (size_t)d.out.c * d.in.c * d.k * d.k;
    float bound = 1.0f / sqrtf((float)(d.in.c * d.k * d.k));
    if (o->r->kind != OP_CONV_DATA)
        o->x = duo_random_act(duo(o), d.in, -1.0f, 1.0f);
    if (o->r->kind != OP_CONV_FILTER)
        o->w = duo_random_plain(duo(o), wn, -bound, bound);
    if (o->r->kind == OP_CONV_FWD) {
        o->b_ = duo_random_plain(duo(o), (size_t)d.out.c, -bound, bound);
        o->y = duo_random_act(duo(o), d.out, 0.0f, 0.0f);
        o->call = conv_fwd_call, o->error = conv_fwd_err;
        return;
    }
    o->dy = duo_random_act(duo(o), d.out, -1.0f, 1.0f);
    if (o->r->kind == OP_CONV_DATA) {
        o->dx = duo_random_act(duo(o), d.in, 0.0f, 0.0f);
        o->call = conv_data_call, o->error = conv_data_err;
        return;
    }
    /* Non-zero gradients to start from: an accumulating call must add to them. */
    o->dw = duo_random_plain(duo(o), wn, -1.0f, 1.0f);
    o->db = duo_random_plain(duo(o), (size_t)d.out.c, -1.0f, 1.0f);
    o->call = conv_filter_call, o->error = conv_filter_err;
}

/* ---------- pooling ---------- */

static void pool_fwd_call(op_run *o, int s)
{
    side(o, s)->pool_forward(o->pool[s], at(o->x, s), at(o->y, s));
}

static void pool_bwd_call(op_run *o, int s)
{
    side(o, s)->pool_backward(o->pool[s], at(o->dy, s), at(o->dx, s));
}

static double pool_fwd_err(op_run *o) { return duo_act_err(duo(o), o->y, op_pool_desc(o->r).out); }
static double pool_bwd_err(op_run *o) { return duo_act_err(duo(o), o->dx, op_pool_desc(o->r).in); }

/* Signed inputs (a window whose maximum is negative tells -inf padding from zeros); the
 * backward needs its plan's forward first, on both sides. */
static void setup_pool(op_run *o)
{
    gnet_pool_desc d = op_pool_desc(o->r);
    for (int s = 0; s < 2; s++)
        o->pool[s] = side(o, s)->pool_create(side(o, s), &d);
    o->x = duo_random_act(duo(o), d.in, -1.0f, 0.5f);
    o->y = duo_random_act(duo(o), d.out, 0.0f, 0.0f);
    if (o->r->kind == OP_POOL_FWD) {
        o->call = pool_fwd_call, o->error = pool_fwd_err;
        return;
    }
    for (int s = 0; s < 2; s++)
        pool_fwd_call(o, s);
    o->dy = duo_random_act(duo(o), d.out, -1.0f, 1.0f);
    o->dx = duo_random_act(duo(o), d.in, 0.0f, 0.0f);
    o->call = pool_bwd_call, o->error = pool_bwd_err;
}

/* ---------- linear layer and loss ---------- */

static void linear_fwd_call(op_run *o, int s)
{
    const long *k = o->r->key;
    side(o, s)->linear_forward(side(o, s), (int)k[0], (int)k[1], (int)k[2], at(o->x, s), at(o->w, s),
                               at(o->b_, s), at(o->y, s));
}

static void linear_bwd_call(op_run *o, int s)
{
    const long *k = o->r->key;
    side(o, s)->linear_backward(side(o, s), (int)k[0], (int)k[1], (int)k[2], at(o->x, s), at(o->w, s),
                                at(o->dy, s), k[3] ? at(o->dx, s) : NULL, at(o->dw, s), at(o->db, s),
                                (int)k[4]);
}

static double linear_fwd_err(op_run *o)
{
    return duo_plain_err(duo(o), o->y, (size_t)(o->r->key[0] * o->r->key[2]));
}

static double linear_bwd_err(op_run *o)
{
    const long *k = o->r->key;
    double e = fmax(duo_plain_err(duo(o), o->dw, (size_t)(k[2] * k[1])),
                    duo_plain_err(duo(o), o->db, (size_t)k[2]));
    return k[3] ? fmax(e, duo_plain_err(duo(o), o->dx, (size_t)(k[0] * k[1]))) : e;
}

static void setup_linear(op_run *o)
{
    const long *k = o->r->key;
    size_t n = (size_t)k[0], in = (size_t)k[1], out = (size_t)k[2];
    float bound = 1.0f / sqrtf((float)in);
    o->x = duo_random_plain(duo(o), n * in, 0.0f, 2.0f); /* pooled ReLU outputs: >= 0 */
    o->w = duo_random_plain(duo(o), out * in, -bound, bound);
    if (o->r->kind == OP_LINEAR_FWD) {
        o->b_ = duo_random_plain(duo(o), out, -bound, bound);
        o->y = duo_random_plain(duo(o), n * out, 0.0f, 0.0f);
        o->call = linear_fwd_call, o->error = linear_fwd_err;
        return;
    }
    o->dy = duo_random_plain(duo(o), n * out, -1.0f, 1.0f);
    o->dx = duo_random_plain(duo(o), n * in, 0.0f, 0.0f);
    o->dw = duo_random_plain(duo(o), out * in, -1.0f, 1.0f);
    o->db = duo_random_plain(duo(o), out, -1.0f, 1.0f);
    o->call = linear_bwd_call, o->error = linear_bwd_err;
}

/* Host labels, as the trainer passes them (the CUDA side stages them through pinned memory). */
static void xent_call(op_run *o, int s)
{
    const long *k = o->r->key;
    side(o, s)->softmax_xent(side(o, s), (int)k[0], (int)k[1], at(o->x, s), o->labels, 0.0f,
                             1.0f / (float)k[0], at(o->dx, s));
}

/* The gradient, and the loss sum and correct count of the one call each side made. */
static double xent_err(op_run *o)
{
    double loss[2];
    int64_t hits[2];
    for (int s = 0; s < 2; s++) {
        side(o, s)->tally_close(side(o, s));
        side(o, s)->tally_take(side(o, s), &loss[s], &hits[s]);
    }
    double e = duo_plain_err(duo(o), o->dx, (size_t)(o->r->key[0] * o->r->key[1]));
    e = fmax(e, fabs(loss[1] - loss[0]) / fmax(fabs(loss[0]), 1e-30));
    return hits[0] == hits[1] ? e : INFINITY;
}

static void setup_xent(op_run *o)
{
    int n = (int)o->r->key[0], classes = (int)o->r->key[1];
    o->x = duo_random_plain(duo(o), (size_t)n * classes, -4.0f, 4.0f);
    o->dx = duo_random_plain(duo(o), (size_t)n * classes, 0.0f, 0.0f);
    o->labels = malloc((size_t)n * sizeof *o->labels);
    if (!o->labels)
        exit(2);
    for (int i = 0; i < n; i++)
        o->labels[i] = (int32_t)gnet_rng_below(&duo(o)->rng, (uint32_t)classes);
    o->call = xent_call, o->error = xent_err;
}

/* ---------- element-wise, concat, update, norms ---------- */

static size_t count_of(const op_run *o) { return (size_t)o->r->key[0]; }

static void relu_call(op_run *o, int s)
{
    side(o, s)->relu_backward(side(o, s), at(o->y, s), at(o->dy, s), count_of(o));
}

static void add_call(op_run *o, int s) { side(o, s)->add(side(o, s), at(o->y, s), at(o->x, s), count_of(o)); }
static void copy_call(op_run *o, int s)
{
    side(o, s)->copy(side(o, s), at(o->y, s), at(o->x, s), count_of(o));
}

static double relu_err(op_run *o) { return duo_plain_err(duo(o), o->dy, count_of(o)); }
static double y_err(op_run *o) { return duo_plain_err(duo(o), o->y, count_of(o)); }

static void sgd_call(op_run *o, int s)
{
    side(o, s)->sgd(side(o, s), at(o->x, s), at(o->dy, s), at(o->y, s), count_of(o), 0.05f, 0.9f,
                    5e-4f, 0, 0, 1.0f);
}

static double sgd_err(op_run *o)
{
    return fmax(duo_plain_err(duo(o), o->x, count_of(o)), duo_plain_err(duo(o), o->y, count_of(o)));
}

static void sumsq_call(op_run *o, int s)
{
    o->value[s] = side(o, s)->sumsq(side(o, s), at(o->x, s), o->r->key[1] ? at(o->dy, s) : NULL,
                                    count_of(o));
}

static double sumsq_err(op_run *o) { return fabs(o->value[1] - o->value[0]) / fmax(o->value[0], 1e-300); }

/* Element-wise operands are plain arrays of the recorded count on both sides: each backend's
 * act_count may differ (the CPU pads channels), but these ops do not care about layout. */
static void setup_elementwise(op_run *o)
{
    size_t n = count_of(o);
    o->x = duo_random_plain(duo(o), n, -1.0f, 1.0f);
    o->y = duo_random_plain(duo(o), n, -1.0f, 1.0f);
    if (o->r->kind == OP_RELU_BWD || o->r->kind == OP_SGD || (o->r->kind == OP_SUMSQ && o->r->key[1]))
        o->dy = duo_random_plain(duo(o), n, -1.0f, 1.0f);
    switch (o->r->kind) {
    case OP_SGD:
        o->call = sgd_call, o->error = sgd_err;
        break;
    case OP_SUMSQ:
        o->call = sumsq_call, o->error = sumsq_err;
        break;
    case OP_RELU_BWD:
        o->call = relu_call, o->error = relu_err;
        break;
    case OP_ADD:
        o->call = add_call, o->error = y_err;
        break;
    default:
        o->call = copy_call, o->error = y_err;
    }
}

/* An activation of c channels of hw pixels: spatial as one row (the layouts do not mind). */
static gnet_shape channels_shape(long n, long c, long hw)
{
    return (gnet_shape){(int)n, (int)c, 1, (int)hw};
}

static void copy_channels_call(op_run *o, int s)
{
    const long *k = o->r->key;
    side(o, s)->copy_channels(side(o, s), at(o->y, s), (int)k[0], (int)k[1], at(o->x, s), (int)k[2],
                              (int)k[3], (int)k[4], (int)k[5], (int)k[6]);
}

static double copy_channels_err(op_run *o)
{
    const long *k = o->r->key;
    return duo_act_err(duo(o), o->y, channels_shape(k[5], k[0], k[6]));
}

static void setup_copy_channels(op_run *o)
{
    const long *k = o->r->key;
    o->y = duo_random_act(duo(o), channels_shape(k[5], k[0], k[6]), -1.0f, 1.0f);
    o->x = duo_random_act(duo(o), channels_shape(k[5], k[2], k[6]), -1.0f, 1.0f);
    o->call = copy_channels_call, o->error = copy_channels_err;
}

/* ---------- running, timing, describing ---------- */

static void setup(op_run *o)
{
    switch (o->r->kind) {
    case OP_CONV_FWD:
    case OP_CONV_DATA:
    case OP_CONV_FILTER:
        setup_conv(o);
        break;
    case OP_POOL_FWD:
    case OP_POOL_BWD:
        setup_pool(o);
        break;
    case OP_LINEAR_FWD:
    case OP_LINEAR_BWD:
        setup_linear(o);
        break;
    case OP_XENT:
        setup_xent(o);
        break;
    case OP_COPY_CHANNELS:
        setup_copy_channels(o);
        break;
    default:
        setup_elementwise(o);
    }
}

static void finish(op_run *o)
{
    gnet_backend *dut = o->b->d.dut;
    if (o->r->kind == OP_XENT) { /* the timed calls' tally */
        double loss;
        int64_t hits;
        dut->tally_close(dut);
        dut->tally_take(dut, &loss, &hits);
    }
    pair *ps[] = {&o->x, &o->w, &o->b_, &o->y, &o->dy, &o->dx, &o->dw, &o->db};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        if (ps[i]->c)
            duo_free(duo(o), *ps[i]);
    for (int s = 0; s < 2; s++)
        if (o->pool[s])
            side(o, s)->pool_destroy(o->pool[s]);
    free(o->labels);
}

/* Seconds per call on the checked backend: one call sizes the run, then back-to-back calls
 * between two syncs (as the step queues them), about target_s in all, 3 to 1000 of them. */
static double seconds_per_call(op_run *o)
{
    gnet_backend *be = o->b->d.dut;
    be->sync(be);
    double t0 = gnet_now();
    o->call(o, 1);
    be->sync(be);
    double one = gnet_now() - t0;
    int reps = one > 0.0 ? (int)fmin(1000.0, fmax(3.0, o->b->target_s / one)) : 1000;
    t0 = gnet_now();
    for (int i = 0; i < reps; i++)
        o->call(o, 1);
    be->sync(be);
    return (gnet_now() - t0) / reps;
}

static double tolerance(const bench *b, op_kind k)
{
    switch (k) {
    case OP_CONV_FWD:
    case OP_CONV_DATA:
    case OP_CONV_FILTER:
    case OP_LINEAR_FWD:
    case OP_LINEAR_BWD:
        return b->math_tol;
    case OP_SUMSQ:
        return TOL_SUMSQ;
    default:
        return TOL_FP32;
    }
}

static op_result run_op(bench *b, const op_rec *r)
{
    op_run o = {.b = b, .r = r};
    setup(&o);
    o.call(&o, 0);
    o.call(&o, 1);
    op_result res = {.err = o.error(&o), .tol = tolerance(b, r->kind)};
    res.us = 1e6 * seconds_per_call(&o);
    finish(&o);
    return res;
}

static const char *const KIND_NAMES[OP_KINDS] = {
    "conv fwd",   "conv bwd-data", "conv bwd-filter", "pool fwd",      "pool bwd",
    "linear fwd", "linear bwd",    "softmax_xent",    "relu_backward", "add",
    "copy_channels", "sgd (momentum, wd)", "sumsq", "copy"};

/* The shape column: what sets the op's cost. */
static void describe(const op_rec *r, char *s, size_t len)
{
    const long *k = r->key;
    switch (r->kind) {
    case OP_CONV_FWD:
    case OP_CONV_DATA:
    case OP_CONV_FILTER:
        snprintf(s, len, "%ldx%ld/%ld p%ld %ld->%ld @%ldx%ld n%ld%s%s", k[7], k[7], k[8], k[9], k[1], k[4],
                 k[2], k[3], k[0], r->kind == OP_CONV_FWD && k[10] ? " +relu" : "",
                 k[11] ? " accumulate" : "");
        break;
    case OP_POOL_FWD:
    case OP_POOL_BWD:
        snprintf(s, len, "%s %ldx%ld/%ld p%ld %ld ch @%ldx%ld n%ld", k[0] == GNET_POOL_MAX ? "max" : "avg",
                 k[7], k[7], k[8], k[9], k[2], k[3], k[4], k[1]);
        break;
    case OP_LINEAR_FWD:
    case OP_LINEAR_BWD:
        snprintf(s, len, "n%ld %ld->%ld%s", k[0], k[1], k[2],
                 r->kind == OP_LINEAR_BWD && k[3] ? " with dx" : "");
        break;
    case OP_XENT:
        snprintf(s, len, "n%ld x %ld classes", k[0], k[1]);
        break;
    case OP_COPY_CHANNELS:
        snprintf(s, len, "%ld ch into [%ld,+%ld) of %ld from [%ld,+%ld) of %ld, n%ld @%ld px", k[4], k[1],
                 k[4], k[0], k[3], k[4], k[2], k[5], k[6]);
        break;
    default:
        snprintf(s, len, "%ld floats%s", k[0],
                 r->kind == OP_SUMSQ || r->kind == OP_COPY ? " (--noise-scale; not in the sum)" : "");
    }
}

/* Ops a plain step does not run (--noise-scale's): listed, not added to the step's total. */
static int in_step(const op_rec *r) { return r->kind != OP_SUMSQ && r->kind != OP_COPY; }
static double ms_per_step(const op_rec *r, const op_result *x) { return 1e-3 * x->us * r->calls; }

/* What fails inside a backend ends the process (gnet_fatal): name the op it was running. The
 * abort hook takes no context, hence a file-scope pointer, set around each op only. */
static const char *running;
static void name_running_op(int code)
{
    fprintf(stderr, "gpu_ops_bench: the failure above came from %s\n", running ? running : "setup");
    exit(code);
}

static void print_row(const op_rec *r, const op_result *x)
{
    char shape[128];
    describe(r, shape, sizeof shape);
    printf("| %s | %s | %d | %.2e | %.0e%s | %.1f | %.3f |\n", KIND_NAMES[r->kind], shape, r->calls,
           x->err, x->tol, x->err <= x->tol ? "" : " **FAIL**", x->us, ms_per_step(r, x));
}

typedef struct {
    int i;
    double ms; /* -1 for ops a plain step does not run: last */
} timed;

static int by_time(const void *a, const void *b)
{
    double x = ((const timed *)a)->ms, y = ((const timed *)b)->ms;
    return (x < y) - (x > y);
}

/* The slowest ops of the step and their share of its summed op time. */
static void print_slowest(const op_list *l, const op_result *res, double total)
{
    timed *t = malloc((size_t)l->n * sizeof *t);
    if (!t)
        exit(2);
    for (int i = 0; i < l->n; i++)
        t[i] = (timed){i, in_step(&l->ops[i]) ? ms_per_step(&l->ops[i], &res[i]) : -1.0};
    qsort(t, (size_t)l->n, sizeof *t, by_time);
    printf("\nSlowest %d (GPU ms per step, share of the %.3f ms summed over the step's ops):\n\n", SLOWEST,
           total);
    printf("| op | shape | calls/step | ms/step | share |\n|---|---|---|---|---|\n");
    for (int j = 0; j < l->n && j < SLOWEST; j++) {
        const op_rec *r = &l->ops[t[j].i];
        char shape[128];
        describe(r, shape, sizeof shape);
        printf("| %s | %s | %d | %.3f | %.1f%% |\n", KIND_NAMES[r->kind], shape, r->calls, t[j].ms,
               total > 0.0 ? 100.0 * t[j].ms / total : 0.0);
    }
    free(t);
}

/* Runs and prints every op in the step's order; returns how many exceed their bound. */
static int run_all(bench *b, const op_list *l, op_result *res)
{
    int failed = 0;
    double total = 0.0;
    printf("| op | shape | calls/step | max rel err | bound | GPU us/call | GPU ms/step |\n");
    printf("|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < l->n; i++) {
        char what[160];
        describe(&l->ops[i], what, sizeof what);
        char full[200];
        snprintf(full, sizeof full, "%s %s", KIND_NAMES[l->ops[i].kind], what);
        running = full;
        res[i] = run_op(b, &l->ops[i]);
        running = NULL;
        print_row(&l->ops[i], &res[i]);
        fflush(stdout);
        failed += !(res[i].err <= res[i].tol);
        if (in_step(&l->ops[i]))
            total += ms_per_step(&l->ops[i], &res[i]);
    }
    print_slowest(l, res, total);
    printf("\n%d distinct ops; summed GPU time of one step's ops %.3f ms (each timed alone, "
           "back to back: an estimate of the step's GPU time, not a measurement of it); %s\n",
           l->n, total, failed ? "SOME OPS OVER THEIR BOUND (FAIL above)" : "every op within its bound");
    return failed;
}

/* ---------- main ---------- */

static int has_flag(int argc, char **argv, const char *flag)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return 1;
    return 0;
}

static int parse_math(const char *p, gnet_cuda_math *math, double *tol)
{
    const char *const names[] = {"fp32", "tf32", "bf16"};
    const gnet_cuda_math maths[] = {GNET_CUDA_FP32, GNET_CUDA_TF32, GNET_CUDA_BF16};
    const double tols[] = {TOL_FP32, TOL_TF32, TOL_BF16};
    for (int i = 0; i < 3; i++)
        if (strcmp(p, names[i]) == 0) {
            *math = maths[i], *tol = tols[i];
            return 0;
        }
    return -1;
}

/* The checked backend: the GPU, or with --cpu-vs-cpu a second CPU backend; its description. */
static gnet_backend *open_dut(int cpu_vs_cpu, int device, int threads, gnet_cuda_math math, int batch,
                              char *what, size_t len)
{
    if (cpu_vs_cpu) {
        snprintf(what, len, "a second CPU backend (--cpu-vs-cpu)");
        return gnet_backend_cpu_create(threads);
    }
    char name[128], hint[64];
    snprintf(hint, sizeof hint, "at batch %d", batch);
    gnet_backend *be = gnet_backend_cuda_create(device, math, hint, name, sizeof name);
    snprintf(what, len, "%s (GPU %d), cuDNN backward algorithms: %s", name, device,
             gnet_backend_cuda_deterministic(be) ? "deterministic preferred" : "best-ranked, any");
    return be;
}

int main(int argc, char **argv)
{
    /* Line-buffered even into a pipe: a kill or a crash inside cuDNN keeps every line printed
     * so far, the one naming the op included (scripts/gpu_check.sh). */
    setvbuf(stdout, NULL, _IOLBF, 0);
    int batch = bench_arg_int(argc, argv, "--batch", 64), size = bench_arg_int(argc, argv, "--resize", 96);
    int threads = bench_arg_int(argc, argv, "--threads", 0);
    int device = atoi(bench_arg_str(argc, argv, "--device", "0"));
    double target_ms = atof(bench_arg_str(argc, argv, "--target-ms", "5"));
    const char *precision = bench_arg_str(argc, argv, "--precision", "fp32");
    int cpu_vs_cpu = has_flag(argc, argv, "--cpu-vs-cpu");
    bench b = {.target_s = 1e-3 * (target_ms > 0.0 ? target_ms : 5.0)};
    gnet_cuda_math math;
    if (parse_math(precision, &math, &b.math_tol)) {
        fprintf(stderr, "gpu_ops_bench: --precision must be fp32, tf32 or bf16\n");
        return 2;
    }
    char why[160] = "", what[256];
    if (!cpu_vs_cpu && gnet_cuda_device_count(why, sizeof why) <= device) {
        printf("SKIP: no CUDA device %d (%s)\n", device, why);
        return 77;
    }
    op_list l;
    if (op_record_step(&l, batch, size))
        return 1;
    gnet_log_set_abort(name_running_op);
    b.d.ref = gnet_backend_cpu_create(threads);
    b.d.dut = open_dut(cpu_vs_cpu, device, threads, math, batch, what, sizeof what);
    gnet_rng_init(&b.d.rng, gnet_rng_key(2024, 0x6f7073 /* "ops" */, (uint64_t)batch, (uint64_t)size));
    printf("Per-op check and timing: batch %d at %dx%d, %s, on %s; against the CPU backend (%d threads)\n\n",
           batch, size, size, precision, what, b.d.ref->threads);
    op_result *res = calloc((size_t)l.n, sizeof *res);
    if (!res)
        return 2;
    int failed = run_all(&b, &l, res);
    for (int i = 0; i < b.n_convs; i++)
        for (int s = 0; s < 2; s++)
            (s ? b.d.dut : b.d.ref)->conv_destroy(b.convs[i].plan[s]);
    free(b.convs);
    free(res);
    op_list_free(&l);
    b.d.dut->destroy(b.d.dut);
    b.d.ref->destroy(b.d.ref);
    return failed ? 1 : 0;
}
