#include "dist/reducer.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "core/log.h"

gnet_reducer *gnet_reducer_create(gnet_comm *comm, float *grads, const gnet_param_spec *specs,
                                  int n_specs, size_t bucket_bytes, int overlap)
{
    gnet_reducer *r = gnet_calloc(1, sizeof *r, "the gradient reducer");
    gnet_bucket *b = gnet_calloc((size_t)n_specs, sizeof *b, "the gradient buckets");
    if (!r || !b)
        gnet_fatal(1);
    r->comm = comm;
    r->grads = grads;
    r->overlap = overlap;
    r->buckets = b;
    /* Walk the parameters from the last: close a bucket once it reaches bucket_bytes. */
    size_t hi = specs[n_specs - 1].offset + specs[n_specs - 1].count;
    for (int i = n_specs - 1; i >= 0; i--) {
        size_t lo = specs[i].offset;
        if (i == 0 || (hi - lo) * sizeof(float) >= bucket_bytes) {
            b[r->n_buckets++] = (gnet_bucket){lo, hi};
            hi = lo;
        }
    }
    return r;
}

void gnet_reducer_destroy(gnet_reducer *r)
{
    if (!r)
        return;
    free(r->buckets);
    free(r);
}

void gnet_reducer_begin(gnet_reducer *r, gnet_backend *norm_be, const float *base)
{
    r->next = 0;
    r->norm_be = norm_be;
    r->norm_base = base;
    r->sqnorm = 0.0;
}

static void start_next(gnet_reducer *r)
{
    gnet_bucket *b = &r->buckets[r->next++];
    if (r->norm_be)
        r->sqnorm += r->norm_be->sumsq(r->norm_be, r->grads + b->lo,
                                       r->norm_base ? r->norm_base + b->lo : NULL, b->hi - b->lo);
    r->comm->allreduce_start(r->comm, r->grads + b->lo, b->hi - b->lo);
}

void gnet_reducer_ready(gnet_reducer *r, size_t lo)
{
    if (!r->overlap)
        return;
    while (r->next < r->n_buckets && r->buckets[r->next].lo >= lo)
        start_next(r);
}

void gnet_reducer_finish(gnet_reducer *r)
{
    while (r->next < r->n_buckets)
        start_next(r);
    r->comm->allreduce_wait(r->comm);
}
