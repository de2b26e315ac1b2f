/* The CPU backend's op table against naive double-precision references (forward) and the
 * finite-difference checker (backward), as named cases (one ctest entry each, "ops.<case>";
 * `test_ops --list` names them): convolution (1x1/3x3/5x5, the 7x7/2 stem on one channel,
 * padded 24-channel layouts, PyTorch floor mode), max and average pooling, ReLU backward,
 * add, the concat copy, the linear layer, softmax cross-entropy, SGD, sumsq and copy.
 * Every comparison prints its worst error; the negative controls (gradcheck_controls,
 * conv_controls) show that the checker and the tolerances reject a wrong gradient, a missing
 * tap or a poisoned padded lane. Each case draws its inputs from a stream keyed by its name.
 * Shapes are small (batch 2, spatial <= 13, channels <= 32): the slowest case, conv_backward,
 * takes a few seconds. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/backend.h"
#include "core/rng.h"
#include "gradcheck.h"
#include "test_util.h"

static gnet_backend *be;
static gnet_rng rng;

/* ---------- helpers ---------- */

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

static float *fmalloc(size_t n) { return xmalloc(n * sizeof(float)); }
static double *dmalloc(size_t n) { return xmalloc(n * sizeof(double)); }

static float urand(float lo, float hi) { return lo + (hi - lo) * gnet_rng_uniform(&rng); }

static void fill(float *p, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        p[i] = urand(lo, hi);
}

static void fill_nan(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
}

/* Distinct values (a shuffled arithmetic progression with step `gap`), mostly negative so
 * that windows whose maximum is negative tell -inf padding from zero padding. */
static void fill_distinct(float *p, size_t n, float gap)
{
    int32_t *perm = xmalloc(n * sizeof(int32_t));
    for (size_t i = 0; i < n; i++)
        perm[i] = (int32_t)i;
    gnet_rng_shuffle(&rng, perm, (int32_t)n);
    for (size_t i = 0; i < n; i++)
        p[i] = ((float)perm[i] - 0.75f * (float)n) * gap;
    free(perm);
}

static float *dev_alloc(size_t n) { return be->alloc(be, n); }

static float *dev_from_host(const float *h, size_t n)
{
    float *d = dev_alloc(n);
    be->upload(be, d, h, n);
    return d;
}

static void dev_fill_nan(float *d, size_t n)
{
    float *h = fmalloc(n);
    fill_nan(h, n);
    be->upload(be, d, h, n);
    free(h);
}

static size_t act_n(gnet_shape s) { return be->act_count(be, s); }

/* A backend activation from an NCHW host array (padding, if any, is the backend's). */
static float *act_from_host(gnet_shape s, const float *h)
{
    float *d = dev_alloc(act_n(s));
    be->from_nchw(be, s, h, d);
    return d;
}

/* Worst error of got against ref: |got - ref| / norm[i] (norm NULL: absolute error).
 * A non-finite `got` counts as an infinite error. Prints and expects worst <= tol. */
static double compare(const char *what, const float *got, const double *ref, const double *norm,
                      size_t count, double tol)
{
    double worst = 0.0;
    size_t wi = 0;
    for (size_t i = 0; i < count; i++) {
        double d = fabs((double)got[i] - ref[i]);
        double e = norm ? d / fmax(norm[i], 1e-30) : d;
        if (!isfinite(got[i]) || isnan(e))
            e = INFINITY;
        if (e > worst) {
            worst = e;
            wi = i;
        }
    }
    int ok = worst <= tol;
    printf("  %-62s worst err %.2e (tol %.0e)%s", what, worst, tol, ok ? "\n" : "");
    if (!ok)
        printf(" at [%zu]: got %.9g, expected %.9g  <-- FAIL\n", wi, (double)got[wi], ref[wi]);
    EXPECT(worst <= tol);
    return worst;
}

/* The CPU backend keeps activations with C > 1 in nChw16c, zero-padded to a multiple of 16
 * channels. oneDNN reads the padded lanes (times zero weights), so a backend op that leaves
 * anything but zeros there poisons the next layer. Counts the non-zero padded lanes. */
static size_t padding_nonzero(gnet_shape s, const float *d)
{
    if (s.c == 1 || s.c % 16 == 0)
        return 0;
    size_t total = act_n(s);
    float *h = fmalloc(total);
    be->download(be, h, d, total);
    int cb_n = (s.c + 15) / 16, hw = s.h * s.w;
    size_t bad = 0;
    for (int n = 0; n < s.n; n++)
        for (int p = 0; p < hw; p++)
            for (int l = s.c % 16; l < 16; l++) {
                float v = h[(((size_t)n * cb_n + (cb_n - 1)) * hw + p) * 16 + l];
                if (v != 0.0f)
                    bad++;
            }
    free(h);
    return bad;
}

static void expect_padding_zero(const char *what, gnet_shape s, const float *d)
{
    if (s.c == 1 || s.c % 16 == 0)
        return;
    size_t bad = padding_nonzero(s, d);
    if (bad)
        printf("  %-62s %zu non-zero padded lanes  <-- FAIL\n", what, bad);
    EXPECT(bad == 0);
}

/* PyTorch's output size (floor mode). */
static int out_dim(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

static int gc_check(gnet_gradcheck *gc, const char *label)
{
    gnet_gc_result r;
    int ok = gnet_gradcheck_run(gc, label, &r);
    EXPECT(ok);
    return ok;
}

/* ---------- negative controls: the checker must reject wrong gradients ---------- */

/* A toy op y[i] = x[i]^2 * w[i % 4] + x[(i + 1) % n], with a switchable defect. */
typedef struct {
    size_t n;
    int defect; /* 0 none, 1 scale dx by 1.02, 2 one dx element wrong, 3 one dx never written */
} toy_ctx;

static void toy_forward(void *vc, float *const *in, double *out)
{
    toy_ctx *c = vc;
    for (size_t i = 0; i < c->n; i++) {
        float x = in[0][i], xn = in[0][(i + 1) % c->n];
        out[i] = (double)(x * x * in[1][i % 4] + xn);
    }
}

static void toy_backward(void *vc, float *const *in, const double *g, float *const *grad)
{
    toy_ctx *c = vc;
    size_t n = c->n;
    for (size_t i = 0; i < n; i++)
        grad[0][i] = 0.0f;
    for (int k = 0; k < 4; k++)
        grad[1][k] = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float x = in[0][i];
        grad[0][i] += (float)g[i] * 2.0f * x * in[1][i % 4];
        grad[0][(i + 1) % n] += (float)g[i];
        grad[1][i % 4] += (float)g[i] * x * x;
    }
    if (c->defect == 1)
        for (size_t i = 0; i < n; i++)
            grad[0][i] *= 1.02f;
    if (c->defect == 2)
        grad[0][n / 2] += 0.05f * fabsf(grad[0][n / 2]) + 1e-2f;
    if (c->defect == 3)
        grad[0][n - 1] = NAN;
}

/* The checker passes a correct toy gradient and rejects each defect (dx 2% off, one element
 * wrong, one never written even when only 5 elements are probed). */
static void test_gradcheck_controls(void)
{
    printf("gradcheck negative controls\n");
    enum { N = 40 };
    float x[N], w[4];
    fill(x, N, -1.0f, 1.0f);
    fill(w, 4, -1.0f, 1.0f);
    gnet_gc_input in[2] = {{"x", x, N, 1}, {"w", w, 4, 1}};
    toy_ctx c = {N, 0};
    gnet_gradcheck gc = {toy_forward, toy_backward, &c, in, 2, N, 11, 1e-2f, 0, 0, 0, 0};
    gc_check(&gc, "toy (correct)");
    gc.quiet = 1;
    for (int defect = 1; defect <= 3; defect++) {
        c.defect = defect;
        gnet_gc_result r;
        int ok = gnet_gradcheck_run(&gc, "toy (defect)", &r);
        printf("  toy defect %d rejected: %s (err/tol %.2f)\n", defect, ok ? "NO" : "yes",
               r.worst_ratio);
        EXPECT(!ok);
    }
    /* A random probe subset still covers the first and last elements. */
    gc.max_probes = 5;
    c.defect = 3;
    EXPECT(!gnet_gradcheck_run(&gc, "toy (defect)", NULL));
}

/* ---------- convolution ---------- */

typedef struct {
    int n, ic, oc, h, w, k, s, p;
} conv_cfg;

