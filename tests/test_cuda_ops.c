/* The CUDA backend against the CPU backend (the reference, itself checked by test_ops and
 * test_vs_pytorch) on the same random inputs: every op of the table on the shapes GoogLeNet
 * uses (convolution forward / backward-data / backward-filter with and without accumulation,
 * 1x1, 3x3, 5x5, the 7x7/2 stem, 24-channel layers, the 1x1-spatial b5 of the 28x28 net; max
 * pooling 3x3/2 and 3x3/1 with padding on signed inputs, global average pooling; ReLU
 * backward, add, the concat copy; the linear layer; softmax cross-entropy with host and
 * device labels, plain and label-smoothed; SGD plain, with momentum, Nesterov and weight decay; uploads through the
 * pinned staging and loss tallies read late), then the whole model:
 * logits, loss and all gradients at 96x96 and 28x28, from the same parameters; and the
 * model once more on --precision tf32 and bf16 backends, against loose sanity bounds.
 *
 * Error per tensor: max|cuda - cpu| / max|cpu| <= 1e-4 (fp32, FMA-only math on the GPU).
 * It counts the comparisons it makes and fails when there are fewer than it should make
 * (EXPECTED_COMPARISONS). Then a negative control: the op comparisons and the tallies once
 * more against a perturbed copy of the checked backend (each result it computes off by
 * 1e-3 relative, each tally's loss by 1e-3, each count by one): every one of those
 * comparisons must reject it, or the harness fails.
 * Without a CUDA device it prints "SKIP: no CUDA device (<reason>)" and exits 77. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/backend_cuda.h"
#include "core/model.h"
#include "core/rng.h"
#include "backend_pair.h"
#include "test_util.h"

#define TOL 1e-4
/* TF32 rounds every convolution's inputs to 10 mantissa bits: not a precision check, but it
 * catches a tensor-op path that computes something else. */
#define TF32_TOL 5e-2
/* bf16 rounds them to 8 bits: again a sanity bound. */
#define BF16_TOL 1e-1

static gnet_backend *cpu, *gpu;
/* cpu and gpu for the pair helpers (tests/backend_pair.h), and the random inputs' stream. */
static gnet_duo duo;

/* Comparisons made, those that found a difference over their tolerance, and whether the
 * negative control runs (then a difference is what must be found). */
static struct {
    int made, rejected, control;
} g_cmp;

/* Counts one comparison whose verdict is ok (within tolerance): outside the control it must
 * be ok, inside it must not. Returns ok. */
static int judged(const char *what, int ok)
{
    g_cmp.made++;
    g_cmp.rejected += !ok;
    if (g_cmp.control && ok)
        printf("  control: %s NOT rejected  <-- FAIL\n", what);
    EXPECT(g_cmp.control ? !ok : ok);
    return ok;
}

static double report_tol(const char *what, double e, double tol)
{
    int ok = e <= tol;
    if (!g_cmp.control)
        printf("  %-64s rel err %.2e%s\n", what, e, ok ? "" : "  <-- FAIL");
    judged(what, ok);
    return e;
}

/* Two counts (hits, rows) that must be equal. */
static void check_count(const char *what, int64_t want, int64_t got)
{
    if (!g_cmp.control)
        printf("  %-64s cpu %lld, checked %lld%s\n", what, (long long)want, (long long)got,
               want == got ? "" : "  <-- FAIL");
    judged(what, want == got);
}

static double report(const char *what, double e) { return report_tol(what, e, TOL); }

static void check_plain(const char *what, pair p, size_t n)
{
    report(what, duo_plain_err(&duo, p, n));
}

static void check_act(const char *what, pair p, gnet_shape s)
{
    report(what, duo_act_err(&duo, p, s));
}

