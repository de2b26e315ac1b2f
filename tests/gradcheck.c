#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

static void *gc_alloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "gradcheck: out of memory (%zu bytes)\n", bytes);
        exit(2);
    }
    return p;
}

/* The probed indices of one input: all of them, or max_probes distinct ones drawn at random
 * (always including the first and the last element, where indexing bugs like to live). */
static size_t pick_probes(gnet_rng *r, size_t count, size_t max_probes, size_t **out)
{
    size_t np = (max_probes == 0 || count <= max_probes) ? count : max_probes;
    size_t *idx = gc_alloc(sizeof(size_t) * count);
    for (size_t i = 0; i < count; i++)
        idx[i] = i;
    if (np < count) {
        /* Partial Fisher-Yates over [1, count - 1) for the middle slots. */
        idx[0] = 0;
        idx[1] = count - 1;
        size_t *mid = gc_alloc(sizeof(size_t) * (count - 2));
        for (size_t i = 0; i < count - 2; i++)
            mid[i] = i + 1;
        for (size_t i = 0; i + 2 < np; i++) {
            size_t j = i + (size_t)gnet_rng_below(r, (uint32_t)(count - 2 - i));
            size_t t = mid[i];
            mid[i] = mid[j];
            mid[j] = t;
            idx[i + 2] = mid[i];
        }
        free(mid);
    }
    *out = idx;
    return np;
}

/* One checked input's comparison: the worst probe by err/tol, and by relative error. */
typedef struct {
    size_t probed, nonfinite, worst_index;
    double worst_ratio, worst_rel, analytic, numeric;
} input_check;

/* The central difference of the loss sum(g . out) in each probed element of input i; the
 * largest magnitude seen (analytic or numeric) goes into *scale. */
static void numeric_grads(const gnet_gradcheck *gc, float **in, int i, const size_t *probe,
                          size_t np, const double *g, float step, double *num, double *scale)
{
    const gnet_gc_input *inp = &gc->inputs[i];
    double *out_p = gc_alloc(sizeof(double) * gc->out_count);
    double *out_m = gc_alloc(sizeof(double) * gc->out_count);
    for (size_t k = 0; k < np; k++) {
        size_t j = probe[k];
        float x0 = inp->data[j];
        float xp = x0 + step, xm = x0 - step;
        inp->data[j] = xp;
        gc->forward(gc->ctx, in, out_p);
        inp->data[j] = xm;
        gc->forward(gc->ctx, in, out_m);
        inp->data[j] = x0;
        double dl = 0.0;
        for (size_t o = 0; o < gc->out_count; o++)
            dl += g[o] * (out_p[o] - out_m[o]);
        num[k] = dl / ((double)xp - (double)xm);
        if (fabs(num[k]) > *scale)
            *scale = fabs(num[k]);
    }
    free(out_p);
    free(out_m);
}

/* Analytic against numeric at each probe: tolerance rtol * magnitude + atol * scale. */
static void compare(const float *grad, const double *num, const size_t *probe, size_t np,
                    double rtol, double atol, double scale, input_check *c)
{
    for (size_t k = 0; k < np; k++) {
        size_t j = probe[k];
        double a = grad[j], n = num[k];
        double err = fabs(a - n);
        double mag = fmax(fabs(a), fabs(n));
        double tol = rtol * mag + atol * scale;
        double ratio = tol > 0.0 ? err / tol : (err > 0.0 ? INFINITY : 0.0);
        double rel = err / fmax(mag, fmax(atol * scale, 1e-30));
        if (!isfinite(a) || !isfinite(n))
            ratio = rel = INFINITY;
        if (k == 0 || ratio > c->worst_ratio) {
            c->worst_ratio = ratio;
            c->worst_index = j;
            c->analytic = a;
            c->numeric = n;
        }
        if (rel > c->worst_rel)
            c->worst_rel = rel;
    }
}