static const conv_cfg k_convs[] = {
    {2, 16, 32, 7, 7, 1, 1, 0},   /* 1x1 */
    {2, 32, 24, 7, 5, 3, 1, 1},   /* 3x3, padded output (the controls' case) */
    {2, 24, 16, 6, 7, 5, 1, 2},   /* 5x5, padded input */
    {2, 24, 24, 5, 5, 3, 1, 1},   /* both padded */
    {2, 16, 16, 6, 6, 3, 2, 1},   /* strided 3x3, floor mode (6 -> 3) */
    {2, 1, 16, 10, 10, 7, 2, 3},  /* the stem: 1 channel, floor mode (10 -> 5) */
    {2, 1, 32, 13, 13, 7, 2, 3},  /* the stem, 13 -> 7 */
    {2, 1, 24, 9, 12, 7, 2, 3},   /* the stem, padded output, 9x12 -> 5x6 (floor in w) */
    {2, 32, 16, 13, 13, 1, 1, 0}, /* 1x1 on the largest spatial size */
};
#define N_CONVS (sizeof k_convs / sizeof k_convs[0])
#define CONTROL_CONV (&k_convs[1])

static gnet_conv_desc conv_desc(const conv_cfg *c, int relu)
{
    gnet_conv_desc d;
    d.in = (gnet_shape){c->n, c->ic, c->h, c->w};
    d.out = (gnet_shape){c->n, c->oc, out_dim(c->h, c->k, c->s, c->p), out_dim(c->w, c->k, c->s, c->p)};
    d.k = c->k;
    d.stride = c->s;
    d.pad = c->p;
    d.relu = relu;
    return d;
}

/* y = relu?(conv(x, w) + b) in double; norm = |b| + sum |x w| (the scale of the rounding
 * error an fp32 accumulation of those terms may make). */
static void conv_ref(const gnet_conv_desc *d, const float *x, const float *w, const float *b,
                     double *y, double *norm)
{
    gnet_shape I = d->in, O = d->out;
    int k = d->k;
    for (int n = 0; n < O.n; n++)
        for (int o = 0; o < O.c; o++)
            for (int oh = 0; oh < O.h; oh++)
                for (int ow = 0; ow < O.w; ow++) {
                    double acc = b[o], nrm = fabs((double)b[o]);
                    for (int i = 0; i < I.c; i++)
                        for (int kh = 0; kh < k; kh++) {
                            int ih = oh * d->stride - d->pad + kh;
                            if (ih < 0 || ih >= I.h)
                                continue;
                            for (int kw = 0; kw < k; kw++) {
                                int iw = ow * d->stride - d->pad + kw;
                                if (iw < 0 || iw >= I.w)
                                    continue;
                                double t = (double)x[(((size_t)n * I.c + i) * I.h + ih) * I.w + iw] *
                                           (double)w[(((size_t)o * I.c + i) * k + kh) * k + kw];
                                acc += t;
                                nrm += fabs(t);
                            }
                        }
                    size_t idx = (((size_t)n * O.c + o) * O.h + oh) * O.w + ow;
                    y[idx] = d->relu && acc < 0.0 ? 0.0 : acc;
                    norm[idx] = nrm;
                }
}

static void conv_label(char *buf, size_t len, const char *what, const gnet_conv_desc *d)
{
    snprintf(buf, len, "%s k%d s%d p%d %d->%d %dx%d->%dx%d", what, d->k, d->stride, d->pad,
             d->in.c, d->out.c, d->in.h, d->in.w, d->out.h, d->out.w);
}

/* One convolution's host inputs (NCHW x, OIHW w, b), random, and its shapes (no ReLU). */
typedef struct {
    const conv_cfg *cfg;
    gnet_conv_desc d;
    size_t x_n, y_n, w_n;
    float *x, *w, *b;
} conv_data;

static conv_data conv_data_make(const conv_cfg *cfg)
{
    conv_data cd = {cfg, conv_desc(cfg, 0), 0, 0, 0, NULL, NULL, NULL};
    cd.x_n = gnet_shape_count(cd.d.in);
    cd.y_n = gnet_shape_count(cd.d.out);
    cd.w_n = (size_t)cfg->oc * cfg->ic * cfg->k * cfg->k;
    cd.x = fmalloc(cd.x_n);
    cd.w = fmalloc(cd.w_n);
    cd.b = fmalloc((size_t)cfg->oc);
    fill(cd.x, cd.x_n, -1.0f, 1.0f);
    fill(cd.w, cd.w_n, -0.5f, 0.5f);
    fill(cd.b, (size_t)cfg->oc, -0.5f, 0.5f);
    return cd;
}

static void conv_data_free(conv_data *cd)
{
    free(cd->x);
    free(cd->w);
    free(cd->b);
}

/* The backend's forward (fused ReLU or not) of cd's inputs into an output buffer that starts
 * as NaN: the output in NCHW in yh; returns the backend buffer (the caller frees it). */
static float *conv_run_forward(const conv_data *cd, int relu, float *yh)
{
    gnet_conv_desc d = conv_desc(cd->cfg, relu);
    gnet_conv *cv = be->conv_create(be, &d);
    float *xb = act_from_host(d.in, cd->x), *wb = dev_from_host(cd->w, cd->w_n);
    float *bb = dev_from_host(cd->b, (size_t)d.out.c), *yb = dev_alloc(act_n(d.out));
    dev_fill_nan(yb, act_n(d.out));
    be->conv_forward(cv, xb, wb, bb, yb);
    be->to_nchw(be, d.out, yb, yh);
    be->conv_destroy(cv);
    be->free(be, xb);
    be->free(be, wb);
    be->free(be, bb);
    return yb;
}

/* Forward, with and without the fused ReLU, against the double reference (tol 1e-4 of
 * |b| + sum |x w|), padded lanes zero, no negative output after the ReLU. */
static void test_conv_forward(void)
{
    char label[160];
    for (size_t ci = 0; ci < N_CONVS; ci++) {
        conv_data cd = conv_data_make(&k_convs[ci]);
        float *yh = fmalloc(cd.y_n);
        double *yref = dmalloc(cd.y_n), *norm = dmalloc(cd.y_n);
        for (int relu = 0; relu <= 1; relu++) {
            gnet_conv_desc d = conv_desc(cd.cfg, relu);
            float *yb = conv_run_forward(&cd, relu, yh);
            conv_ref(&d, cd.x, cd.w, cd.b, yref, norm);
            conv_label(label, sizeof label, relu ? "conv fwd+relu" : "conv fwd", &d);
            compare(label, yh, yref, norm, cd.y_n, 1e-4);
            expect_padding_zero(label, d.out, yb);
            size_t neg = 0;
            for (size_t i = 0; relu && i < cd.y_n; i++)
                neg += yh[i] < 0.0f;
            EXPECT(neg == 0);
            be->free(be, yb);
        }
        free(yh);
        free(yref);
        free(norm);
        conv_data_free(&cd);
    }
}

/* The finite-difference harness of one convolution (no ReLU: its kink breaks them). */
typedef struct {
    gnet_conv_desc d;
    gnet_conv *cv;
    size_t x_n, y_n, w_n; /* NCHW counts */
    float *xb, *yb, *dyb, *dxb, *wb, *bb, *dwb, *dbb;
    float *yh, *dyh;
    float corrupt_dw; /* negative control: scale the analytic dw */
} conv_fd;

static void conv_fd_forward(void *vc, float *const *in, double *out)
{
    conv_fd *c = vc;
    be->upload(be, c->wb, in[1], c->w_n);
    be->upload(be, c->bb, in[2], (size_t)c->d.out.c);
    be->from_nchw(be, c->d.in, in[0], c->xb);
    be->conv_forward(c->cv, c->xb, c->wb, c->bb, c->yb);
    be->to_nchw(be, c->d.out, c->yb, c->yh);
    for (size_t i = 0; i < c->y_n; i++)
        out[i] = c->yh[i];
}

static void conv_fd_backward(void *vc, float *const *in, const double *g, float *const *grad)
{
    conv_fd *c = vc;
    be->upload(be, c->wb, in[1], c->w_n);
    be->from_nchw(be, c->d.in, in[0], c->xb);
    for (size_t i = 0; i < c->y_n; i++)
        c->dyh[i] = (float)g[i];
    be->from_nchw(be, c->d.out, c->dyh, c->dyb);
    if (grad[0]) {
        dev_fill_nan(c->dxb, act_n(c->d.in));
        be->conv_backward_data(c->cv, c->dyb, c->wb, c->dxb);
        be->to_nchw(be, c->d.in, c->dxb, grad[0]);
    }
    dev_fill_nan(c->dwb, c->w_n);
    dev_fill_nan(c->dbb, (size_t)c->d.out.c);
    be->conv_backward_filter(c->cv, c->xb, c->dyb, c->dwb, c->dbb, 0);
    if (grad[1]) {
        be->download(be, grad[1], c->dwb, c->w_n);
        if (c->corrupt_dw != 0.0f)
            for (size_t i = 0; i < c->w_n; i++)
                grad[1][i] *= c->corrupt_dw;
    }
    if (grad[2])
        be->download(be, grad[2], c->dbb, (size_t)c->d.out.c);
}