static int out_dim(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

/* ---------- convolution ---------- */

typedef struct {
    int n, ic, hw, oc, k, stride, pad, relu;
} conv_case;

static void conv_check_backward(gnet_conv *cc, gnet_conv *gc, const gnet_conv_desc *d, pair x,
                                pair w, const char *name)
{
    char what[128];
    size_t wn = (size_t)d->out.c * d->in.c * d->k * d->k;
    pair dy = duo_random_act(&duo, d->out, -1.0f, 1.0f);
    if (d->in.c > 1) {
        pair dx = duo_random_act(&duo, d->in, 0.0f, 0.0f);
        cpu->conv_backward_data(cc, dy.c, w.c, dx.c);
        gpu->conv_backward_data(gc, dy.g, w.g, dx.g);
        snprintf(what, sizeof what, "%s bwd-data", name);
        check_act(what, dx, d->in);
        duo_free(&duo, dx);
    }
    pair dw = duo_random_plain(&duo, wn, -1.0f, 1.0f);
    pair db = duo_random_plain(&duo, (size_t)d->out.c, -1.0f, 1.0f);
    for (int acc = 0; acc < 2; acc++) {
        cpu->conv_backward_filter(cc, x.c, dy.c, dw.c, db.c, acc);
        gpu->conv_backward_filter(gc, x.g, dy.g, dw.g, db.g, acc);
        snprintf(what, sizeof what, "%s bwd-filter dw%s", name, acc ? " (accumulate)" : "");
        check_plain(what, dw, wn);
        snprintf(what, sizeof what, "%s bwd-filter db%s", name, acc ? " (accumulate)" : "");
        check_plain(what, db, (size_t)d->out.c);
    }
    duo_free(&duo, dy);
    duo_free(&duo, dw);
    duo_free(&duo, db);
}

static void test_conv(conv_case k)
{
    gnet_shape in = {k.n, k.ic, k.hw, k.hw};
    int o = out_dim(k.hw, k.k, k.stride, k.pad);
    gnet_conv_desc d = {.in = in,
                        .out = {k.n, k.oc, o, o},
                        .k = k.k,
                        .stride = k.stride,
                        .pad = k.pad,
                        .relu = k.relu};
    char name[96], what[128];
    snprintf(name, sizeof name, "conv %dx%d/%d %d->%d @%dx%d%s", k.k, k.k, k.stride, k.ic, k.oc,
             k.hw, k.hw, k.relu ? " +relu" : "");
    gnet_conv *cc = cpu->conv_create(cpu, &d), *gc = gpu->conv_create(gpu, &d);
    size_t wn = (size_t)k.oc * k.ic * k.k * k.k;
    float bound = 1.0f / sqrtf((float)(k.ic * k.k * k.k));
    pair x = duo_random_act(&duo, in, -1.0f, 1.0f), w = duo_random_plain(&duo, wn, -bound, bound);
    pair b = duo_random_plain(&duo, (size_t)k.oc, -bound, bound), y = duo_random_act(&duo, d.out, 0.0f, 0.0f);
    cpu->conv_forward(cc, x.c, w.c, b.c, y.c);
    gpu->conv_forward(gc, x.g, w.g, b.g, y.g);
    snprintf(what, sizeof what, "%s fwd", name);
    check_act(what, y, d.out);
    conv_check_backward(cc, gc, &d, x, w, name);
    duo_free(&duo, x);
    duo_free(&duo, w);
    duo_free(&duo, b);
    duo_free(&duo, y);
    cpu->conv_destroy(cc);
    gpu->conv_destroy(gc);
}

static void test_convs(void)
{
    /* The GoogLeNet shapes at 96x96 (b1, b2, Inception branches at 12/6/3) and 28x28 (b5 at
     * 1x1, where the CPU plans the centre tap only), at batch 2 or 3. */
    const conv_case cases[] = {
        {2, 1, 96, 64, 7, 2, 3, 1},   {2, 64, 24, 64, 1, 1, 0, 1},  {2, 64, 24, 192, 3, 1, 1, 1},
        {2, 192, 12, 64, 1, 1, 0, 1}, {2, 96, 12, 128, 3, 1, 1, 1}, {2, 16, 12, 32, 5, 1, 2, 1},
        {3, 480, 6, 192, 1, 1, 0, 1}, {3, 24, 6, 64, 5, 1, 2, 1},   {2, 112, 6, 224, 3, 1, 1, 0},
        {2, 832, 3, 384, 1, 1, 0, 1}, {2, 160, 1, 320, 3, 1, 1, 1}, {2, 32, 1, 128, 5, 1, 2, 1},
        {2, 1, 28, 64, 7, 2, 3, 1},   {2, 64, 7, 192, 3, 1, 1, 1},
    };
    printf("convolution\n");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        test_conv(cases[i]);
}

/* ---------- pooling ---------- */

static void test_pool(gnet_pool_alg alg, gnet_shape in, int k, int stride, int pad)
{
    gnet_shape out = {in.n, in.c, out_dim(in.h, k, stride, pad), out_dim(in.w, k, stride, pad)};
    gnet_pool_desc d = {.alg = alg, .in = in, .out = out, .k = k, .stride = stride, .pad = pad};
    char what[128];
    gnet_pool *pc = cpu->pool_create(cpu, &d), *pg = gpu->pool_create(gpu, &d);
    /* Signed inputs: a window whose maximum is negative tells -inf padding from zeros. */
    pair x = duo_random_act(&duo, in, -1.0f, 0.5f), y = duo_random_act(&duo, out, 0.0f, 0.0f);
    pair dy = duo_random_act(&duo, out, -1.0f, 1.0f), dx = duo_random_act(&duo, in, 0.0f, 0.0f);
    cpu->pool_forward(pc, x.c, y.c);
    gpu->pool_forward(pg, x.g, y.g);
    snprintf(what, sizeof what, "%s pool %dx%d/%d pad %d %dx%dx%d fwd",
             alg == GNET_POOL_MAX ? "max" : "avg", k, k, stride, pad, in.c, in.h, in.w);
    check_act(what, y, out);
    cpu->pool_backward(pc, dy.c, dx.c);
    gpu->pool_backward(pg, dy.g, dx.g);
    memcpy(what + strlen(what) - 3, "bwd", 3);
    check_act(what, dx, in);
    duo_free(&duo, x);
    duo_free(&duo, y);
    duo_free(&duo, dy);
    duo_free(&duo, dx);
    cpu->pool_destroy(pc);
    gpu->pool_destroy(pg);
}

static void test_pools(void)
{
    printf("pooling\n");
    test_pool(GNET_POOL_MAX, (gnet_shape){2, 64, 48, 48}, 3, 2, 1);
    test_pool(GNET_POOL_MAX, (gnet_shape){2, 480, 6, 6}, 3, 2, 1);
    test_pool(GNET_POOL_MAX, (gnet_shape){2, 16, 13, 13}, 3, 2, 1);
    test_pool(GNET_POOL_MAX, (gnet_shape){2, 192, 12, 12}, 3, 1, 1);
    test_pool(GNET_POOL_AVG, (gnet_shape){3, 1024, 3, 3}, 3, 1, 0);
    test_pool(GNET_POOL_AVG, (gnet_shape){3, 1024, 1, 1}, 1, 1, 0);
}

/* ---------- element-wise, concat, linear, loss, optimizer ---------- */

static void test_elementwise(void)
{
    printf("element-wise and concat\n");
    gnet_shape s = {2, 48, 5, 5};
    pair y = duo_random_act(&duo, s, -1.0f, 1.0f), dy = duo_random_act(&duo, s, -1.0f, 1.0f);
    cpu->relu_backward(cpu, y.c, dy.c, cpu->act_count(cpu, s));
    gpu->relu_backward(gpu, y.g, dy.g, gpu->act_count(gpu, s));
    check_act("relu_backward", dy, s);
    cpu->add(cpu, dy.c, y.c, cpu->act_count(cpu, s));
    gpu->add(gpu, dy.g, y.g, gpu->act_count(gpu, s));
    check_act("add", dy, s);
    /* Inception concat and split: 16-aligned ranges (what the CPU layout needs). */
    gnet_shape dst_s = {2, 64, 5, 5};
    pair dst = duo_random_act(&duo, dst_s, -1.0f, 1.0f);
    cpu->copy_channels(cpu, dst.c, 64, 16, y.c, 48, 32, 16, 2, 25);
    gpu->copy_channels(gpu, dst.g, 64, 16, y.g, 48, 32, 16, 2, 25);
    check_act("copy_channels (concat into a slice)", dst, dst_s);
    cpu->copy_channels(cpu, y.c, 48, 0, dst.c, 64, 16, 48, 2, 25);
    gpu->copy_channels(gpu, y.g, 48, 0, dst.g, 64, 16, 48, 2, 25);
    check_act("copy_channels (split out of a slice)", y, s);
    duo_free(&duo, y);
    duo_free(&duo, dy);
    duo_free(&duo, dst);
}

static void test_linear(int n, int in, int out)
{
    printf("linear %d x %d -> %d\n", n, in, out);
    float bound = 1.0f / sqrtf((float)in);
    pair x = duo_random_plain(&duo, (size_t)n * in, 0.0f, 2.0f),
         w = duo_random_plain(&duo, (size_t)out * in, -bound, bound);
    pair b = duo_random_plain(&duo, (size_t)out, -bound, bound),
         y = duo_random_plain(&duo, (size_t)n * out, 0.0f, 0.0f);
    cpu->linear_forward(cpu, n, in, out, x.c, w.c, b.c, y.c);
    gpu->linear_forward(gpu, n, in, out, x.g, w.g, b.g, y.g);
    check_plain("linear fwd", y, (size_t)n * out);
    pair dy = duo_random_plain(&duo, (size_t)n * out, -1.0f, 1.0f),
         dx = duo_random_plain(&duo, (size_t)n * in, 0.0f, 0.0f);
    pair dw = duo_random_plain(&duo, (size_t)out * in, -1.0f, 1.0f),
         db = duo_random_plain(&duo, (size_t)out, -1.0f, 1.0f);
    for (int acc = 0; acc < 2; acc++) {
        cpu->linear_backward(cpu, n, in, out, x.c, w.c, dy.c, dx.c, dw.c, db.c, acc);
        gpu->linear_backward(gpu, n, in, out, x.g, w.g, dy.g, dx.g, dw.g, db.g, acc);
        check_plain(acc ? "linear bwd dx (accumulate run)" : "linear bwd dx", dx, (size_t)n * in);
        check_plain(acc ? "linear bwd dw (accumulate)" : "linear bwd dw", dw, (size_t)out * in);
        check_plain(acc ? "linear bwd db (accumulate)" : "linear bwd db", db, (size_t)out);
    }
    pair ps[] = {x, w, b, y, dy, dx, dw, db};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        duo_free(&duo, ps[i]);
}

/* labels_on_device: the CUDA side reads them from device memory instead of the host; eps:
 * the label smoothing. */
static void test_softmax_xent(int n, int labels_on_device, float eps)
{
    printf("softmax cross-entropy, %d rows, %s labels, label smoothing %g\n", n,
           labels_on_device ? "device" : "host", (double)eps);
    const int classes = 10;
    pair z = duo_random_plain(&duo, (size_t)n * classes, -4.0f, 4.0f),
         dz = duo_random_plain(&duo, (size_t)n * classes, 0.0f, 0.0f);
    int32_t *labels = malloc((size_t)n * sizeof(int32_t));
    if (!labels)
        exit(2);
    for (int i = 0; i < n; i++)
        labels[i] = (int32_t)gnet_rng_below(&duo.rng, (uint64_t)classes);
    float *dev = gpu->alloc(gpu, (size_t)n); /* int32 and float have the same size */
    gpu->upload(gpu, dev, (const float *)labels, (size_t)n);
    double lc, lg;
    int64_t hc, hg;
    gnet_softmax_xent_now(cpu, n, classes, z.c, labels, eps, 0.25f, dz.c, &lc, &hc);
    gnet_softmax_xent_now(gpu, n, classes, z.g, labels_on_device ? (const int32_t *)dev : labels,
                          eps, 0.25f, dz.g, &lg, &hg);
    check_plain("softmax_xent dlogits", dz, (size_t)n * classes);
    report("softmax_xent loss sum", fabs(lg - lc) / fabs(lc));
    check_count("softmax_xent correct", hc, hg);
    gpu->free(gpu, dev);
    free(labels);
    duo_free(&duo, z);
    duo_free(&duo, dz);
}

/* Uploads through the pinned staging (reserve_upload): more in a row than the ring has slots,
 * each source overwritten as soon as upload returns (backend.h: host is reusable then), and
 * one larger than the reservation (the path that waits); each download must equal what was
 * uploaded, bit for bit. */
static void test_staged_uploads(void)
{
    printf("uploads through pinned staging\n");
    enum { UPLOADS = 5 };
    const size_t n = 4099, big = 3 * n;
    gpu->reserve_upload(gpu, n);
    float *src = duo_fmalloc(big), *got = duo_fmalloc(big), *want[UPLOADS + 1], *dev[UPLOADS + 1];
    for (int i = 0; i <= UPLOADS; i++)
        dev[i] = gpu->alloc(gpu, big);
    for (int i = 0; i <= UPLOADS; i++) {
        size_t count = i < UPLOADS ? n - (size_t)i : big;
        want[i] = duo_random_host(&duo, count, -1.0f, 1.0f);
        memcpy(src, want[i], count * sizeof(float));
        gpu->upload(gpu, dev[i], src, count);
        memset(src, 0xff, big * sizeof(float)); /* NaNs, if the device still read it */
    }
    for (int i = 0; i <= UPLOADS; i++) {
        size_t count = i < UPLOADS ? n - (size_t)i : big;
        gpu->download(gpu, got, dev[i], count);
        int same = memcmp(got, want[i], count * sizeof(float)) == 0;
        printf("  upload %d (%zu floats, %s): %s\n", i, count, i < UPLOADS ? "staged" : "waited",
               same ? "equal" : "DIFFERENT  <-- FAIL");
        judged("upload", same);
        gpu->free(gpu, dev[i]);
        free(want[i]);
    }
    free(src);
    free(got);
}

static int waits_seen;
static void count_wait(void *ctx) { (void)ctx, waits_seen++; }

/* The tallies of one backend, closed three times before any is taken: rows [0, 100) and
 * [100, 300) (the host labels overwritten as soon as softmax_xent returns), then none, then
 * [100, 300) again; taken in that order. */
static void tallies_of(gnet_backend *be, pair z, pair dz, const int32_t *labels, double loss[3],
                       int64_t hits[3])
{
    const int n = 300, classes = 10;
    float *zp = be == cpu ? z.c : z.g, *dzp = be == cpu ? dz.c : dz.g;
    int32_t *scratch = malloc((size_t)n * sizeof(int32_t));
    if (!scratch)
        exit(2);
    memcpy(scratch, labels, (size_t)n * sizeof(int32_t));
    be->softmax_xent(be, 100, classes, zp, scratch, 0.0f, 1.0f, dzp);
    for (int i = 0; i < n; i++) /* still valid classes, but others */
        scratch[i] = (scratch[i] + 1) % classes;
    be->softmax_xent(be, 200, classes, zp + 100 * classes, labels + 100, 0.0f, 1.0f,
                     dzp + 100 * classes);
    be->tally_close(be);
    be->tally_close(be);
    be->softmax_xent(be, 200, classes, zp + 100 * classes, labels + 100, 0.0f, 1.0f,
                     dzp + 100 * classes);
    be->tally_close(be);
    for (int i = 0; i < 3; i++)
        be->tally_take(be, &loss[i], &hits[i]);
    free(scratch);
}

/* Loss tallies read late (backend.h tally_close / tally_take) equal the CPU's, in order; with
 * the on_wait hook set, so that a take that finds its tally unfinished polls. */
static void test_tallies(void)
{
    printf("loss tallies read late\n");
    const int n = 300, classes = 10;
    pair z = duo_random_plain(&duo, (size_t)n * classes, -4.0f, 4.0f),
         dz = duo_random_plain(&duo, (size_t)n * classes, 0.0f, 0.0f);
    int32_t labels[300];
    for (int i = 0; i < n; i++)
        labels[i] = (int32_t)gnet_rng_below(&duo.rng, (uint64_t)classes);
    double lc[3], lg[3];
    int64_t hc[3], hg[3];
    tallies_of(cpu, z, dz, labels, lc, hc);
    gpu->on_wait = count_wait;
    tallies_of(gpu, z, dz, labels, lg, hg);
    gpu->on_wait = NULL;
    const char *names[3] = {"tally 1 (two calls) loss", "tally 2 (none) loss", "tally 3 loss"};
    for (int i = 0; i < 3; i++) {
        report(names[i], lc[i] != 0.0 ? fabs(lg[i] - lc[i]) / fabs(lc[i]) : fabs(lg[i]));
        char what[64];
        snprintf(what, sizeof what, "tally %d correct", i + 1);
        check_count(what, hc[i], hg[i]);
    }
    judged("tally 2 (none) is zero", lg[1] == 0.0 && hg[1] == 0);
    printf("  on_wait called %d times while taking\n", waits_seen);
    duo_free(&duo, z);
    duo_free(&duo, dz);
}

static void test_sgd(float m, float wd, int nesterov, float scale)
{
    char what[96];
    const size_t n = 100003;
    pair p = duo_random_plain(&duo, n, -1.0f, 1.0f), buf = duo_random_plain(&duo, n, 0.0f, 0.0f);
    for (int step = 0; step < 3; step++) {
        pair g = duo_random_plain(&duo, n, -1.0f, 1.0f);
        cpu->sgd(cpu, p.c, g.c, m != 0.0f ? buf.c : NULL, n, 0.05f, m, wd, nesterov, step == 0, scale);
        gpu->sgd(gpu, p.g, g.g, m != 0.0f ? buf.g : NULL, n, 0.05f, m, wd, nesterov, step == 0, scale);
        duo_free(&duo, g);
    }
    snprintf(what, sizeof what, "sgd m=%g wd=%g%s scale=%g: params after 3 steps", m, wd,
             nesterov ? " nesterov" : "", scale);
    check_plain(what, p, n);
    if (m != 0.0f) {
        snprintf(what, sizeof what, "sgd m=%g wd=%g%s: momentum buffer", m, wd,
                 nesterov ? " nesterov" : "");
        check_plain(what, buf, n);
    }
    duo_free(&duo, p);
    duo_free(&duo, buf);
}

/* Three steps of the adam op on both backends: AdamW's update (lamb 0) or LAMB's direction,
 * then both moments. */
static void test_adam(int lamb)
{
    const size_t n = 100003;
    pair p = duo_random_plain(&duo, n, -1.0f, 1.0f), m = duo_random_plain(&duo, n, 0.0f, 0.0f);
    pair v = duo_random_plain(&duo, n, 0.0f, 0.0f), d = duo_random_plain(&duo, n, 0.0f, 0.0f);
    for (int t = 1; t <= 3; t++) {
        double bc1 = 1.0 - pow(0.9, t);
        gnet_adam_args a = {.beta1 = 0.9f, .c1 = 0.1f, .beta2 = 0.999f, .c2 = 0.001f,
                            .eps = 1e-8f, .bc1 = (float)bc1,
                            .bc2_sqrt = (float)sqrt(1.0 - pow(0.999, t)),
                            .decay = 1.0f - 0.01f * 0.05f, .step_size = (float)(0.01 / bc1),
                            .wd = 0.05f};
        pair g = duo_random_plain(&duo, n, -1.0f, 1.0f);
        cpu->adam(cpu, p.c, g.c, m.c, v.c, lamb ? d.c : NULL, n, &a);
        gpu->adam(gpu, p.g, g.g, m.g, v.g, lamb ? d.g : NULL, n, &a);
        duo_free(&duo, g);
    }
    check_plain(lamb ? "adam (lamb): direction after 3 steps" : "adam (adamw): params after 3 steps",
                lamb ? d : p, n);
    check_plain("adam: exp_avg", m, n);
    check_plain("adam: exp_avg_sq", v, n);
    duo_free(&duo, p);
    duo_free(&duo, m);
    duo_free(&duo, v);
    duo_free(&duo, d);
}

/* The squared norm of a and of a - b: double sums in another order, so close, not equal. */
static void test_sumsq(void)
{
    const size_t n = 100003;
    pair a = duo_random_plain(&duo, n, -1.0f, 1.0f), b = duo_random_plain(&duo, n, -1.0f, 1.0f);
    double ca = cpu->sumsq(cpu, a.c, NULL, n), ga = gpu->sumsq(gpu, a.g, NULL, n);
    double cd = cpu->sumsq(cpu, a.c, b.c, n), gd = gpu->sumsq(gpu, a.g, b.g, n);
    report_tol("sumsq(a)", fabs(ga - ca) / ca, 1e-12);
    report_tol("sumsq(a - b)", fabs(gd - cd) / cd, 1e-12);
    duo_free(&duo, a);
    duo_free(&duo, b);
}

/* ---------- the whole model ---------- */

static void copy_params(gnet_model *from, gnet_model *to)
{
    float *h = duo_fmalloc(from->n_weights);
    cpu->download(cpu, h, from->params, from->n_weights);
    to->be->upload(to->be, to->params, h, to->n_weights);
    free(h);
}

/* The model's input, the same on both backends. */
static void model_input(gnet_model *mc, gnet_model *mg, float **xc, float **xg)
{
    gnet_shape in = {mc->batch, 1, mc->size, mc->size};
    float *h = duo_random_host(&duo, gnet_shape_count(in), 0.0f, 1.0f);
    *xc = cpu->alloc(cpu, cpu->act_count(cpu, in));
    *xg = mg->be->alloc(mg->be, mg->be->act_count(mg->be, in));
    cpu->from_nchw(cpu, in, h, *xc);
    mg->be->from_nchw(mg->be, in, h, *xg);
    free(h);
}

static void check_grads(gnet_model *mc, gnet_model *mg, double tol)
{
    size_t n = mc->n_weights;
    float *c = duo_fmalloc(n), *g = duo_fmalloc(n);
    cpu->download(cpu, c, mc->grads, n);
    mg->be->download(mg->be, g, mg->grads, n);
    double worst = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < mc->n_params; i++) {
        const gnet_param_spec *s = &mc->params_spec[i];
        double e = duo_rel_err(g + s->offset, c + s->offset, s->count);
        if (e > tol)
            printf("  gradient %-40s rel err %.2e  <-- FAIL\n", s->name, e);
        judged(s->name, e <= tol);
        if (e >= worst) {
            worst = e;
            worst_name = s->name;
        }
    }
    printf("  %d gradients: worst rel err %.2e (%s)\n", mc->n_params, worst, worst_name);
    free(c);
    free(g);
}

