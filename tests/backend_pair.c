#include "backend_pair.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

float *duo_fmalloc(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of host memory\n");
        exit(2);
    }
    return p;
}

float *duo_random_host(gnet_duo *d, size_t n, float lo, float hi)
{
    float *h = duo_fmalloc(n);
    for (size_t i = 0; i < n; i++)
        h[i] = lo + (hi - lo) * (float)gnet_rng_uniform(&d->rng);
    return h;
}

pair duo_act(gnet_duo *d, gnet_shape s, const float *host)
{
    pair p = {d->ref->alloc(d->ref, d->ref->act_count(d->ref, s)),
              d->dut->alloc(d->dut, d->dut->act_count(d->dut, s))};
    d->ref->from_nchw(d->ref, s, host, p.c);
    d->dut->from_nchw(d->dut, s, host, p.g);
    return p;
}

pair duo_random_act(gnet_duo *d, gnet_shape s, float lo, float hi)
{
    float *h = duo_random_host(d, gnet_shape_count(s), lo, hi);
    pair p = duo_act(d, s, h);
    free(h);
    return p;
}

pair duo_plain(gnet_duo *d, size_t n, const float *host)
{
    pair p = {d->ref->alloc(d->ref, n), d->dut->alloc(d->dut, n)};
    d->ref->upload(d->ref, p.c, host, n);
    d->dut->upload(d->dut, p.g, host, n);
    return p;
}

pair duo_random_plain(gnet_duo *d, size_t n, float lo, float hi)
{
    float *h = duo_random_host(d, n, lo, hi);
    pair p = duo_plain(d, n, h);
    free(h);
    return p;
}

void duo_free(gnet_duo *d, pair p)
{
    d->ref->free(d->ref, p.c);
    d->dut->free(d->dut, p.g);
}

double duo_rel_err(const float *got, const float *ref, size_t n)
{
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]))
            return INFINITY;
        diff = fmax(diff, fabs((double)got[i] - ref[i]));
        scale = fmax(scale, fabs((double)ref[i]));
    }
    return scale > 0.0 ? diff / scale : diff;
}

double duo_plain_err(gnet_duo *d, pair p, size_t n)
{
    float *c = duo_fmalloc(n), *g = duo_fmalloc(n);
    d->ref->download(d->ref, c, p.c, n);
    d->dut->download(d->dut, g, p.g, n);
    double e = duo_rel_err(g, c, n);
    free(c);
    free(g);
    return e;
}

double duo_act_err(gnet_duo *d, pair p, gnet_shape s)
{
    size_t n = gnet_shape_count(s);
    float *c = duo_fmalloc(n), *g = duo_fmalloc(n);
    d->ref->to_nchw(d->ref, s, p.c, c);
    d->dut->to_nchw(d->dut, s, p.g, g);
    double e = duo_rel_err(g, c, n);
    free(c);
    free(g);
    return e;
}