static void conv_fd_init(conv_fd *c, const conv_data *cd)
{
    memset(c, 0, sizeof *c);
    c->d = cd->d;
    c->cv = be->conv_create(be, &cd->d);
    c->x_n = cd->x_n;
    c->y_n = cd->y_n;
    c->w_n = cd->w_n;
    c->xb = dev_alloc(act_n(cd->d.in));
    c->yb = dev_alloc(act_n(cd->d.out));
    c->dyb = dev_alloc(act_n(cd->d.out));
    c->dxb = dev_alloc(act_n(cd->d.in));
    c->wb = dev_alloc(cd->w_n);
    c->bb = dev_alloc((size_t)cd->d.out.c);
    c->dwb = dev_alloc(cd->w_n);
    c->dbb = dev_alloc((size_t)cd->d.out.c);
    c->yh = fmalloc(cd->y_n);
    c->dyh = fmalloc(cd->y_n);
}

static void conv_fd_free(conv_fd *c)
{
    be->conv_destroy(c->cv);
    float *bufs[] = {c->xb, c->yb, c->dyb, c->dxb, c->wb, c->bb, c->dwb, c->dbb};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        be->free(be, bufs[i]);
    free(c->yh);
    free(c->dyh);
}

/* The gradient check of x (unless the 1-channel stem: the backend plans no data gradient
 * for it), w and b at cd's inputs. */
static gnet_gradcheck conv_gradcheck(conv_fd *c, conv_data *cd, gnet_gc_input in[3])
{
    in[0] = (gnet_gc_input){"x", cd->x, cd->x_n, cd->cfg->ic > 1};
    in[1] = (gnet_gc_input){"w", cd->w, cd->w_n, 1};
    in[2] = (gnet_gc_input){"b", cd->b, (size_t)cd->d.out.c, 1};
    return (gnet_gradcheck){conv_fd_forward, conv_fd_backward, c, in, 3, cd->y_n, 101, 1e-2f,
                            0, 0, 0, 0};
}

/* Backward data and filter against finite differences; the data gradient's padded lanes
 * stay zero. */
static void test_conv_backward(void)
{
    char label[160];
    for (size_t ci = 0; ci < N_CONVS; ci++) {
        conv_data cd = conv_data_make(&k_convs[ci]);
        conv_fd c;
        conv_fd_init(&c, &cd);
        gnet_gc_input in[3];
        gnet_gradcheck gc = conv_gradcheck(&c, &cd, in);
        conv_label(label, sizeof label, "conv bwd", &cd.d);
        gc_check(&gc, label);
        if (in[0].check)
            expect_padding_zero("conv bwd data padded lanes", cd.d.in, c.dxb);
        conv_fd_free(&c);
        conv_data_free(&cd);
    }
}

/* The forward check's tolerance sees one tap dropped from the reference (err > 1e-4). */
static void conv_control_tap(conv_data *cd, const float *yh)
{
    double *yref = dmalloc(cd->y_n), *norm = dmalloc(cd->y_n);
    float saved = cd->w[cd->w_n - 1]; /* the last corner of the kernel */
    cd->w[cd->w_n - 1] = 0.0f;
    conv_ref(&cd->d, cd->x, cd->w, cd->b, yref, norm);
    cd->w[cd->w_n - 1] = saved;
    double worst = 0.0;
    for (size_t i = 0; i < cd->y_n; i++)
        worst = fmax(worst, fabs(yh[i] - yref[i]) / norm[i]);
    printf("  control: one tap dropped from the reference gives err %.2e (must be > 1e-4)\n",
           worst);
    EXPECT(worst > 1e-4);
    free(yref);
    free(norm);
}

/* The padded-lane check sees one non-zero lane (the last one of the buffer). */
static void conv_control_lane(const conv_data *cd, const float *yb)
{
    gnet_shape s = cd->d.out;
    EXPECT(s.c % 16 != 0); /* the control's case has padded output lanes */
    size_t total = act_n(s);
    float *raw = fmalloc(total);
    be->download(be, raw, yb, total);
    raw[total - 1] = 1.0f;
    float *poisoned = dev_from_host(raw, total);
    size_t bad = padding_nonzero(s, poisoned);
    printf("  control: one poisoned padded lane detected: %s\n", bad == 1 ? "yes" : "NO");
    EXPECT(bad == 1);
    be->free(be, poisoned);
    free(raw);
}

/* Negative controls on the 3x3 32->24 case: a dropped tap, a poisoned padded lane, and dw
 * scaled by 1.02 must each be rejected (after the same case passes unperturbed). */
static void test_conv_controls(void)
{
    char label[160];
    conv_data cd = conv_data_make(CONTROL_CONV);
    float *yh = fmalloc(cd.y_n);
    double *yref = dmalloc(cd.y_n), *norm = dmalloc(cd.y_n);
    float *yb = conv_run_forward(&cd, 0, yh);
    conv_ref(&cd.d, cd.x, cd.w, cd.b, yref, norm);
    conv_label(label, sizeof label, "conv fwd", &cd.d);
    compare(label, yh, yref, norm, cd.y_n, 1e-4);
    conv_control_tap(&cd, yh);
    conv_control_lane(&cd, yb);
    be->free(be, yb);

    conv_fd c;
    conv_fd_init(&c, &cd);
    gnet_gc_input in[3];
    gnet_gradcheck gc = conv_gradcheck(&c, &cd, in);
    conv_label(label, sizeof label, "conv bwd", &cd.d);
    gc_check(&gc, label);
    c.corrupt_dw = 1.02f;
    in[0].check = 0;
    in[2].check = 0;
    gc.quiet = 1;
    gnet_gc_result r;
    int ok = gnet_gradcheck_run(&gc, label, &r);
    printf("  control: dw scaled by 1.02 rejected: %s (err/tol %.2f)\n", ok ? "NO" : "yes",
           r.worst_ratio);
    EXPECT(!ok);
    conv_fd_free(&c);
    free(yh);
    free(yref);
    free(norm);
    conv_data_free(&cd);
}

/* dw and db computed fresh, then accumulated onto random previous values: the sums must be
 * exactly dw_prev + dw_new (float), db likewise. */
static void conv_accumulate_one(const conv_data *cd)
{
    char label[160];
    size_t w_n = cd->w_n, oc = (size_t)cd->d.out.c;
    conv_fd c;
    conv_fd_init(&c, cd);
    float *dyh = fmalloc(cd->y_n);
    fill(dyh, cd->y_n, -1.0f, 1.0f);
    float *dyb = act_from_host(cd->d.out, dyh);
    float *dw_new = fmalloc(w_n), *db_new = fmalloc(oc), *dw_prev = fmalloc(w_n);
    float *db_prev = fmalloc(oc), *dw_acc = fmalloc(w_n), *db_acc = fmalloc(oc);
    fill(dw_prev, w_n, -1.0f, 1.0f);
    fill(db_prev, oc, -1.0f, 1.0f);
    be->from_nchw(be, cd->d.in, cd->x, c.xb);
    dev_fill_nan(c.dwb, w_n);
    dev_fill_nan(c.dbb, oc);
    be->conv_backward_filter(c.cv, c.xb, dyb, c.dwb, c.dbb, 0);
    be->download(be, dw_new, c.dwb, w_n);
    be->download(be, db_new, c.dbb, oc);
    be->upload(be, c.dwb, dw_prev, w_n);
    be->upload(be, c.dbb, db_prev, oc);
    be->conv_backward_filter(c.cv, c.xb, dyb, c.dwb, c.dbb, 1);
    be->download(be, dw_acc, c.dwb, w_n);
    be->download(be, db_acc, c.dbb, oc);
    double *ref = dmalloc(w_n);
    for (size_t i = 0; i < w_n; i++)
        ref[i] = (float)(dw_prev[i] + dw_new[i]);
    conv_label(label, sizeof label, "conv dw accumulate", &cd->d);
    compare(label, dw_acc, ref, NULL, w_n, 0.0);
    for (size_t i = 0; i < oc; i++)
        ref[i] = (float)(db_prev[i] + db_new[i]);
    conv_label(label, sizeof label, "conv db accumulate", &cd->d);
    compare(label, db_acc, ref, NULL, oc, 0.0);
    void *host[] = {ref, dyh, dw_new, db_new, dw_prev, db_prev, dw_acc, db_acc};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        free(host[i]);
    be->free(be, dyb);
    conv_fd_free(&c);
}