/* fp32 (tol 1e-4) or, with a TF32 backend, a sanity bound: TF32 keeps 10 mantissa bits. */
static void test_model(gnet_backend *g, const char *math, double tol, int batch, int size)
{
    printf("model, batch %d at %dx%d, %s (tol %.0e)\n", batch, size, size, math, tol);
    gnet_model *mc = gnet_model_create(cpu, batch, size), *mg = gnet_model_create(g, batch, size);
    EXPECT(mc && mg && mc->n_weights == mg->n_weights);
    if (!mc || !mg)
        return;
    gnet_model_init(mc, 42, GNET_INIT_XAVIER);
    copy_params(mc, mg);
    float *xc, *xg;
    model_input(mc, mg, &xc, &xg);
    gnet_model_forward(mc, xc);
    gnet_model_forward(mg, xg);
    size_t nl = (size_t)batch * GNET_CLASSES;
    float lc_host[64 * GNET_CLASSES], lg_host[64 * GNET_CLASSES];
    cpu->download(cpu, lc_host, mc->logits, nl);
    g->download(g, lg_host, mg->logits, nl);
    report_tol("logits", duo_rel_err(lg_host, lc_host, nl), tol);
    int32_t labels[64];
    for (int i = 0; i < batch; i++)
        labels[i] = (int32_t)gnet_rng_below(&duo.rng, GNET_CLASSES);
    double lc, lg;
    int64_t hc, hg;
    gnet_softmax_xent_now(cpu, batch, GNET_CLASSES, mc->logits, labels, 0.0f, 1.0f / batch,
                          mc->dlogits, &lc, &hc);
    gnet_softmax_xent_now(g, batch, GNET_CLASSES, mg->logits, labels, 0.0f, 1.0f / batch,
                          mg->dlogits, &lg, &hg);
    report_tol("loss", fabs(lg - lc) / fabs(lc), tol);
    /* The same loss gradient on both, so the comparison is of backward alone. */
    cpu->download(cpu, lc_host, mc->dlogits, nl);
    g->upload(g, mg->dlogits, lc_host, nl);
    gnet_model_backward(mc, 0, NULL);
    gnet_model_backward(mg, 0, NULL);
    check_grads(mc, mg, tol);
    cpu->free(cpu, xc);
    g->free(g, xg);
    gnet_model_destroy(mc);
    gnet_model_destroy(mg);
}

