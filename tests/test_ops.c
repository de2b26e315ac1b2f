/* The CPU backend's op table against naive double-precision references (forward) and the
 * finite-difference checker (backward): convolution (1x1/3x3/5x5, the 7x7/2 stem on one
 * channel, padded 24-channel layouts, PyTorch floor mode), max and global-average pooling,
 * the element-wise and concat ops, the linear layer, softmax cross-entropy and SGD.
 * Every comparison prints its worst error; the negative controls at the start show that the
 * checker and the tolerances reject a wrong gradient or a missing tap. Shapes are small
 * (batch 2, spatial <= 13, channels <= 32) so the whole program runs in a few seconds. */
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

static void test_checker_controls(void)
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

static void conv_label(char *buf, size_t len, const char *what, const gnet_conv_desc *d)
{
    snprintf(buf, len, "%s k%d s%d p%d %d->%d %dx%d->%dx%d", what, d->k, d->stride, d->pad,
             d->in.c, d->out.c, d->in.h, d->in.w, d->out.h, d->out.w);
}

static void test_conv(const conv_cfg *cfg, int negative_controls)
{
    char label[160];
    gnet_conv_desc d0 = conv_desc(cfg, 0);
    size_t x_n = gnet_shape_count(d0.in), y_n = gnet_shape_count(d0.out);
    size_t w_n = (size_t)cfg->oc * cfg->ic * cfg->k * cfg->k;
    float *x = fmalloc(x_n), *w = fmalloc(w_n), *b = fmalloc((size_t)cfg->oc);
    fill(x, x_n, -1.0f, 1.0f);
    fill(w, w_n, -0.5f, 0.5f);
    fill(b, (size_t)cfg->oc, -0.5f, 0.5f);
    double *yref = dmalloc(y_n), *norm = dmalloc(y_n);
    float *yh = fmalloc(y_n);
    float *xb = act_from_host(d0.in, x), *wb = dev_from_host(w, w_n);
    float *bb = dev_from_host(b, (size_t)cfg->oc);
    float *yb = dev_alloc(act_n(d0.out));

    /* forward, with and without the fused ReLU; the output buffer starts as NaN */
    for (int relu = 0; relu <= 1; relu++) {
        gnet_conv_desc d = conv_desc(cfg, relu);
        gnet_conv *cv = be->conv_create(be, &d);
        dev_fill_nan(yb, act_n(d.out));
        be->conv_forward(cv, xb, wb, bb, yb);
        be->to_nchw(be, d.out, yb, yh);
        conv_ref(&d, x, w, b, yref, norm);
        conv_label(label, sizeof label, relu ? "conv fwd+relu" : "conv fwd", &d);
        compare(label, yh, yref, norm, y_n, 1e-4);
        expect_padding_zero(label, d.out, yb);
        if (relu) {
            size_t neg = 0;
            for (size_t i = 0; i < y_n; i++)
                neg += yh[i] < 0.0f;
            EXPECT(neg == 0);
        }
        if (negative_controls && !relu) {
            /* The tolerance must see one missing tap (the last corner of the kernel). */
            float saved = w[w_n - 1];
            w[w_n - 1] = 0.0f;
            conv_ref(&d, x, w, b, yref, norm);
            w[w_n - 1] = saved;
            double worst = 0.0;
            for (size_t i = 0; i < y_n; i++)
                worst = fmax(worst, fabs(yh[i] - yref[i]) / norm[i]);
            printf("  control: one tap dropped from the reference gives err %.2e (must be > 1e-4)\n",
                   worst);
            EXPECT(worst > 1e-4);
            /* The padded-lane check must see one non-zero lane (the last one of the buffer). */
            if (d.out.c % 16) {
                size_t total = act_n(d.out);
                float *raw = fmalloc(total);
                be->download(be, raw, yb, total);
                raw[total - 1] = 1.0f;
                float *poisoned = dev_from_host(raw, total);
                size_t bad = padding_nonzero(d.out, poisoned);
                printf("  control: one poisoned padded lane detected: %s\n", bad == 1 ? "yes" : "NO");
                EXPECT(bad == 1);
                be->free(be, poisoned);
                free(raw);
            }
        }
        be->conv_destroy(cv);
    }

    /* backward via finite differences (no ReLU: its kink breaks them) */
    conv_fd c;
    memset(&c, 0, sizeof c);
    c.d = d0;
    c.cv = be->conv_create(be, &d0);
    c.x_n = x_n;
    c.y_n = y_n;
    c.w_n = w_n;
    c.xb = dev_alloc(act_n(d0.in));
    c.yb = dev_alloc(act_n(d0.out));
    c.dyb = dev_alloc(act_n(d0.out));
    c.dxb = dev_alloc(act_n(d0.in));
    c.wb = dev_alloc(w_n);
    c.bb = dev_alloc((size_t)cfg->oc);
    c.dwb = dev_alloc(w_n);
    c.dbb = dev_alloc((size_t)cfg->oc);
    c.yh = fmalloc(y_n);
    c.dyh = fmalloc(y_n);
    int has_dx = cfg->ic > 1; /* the backend plans no data gradient for the 1-channel stem */
    gnet_gc_input in[3] = {{"x", x, x_n, has_dx}, {"w", w, w_n, 1}, {"b", b, (size_t)cfg->oc, 1}};
    gnet_gradcheck gc = {conv_fd_forward, conv_fd_backward, &c, in, 3, y_n, 101, 1e-2f, 0, 0, 0, 0};
    conv_label(label, sizeof label, "conv bwd", &d0);
    gc_check(&gc, label);
    if (has_dx)
        expect_padding_zero("conv bwd data padded lanes", d0.in, c.dxb);
    if (negative_controls) {
        c.corrupt_dw = 1.02f;
        in[0].check = 0;
        in[2].check = 0;
        gc.quiet = 1;
        gnet_gc_result r;
        int ok = gnet_gradcheck_run(&gc, label, &r);
        printf("  control: dw scaled by 1.02 rejected: %s (err/tol %.2f)\n", ok ? "NO" : "yes",
               r.worst_ratio);
        EXPECT(!ok);
        c.corrupt_dw = 0.0f;
    }

    /* accumulate: dw_acc = dw_prev + dw_new, db likewise, exactly */
    {
        float *dyh = fmalloc(y_n);
        fill(dyh, y_n, -1.0f, 1.0f);
        float *dyb = act_from_host(d0.out, dyh);
        float *dw_new = fmalloc(w_n), *db_new = fmalloc((size_t)cfg->oc);
        float *dw_prev = fmalloc(w_n), *db_prev = fmalloc((size_t)cfg->oc);
        float *dw_acc = fmalloc(w_n), *db_acc = fmalloc((size_t)cfg->oc);
        fill(dw_prev, w_n, -1.0f, 1.0f);
        fill(db_prev, (size_t)cfg->oc, -1.0f, 1.0f);
        be->from_nchw(be, d0.in, x, c.xb);
        dev_fill_nan(c.dwb, w_n);
        dev_fill_nan(c.dbb, (size_t)cfg->oc);
        be->conv_backward_filter(c.cv, c.xb, dyb, c.dwb, c.dbb, 0);
        be->download(be, dw_new, c.dwb, w_n);
        be->download(be, db_new, c.dbb, (size_t)cfg->oc);
        be->upload(be, c.dwb, dw_prev, w_n);
        be->upload(be, c.dbb, db_prev, (size_t)cfg->oc);
        be->conv_backward_filter(c.cv, c.xb, dyb, c.dwb, c.dbb, 1);
        be->download(be, dw_acc, c.dwb, w_n);
        be->download(be, db_acc, c.dbb, (size_t)cfg->oc);
        double *ref = dmalloc(w_n);
        for (size_t i = 0; i < w_n; i++)
            ref[i] = (float)(dw_prev[i] + dw_new[i]);
        conv_label(label, sizeof label, "conv dw accumulate", &d0);
        compare(label, dw_acc, ref, NULL, w_n, 0.0);
        for (int i = 0; i < cfg->oc; i++)
            ref[i] = (float)(db_prev[i] + db_new[i]);
        conv_label(label, sizeof label, "conv db accumulate", &d0);
        compare(label, db_acc, ref, NULL, (size_t)cfg->oc, 0.0);
        free(ref);
        free(dyh);
        be->free(be, dyb);
        free(dw_new);
        free(db_new);
        free(dw_prev);
        free(db_prev);
        free(dw_acc);
        free(db_acc);
    }

    be->conv_destroy(c.cv);
    float *bufs[] = {c.xb, c.yb, c.dyb, c.dxb, c.wb, c.bb, c.dwb, c.dbb, xb, wb, bb, yb};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        be->free(be, bufs[i]);
    free(c.yh);
    free(c.dyh);
    free(x);
    free(w);
    free(b);
    free(yref);
    free(norm);
    free(yh);
}