/* Backward filter with accumulate adds to dw and db exactly. */
static void test_conv_accumulate(void)
{
    for (size_t ci = 0; ci < N_CONVS; ci++) {
        conv_data cd = conv_data_make(&k_convs[ci]);
        conv_accumulate_one(&cd);
        conv_data_free(&cd);
    }
}

/* ---------- pooling ---------- */

typedef struct {
    gnet_pool_alg alg;
    int n, c, h, w, k, s, p;
} pool_cfg;

static const pool_cfg k_pools[] = {
    {GNET_POOL_MAX, 2, 16, 7, 7, 3, 2, 1},  /* 7 -> 4 */
    {GNET_POOL_MAX, 2, 24, 2, 2, 3, 2, 1},  /* 2 -> 1, padded channels */
    {GNET_POOL_MAX, 2, 32, 6, 6, 3, 2, 1},  /* 6 -> 3 (floor) */
    {GNET_POOL_MAX, 2, 16, 13, 9, 3, 2, 1}, /* 13x9 -> 7x5 */
    {GNET_POOL_MAX, 2, 24, 5, 5, 3, 1, 1},  /* Inception's pool branch */
    {GNET_POOL_MAX, 2, 16, 7, 6, 3, 1, 1},
    {GNET_POOL_AVG, 2, 32, 7, 7, 7, 1, 0},  /* global average */
    {GNET_POOL_AVG, 2, 24, 3, 3, 3, 1, 0},
    {GNET_POOL_AVG, 2, 16, 5, 5, 5, 5, 0},
};
#define N_POOLS (sizeof k_pools / sizeof k_pools[0])

static gnet_pool_desc pool_desc(const pool_cfg *c)
{
    gnet_pool_desc d;
    d.alg = c->alg;
    d.in = (gnet_shape){c->n, c->c, c->h, c->w};
    d.out = (gnet_shape){c->n, c->c, out_dim(c->h, c->k, c->s, c->p),
                         out_dim(c->w, c->k, c->s, c->p)};
    d.k = c->k;
    d.stride = c->s;
    d.pad = c->p;
    return d;
}

/* Max: padding is -inf (ignored); avg: no padding, divides by the window size. */
static void pool_ref(const gnet_pool_desc *d, const float *x, double *y, double *norm)
{
    gnet_shape I = d->in, O = d->out;
    for (int n = 0; n < O.n; n++)
        for (int c = 0; c < O.c; c++)
            for (int oh = 0; oh < O.h; oh++)
                for (int ow = 0; ow < O.w; ow++) {
                    double m = -INFINITY, sum = 0.0, asum = 0.0;
                    int cnt = 0;
                    for (int kh = 0; kh < d->k; kh++)
                        for (int kw = 0; kw < d->k; kw++) {
                            int ih = oh * d->stride - d->pad + kh, iw = ow * d->stride - d->pad + kw;
                            if (ih < 0 || ih >= I.h || iw < 0 || iw >= I.w)
                                continue;
                            double v = x[(((size_t)n * I.c + c) * I.h + ih) * I.w + iw];
                            m = fmax(m, v);
                            sum += v;
                            asum += fabs(v);
                            cnt++;
                        }
                    size_t idx = (((size_t)n * O.c + c) * O.h + oh) * O.w + ow;
                    y[idx] = d->alg == GNET_POOL_MAX ? m : sum / cnt;
                    if (norm)
                        norm[idx] = asum / cnt;
                }
}

/* One pooling op planned on the backend, its buffers and its host input x (NCHW). */
typedef struct {
    gnet_pool_desc d;
    gnet_pool *pl;
    size_t x_n, y_n;
    float *x;
    float *xb, *yb, *dyb, *dxb, *yh, *dyh;
    char label[160];
} pool_fd;

static void pool_fd_forward(void *vc, float *const *in, double *out)
{
    pool_fd *c = vc;
    be->from_nchw(be, c->d.in, in[0], c->xb);
    be->pool_forward(c->pl, c->xb, c->yb);
    be->to_nchw(be, c->d.out, c->yb, c->yh);
    for (size_t i = 0; i < c->y_n; i++)
        out[i] = c->yh[i];
}

static void pool_fd_backward(void *vc, float *const *in, const double *g, float *const *grad)
{
    pool_fd *c = vc;
    be->from_nchw(be, c->d.in, in[0], c->xb);
    be->pool_forward(c->pl, c->xb, c->yb); /* max pooling's backward reads the forward's argmax */
    for (size_t i = 0; i < c->y_n; i++)
        c->dyh[i] = (float)g[i];
    be->from_nchw(be, c->d.out, c->dyh, c->dyb);
    dev_fill_nan(c->dxb, act_n(c->d.in));
    be->pool_backward(c->pl, c->dyb, c->dxb);
    be->to_nchw(be, c->d.in, c->dxb, grad[0]);
}

/* Max pooling's input has distinct values (no ties; gaps far above the FD step), mostly
 * negative; average pooling's is uniform in [-1, 1). */
static void pool_fd_init(pool_fd *c, const pool_cfg *cfg)
{
    memset(c, 0, sizeof *c);
    c->d = pool_desc(cfg);
    gnet_pool_desc *d = &c->d;
    snprintf(c->label, sizeof c->label, "%s k%d s%d p%d c%d %dx%d->%dx%d",
             d->alg == GNET_POOL_MAX ? "maxpool" : "avgpool", d->k, d->stride, d->pad, d->in.c,
             d->in.h, d->in.w, d->out.h, d->out.w);
    c->x_n = gnet_shape_count(d->in);
    c->y_n = gnet_shape_count(d->out);
    c->x = fmalloc(c->x_n);
    if (d->alg == GNET_POOL_MAX)
        fill_distinct(c->x, c->x_n, 1.0f / 64.0f);
    else
        fill(c->x, c->x_n, -1.0f, 1.0f);
    c->pl = be->pool_create(be, d);
    c->xb = act_from_host(d->in, c->x);
    c->yb = dev_alloc(act_n(d->out));
    c->dyb = dev_alloc(act_n(d->out));
    c->dxb = dev_alloc(act_n(d->in));
    c->yh = fmalloc(c->y_n);
    c->dyh = fmalloc(c->y_n);
}

static void pool_fd_free(pool_fd *c)
{
    be->pool_destroy(c->pl);
    float *bufs[] = {c->xb, c->yb, c->dyb, c->dxb};
    for (size_t i = 0; i < 4; i++)
        be->free(be, bufs[i]);
    free(c->x);
    free(c->yh);
    free(c->dyh);
}

/* The forward of c into an output buffer that starts as NaN: NCHW in c->yh; the reference
 * (and its scale) in yref, norm. */
static void pool_run_forward(pool_fd *c, double *yref, double *norm)
{
    dev_fill_nan(c->yb, act_n(c->d.out));
    be->pool_forward(c->pl, c->xb, c->yb);
    be->to_nchw(be, c->d.out, c->yb, c->yh);
    pool_ref(&c->d, c->x, yref, norm);
}

/* The max exactly (-inf padding: with padding, some windows' maximum is negative, so zero
 * padding would differ), padded lanes zero. */
static void test_maxpool_forward(void)
{
    char what[200];
    for (size_t i = 0; i < N_POOLS; i++) {
        if (k_pools[i].alg != GNET_POOL_MAX)
            continue;
        pool_fd c;
        pool_fd_init(&c, &k_pools[i]);
        double *yref = dmalloc(c.y_n), *norm = dmalloc(c.y_n);
        pool_run_forward(&c, yref, norm);
        snprintf(what, sizeof what, "%s fwd", c.label);
        compare(what, c.yh, yref, NULL, c.y_n, 0.0); /* a max is exact */
        /* Control: zero padding instead of -inf would change some outputs. */
        size_t differs = 0;
        for (size_t j = 0; j < c.y_n; j++)
            differs += yref[j] < 0.0;
        if (c.d.pad > 0)
            EXPECT(differs > 0);
        expect_padding_zero(what, c.d.out, c.yb);
        free(yref);
        free(norm);
        pool_fd_free(&c);
    }
}