/* --cpu-vs-cpu: a second CPU backend stands in for the GPU, so that the harness itself (its
 * shapes, layouts and comparisons) runs where there is no GPU; every error is then 0. */
static gnet_backend *open_other(int cpu_vs_cpu, gnet_cuda_math math)
{
    char name[128];
    if (cpu_vs_cpu)
        return gnet_backend_cpu_create(0);
    gnet_backend *g = gnet_backend_cuda_create(0, math, "in test_cuda_ops", name, sizeof name);
    const char *const names[] = {"fp32", "tf32", "bf16"};
    printf("CUDA backend on %s (%s)\n", name, names[math]);
    return g;
}

/* ---------- the negative control: a perturbed backend ---------- */

/* The relative error each perturbed result carries: 10x TOL. */
#define PERTURB 1e-3f

/* The perturbed backend: its own table (g_orig) with every op that computes something
 * wrapped, so that its results come out PERTURB off. */
static gnet_backend g_orig, *g_perturbed;

/* p[0..count) *= 1 + PERTURB, in the perturbed backend's memory. */
static void perturb(float *p, size_t count)
{
    float *h = duo_fmalloc(count);
    g_orig.download(g_perturbed, h, p, count);
    for (size_t i = 0; i < count; i++)
        h[i] *= 1.0f + PERTURB;
    g_orig.upload(g_perturbed, p, h, count);
    free(h);
}

