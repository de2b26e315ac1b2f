#include "data/sampler.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/rng.h"

struct gnet_sampler {
    gnet_sampler_config c; /* c.shard_size points at `size` below */
    int64_t n_total, steps;
    int local_batch;
    /* TRAIN: the shards this rank owns are first, first + world, ... (< n_shards); of each
     * batch's positions of such a shard, the rank takes those i with i % share == part. */
    int first, share, part;
    int32_t **perm; /* TRAIN: perm[s] is the epoch's permutation of owned shard s, else NULL */
    int32_t *perm_store;
    int64_t *size;
};

int gnet_sampler_owns(int shard, int n_shards, int rank, int world)
{
    if (n_shards >= world)
        return shard % world == rank;
    return rank % n_shards == shard;
}

static int check_sizes(const gnet_sampler_config *c, const char *what)
{
    for (int s = 0; s < c->n_shards; s++) {
        int64_t n = c->shard_size[s];
        if (n < 1 || n > INT32_MAX) {
            gnet_errorf("%s: shard %d has %lld samples (need 1..%d)", what, s, (long long)n,
                        INT32_MAX);
            return -1;
        }
        /* The interleaved order visits shard j % S at step j / S, which covers every
         * sample exactly once only for sizes that descend by at most one in total. */
        if (s > 0 && (n > c->shard_size[s - 1] || c->shard_size[0] - n > 1)) {
            gnet_errorf("%s: shard sizes must descend and differ by at most one "
                        "(shard 0 has %lld, shard %d has %lld)",
                        what, (long long)c->shard_size[0], s, (long long)n);
            return -1;
        }
    }
    return 0;
}

static int check_config(const gnet_sampler_config *c, const char *what)
{
    int S = c->n_shards, P = c->world, B = c->global_batch;
    if (c->mode != GNET_SAMPLE_TRAIN && c->mode != GNET_SAMPLE_EVAL) {
        gnet_errorf("%s: unknown sampling mode %d", what, (int)c->mode);
        return -1;
    }
    if (S < 1 || !c->shard_size || P < 1 || c->rank < 0 || c->rank >= P || B < 1) {
        gnet_errorf("%s: bad sampler setup (%d shards, rank %d of %d, global batch %d)", what, S,
                    c->rank, P, B);
        return -1;
    }
    if (B % P != 0) {
        gnet_errorf("%s: global batch %d is not a multiple of the %d ranks", what, B, P);
        return -1;
    }
    if (c->mode == GNET_SAMPLE_EVAL && S != 1) {
        gnet_errorf("%s: evaluation reads one shard, got %d", what, S);
        return -1;
    }
    if (B % S != 0) {
        gnet_errorf("%s: global batch %d is not a multiple of the %d shards", what, B, S);
        return -1;
    }
    if (S % P != 0 && P % S != 0) {
        gnet_errorf("%s: %d shards cannot be split evenly over %d ranks (one count must "
                    "divide the other)",
                    what, S, P);
        return -1;
    }
    return check_sizes(c, what);
}

static int64_t count_steps(const gnet_sampler *s)
{
    const gnet_sampler_config *c = &s->c;
    if (c->mode == GNET_SAMPLE_EVAL) {
        /* Every rank runs as many batches as the longest slice needs, so collectives
         * stay matched; a shorter slice ends with a short (even empty) batch. */
        int64_t longest = (s->n_total + c->world - 1) / c->world;
        return (longest + s->local_batch - 1) / s->local_batch;
    }
    if (c->drop_last)
        return s->n_total / c->global_batch;
    return (s->n_total + c->global_batch - 1) / c->global_batch;
}

static int alloc_perms(gnet_sampler *s, const char *name)
{
    int S = s->c.n_shards;
    int64_t owned = 0;
    for (int sh = s->first; sh < S; sh += s->c.world)
        owned += s->size[sh];
    s->perm = gnet_calloc((size_t)S, sizeof *s->perm, name);
    s->perm_store = gnet_malloc(sizeof(int32_t) * (size_t)owned, name);
    if (!s->perm || !s->perm_store)
        return -1;
    int32_t *p = s->perm_store;
    for (int sh = s->first; sh < S; sh += s->c.world) {
        s->perm[sh] = p;
        p += s->size[sh];
    }
    return 0;
}