/* The mean (tol 1e-5 of the mean |x|), padded lanes zero; a global pool of a multiple of 16
 * channels is plain [n][c] in the raw buffer (what the classifier reads). */
static void test_avgpool_forward(void)
{
    char what[200];
    for (size_t i = 0; i < N_POOLS; i++) {
        if (k_pools[i].alg != GNET_POOL_AVG)
            continue;
        pool_fd c;
        pool_fd_init(&c, &k_pools[i]);
        double *yref = dmalloc(c.y_n), *norm = dmalloc(c.y_n);
        pool_run_forward(&c, yref, norm);
        snprintf(what, sizeof what, "%s fwd", c.label);
        compare(what, c.yh, yref, norm, c.y_n, 1e-5);
        expect_padding_zero(what, c.d.out, c.yb);
        if (c.d.out.h == 1 && c.d.out.w == 1 && c.d.in.c % 16 == 0) {
            float *raw = fmalloc(c.y_n);
            be->download(be, raw, c.yb, c.y_n);
            snprintf(what, sizeof what, "%s raw buffer == row-major [n][c]", c.label);
            compare(what, raw, yref, norm, c.y_n, 1e-5);
            free(raw);
        }
        free(yref);
        free(norm);
        pool_fd_free(&c);
    }
}

/* The routed gradient of every pool of kind alg against finite differences (step 1e-3,
 * below the input's gaps), padded lanes of dx zero. */
static void pool_backward_all(gnet_pool_alg alg)
{
    char what[200];
    for (size_t i = 0; i < N_POOLS; i++) {
        if (k_pools[i].alg != alg)
            continue;
        pool_fd c;
        pool_fd_init(&c, &k_pools[i]);
        gnet_gc_input in[1] = {{"x", c.x, c.x_n, 1}};
        gnet_gradcheck gc = {pool_fd_forward, pool_fd_backward, &c, in, 1, c.y_n, 202, 1e-3f,
                             0, 0, 0, 0};
        snprintf(what, sizeof what, "%s bwd", c.label);
        gc_check(&gc, what);
        expect_padding_zero("pool bwd padded lanes", c.d.in, c.dxb);
        pool_fd_free(&c);
    }
}

/* Max pooling's gradient goes to each window's argmax (-inf padding never wins). */
static void test_maxpool_backward(void) { pool_backward_all(GNET_POOL_MAX); }

/* Average pooling's gradient is spread evenly over each window. */
static void test_avgpool_backward(void) { pool_backward_all(GNET_POOL_AVG); }

/* ---------- element-wise and concat ---------- */

/* ReLU backward over a padded activation's whole count: dy where y > 0, else 0 (exactly;
 * y = +0 and -0 included, as a ReLU's output often is). */
static void test_relu_backward(void)
{
    gnet_shape s = {2, 24, 5, 5};
    size_t n = act_n(s); /* padded: 2 x 32 x 25 */
    float *y = fmalloc(n), *dy = fmalloc(n), *got = fmalloc(n);
    double *ref = dmalloc(n);
    fill(y, n, -1.0f, 1.0f);
    fill(dy, n, -1.0f, 1.0f);
    for (size_t i = 0; i < n; i += 7)
        y[i] = (i / 7) % 2 ? 0.0f : -0.0f;
    for (size_t i = 0; i < n; i++)
        ref[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    float *yb = dev_from_host(y, n), *dyb = dev_from_host(dy, n);
    be->relu_backward(be, yb, dyb, n);
    be->download(be, got, dyb, n);
    compare("relu_backward (2x24x5x5, padded count)", got, ref, NULL, n, 0.0);
    be->free(be, yb);
    be->free(be, dyb);
    free(y);
    free(dy);
    free(got);
    free(ref);
}

/* add: dst += src exactly (the float sum) over an odd count; the elements past it untouched. */
static void test_add(void)
{
    size_t n = act_n((gnet_shape){2, 24, 5, 5});
    float *a = fmalloc(n), *src = fmalloc(n), *got = fmalloc(n);
    double *ref = dmalloc(n);
    fill(a, n, -2.0f, 2.0f);
    fill(src, n, -2.0f, 2.0f);
    for (size_t i = 0; i < n; i++)
        ref[i] = i < n - 3 ? a[i] + src[i] : a[i]; /* float sum, as the op does it */
    float *ab = dev_from_host(a, n), *sb = dev_from_host(src, n);
    be->add(be, ab, sb, n - 3);
    be->download(be, got, ab, n);
    compare("add (odd count, tail untouched)", got, ref, NULL, n, 0.0);
    be->free(be, ab);
    be->free(be, sb);
    free(a);
    free(src);
    free(got);
    free(ref);
}

/* dst (dst_c channels) channels [dst_off, dst_off + c) = src channels [src_off, src_off + c),
 * both in the backend layout; checked in NCHW. */
static void copy_case(int dst_c, int dst_off, int src_c, int src_off, int c)
{
    int n = 2, h = 5, w = 3, hw = h * w;
    gnet_shape ds = {n, dst_c, h, w}, ss = {n, src_c, h, w};
    size_t dn = gnet_shape_count(ds), sn = gnet_shape_count(ss);
    float *dh = fmalloc(dn), *sh = fmalloc(sn), *got = fmalloc(dn);
    double *ref = dmalloc(dn);
    fill(dh, dn, -1.0f, 1.0f);
    fill(sh, sn, -1.0f, 1.0f);
    float *db = act_from_host(ds, dh), *sb = act_from_host(ss, sh);
    be->copy_channels(be, db, dst_c, dst_off, sb, src_c, src_off, c, n, hw);
    be->to_nchw(be, ds, db, got);
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < dst_c; ch++)
            for (int p = 0; p < hw; p++) {
                size_t di = ((size_t)i * dst_c + ch) * hw + p;
                if (ch >= dst_off && ch < dst_off + c)
                    ref[di] = sh[((size_t)i * src_c + (ch - dst_off + src_off)) * hw + p];
                else
                    ref[di] = dh[di];
            }
    char label[160];
    snprintf(label, sizeof label, "copy_channels %d[%d,%d) <- %d[%d,%d)", dst_c, dst_off,
             dst_off + c, src_c, src_off, src_off + c);
    compare(label, got, ref, NULL, dn, 0.0);
    be->free(be, db);
    be->free(be, sb);
    free(dh);
    free(sh);
    free(got);
    free(ref);
}

/* The concat copy and its backward split move exactly the named channel slices, nothing else. */
static void test_copy_channels(void)
{
    copy_case(64, 32, 32, 16, 16); /* concat a slice into the middle */
    copy_case(64, 16, 32, 0, 32);  /* a whole branch */
    copy_case(64, 0, 16, 0, 16);   /* the first branch */
    copy_case(16, 0, 64, 48, 16);  /* backward split: the last slice out */
    copy_case(32, 0, 64, 16, 32);
    copy_case(64, 0, 64, 0, 64); /* everything */
}

/* ---------- linear ---------- */

/* The two shapes: n rows, in -> out features. */
static const int k_linears[][3] = {{2, 48, 10}, {3, 32, 17}};

/* One linear layer's host inputs, random, and its backend buffers (the FD harness). */
typedef struct {
    int n, in, out;
    size_t xn, wn, yn;
    float *x, *w, *b;
    float *xb, *wb, *bb, *yb, *dyb, *dxb, *dwb, *dbb, *yh;
} lin_fd;

static void lin_fd_forward(void *vc, float *const *in, double *out)
{
    lin_fd *c = vc;
    be->upload(be, c->xb, in[0], c->xn);
    be->upload(be, c->wb, in[1], c->wn);
    be->upload(be, c->bb, in[2], (size_t)c->out);
    be->linear_forward(be, c->n, c->in, c->out, c->xb, c->wb, c->bb, c->yb);
    be->download(be, c->yh, c->yb, c->yn);
    for (size_t i = 0; i < c->yn; i++)
        out[i] = c->yh[i];
}

static void lin_fd_backward(void *vc, float *const *in, const double *g, float *const *grad)
{
    lin_fd *c = vc;
    be->upload(be, c->xb, in[0], c->xn);
    be->upload(be, c->wb, in[1], c->wn);
    for (size_t i = 0; i < c->yn; i++)
        c->yh[i] = (float)g[i];
    be->upload(be, c->dyb, c->yh, c->yn);
    dev_fill_nan(c->dxb, c->xn);
    dev_fill_nan(c->dwb, c->wn);
    dev_fill_nan(c->dbb, (size_t)c->out);
    be->linear_backward(be, c->n, c->in, c->out, c->xb, c->wb, c->dyb, c->dxb, c->dwb, c->dbb, 0);
    be->download(be, grad[0], c->dxb, c->xn);
    be->download(be, grad[1], c->dwb, c->wn);
    be->download(be, grad[2], c->dbb, (size_t)c->out);
}