static size_t act_count(gnet_shape s) { return g_orig.act_count(g_perturbed, s); }

/* A conv or pool plan of the perturbed backend: the real one and its descriptor. */
typedef struct {
    gnet_conv *inner;
    gnet_conv_desc d;
} p_conv;

typedef struct {
    gnet_pool *inner;
    gnet_pool_desc d;
} p_pool;

static gnet_conv *p_conv_create(gnet_backend *be, const gnet_conv_desc *d)
{
    p_conv *c = malloc(sizeof *c);
    if (!c)
        exit(2);
    *c = (p_conv){g_orig.conv_create(be, d), *d};
    return (gnet_conv *)c;
}

static void p_conv_destroy(gnet_conv *c)
{
    g_orig.conv_destroy(((p_conv *)c)->inner);
    free(c);
}

static void p_conv_forward(gnet_conv *c, const float *x, const float *w, const float *b, float *y)
{
    p_conv *pc = (p_conv *)c;
    g_orig.conv_forward(pc->inner, x, w, b, y);
    perturb(y, act_count(pc->d.out));
}

static void p_conv_backward_data(gnet_conv *c, const float *dy, const float *w, float *dx)
{
    p_conv *pc = (p_conv *)c;
    g_orig.conv_backward_data(pc->inner, dy, w, dx);
    perturb(dx, act_count(pc->d.in));
}