gnet_sampler *gnet_sampler_create(const gnet_sampler_config *c, const char *what)
{
    if (check_config(c, what) != 0)
        return NULL;
    char name[300];
    (void)snprintf(name, sizeof name, "the sampler of %s", what);
    gnet_sampler *s = gnet_calloc(1, sizeof *s, name);
    int64_t *size = gnet_malloc(sizeof(int64_t) * (size_t)c->n_shards, name);
    if (!s || !size) {
        free(s), free(size);
        return NULL;
    }
    memcpy(size, c->shard_size, sizeof(int64_t) * (size_t)c->n_shards);
    s->c = *c;
    s->c.shard_size = s->size = size;
    for (int sh = 0; sh < c->n_shards; sh++)
        s->n_total += size[sh];
    s->local_batch = c->global_batch / c->world;
    s->first = c->rank % c->n_shards;
    s->share = c->world > c->n_shards ? c->world / c->n_shards : 1;
    s->part = c->rank / c->n_shards;
    s->steps = count_steps(s);
    if (c->mode == GNET_SAMPLE_TRAIN && alloc_perms(s, name) != 0) {
        gnet_sampler_destroy(s);
        return NULL;
    }
    gnet_sampler_set_epoch(s, 0);
    return s;
}

void gnet_sampler_destroy(gnet_sampler *s)
{
    if (!s)
        return;
    free(s->perm);
    free(s->perm_store);
    free(s->size);
    free(s);
}

int64_t gnet_sampler_steps(const gnet_sampler *s) { return s->steps; }

int gnet_sampler_local_batch(const gnet_sampler *s) { return s->local_batch; }

void gnet_sampler_set_epoch(gnet_sampler *s, int64_t epoch)
{
    if (s->c.mode == GNET_SAMPLE_EVAL)
        return; /* file order, no permutations */
    for (int sh = s->first; sh < s->c.n_shards; sh += s->c.world) {
        /* alloc_perms gave every shard of this loop a slice (the analyzer loses the bounds). */
        int32_t *p = s->perm[sh], n = (int32_t)s->size[sh];
        for (int32_t i = 0; i < n; i++)
            p[i] = i; // NOLINT(clang-analyzer-core.NullDereference)
        if (s->c.shuffle) {
            gnet_rng r;
            gnet_rng_init(
                &r, gnet_rng_key(s->c.seed, (uint64_t)epoch, (uint64_t)sh, GNET_SAMPLER_PURPOSE));
            gnet_rng_shuffle(&r, p, n);
        }
    }
}

static const gnet_sample_ref padding_ref = {-1, -1};

/* Positions [b*B, (b+1)*B) hold, for i in [0, B/S) and shards s in order, sample
 * perm_s[b*B/S + i] of shard s (B % S == 0, so every batch starts at shard 0). Walking i
 * then s walks the positions in order, so the real rows come first. */
static void train_batch(const gnet_sampler *s, int64_t b, gnet_sample_ref *out, int *valid,
                        int64_t *global_valid)
{
    const gnet_sampler_config *c = &s->c;
    int S = c->n_shards, per_shard = c->global_batch / S, n = 0, v = 0;
    for (int i = 0; i < per_shard; i++) {
        if (i % s->share != s->part)
            continue;
        int64_t k = b * per_shard + i;
        for (int sh = s->first; sh < S; sh += c->world) {
            if (k < s->size[sh]) {
                out[n++] = (gnet_sample_ref){sh, s->perm[sh][k]};
                v++;
            } else {
                out[n++] = padding_ref;
            }
        }
    }
    *valid = v;
    int64_t left = s->n_total - b * c->global_batch;
    *global_valid = left < c->global_batch ? left : c->global_batch;
}

static int64_t eval_rows(const gnet_sampler *s, int rank, int64_t b, int64_t *start)
{
    int64_t N = s->n_total, P = s->c.world, lb = s->local_batch;
    int64_t lo = rank * N / P, hi = (rank + 1) * N / P;
    *start = lo + b * lb;
    int64_t n = hi - *start;
    return n < 0 ? 0 : n < lb ? n : lb;
}

static void eval_batch(const gnet_sampler *s, int64_t b, gnet_sample_ref *out, int *valid,
                       int64_t *global_valid)
{
    int64_t start, n = eval_rows(s, s->c.rank, b, &start), total = 0;
    for (int i = 0; i < s->local_batch; i++)
        out[i] = i < n ? (gnet_sample_ref){0, start + i} : padding_ref;
    *valid = (int)n;
    for (int r = 0; r < s->c.world; r++)
        total += eval_rows(s, r, b, &start);
    *global_valid = total;
}

void gnet_sampler_batch(const gnet_sampler *s, int64_t b, gnet_sample_ref *out, int *valid,
                        int64_t *global_valid)
{
    if (b < 0 || b >= s->steps) {
        gnet_errorf("sampler: batch %lld outside 0..%lld", (long long)b, (long long)s->steps - 1);
        gnet_fatal(1);
    }
    if (s->c.mode == GNET_SAMPLE_EVAL)
        eval_batch(s, b, out, valid, global_valid);
    else
        train_batch(s, b, out, valid, global_valid);
}