/* Shape i of k_linears, random inputs (x uniform in [-1, 1), w and b in [-0.5, 0.5)),
 * uploaded. */
static void lin_fd_init(lin_fd *c, int i)
{
    memset(c, 0, sizeof *c);
    c->n = k_linears[i][0];
    c->in = k_linears[i][1];
    c->out = k_linears[i][2];
    c->xn = (size_t)c->n * c->in;
    c->wn = (size_t)c->out * c->in;
    c->yn = (size_t)c->n * c->out;
    c->x = fmalloc(c->xn);
    c->w = fmalloc(c->wn);
    c->b = fmalloc((size_t)c->out);
    fill(c->x, c->xn, -1.0f, 1.0f);
    fill(c->w, c->wn, -0.5f, 0.5f);
    fill(c->b, (size_t)c->out, -0.5f, 0.5f);
    c->xb = dev_from_host(c->x, c->xn);
    c->wb = dev_from_host(c->w, c->wn);
    c->bb = dev_from_host(c->b, (size_t)c->out);
    c->yb = dev_alloc(c->yn);
    c->dyb = dev_alloc(c->yn);
    c->dxb = dev_alloc(c->xn);
    c->dwb = dev_alloc(c->wn);
    c->dbb = dev_alloc((size_t)c->out);
    c->yh = fmalloc(c->yn);
}

static void lin_fd_free(lin_fd *c)
{
    float *bufs[] = {c->xb, c->wb, c->bb, c->yb, c->dyb, c->dxb, c->dwb, c->dbb};
    for (size_t i = 0; i < 8; i++)
        be->free(be, bufs[i]);
    free(c->yh);
    free(c->x);
    free(c->w);
    free(c->b);
}

/* y = x w^T + b in double, with its scale |b| + sum |x w|. */
static void lin_ref(const lin_fd *c, double *ref, double *norm)
{
    for (int i = 0; i < c->n; i++)
        for (int o = 0; o < c->out; o++) {
            double acc = c->b[o], nrm = fabs((double)c->b[o]);
            for (int k = 0; k < c->in; k++) {
                double t = (double)c->x[(size_t)i * c->in + k] * c->w[(size_t)o * c->in + k];
                acc += t;
                nrm += fabs(t);
            }
            ref[(size_t)i * c->out + o] = acc;
            norm[(size_t)i * c->out + o] = nrm;
        }
}

/* The forward against the double reference (tol 1e-5 of |b| + sum |x w|), the output
 * buffer starting as NaN. */
static void test_linear_forward(void)
{
    char label[160];
    for (int s = 0; s < 2; s++) {
        lin_fd c;
        lin_fd_init(&c, s);
        float *got = fmalloc(c.yn);
        double *ref = dmalloc(c.yn), *norm = dmalloc(c.yn);
        lin_ref(&c, ref, norm);
        dev_fill_nan(c.yb, c.yn);
        be->linear_forward(be, c.n, c.in, c.out, c.xb, c.wb, c.bb, c.yb);
        be->download(be, got, c.yb, c.yn);
        snprintf(label, sizeof label, "linear fwd n%d %d->%d", c.n, c.in, c.out);
        compare(label, got, ref, norm, c.yn, 1e-5);
        free(got);
        free(ref);
        free(norm);
        lin_fd_free(&c);
    }
}

/* dx, dw and db against finite differences. */
static void test_linear_backward(void)
{
    char label[160];
    for (int s = 0; s < 2; s++) {
        lin_fd c;
        lin_fd_init(&c, s);
        gnet_gc_input in[3] = {
            {"x", c.x, c.xn, 1}, {"w", c.w, c.wn, 1}, {"b", c.b, (size_t)c.out, 1}};
        gnet_gradcheck gc = {lin_fd_forward, lin_fd_backward, &c, in, 3, c.yn, 303, 1e-2f,
                             0, 0, 0, 0};
        snprintf(label, sizeof label, "linear bwd n%d %d->%d", c.n, c.in, c.out);
        gc_check(&gc, label);
        lin_fd_free(&c);
    }
}

/* dw_new (dx NULL, no accumulation) against dy^T x in double (tol 1e-6 of sum |dy x|). */
static void lin_check_dw(const lin_fd *c, const float *dy, const float *dw_new)
{
    char label[160];
    double *r = dmalloc(c->wn), *rn = dmalloc(c->wn);
    for (int o = 0; o < c->out; o++)
        for (int k = 0; k < c->in; k++) {
            double acc = 0.0, nrm = 0.0;
            for (int i = 0; i < c->n; i++) {
                double t = (double)dy[(size_t)i * c->out + o] * c->x[(size_t)i * c->in + k];
                acc += t;
                nrm += fabs(t);
            }
            r[(size_t)o * c->in + k] = acc;
            rn[(size_t)o * c->in + k] = nrm;
        }
    snprintf(label, sizeof label, "linear dw (dx NULL) vs dy^T x n%d %d->%d", c->n, c->in, c->out);
    compare(label, dw_new, r, rn, c->wn, 1e-6);
    free(r);
    free(rn);
}

/* dw_acc = dw_prev + dw_new within an ulp (sgemm's beta = 1 may fold the old value in before
 * the final rounding); db_acc = db_prev + db_new exactly. */
static void lin_check_accumulated(const lin_fd *c, const float *prev, const float *new_,
                                  const float *acc)
{
    char label[160];
    size_t wn = c->wn, out = (size_t)c->out;
    double *r = dmalloc(wn), *rn = dmalloc(wn);
    for (size_t i = 0; i < wn; i++) {
        r[i] = (double)prev[i] + new_[i];
        rn[i] = fabs((double)prev[i]) + fabs((double)new_[i]);
    }
    snprintf(label, sizeof label, "linear dw accumulate (dx NULL) n%d %d->%d", c->n, c->in, c->out);
    compare(label, acc, r, rn, wn, 2e-7);
    for (size_t o = 0; o < out; o++)
        r[o] = (float)(prev[wn + o] + new_[wn + o]);
    snprintf(label, sizeof label, "linear db accumulate n%d %d->%d", c->n, c->in, c->out);
    compare(label, acc + wn, r, NULL, out, 0.0);
    free(r);
    free(rn);
}

/* Backward with dx == NULL skips the input gradient; accumulate adds to dw and db. */
static void test_linear_accumulate(void)
{
    for (int s = 0; s < 2; s++) {
        lin_fd c;
        lin_fd_init(&c, s);
        size_t wn = c.wn, out = (size_t)c.out;
        /* dw then db, one array each: the new gradient, the previous values, the sum */
        float *dy = fmalloc(c.yn), *new_ = fmalloc(wn + out), *prev = fmalloc(wn + out);
        float *acc = fmalloc(wn + out);
        fill(dy, c.yn, -1.0f, 1.0f);
        fill(prev, wn + out, -1.0f, 1.0f);
        be->upload(be, c.dyb, dy, c.yn);
        dev_fill_nan(c.dwb, wn);
        dev_fill_nan(c.dbb, out);
        be->linear_backward(be, c.n, c.in, c.out, c.xb, c.wb, c.dyb, NULL, c.dwb, c.dbb, 0);
        be->download(be, new_, c.dwb, wn);
        be->download(be, new_ + wn, c.dbb, out);
        be->upload(be, c.dwb, prev, wn);
        be->upload(be, c.dbb, prev + wn, out);
        be->linear_backward(be, c.n, c.in, c.out, c.xb, c.wb, c.dyb, NULL, c.dwb, c.dbb, 1);
        be->download(be, acc, c.dwb, wn);
        be->download(be, acc + wn, c.dbb, out);
        lin_check_accumulated(&c, prev, new_, acc);
        lin_check_dw(&c, dy, new_);
        free(dy);
        free(new_);
        free(prev);
        free(acc);
        lin_fd_free(&c);
    }
}

/* ---------- softmax cross-entropy ---------- */

enum { SX_N = 5, SX_K = 10 };

/* The label smoothing of the smoothed cases (PyTorch's usual 0.1). */
#define SX_EPS 0.1f

typedef struct {
    int n, classes;
    float eps, grad_scale;
    float *zb, *dzb;
    int32_t *labels; /* backend memory */
} sx_fd;