static void p_conv_backward_filter(gnet_conv *c, const float *x, const float *dy, float *dw,
                                   float *db, int accumulate)
{
    p_conv *pc = (p_conv *)c;
    g_orig.conv_backward_filter(pc->inner, x, dy, dw, db, accumulate);
    perturb(dw, (size_t)pc->d.out.c * pc->d.in.c * pc->d.k * pc->d.k);
    perturb(db, (size_t)pc->d.out.c);
}

static gnet_pool *p_pool_create(gnet_backend *be, const gnet_pool_desc *d)
{
    p_pool *p = malloc(sizeof *p);
    if (!p)
        exit(2);
    *p = (p_pool){g_orig.pool_create(be, d), *d};
    return (gnet_pool *)p;
}

static void p_pool_destroy(gnet_pool *p)
{
    g_orig.pool_destroy(((p_pool *)p)->inner);
    free(p);
}

static void p_pool_forward(gnet_pool *p, const float *x, float *y)
{
    g_orig.pool_forward(((p_pool *)p)->inner, x, y);
    perturb(y, act_count(((p_pool *)p)->d.out));
}

static void p_pool_backward(gnet_pool *p, const float *dy, float *dx)
{
    g_orig.pool_backward(((p_pool *)p)->inner, dy, dx);
    perturb(dx, act_count(((p_pool *)p)->d.in));
}

