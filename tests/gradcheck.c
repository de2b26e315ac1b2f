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

int gnet_gradcheck_run(const gnet_gradcheck *gc, const char *label, gnet_gc_result *res)
{
    const float step = gc->step > 0.0f ? gc->step : 1e-2f;
    const double rtol = gc->rtol > 0.0 ? gc->rtol : 1e-2;
    const double atol = gc->atol > 0.0 ? gc->atol : 1e-3;
    const int n_in = gc->n_inputs;

    gnet_gc_result R;
    memset(&R, 0, sizeof R);
    R.ok = 1;
    R.worst_input = -1;

    gnet_rng rng;
    gnet_rng_init(&rng, gnet_rng_key(gc->seed, 0x67726164ULL /* "grad" */, 0, 0));

    double *g = gc_alloc(sizeof(double) * gc->out_count);
    double *out_p = gc_alloc(sizeof(double) * gc->out_count);
    double *out_m = gc_alloc(sizeof(double) * gc->out_count);
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
                grad[i][j] = NAN;
        }
    }
    gc->backward(gc->ctx, in, g, grad);

    for (int i = 0; i < n_in; i++) {
        const gnet_gc_input *inp = &gc->inputs[i];
        if (!inp->check)
            continue;
        size_t nonfinite = 0;
        double scale = 0.0;
        for (size_t j = 0; j < inp->count; j++) {
            double a = grad[i][j];
            if (!isfinite(a))
                nonfinite++;
            else if (fabs(a) > scale)
                scale = fabs(a);
        }
        size_t *probe;
        size_t np = pick_probes(&rng, inp->count, gc->max_probes, &probe);
        double *num = gc_alloc(sizeof(double) * (np ? np : 1));
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
            if (fabs(num[k]) > scale)
                scale = fabs(num[k]);
        }
        double worst_ratio = 0.0, worst_rel = 0.0, wa = 0.0, wn = 0.0;
        size_t wj = 0;
        for (size_t k = 0; k < np; k++) {
            size_t j = probe[k];
            double a = grad[i][j], n = num[k];
            double err = fabs(a - n);
            double mag = fmax(fabs(a), fabs(n));
            double tol = rtol * mag + atol * scale;
            double ratio = tol > 0.0 ? err / tol : (err > 0.0 ? INFINITY : 0.0);
            double rel = err / fmax(mag, fmax(atol * scale, 1e-30));
            if (!isfinite(a) || !isfinite(n))
                ratio = rel = INFINITY;
            if (k == 0 || ratio > worst_ratio) {
                worst_ratio = ratio;
                wj = j;
                wa = a;
                wn = n;
            }
            if (rel > worst_rel)
                worst_rel = rel;
        }
        int ok = worst_ratio <= 1.0 && nonfinite == 0;
        if (!gc->quiet)
            printf("  gradcheck %-44s d/d%-3s %6zu elems %5zu probed: worst rel err %.2e "
                   "(err/tol %.3f) at [%zu] a=%.6g n=%.6g%s%s\n",
                   label, inp->name, inp->count, np, worst_rel, worst_ratio, wj, wa, wn,
                   nonfinite ? " NONFINITE" : "", ok ? "" : "  <-- FAIL");
        if (nonfinite && !gc->quiet)
            printf("    %zu non-finite analytic gradient elements (never written?)\n", nonfinite);
        R.nonfinite += nonfinite;
        if (!ok)
            R.ok = 0;
        if (worst_rel > R.worst_rel)
            R.worst_rel = worst_rel;
        if (worst_ratio >= R.worst_ratio || R.worst_input < 0) {
            R.worst_ratio = worst_ratio;
            R.worst_input = i;
            R.worst_index = wj;
            R.worst_analytic = wa;
            R.worst_numeric = wn;
        }
        free(num);
        free(probe);
    }

    for (int i = 0; i < n_in; i++)
        free(grad[i]);
    free(grad);
    free(in);
    free(g);
    free(out_p);
    free(out_m);
    if (res)
        *res = R;
    return R.ok;
}