static void sx_forward(void *vc, float *const *in, double *out)
{
    sx_fd *c = vc;
    size_t zn = (size_t)c->n * c->classes;
    double loss;
    int64_t correct;
    be->upload(be, c->zb, in[0], zn);
    gnet_softmax_xent_now(be, c->n, c->classes, c->zb, c->labels, c->eps, c->grad_scale, c->dzb,
                          &loss, &correct);
    out[0] = loss * c->grad_scale;
}

static void sx_backward(void *vc, float *const *in, const double *g, float *const *grad)
{
    sx_fd *c = vc;
    size_t zn = (size_t)c->n * c->classes;
    double loss;
    int64_t correct;
    be->upload(be, c->zb, in[0], zn);
    dev_fill_nan(c->dzb, zn);
    gnet_softmax_xent_now(be, c->n, c->classes, c->zb, c->labels, c->eps, c->grad_scale, c->dzb,
                          &loss, &correct);
    be->download(be, grad[0], c->dzb, zn);
    for (size_t i = 0; i < zn; i++)
        grad[0][i] = (float)(grad[0][i] * g[0]);
}

/* SX_N rows of SX_K logits, row 3 large (a naive exp would overflow); rows 0 and 3 labelled
 * with their argmax, the others not. Returns how many rows are correct. */
static int64_t sx_inputs(float z[SX_N * SX_K], int32_t lab[SX_N])
{
    fill(z, SX_N * SX_K, -3.0f, 3.0f);
    for (int j = 0; j < SX_K; j++)
        z[3 * SX_K + j] = 80.0f + 5.0f * (float)j * (j % 2 ? -1.0f : 1.0f);
    int64_t correct = 0;
    for (int i = 0; i < SX_N; i++) {
        int arg = 0;
        for (int j = 1; j < SX_K; j++)
            if (z[i * SX_K + j] > z[i * SX_K + arg])
                arg = j;
        lab[i] = (i == 0 || i == 3) ? arg : (arg + 1 + i) % SX_K;
        correct += lab[i] == arg;
    }
    return correct;
}

/* The harness on the backend: z uploaded, labels in backend memory, scale 1 / SX_N. */
static sx_fd sx_fd_make(const float *z, const int32_t *lab, float eps)
{
    sx_fd c = {SX_N, SX_K, eps, 1.0f / SX_N, dev_from_host(z, SX_N * SX_K),
               dev_alloc(SX_N * SX_K), NULL};
    c.labels = (int32_t *)dev_alloc(SX_N); /* int32 and float have the same size */
    be->upload(be, (float *)c.labels, (const float *)lab, SX_N);
    return c;
}

static void sx_fd_free(sx_fd *c)
{
    be->free(be, c->zb);
    be->free(be, c->dzb);
    be->free(be, (float *)c->labels);
}

/* The definition in double: q = (1 - eps) onehot + eps/SX_K; the summed -sum_k q_k log p_k
 * over the rows, and dref = (p - q) * scale. */
static double sx_reference(const float *z, const int32_t *lab, double eps, double scale,
                           double *dref)
{
    double loss = 0.0;
    for (int i = 0; i < SX_N; i++) {
        const float *zi = z + i * SX_K;
        double m = -INFINITY, s = 0.0;
        for (int j = 0; j < SX_K; j++)
            m = fmax(m, zi[j]);
        for (int j = 0; j < SX_K; j++)
            s += exp((double)zi[j] - m);
        double lse = m + log(s);
        for (int j = 0; j < SX_K; j++) {
            double q = (1.0 - eps) * (j == lab[i]) + eps / SX_K, logp = zi[j] - lse;
            loss -= q * logp;
            dref[i * SX_K + j] = (exp(logp) - q) * scale;
        }
    }
    return loss;
}

/* The summed loss (relative 1e-6, with a row of large logits), the count of correct rows
 * exactly (the argmax, smoothed or not), and dlogits (abs 1e-7) against sx_reference. */
static void sx_check_forward(float eps)
{
    float z[SX_N * SX_K], dz[SX_N * SX_K];
    int32_t lab[SX_N];
    int64_t want_correct = sx_inputs(z, lab);
    double dref[SX_N * SX_K];
    const float scale = 1.0f / SX_N;
    double want_loss = sx_reference(z, lab, eps, scale, dref);
    sx_fd c = sx_fd_make(z, lab, eps);
    double loss = NAN;
    int64_t correct = -1;
    dev_fill_nan(c.dzb, SX_N * SX_K);
    gnet_softmax_xent_now(be, SX_N, SX_K, c.zb, c.labels, eps, scale, c.dzb, &loss, &correct);
    float got = (float)loss;
    printf("  label smoothing %g\n", (double)eps);
    compare("softmax_xent loss sum (relative)", &got, &want_loss, &want_loss, 1, 1e-6);
    printf("  softmax_xent correct = %lld (expected %lld)\n", (long long)correct,
           (long long)want_correct);
    EXPECT(correct == want_correct);
    be->download(be, dz, c.dzb, SX_N * SX_K);
    compare("softmax_xent dlogits vs (softmax - q) * scale", dz, dref, NULL, SX_N * SX_K, 1e-7);
    sx_fd_free(&c);
}

/* dlogits against finite differences of loss * scale. */
static void sx_check_backward(float eps)
{
    float z[SX_N * SX_K];
    int32_t lab[SX_N];
    sx_inputs(z, lab);
    sx_fd c = sx_fd_make(z, lab, eps);
    gnet_gc_input in[1] = {{"z", z, SX_N * SX_K, 1}};
    gnet_gradcheck gc = {sx_forward, sx_backward, &c, in, 1, 1, 404, 1e-2f, 0, 0, 0, 0};
    gc_check(&gc, "softmax_xent dlogits vs FD of loss*scale");
    sx_fd_free(&c);
}

static void test_softmax_xent_forward(void) { sx_check_forward(0.0f); }
static void test_softmax_xent_backward(void) { sx_check_backward(0.0f); }
static void test_softmax_xent_smoothed_forward(void) { sx_check_forward(SX_EPS); }
static void test_softmax_xent_smoothed_backward(void) { sx_check_backward(SX_EPS); }

/* ---------- norms and copies ---------- */

/* sumsq of a and of a - b over an odd count within 1e-12 relative of double sums, of a - a
 * exactly 0; copy bit for bit. */
static void test_sumsq_copy(void)
{
    enum { N = 100003 }; /* not a multiple of the vector width */
    float *a = fmalloc(N), *b = fmalloc(N), *got = fmalloc(N);
    fill(a, N, -1.0f, 1.0f);
    fill(b, N, -1.0f, 1.0f);
    double ra = 0.0, rd = 0.0;
    for (int i = 0; i < N; i++) {
        ra += (double)a[i] * a[i];
        rd += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    }
    float *da = dev_from_host(a, N), *db = dev_from_host(b, N), *dc = dev_alloc(N);
    double ga = be->sumsq(be, da, NULL, N), gd = be->sumsq(be, da, db, N);
    printf("  sumsq(a) rel err %.2e, sumsq(a - b) rel err %.2e\n", fabs(ga - ra) / ra, fabs(gd - rd) / rd);
    EXPECT(fabs(ga - ra) <= 1e-12 * ra);
    EXPECT(fabs(gd - rd) <= 1e-12 * rd);
    EXPECT(be->sumsq(be, da, da, N) == 0.0);
    be->copy(be, dc, da, N);
    be->download(be, got, dc, N);
    EXPECT(memcmp(got, a, N * sizeof(float)) == 0);
    be->free(be, da);
    be->free(be, db);
    be->free(be, dc);
    free(a);
    free(b);
    free(got);
}

/* ---------- SGD ---------- */

typedef struct {
    const char *name;
    float m, wd;
    int nesterov;
    float scale;
} sgd_cfg;

enum { SGD_N = 1003 }; /* not a multiple of the vector width */
#define SGD_LR 0.1f

/* One step of PyTorch's SGD in double from the backend's state (p, buf) and gradient g: the
 * expected params rp and momentum buffer rb, and their scales (np, nb: max(1, |value|)). */
static void sgd_reference(const sgd_cfg *k, int step, const float *p, const float *g,
                          const float *buf, double *rp, double *rb, double *np, double *nb)
{
    for (int i = 0; i < SGD_N; i++) {
        double d = (double)k->scale * ((double)g[i] + (double)k->wd * p[i]);
        double b = 0.0;
        if (k->m != 0.0f) {
            b = step == 0 ? d : (double)k->m * buf[i] + d;
            d = k->nesterov ? d + (double)k->m * b : b;
        }
        rp[i] = (double)p[i] - (double)SGD_LR * d;
        rb[i] = b;
        np[i] = fmax(1.0, fabs(rp[i]));
        nb[i] = fmax(1.0, fabs(b));
    }
}