static void p_relu_backward(gnet_backend *be, const float *y, float *dy, size_t count)
{
    g_orig.relu_backward(be, y, dy, count);
    perturb(dy, count);
}

static void p_add(gnet_backend *be, float *dst, const float *src, size_t count)
{
    g_orig.add(be, dst, src, count);
    perturb(dst, count);
}

/* Channel counts are multiples of 16: dst holds exactly n * dst_c * hw floats. */
static void p_copy_channels(gnet_backend *be, float *dst, int dst_c, int dst_off, const float *src,
                            int src_c, int src_off, int c, int n, int hw)
{
    g_orig.copy_channels(be, dst, dst_c, dst_off, src, src_c, src_off, c, n, hw);
    perturb(dst, (size_t)n * dst_c * hw);
}

static void p_linear_forward(gnet_backend *be, int n, int in, int out, const float *x,
                             const float *w, const float *b, float *y)
{
    g_orig.linear_forward(be, n, in, out, x, w, b, y);
    perturb(y, (size_t)n * out);
}

static void p_linear_backward(gnet_backend *be, int n, int in, int out, const float *x,
                              const float *w, const float *dy, float *dx, float *dw, float *db,
                              int accumulate)
{
    g_orig.linear_backward(be, n, in, out, x, w, dy, dx, dw, db, accumulate);
    if (dx)
        perturb(dx, (size_t)n * in);
    perturb(dw, (size_t)out * in);
    perturb(db, (size_t)out);
}

static void p_softmax_xent(gnet_backend *be, int n, int classes, const float *logits,
                           const int32_t *labels, float label_smoothing, float grad_scale,
                           float *dlogits)
{
    g_orig.softmax_xent(be, n, classes, logits, labels, label_smoothing, grad_scale, dlogits);
    perturb(dlogits, (size_t)n * classes);
}

/* The loss off by PERTURB relative plus PERTURB (so that an empty tally is off too), one
 * more correct row. */
static void p_tally_take(gnet_backend *be, double *loss_sum, int64_t *correct)
{
    g_orig.tally_take(be, loss_sum, correct);
    *loss_sum = *loss_sum * (1.0 + PERTURB) + PERTURB;
    *correct += 1;
}

static void p_sgd(gnet_backend *be, float *p, const float *g, float *momentum_buf, size_t count,
                  float lr, float m, float wd, int nesterov, int first_step, float scale)
{
    g_orig.sgd(be, p, g, momentum_buf, count, lr, m, wd, nesterov, first_step, scale);
    perturb(p, count);
    if (momentum_buf)
        perturb(momentum_buf, count);
}

static void p_adam(gnet_backend *be, float *p, const float *g, float *m, float *v, float *dir,
                   size_t count, const gnet_adam_args *a)
{
    g_orig.adam(be, p, g, m, v, dir, count, a);
    perturb(dir ? dir : p, count);
    perturb(m, count);
    perturb(v, count);
}

static double p_sumsq(gnet_backend *be, const float *a, const float *b, size_t count)
{
    return g_orig.sumsq(be, a, b, count) * (1.0 + PERTURB);
}

/* be with every computing op wrapped (uploads, downloads, layouts and copies stay exact). */
static gnet_backend *perturbed(gnet_backend *be)
{
    g_orig = *be;
    g_perturbed = be;
    be->conv_create = p_conv_create;
    be->conv_destroy = p_conv_destroy;
    be->conv_forward = p_conv_forward;
    be->conv_backward_data = p_conv_backward_data;
    be->conv_backward_filter = p_conv_backward_filter;
    be->pool_create = p_pool_create;
    be->pool_destroy = p_pool_destroy;
    be->pool_forward = p_pool_forward;
    be->pool_backward = p_pool_backward;
    be->relu_backward = p_relu_backward;
    be->add = p_add;
    be->copy_channels = p_copy_channels;
    be->linear_forward = p_linear_forward;
    be->linear_backward = p_linear_backward;
    be->softmax_xent = p_softmax_xent;
    be->tally_take = p_tally_take;
    be->sgd = p_sgd;
    be->adam = p_adam;
    be->sumsq = p_sumsq;
    return be;
}