/* Input i of gc, whose analytic gradient is grad: probed, compared, reported. */
static input_check check_input(const gnet_gradcheck *gc, const char *label, float **in, int i,
                               const float *grad, const double *g, gnet_rng *rng)
{
    const gnet_gc_input *inp = &gc->inputs[i];
    input_check c = {0};
    double scale = 0.0;
    for (size_t j = 0; j < inp->count; j++) {
        if (!isfinite(grad[j]))
            c.nonfinite++;
        else if (fabs(grad[j]) > scale)
            scale = fabs(grad[j]);
    }
    size_t *probe;
    c.probed = pick_probes(rng, inp->count, gc->max_probes, &probe);
    double *num = gc_alloc(sizeof(double) * (c.probed ? c.probed : 1));
    numeric_grads(gc, in, i, probe, c.probed, g, gc->step > 0.0f ? gc->step : 1e-2f, num, &scale);
    compare(grad, num, probe, c.probed, gc->rtol > 0.0 ? gc->rtol : 1e-2,
            gc->atol > 0.0 ? gc->atol : 1e-3, scale, &c);
    free(num);
    free(probe);
    int ok = c.worst_ratio <= 1.0 && c.nonfinite == 0;
    if (!gc->quiet)
        printf("  gradcheck %-44s d/d%-3s %6zu elems %5zu probed: worst rel err %.2e "
               "(err/tol %.3f) at [%zu] a=%.6g n=%.6g%s%s\n",
               label, inp->name, inp->count, c.probed, c.worst_rel, c.worst_ratio, c.worst_index,
               c.analytic, c.numeric, c.nonfinite ? " NONFINITE" : "", ok ? "" : "  <-- FAIL");
    if (c.nonfinite && !gc->quiet)
        printf("    %zu non-finite analytic gradient elements (never written?)\n", c.nonfinite);
    return c;
}

/* Input i's check folded into the run's result. */
static void merge(gnet_gc_result *R, int i, const input_check *c)
{
    R->nonfinite += c->nonfinite;
    if (!(c->worst_ratio <= 1.0) || c->nonfinite)
        R->ok = 0;
    if (c->worst_rel > R->worst_rel)
        R->worst_rel = c->worst_rel;
    if (c->worst_ratio >= R->worst_ratio || R->worst_input < 0) {
        R->worst_ratio = c->worst_ratio;
        R->worst_input = i;
        R->worst_index = c->worst_index;
        R->worst_analytic = c->analytic;
        R->worst_numeric = c->numeric;
    }
}

int gnet_gradcheck_run(const gnet_gradcheck *gc, const char *label, gnet_gc_result *res)
{
    const int n_in = gc->n_inputs;
    gnet_gc_result R = {.ok = 1, .worst_input = -1};
    gnet_rng rng;
    gnet_rng_init(&rng, gnet_rng_key(gc->seed, 0x67726164ULL /* "grad" */, 0, 0));

    /* The loss is sum(g . out) for a fixed random g: its gradient is backward(g). */
    double *g = gc_alloc(sizeof(double) * gc->out_count);
    for (size_t o = 0; o < gc->out_count; o++)
        g[o] = (double)(2.0f * gnet_rng_uniform(&rng) - 1.0f);
    float **in = gc_alloc(sizeof(float *) * (size_t)n_in);
    float **grad = gc_alloc(sizeof(float *) * (size_t)n_in);
    for (int i = 0; i < n_in; i++) {
        in[i] = gc->inputs[i].data;
        grad[i] = NULL;
        if (gc->inputs[i].check) {
            grad[i] = gc_alloc(sizeof(float) * gc->inputs[i].count);
            for (size_t j = 0; j < gc->inputs[i].count; j++)
                grad[i][j] = NAN; /* an element backward never writes shows as non-finite */
        }
    }
    gc->backward(gc->ctx, in, g, grad);

    for (int i = 0; i < n_in; i++) {
        if (!gc->inputs[i].check)
            continue;
        input_check c = check_input(gc, label, in, i, grad[i], g, &rng);
        merge(&R, i, &c);
    }
    for (int i = 0; i < n_in; i++)
        free(grad[i]);
    free(grad);
    free(in);
    free(g);
    if (res)
        *res = R;
    return R.ok;
}