/* Three steps of one configuration; the momentum buffer starts as garbage (the first step
 * must not read it). Params and buffer within 1e-6 relative of the reference, every step. */
static void sgd_case(const sgd_cfg *k, float *p, float *g, float *buf, float *got, double *ref)
{
    double *rp = ref, *rb = ref + SGD_N, *np = ref + 2 * SGD_N, *nb = ref + 3 * SGD_N;
    fill(p, SGD_N, -1.0f, 1.0f);
    fill(buf, SGD_N, 100.0f, 200.0f);
    float *pb = dev_from_host(p, SGD_N), *gb = dev_alloc(SGD_N);
    float *bb = k->m != 0.0f ? dev_from_host(buf, SGD_N) : NULL;
    for (int step = 0; step < 3; step++) {
        char label[160];
        fill(g, SGD_N, -1.0f, 1.0f);
        be->upload(be, gb, g, SGD_N);
        /* the reference starts from the backend's state, in double */
        be->download(be, p, pb, SGD_N);
        if (bb)
            be->download(be, buf, bb, SGD_N);
        sgd_reference(k, step, p, g, buf, rp, rb, np, nb);
        be->sgd(be, pb, gb, bb, SGD_N, SGD_LR, k->m, k->wd, k->nesterov, step == 0, k->scale);
        be->download(be, got, pb, SGD_N);
        snprintf(label, sizeof label, "sgd %s step %d: params", k->name, step + 1);
        compare(label, got, rp, np, SGD_N, 1e-6);
        if (bb) {
            be->download(be, got, bb, SGD_N);
            snprintf(label, sizeof label, "sgd %s step %d: momentum buffer", k->name, step + 1);
            compare(label, got, rb, nb, SGD_N, 1e-6);
        }
    }
    be->free(be, pb);
    be->free(be, gb);
    if (bb)
        be->free(be, bb);
}

/* SGD plain, with weight decay, momentum, Nesterov and a LARS scale, against the double
 * reference over three steps each. */
static void test_sgd(void)
{
    static const sgd_cfg cases[] = {
        {"plain", 0.0f, 0.0f, 0, 1.0f},
        {"weight decay", 0.0f, 0.05f, 0, 1.0f},
        {"momentum", 0.9f, 0.0f, 0, 1.0f},
        {"momentum + weight decay", 0.9f, 0.05f, 0, 1.0f},
        {"nesterov + weight decay", 0.9f, 0.05f, 1, 1.0f},
        {"scaled (LARS) + momentum + weight decay", 0.9f, 0.05f, 0, 0.37f},
    };
    float *p = fmalloc(SGD_N), *g = fmalloc(SGD_N), *buf = fmalloc(SGD_N), *got = fmalloc(SGD_N);
    double *ref = dmalloc(4 * SGD_N);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        sgd_case(&cases[ci], p, g, buf, got, ref);
    free(p);
    free(g);
    free(buf);
    free(got);
    free(ref);
}

/* ---------- Adam ---------- */

/* The adam op's scalars for step t (1-based), as optim.c computes them. */
static gnet_adam_args adam_scalars(int t, float lr, float wd)
{
    const double b1 = 0.9, b2 = 0.99;
    double bc1 = 1.0 - pow(b1, t);
    return (gnet_adam_args){.beta1 = (float)b1, .c1 = (float)(1.0 - b1), .beta2 = (float)b2,
                            .c2 = (float)(1.0 - b2), .eps = 1e-6f, .bc1 = (float)bc1,
                            .bc2_sqrt = (float)sqrt(1.0 - pow(b2, t)),
                            .decay = (float)(1.0 - (double)lr * wd),
                            .step_size = (float)(lr / bc1), .wd = wd};
}

/* Three steps of AdamW (dir NULL) or LAMB's direction (dir given) against the formulas of
 * backend.h in double, from the backend's state each step: params or direction, and both
 * moments, within 1e-5 of max(1, |value|) (the direction m_hat/sqrt(v_hat) is of order 1,
 * its small values the rounding of a cancelled m) and of the moments' max(1e-3, |m|, |v|). */
static void adam_case(int lamb)
{
    enum { N = SGD_N };
    const float lr = 0.01f, wd = 0.1f;
    float *p = fmalloc(N), *g = fmalloc(N), *m = fmalloc(N), *v = fmalloc(N), *got = fmalloc(N);
    double *rp = dmalloc(N), *rm = dmalloc(N), *rv = dmalloc(N), *sc = dmalloc(N);
    double *one = dmalloc(N);
    fill(p, N, -1.0f, 1.0f);
    float *pb = dev_from_host(p, N), *gb = dev_alloc(N), *mb = dev_alloc(N), *vb = dev_alloc(N);
    float *db = lamb ? dev_alloc(N) : NULL;
    for (int t = 1; t <= 3; t++) {
        fill(g, N, -1.0f, 1.0f);
        be->upload(be, gb, g, N);
        be->download(be, p, pb, N);
        be->download(be, m, mb, N);
        be->download(be, v, vb, N);
        gnet_adam_args a = adam_scalars(t, lr, wd);
        for (int i = 0; i < N; i++) {
            rm[i] = 0.9 * m[i] + 0.1 * g[i];
            rv[i] = 0.99 * v[i] + 0.01 * (double)g[i] * g[i];
            double denom = sqrt(rv[i] / (1.0 - pow(0.99, t))) + 1e-6;
            double r = rm[i] / (1.0 - pow(0.9, t)) / denom;
            rp[i] = lamb ? r + (double)wd * p[i] : p[i] * (1.0 - (double)lr * wd) - lr * r;
            sc[i] = fmax(1.0, fabs(rp[i]));
            one[i] = fmax(1e-3, fmax(fabs(rm[i]), fabs(rv[i])));
        }
        be->adam(be, pb, gb, mb, vb, db, N, &a);
        char label[96];
        be->download(be, got, lamb ? db : pb, N);
        snprintf(label, sizeof label, "adam %s step %d: %s", lamb ? "lamb" : "adamw", t,
                 lamb ? "direction" : "params");
        compare(label, got, rp, sc, N, 1e-5);
        be->download(be, got, mb, N);
        compare("adam: exp_avg", got, rm, one, N, 1e-5);
        be->download(be, got, vb, N);
        compare("adam: exp_avg_sq", got, rv, one, N, 1e-5);
    }
    be->free(be, pb), be->free(be, gb), be->free(be, mb), be->free(be, vb);
    if (db)
        be->free(be, db);
    free(p), free(g), free(m), free(v), free(got), free(rp), free(rm), free(rv), free(sc), free(one);
}

/* AdamW's full update and LAMB's direction (the adam op's two forms). */
static void test_adam(void)
{
    adam_case(0);
    adam_case(1);
}

/* ---------- main: one case per run ---------- */

static const test_case k_cases[] = {
    TEST_CASE(gradcheck_controls),
    TEST_CASE(conv_forward),
    TEST_CASE(conv_backward),
    TEST_CASE(conv_accumulate),
    TEST_CASE(conv_controls),
    TEST_CASE(maxpool_forward),
    TEST_CASE(maxpool_backward),
    TEST_CASE(avgpool_forward),
    TEST_CASE(avgpool_backward),
    TEST_CASE(relu_backward),
    TEST_CASE(add),
    TEST_CASE(copy_channels),
    TEST_CASE(linear_forward),
    TEST_CASE(linear_backward),
    TEST_CASE(linear_accumulate),
    TEST_CASE(softmax_xent_forward),
    TEST_CASE(softmax_xent_backward),
    TEST_CASE(softmax_xent_smoothed_forward),
    TEST_CASE(softmax_xent_smoothed_backward),
    TEST_CASE(sgd),
    TEST_CASE(adam),
    TEST_CASE(sumsq_copy),
};

/* FNV-1a of the case name: each case's random stream, independent of the others. */
static uint64_t name_hash(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

int main(int argc, char **argv)
{
    const test_case *tc = test_case_select(argc, argv, k_cases, sizeof k_cases / sizeof k_cases[0]);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    be = gnet_backend_cpu_create(1);
    gnet_rng_init(&rng, gnet_rng_key(20240601, name_hash(tc->name), 0, 0));
    printf("ops.%s\n", tc->name);
    tc->run();
    be->destroy(be);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("ops.%s: %.2f s\n", tc->name,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    TEST_MAIN_END();
}