/* ---------- main ---------- */

/* The comparisons op_checks makes: convolution 14 cases x (forward + dw, db plain and
 * accumulated) + data gradient of the 12 with more than one input channel = 82; pooling
 * 6 x 2 = 12; element-wise and concat 4; linear 1 + 2 x 3 = 7; softmax 3 x 3 = 9; tallies
 * 3 x 2 + 1 = 7; SGD 5 + 4 momentum buffers = 9; Adam 2 x 3 = 6; sumsq 2. */
#define OP_COMPARISONS 138
/* Also: the staged uploads, 6; the model 4 times (logits, loss, 116 gradients). */
#define EXPECTED_COMPARISONS (OP_COMPARISONS + 6 + 4 * (2 + 116))

/* Every op of the table against the reference (what the negative control repeats). */
static void op_checks(void)
{
    test_convs();
    test_pools();
    test_elementwise();
    test_linear(5, 1024, 10);
    test_softmax_xent(37, 0, 0.0f);
    test_softmax_xent(300, 1, 0.0f);
    test_softmax_xent(300, 0, 0.1f);
    test_tallies();
    printf("sgd\n");
    test_sgd(0.0f, 0.0f, 0, 1.0f);
    test_sgd(0.9f, 0.0f, 0, 1.0f);
    test_sgd(0.9f, 5e-4f, 0, 1.0f);
    test_sgd(0.9f, 5e-4f, 1, 1.0f);
    test_sgd(0.9f, 5e-4f, 0, 0.37f);
    printf("adam\n");
    test_adam(0);
    test_adam(1);
    test_sumsq();
}

/* The op checks with a perturbed fp32 backend in the checked one's place: each of their
 * OP_COMPARISONS comparisons must reject it. */
static void negative_control(int cpu_vs_cpu)
{
    printf("negative control: the op checks against a perturbed backend (results %g off)\n",
           (double)PERTURB);
    gnet_backend *real = gpu;
    gpu = duo.dut = perturbed(open_other(cpu_vs_cpu, GNET_CUDA_FP32));
    g_cmp.made = g_cmp.rejected = 0;
    g_cmp.control = 1;
    op_checks();
    g_cmp.control = 0;
    printf("negative control: %d of %d comparisons rejected the perturbed backend (expected "
           "%d of %d)\n", g_cmp.rejected, g_cmp.made, OP_COMPARISONS, OP_COMPARISONS);
    EXPECT(g_cmp.made == OP_COMPARISONS && g_cmp.rejected == g_cmp.made);
    gpu->destroy(gpu);
    gpu = duo.dut = real;
}

/* The whole model on fp32 (96x96 and 28x28), tf32 and bf16 backends. */
static void model_checks(int cpu_vs_cpu)
{
    test_model(gpu, "fp32", TOL, 4, 96);
    test_model(gpu, "fp32", TOL, 4, 28);
    gnet_backend *tf32 = open_other(cpu_vs_cpu, GNET_CUDA_TF32);
    test_model(tf32, "tf32", TF32_TOL, 4, 96);
    tf32->destroy(tf32);
    gnet_backend *bf16 = open_other(cpu_vs_cpu, GNET_CUDA_BF16);
    test_model(bf16, "bf16", BF16_TOL, 4, 96);
    bf16->destroy(bf16);
}

int main(int argc, char **argv)
{
    /* Line-buffered even into a pipe: a kill or a crash inside cuDNN keeps every line printed
     * so far, the one naming the op included (scripts/gpu_check.sh). */
    setvbuf(stdout, NULL, _IOLBF, 0);
    int cpu_vs_cpu = argc > 1 && strcmp(argv[1], "--cpu-vs-cpu") == 0;
    char why[160] = "";
    if (!cpu_vs_cpu && gnet_cuda_device_count(why, sizeof why) < 1) {
        printf("SKIP: no CUDA device (%s)\n", why);
        return 77;
    }
    cpu = gnet_backend_cpu_create(0);
    gpu = open_other(cpu_vs_cpu, GNET_CUDA_FP32);
    duo.ref = cpu;
    duo.dut = gpu;
    printf("against the CPU backend (%d threads)%s\n", cpu->threads,
           cpu_vs_cpu ? "; --cpu-vs-cpu: a CPU backend in the GPU's place" : "");
    gnet_rng_init(&duo.rng, gnet_rng_key(2024, 0x63756461 /* "cuda" */, 0, 0));
    op_checks();
    test_staged_uploads();
    model_checks(cpu_vs_cpu);
    printf("%d comparisons made (expected at least %d)\n", g_cmp.made, EXPECTED_COMPARISONS);
    EXPECT(g_cmp.made >= EXPECTED_COMPARISONS);
    negative_control(cpu_vs_cpu);
    gpu->destroy(gpu);
    cpu->destroy(cpu);
    TEST_MAIN_END();
}