/* ---------- pooling ---------- */

static gnet_pool_desc pool_desc(gnet_pool_alg alg, int n, int c, int h, int w, int k, int s, int p)
{
    gnet_pool_desc d;
    d.alg = alg;
    d.in = (gnet_shape){n, c, h, w};
    d.out = (gnet_shape){n, c, out_dim(h, k, s, p), out_dim(w, k, s, p)};
    d.k = k;
    d.stride = s;
    d.pad = p;
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

typedef struct {
    gnet_pool_desc d;
    gnet_pool *pl;
    size_t x_n, y_n;
    float *xb, *yb, *dyb, *dxb, *yh, *dyh;
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

static void test_pool(gnet_pool_desc d)
{
    char label[160];
    const char *name = d.alg == GNET_POOL_MAX ? "maxpool" : "avgpool";
    snprintf(label, sizeof label, "%s k%d s%d p%d c%d %dx%d->%dx%d", name, d.k, d.stride, d.pad,
             d.in.c, d.in.h, d.in.w, d.out.h, d.out.w);
    size_t x_n = gnet_shape_count(d.in), y_n = gnet_shape_count(d.out);
    float *x = fmalloc(x_n), *yh = fmalloc(y_n);
    double *yref = dmalloc(y_n), *norm = dmalloc(y_n);
    if (d.alg == GNET_POOL_MAX)
        fill_distinct(x, x_n, 1.0f / 64.0f); /* no ties; gaps far above the FD step */
    else
        fill(x, x_n, -1.0f, 1.0f);

    pool_fd c;
    memset(&c, 0, sizeof c);
    c.d = d;
    c.pl = be->pool_create(be, &d);
    c.x_n = x_n;
    c.y_n = y_n;
    c.xb = act_from_host(d.in, x);
    c.yb = dev_alloc(act_n(d.out));
    c.dyb = dev_alloc(act_n(d.out));
    c.dxb = dev_alloc(act_n(d.in));
    c.yh = fmalloc(y_n);
    c.dyh = fmalloc(y_n);

    dev_fill_nan(c.yb, act_n(d.out));
    be->pool_forward(c.pl, c.xb, c.yb);
    be->to_nchw(be, d.out, c.yb, yh);
    pool_ref(&d, x, yref, norm);
    char what[200];
    snprintf(what, sizeof what, "%s fwd", label);
    if (d.alg == GNET_POOL_MAX) {
        compare(what, yh, yref, NULL, y_n, 0.0); /* a max is exact */
        /* Control: zero padding instead of -inf would change some outputs. */
        size_t differs = 0;
        for (size_t i = 0; i < y_n; i++)
            differs += yref[i] < 0.0;
        if (d.pad > 0)
            EXPECT(differs > 0);
    } else {
        compare(what, yh, yref, norm, y_n, 1e-5);
    }
    expect_padding_zero(what, d.out, c.yb);

    /* A global pool of a multiple of 16 channels is plain [n][c] (what the classifier reads). */
    if (d.alg == GNET_POOL_AVG && d.out.h == 1 && d.out.w == 1 && d.in.c % 16 == 0) {
        float *raw = fmalloc(y_n);
        be->download(be, raw, c.yb, y_n);
        snprintf(what, sizeof what, "%s raw buffer == row-major [n][c]", label);
        compare(what, raw, yref, norm, y_n, 1e-5);
        free(raw);
    }

    gnet_gc_input in[1] = {{"x", x, x_n, 1}};
    gnet_gradcheck gc = {pool_fd_forward, pool_fd_backward, &c, in, 1, y_n, 202, 1e-3f, 0, 0, 0, 0};
    snprintf(what, sizeof what, "%s bwd", label);
    gc_check(&gc, what);
    expect_padding_zero("pool bwd padded lanes", d.in, c.dxb);

    be->pool_destroy(c.pl);
    float *bufs[] = {c.xb, c.yb, c.dyb, c.dxb};
    for (size_t i = 0; i < 4; i++)
        be->free(be, bufs[i]);
    free(c.yh);
    free(c.dyh);
    free(x);
    free(yh);
    free(yref);
    free(norm);
}

/* ---------- element-wise and concat ---------- */

static void test_elementwise(void)
{
    printf("element-wise\n");
    gnet_shape s = {2, 24, 5, 5};
    size_t n = act_n(s); /* padded: 2 x 32 x 25 */
    float *y = fmalloc(n), *dy = fmalloc(n), *got = fmalloc(n);
    double *ref = dmalloc(n);
    fill(y, n, -1.0f, 1.0f);
    fill(dy, n, -1.0f, 1.0f);
    for (size_t i = 0; i < n; i += 7)
        y[i] = (i / 7) % 2 ? 0.0f : -0.0f; /* ReLU's output is often exactly zero */
    for (size_t i = 0; i < n; i++)
        ref[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    float *yb = dev_from_host(y, n), *dyb = dev_from_host(dy, n);
    be->relu_backward(be, yb, dyb, n);
    be->download(be, got, dyb, n);
    compare("relu_backward (2x24x5x5, padded count)", got, ref, NULL, n, 0.0);

    /* add: dst += src */
    float *a = fmalloc(n), *src = fmalloc(n);
    fill(a, n, -2.0f, 2.0f);
    fill(src, n, -2.0f, 2.0f);
    for (size_t i = 0; i < n; i++)
        ref[i] = a[i] + src[i]; /* float sum, as the op does it */
    float *ab = dev_from_host(a, n), *sb = dev_from_host(src, n);
    be->add(be, ab, sb, n - 3); /* an odd count: the last 3 stay as they were */
    for (size_t i = n - 3; i < n; i++)
        ref[i] = a[i];
    be->download(be, got, ab, n);
    compare("add (odd count, tail untouched)", got, ref, NULL, n, 0.0);

    be->free(be, yb);
    be->free(be, dyb);
    be->free(be, ab);
    be->free(be, sb);
    free(y);
    free(dy);
    free(got);
    free(ref);
    free(a);
    free(src);
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

static void test_copy_channels(void)
{
    printf("copy_channels\n");
    copy_case(64, 32, 32, 16, 16); /* concat a slice into the middle */
    copy_case(64, 16, 32, 0, 32);  /* a whole branch */
    copy_case(64, 0, 16, 0, 16);   /* the first branch */
    copy_case(16, 0, 64, 48, 16);  /* backward split: the last slice out */
    copy_case(32, 0, 64, 16, 32);
    copy_case(64, 0, 64, 0, 64); /* everything */
}

/* ---------- linear ---------- */

typedef struct {
    int n, in, out;
    float *xb, *wb, *bb, *yb, *dyb, *dxb, *dwb, *dbb, *yh;
} lin_fd;

static void lin_fd_forward(void *vc, float *const *in, double *out)
{
    lin_fd *c = vc;
    size_t xn = (size_t)c->n * c->in, wn = (size_t)c->out * c->in, yn = (size_t)c->n * c->out;
    be->upload(be, c->xb, in[0], xn);
    be->upload(be, c->wb, in[1], wn);
    be->upload(be, c->bb, in[2], (size_t)c->out);
    be->linear_forward(be, c->n, c->in, c->out, c->xb, c->wb, c->bb, c->yb);
    be->download(be, c->yh, c->yb, yn);
    for (size_t i = 0; i < yn; i++)
        out[i] = c->yh[i];
}

static void lin_fd_backward(void *vc, float *const *in, const double *g, float *const *grad)
{
    lin_fd *c = vc;
    size_t xn = (size_t)c->n * c->in, wn = (size_t)c->out * c->in, yn = (size_t)c->n * c->out;
    be->upload(be, c->xb, in[0], xn);
    be->upload(be, c->wb, in[1], wn);
    for (size_t i = 0; i < yn; i++)
        c->yh[i] = (float)g[i];
    be->upload(be, c->dyb, c->yh, yn);
    dev_fill_nan(c->dxb, xn);
    dev_fill_nan(c->dwb, wn);
    dev_fill_nan(c->dbb, (size_t)c->out);
    be->linear_backward(be, c->n, c->in, c->out, c->xb, c->wb, c->dyb, c->dxb, c->dwb, c->dbb, 0);
    be->download(be, grad[0], c->dxb, xn);
    be->download(be, grad[1], c->dwb, wn);
    be->download(be, grad[2], c->dbb, (size_t)c->out);
}

static void test_linear(int n, int in_f, int out_f)
{
    char label[160];
    size_t xn = (size_t)n * in_f, wn = (size_t)out_f * in_f, yn = (size_t)n * out_f;
    float *x = fmalloc(xn), *w = fmalloc(wn), *b = fmalloc((size_t)out_f), *got = fmalloc(yn);
    fill(x, xn, -1.0f, 1.0f);
    fill(w, wn, -0.5f, 0.5f);
    fill(b, (size_t)out_f, -0.5f, 0.5f);
    double *ref = dmalloc(yn), *norm = dmalloc(yn);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out_f; o++) {
            double acc = b[o], nrm = fabs((double)b[o]);
            for (int k = 0; k < in_f; k++) {
                double t = (double)x[(size_t)i * in_f + k] * w[(size_t)o * in_f + k];
                acc += t;
                nrm += fabs(t);
            }
            ref[(size_t)i * out_f + o] = acc;
            norm[(size_t)i * out_f + o] = nrm;
        }
    lin_fd c = {n, in_f, out_f, dev_alloc(xn), dev_alloc(wn), dev_alloc((size_t)out_f),
                dev_alloc(yn), dev_alloc(yn), dev_alloc(xn), dev_alloc(wn),
                dev_alloc((size_t)out_f), fmalloc(yn)};
    be->upload(be, c.xb, x, xn);
    be->upload(be, c.wb, w, wn);
    be->upload(be, c.bb, b, (size_t)out_f);
    dev_fill_nan(c.yb, yn);
    be->linear_forward(be, n, in_f, out_f, c.xb, c.wb, c.bb, c.yb);
    be->download(be, got, c.yb, yn);
    snprintf(label, sizeof label, "linear fwd n%d %d->%d", n, in_f, out_f);
    compare(label, got, ref, norm, yn, 1e-5);

    gnet_gc_input in[3] = {{"x", x, xn, 1}, {"w", w, wn, 1}, {"b", b, (size_t)out_f, 1}};
    gnet_gradcheck gc = {lin_fd_forward, lin_fd_backward, &c, in, 3, yn, 303, 1e-2f, 0, 0, 0, 0};
    snprintf(label, sizeof label, "linear bwd n%d %d->%d", n, in_f, out_f);
    gc_check(&gc, label);

    /* accumulate adds to dw and db; dx == NULL skips the input gradient */
    float *dy = fmalloc(yn), *dw_new = fmalloc(wn), *db_new = fmalloc((size_t)out_f);
    float *dw_prev = fmalloc(wn), *db_prev = fmalloc((size_t)out_f);
    float *dw_acc = fmalloc(wn), *db_acc = fmalloc((size_t)out_f);
    fill(dy, yn, -1.0f, 1.0f);
    fill(dw_prev, wn, -1.0f, 1.0f);
    fill(db_prev, (size_t)out_f, -1.0f, 1.0f);
    be->upload(be, c.dyb, dy, yn);
    dev_fill_nan(c.dwb, wn);
    dev_fill_nan(c.dbb, (size_t)out_f);
    be->linear_backward(be, n, in_f, out_f, c.xb, c.wb, c.dyb, NULL, c.dwb, c.dbb, 0);
    be->download(be, dw_new, c.dwb, wn);
    be->download(be, db_new, c.dbb, (size_t)out_f);
    be->upload(be, c.dwb, dw_prev, wn);
    be->upload(be, c.dbb, db_prev, (size_t)out_f);
    be->linear_backward(be, n, in_f, out_f, c.xb, c.wb, c.dyb, NULL, c.dwb, c.dbb, 1);
    be->download(be, dw_acc, c.dwb, wn);
    be->download(be, db_acc, c.dbb, (size_t)out_f);
    double *r = dmalloc(wn), *rn = dmalloc(wn);
    for (size_t i = 0; i < wn; i++) {
        r[i] = (double)dw_prev[i] + dw_new[i];
        rn[i] = fabs((double)dw_prev[i]) + fabs((double)dw_new[i]);
    }
    /* sgemm's beta = 1 may fold the old value in before the final rounding: allow an ulp */
    snprintf(label, sizeof label, "linear dw accumulate (dx NULL) n%d %d->%d", n, in_f, out_f);
    compare(label, dw_acc, r, rn, wn, 2e-7);
    /* dw_new itself against the reference dy^T x */
    for (int o = 0; o < out_f; o++)
        for (int k = 0; k < in_f; k++) {
            double acc = 0.0, nrm = 0.0;
            for (int i = 0; i < n; i++) {
                double t = (double)dy[(size_t)i * out_f + o] * x[(size_t)i * in_f + k];
                acc += t;
                nrm += fabs(t);
            }
            r[(size_t)o * in_f + k] = acc;
            rn[(size_t)o * in_f + k] = nrm;
        }
    snprintf(label, sizeof label, "linear dw (dx NULL) vs dy^T x n%d %d->%d", n, in_f, out_f);
    compare(label, dw_new, r, rn, wn, 1e-6);
    for (int o = 0; o < out_f; o++)
        r[o] = (float)(db_prev[o] + db_new[o]);
    snprintf(label, sizeof label, "linear db accumulate n%d %d->%d", n, in_f, out_f);
    compare(label, db_acc, r, NULL, (size_t)out_f, 0.0);

    float *bufs[] = {c.xb, c.wb, c.bb, c.yb, c.dyb, c.dxb, c.dwb, c.dbb};
    for (size_t i = 0; i < 8; i++)
        be->free(be, bufs[i]);
    free(c.yh);
    free(x);
    free(w);
    free(b);
    free(got);
    free(ref);
    free(norm);
    free(dy);
    free(dw_new);
    free(db_new);
    free(dw_prev);
    free(db_prev);
    free(dw_acc);
    free(db_acc);
    free(r);
    free(rn);
}

/* ---------- softmax cross-entropy ---------- */

typedef struct {
    int n, classes;
    float grad_scale;
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
    gnet_softmax_xent_now(be, c->n, c->classes, c->zb, c->labels, c->grad_scale, c->dzb, &loss, &correct);
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
    gnet_softmax_xent_now(be, c->n, c->classes, c->zb, c->labels, c->grad_scale, c->dzb, &loss, &correct);
    be->download(be, grad[0], c->dzb, zn);
    for (size_t i = 0; i < zn; i++)
        grad[0][i] = (float)(grad[0][i] * g[0]);
}

static void test_softmax_xent(void)
{
    printf("softmax cross-entropy\n");
    enum { N = 5, K = 10 };
    float z[N * K];
    int32_t lab[N];
    fill(z, N * K, -3.0f, 3.0f);
    /* A row with large logits: a naive exp would overflow. */
    for (int j = 0; j < K; j++)
        z[3 * K + j] = 80.0f + 5.0f * (float)j * (j % 2 ? -1.0f : 1.0f);
    /* Labels: rows 0 and 3 hit their argmax, the others do not. */
    int64_t want_correct = 0;
    for (int i = 0; i < N; i++) {
        int arg = 0;
        for (int j = 1; j < K; j++)
            if (z[i * K + j] > z[i * K + arg])
                arg = j;
        lab[i] = (i == 0 || i == 3) ? arg : (arg + 1 + i) % K;
        want_correct += lab[i] == arg;
    }
    double want_loss = 0.0, dref[N * K];
    const float scale = 1.0f / N;
    for (int i = 0; i < N; i++) {
        double m = -INFINITY, s = 0.0;
        for (int j = 0; j < K; j++)
            m = fmax(m, z[i * K + j]);
        for (int j = 0; j < K; j++)
            s += exp((double)z[i * K + j] - m);
        double lse = m + log(s);
        want_loss += lse - z[i * K + lab[i]];
        for (int j = 0; j < K; j++)
            dref[i * K + j] = (exp(z[i * K + j] - lse) - (j == lab[i])) * scale;
    }
    sx_fd c = {N, K, scale, dev_from_host(z, N * K), dev_alloc(N * K), NULL};
    c.labels = (int32_t *)dev_alloc(N); /* int32 and float have the same size */
    be->upload(be, (float *)c.labels, (const float *)lab, N);
    double loss = NAN;
    int64_t correct = -1;
    dev_fill_nan(c.dzb, N * K);
    gnet_softmax_xent_now(be, N, K, c.zb, c.labels, scale, c.dzb, &loss, &correct);
    float got = (float)loss, dz[N * K];
    double want = want_loss;
    compare("softmax_xent loss sum (relative)", &got, &want, &want, 1, 1e-6);
    printf("  softmax_xent correct = %lld (expected %lld)\n", (long long)correct,
           (long long)want_correct);
    EXPECT(correct == want_correct);
    be->download(be, dz, c.dzb, N * K);
    compare("softmax_xent dlogits vs (softmax - onehot) * scale", dz, dref, NULL, N * K, 1e-7);

    gnet_gc_input in[1] = {{"z", z, N * K, 1}};
    gnet_gradcheck gc = {sx_forward, sx_backward, &c, in, 1, 1, 404, 1e-2f, 0, 0, 0, 0};
    gc_check(&gc, "softmax_xent dlogits vs FD of loss*scale");

    be->free(be, c.zb);
    be->free(be, c.dzb);
    be->free(be, (float *)c.labels);
}

/* ---------- norms and copies ---------- */

static void test_sumsq_copy(void)
{
    printf("sumsq, copy\n");
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

static void test_sgd(void)
{
    printf("sgd\n");
    enum { N = 1003 }; /* not a multiple of the vector width */
    struct {
        const char *name;
        float m, wd;
        int nesterov;
        float scale;
    } cases[] = {{"plain", 0.0f, 0.0f, 0, 1.0f},
                 {"weight decay", 0.0f, 0.05f, 0, 1.0f},
                 {"momentum", 0.9f, 0.0f, 0, 1.0f},
                 {"momentum + weight decay", 0.9f, 0.05f, 0, 1.0f},
                 {"nesterov + weight decay", 0.9f, 0.05f, 1, 1.0f},
                 {"scaled (LARS) + momentum + weight decay", 0.9f, 0.05f, 0, 0.37f}};
    const float lr = 0.1f;
    float *p = fmalloc(N), *g = fmalloc(N), *buf = fmalloc(N), *got_p = fmalloc(N),
          *got_b = fmalloc(N);
    double *rp = dmalloc(N), *rb = dmalloc(N), *np = dmalloc(N), *nb = dmalloc(N);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        float m = cases[ci].m, wd = cases[ci].wd, scale = cases[ci].scale;
        int nest = cases[ci].nesterov;
        fill(p, N, -1.0f, 1.0f);
        fill(buf, N, 100.0f, 200.0f); /* garbage: the first step must not read it */
        float *pb = dev_from_host(p, N), *gb = dev_alloc(N);
        float *bb = m != 0.0f ? dev_from_host(buf, N) : NULL;
        for (int step = 0; step < 3; step++) {
            fill(g, N, -1.0f, 1.0f);
            be->upload(be, gb, g, N);
            /* the reference starts from the backend's state, in double */
            be->download(be, p, pb, N);
            if (bb)
                be->download(be, buf, bb, N);
            for (int i = 0; i < N; i++) {
                double d = (double)scale * ((double)g[i] + (double)wd * p[i]);
                double b = 0.0;
                if (m != 0.0f) {
                    b = step == 0 ? d : (double)m * buf[i] + d;
                    d = nest ? d + (double)m * b : b;
                }
                rp[i] = (double)p[i] - (double)lr * d;
                rb[i] = b;
                np[i] = fmax(1.0, fabs(rp[i]));
                nb[i] = fmax(1.0, fabs(b));
            }
            be->sgd(be, pb, gb, bb, N, lr, m, wd, nest, step == 0, scale);
            be->download(be, got_p, pb, N);
            char label[160];
            snprintf(label, sizeof label, "sgd %s step %d: params", cases[ci].name, step + 1);
            compare(label, got_p, rp, np, N, 1e-6);
            if (bb) {
                be->download(be, got_b, bb, N);
                snprintf(label, sizeof label, "sgd %s step %d: momentum buffer", cases[ci].name,
                         step + 1);
                compare(label, got_b, rb, nb, N, 1e-6);
            }
        }
        be->free(be, pb);
        be->free(be, gb);
        if (bb)
            be->free(be, bb);
    }
    free(p);
    free(g);
    free(buf);
    free(got_p);
    free(got_b);
    free(rp);
    free(rb);
    free(np);
    free(nb);
}

/* ---------- main ---------- */

int main(void)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    be = gnet_backend_cpu_create(1);
    gnet_rng_init(&rng, gnet_rng_key(20240601, 0, 0, 0));

    test_checker_controls();

    printf("convolution\n");
    const conv_cfg convs[] = {
        {2, 16, 32, 7, 7, 1, 1, 0},   /* 1x1 */
        {2, 32, 24, 7, 5, 3, 1, 1},   /* 3x3, padded output */
        {2, 24, 16, 6, 7, 5, 1, 2},   /* 5x5, padded input */
        {2, 24, 24, 5, 5, 3, 1, 1},   /* both padded */
        {2, 16, 16, 6, 6, 3, 2, 1},   /* strided 3x3, floor mode (6 -> 3) */
        {2, 1, 16, 10, 10, 7, 2, 3},  /* the stem: 1 channel, floor mode (10 -> 5) */
        {2, 1, 32, 13, 13, 7, 2, 3},  /* the stem, 13 -> 7 */
        {2, 1, 24, 9, 12, 7, 2, 3},   /* the stem, padded output, 9x12 -> 5x6 (floor in w) */
        {2, 32, 16, 13, 13, 1, 1, 0}, /* 1x1 on the largest spatial size */
    };
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++)
        test_conv(&convs[i], i == 1);

    printf("pooling\n");
    const gnet_pool_desc pools[] = {
        pool_desc(GNET_POOL_MAX, 2, 16, 7, 7, 3, 2, 1),   /* 7 -> 4 */
        pool_desc(GNET_POOL_MAX, 2, 24, 2, 2, 3, 2, 1),   /* 2 -> 1, padded channels */
        pool_desc(GNET_POOL_MAX, 2, 32, 6, 6, 3, 2, 1),   /* 6 -> 3 (floor) */
        pool_desc(GNET_POOL_MAX, 2, 16, 13, 9, 3, 2, 1),  /* 13x9 -> 7x5 */
        pool_desc(GNET_POOL_MAX, 2, 24, 5, 5, 3, 1, 1),   /* Inception's pool branch */
        pool_desc(GNET_POOL_MAX, 2, 16, 7, 6, 3, 1, 1),
        pool_desc(GNET_POOL_AVG, 2, 32, 7, 7, 7, 1, 0),   /* global average */
        pool_desc(GNET_POOL_AVG, 2, 24, 3, 3, 3, 1, 0),
        pool_desc(GNET_POOL_AVG, 2, 16, 5, 5, 5, 5, 0),
    };
    for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++)
        test_pool(pools[i]);

    test_elementwise();
    test_copy_channels();

    printf("linear\n");
    test_linear(2, 48, 10);
    test_linear(3, 32, 17);

    test_softmax_xent();
    test_sgd();
    test_sumsq_copy();

    be->destroy(be);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("test_ops: %.2f s\n", (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    TEST_MAIN_END();
}
