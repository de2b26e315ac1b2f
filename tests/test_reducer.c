/* The gradient all-reduce's bucket plan and order (src/dist/reducer.c), against a recording
 * communicator: allreduce_start records (offset, count) and the reducer's running squared
 * norm at that moment, then changes the bucket as a real all-reduce would (adds another
 * rank's share); allreduce_wait records a marker. On a table of its own (8 tensors of odd
 * sizes, 109 floats), as named cases (one ctest entry each, "reducer.<case>"):
 *   plan             the buckets for 64 bytes, by hand;
 *   plan_properties  for bucket sizes from 1 byte to more than the arena: cut at parameter
 *                    boundaries from the end, each the fewest whole parameters reaching the
 *                    size except the last, covering the arena once;
 *   overlap_order    with overlap, ready(lo) starts exactly the buckets above lo, in order,
 *                    at every lo; finish starts nothing more and waits once; twice in a row;
 *   finish_rest      finish starts the buckets ready() did not, in order, then waits once;
 *   no_overlap       without overlap nothing starts before finish, which starts every
 *                    bucket in order, then waits once;
 *   sqnorm_base, sqnorm_plain, sqnorm_off
 *                    begin(r, cpu, base) measures sum |grads - base|^2 (base NULL: |grads|^2;
 *                    no backend: nothing) bucket by bucket, each before its start. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/params.h"
#include "core/rng.h"
#include "dist/comm.h"
#include "dist/reducer.h"
#include "test_util.h"

/* ---------- the parameter table ---------- */

static const size_t k_counts[] = {7, 3, 40, 5, 13, 1, 29, 11};
#define N_SPECS ((int)(sizeof k_counts / sizeof k_counts[0]))
#define ARENA 109 /* the sum of k_counts */

static gnet_param_spec g_specs[N_SPECS];

static void make_specs(void)
{
    size_t offset = 0;
    for (int i = 0; i < N_SPECS; i++) {
        g_specs[i] = (gnet_param_spec){.ndim = 1, .shape = {(int)k_counts[i]}};
        snprintf(g_specs[i].name, sizeof g_specs[i].name, "%d.weight", i);
        g_specs[i].offset = offset;
        g_specs[i].count = k_counts[i];
        offset += k_counts[i];
    }
    EXPECT(offset == ARENA);
}

static int is_boundary(size_t at)
{
    for (int i = 0; i < N_SPECS; i++)
        if (g_specs[i].offset == at)
            return 1;
    return at == ARENA;
}

/* ---------- the recording communicator ---------- */

/* What an all-reduce adds to each float of its bucket (the other rank's gradient). */
#define OTHER_RANK 1000.0f

typedef struct {
    char what; /* 'S' allreduce_start, 'W' allreduce_wait */
    size_t offset, count;
    double sqnorm; /* the reducer's sqnorm when the start was called */
} comm_event;

static struct {
    comm_event ev[256];
    int n;
    float *arena;
    const gnet_reducer *r;
} g_rec;

static void record(comm_event e)
{
    if (g_rec.n < (int)(sizeof g_rec.ev / sizeof g_rec.ev[0]))
        g_rec.ev[g_rec.n] = e;
    g_rec.n++;
}

static void fake_start(gnet_comm *c, float *buf, size_t count)
{
    (void)c;
    record((comm_event){'S', (size_t)(buf - g_rec.arena), count, g_rec.r ? g_rec.r->sqnorm : 0.0});
    for (size_t i = 0; i < count; i++)
        buf[i] += OTHER_RANK;
}

static void fake_wait(gnet_comm *c) { (void)c, record((comm_event){'W', 0, 0, 0.0}); }

/* The reducer calls no other collective: each of these records 'X'. */
static void no_broadcast(gnet_comm *c, float *b, size_t n, int root)
{
    (void)c, (void)b, (void)n, (void)root;
    record((comm_event){'X', 0, 0, 0.0});
}

static void no_call(gnet_comm *c) { (void)c, record((comm_event){'X', 0, 0, 0.0}); }

static void no_reduce_sum(gnet_comm *c, double *v, int n)
{
    (void)c, (void)v, (void)n;
    record((comm_event){'X', 0, 0, 0.0});
}

static gnet_comm g_comm = {.name = "recording", .rank = 0, .world = 2, .local_rank = 0,
                           .local_size = 2, .broadcast = no_broadcast,
                           .allreduce_start = fake_start, .allreduce_wait = fake_wait,
                           .watch = no_call, .reduce_sum = no_reduce_sum, .barrier = no_call,
                           .destroy = no_call};

/* A reducer over arena (ARENA floats) with this table, recording from now on. */
static gnet_reducer *reducer(float *arena, size_t bucket_bytes, int overlap)
{
    gnet_reducer *r = gnet_reducer_create(&g_comm, arena, g_specs, N_SPECS, bucket_bytes, overlap);
    g_rec.n = 0;
    g_rec.arena = arena;
    g_rec.r = r;
    return r;
}

/* The events so far are the starts of buckets [0, n_started) in order, then `waits` waits. */
static int events_are(const gnet_reducer *r, int n_started, int waits)
{
    int ok = g_rec.n == n_started + waits && g_rec.n <= (int)(sizeof g_rec.ev / sizeof g_rec.ev[0]);
    for (int k = 0; ok && k < n_started; k++) {
        const gnet_bucket *b = &r->buckets[k];
        const comm_event *e = &g_rec.ev[k];
        ok = e->what == 'S' && e->offset == b->lo && e->count == b->hi - b->lo;
    }
    for (int k = n_started; ok && k < g_rec.n; k++)
        ok = g_rec.ev[k].what == 'W';
    return ok;
}

/* ---------- the plan ---------- */

/* 64 bytes = 16 floats, from the end: [69, 109) (29 + 11 floats: 11 alone is short), [50, 69)
 * (1 + 13 short, + 5), [10, 50) (40), and the short remainder [0, 10). */
static void test_plan(void)
{
    float arena[ARENA] = {0};
    gnet_reducer *r = reducer(arena, 64, 1);
    const gnet_bucket want[] = {{69, 109}, {50, 69}, {10, 50}, {0, 10}};
    EXPECT(r->n_buckets == 4);
    for (int k = 0; k < 4 && k < r->n_buckets; k++) {
        printf("  bucket %d: [%zu, %zu)\n", k, r->buckets[k].lo, r->buckets[k].hi);
        EXPECT(r->buckets[k].lo == want[k].lo && r->buckets[k].hi == want[k].hi);
    }
    EXPECT(g_rec.n == 0); /* planning communicates nothing */
    gnet_reducer_destroy(r);
}

/* The first parameter of a bucket (the one at its lo): its count. */
static size_t first_count(size_t lo)
{
    for (int i = 0; i < N_SPECS; i++)
        if (g_specs[i].offset == lo)
            return g_specs[i].count;
    return 0;
}

/* Buckets descend from the arena's end to 0 without gap or overlap, cut at parameter
 * boundaries; each but the last holds at least `bytes` and would not without its first
 * parameter. Returns the number of buckets. */
static int check_plan(const gnet_reducer *r, size_t bytes)
{
    int ok = r->n_buckets >= 1 && r->buckets[0].hi == ARENA && r->buckets[r->n_buckets - 1].lo == 0;
    for (int k = 0; ok && k < r->n_buckets; k++) {
        const gnet_bucket *b = &r->buckets[k];
        size_t floats = b->hi - b->lo, first = first_count(b->lo);
        ok = b->lo < b->hi && is_boundary(b->lo) && is_boundary(b->hi) && first > 0;
        if (k + 1 < r->n_buckets)
            ok = ok && r->buckets[k + 1].hi == b->lo && floats * sizeof(float) >= bytes &&
                 (floats == first || (floats - first) * sizeof(float) < bytes);
    }
    printf("  bucket_bytes %7zu: %d buckets, plan %s\n", bytes, r->n_buckets, ok ? "ok" : "WRONG");
    EXPECT(ok);
    return r->n_buckets;
}

static void test_plan_properties(void)
{
    float arena[ARENA] = {0};
    const size_t sizes[] = {1, 4, 12, 28, 44, 64, 100, 160, 200, 435, 436, 437, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        gnet_reducer *r = reducer(arena, sizes[i], i % 2);
        int n = check_plan(r, sizes[i]);
        if (sizes[i] <= sizeof(float))
            EXPECT(n == N_SPECS); /* one bucket per parameter */
        if (sizes[i] >= ARENA * sizeof(float) - sizeof(float))
            EXPECT(n == 1);
        gnet_reducer_destroy(r);
    }
}

/* ---------- the order of starts ---------- */

/* How many buckets lie at or above lo (what ready(lo) must have started). */
static int buckets_above(const gnet_reducer *r, size_t lo)
{
    int n = 0;
    while (n < r->n_buckets && r->buckets[n].lo >= lo)
        n++;
    return n;
}

/* One overlapped step: ready(lo) at every lo from the end down to 0 (twice each), then
 * finish. Returns whether every prefix of events was as expected. */
static int overlapped_step(gnet_reducer *r)
{
    int ok = 1;
    g_rec.n = 0;
    for (size_t lo = ARENA + 1; lo-- > 0;) {
        gnet_reducer_ready(r, lo);
        gnet_reducer_ready(r, lo);
        ok = ok && events_are(r, buckets_above(r, lo), 0);
    }
    gnet_reducer_finish(r);
    return ok && events_are(r, r->n_buckets, 1);
}

/* With overlap, ready(lo) starts exactly the buckets whose range lies above lo, in order,
 * each once; finish then starts nothing and waits once. A second step does the same. */
static void test_overlap_order(void)
{
    float arena[ARENA] = {0};
    gnet_reducer *r = reducer(arena, 64, 1);
    for (int step = 0; step < 2; step++) {
        gnet_reducer_begin(r, NULL, NULL);
        int ok = overlapped_step(r);
        printf("  step %d: %d starts then one wait, each start once ready: %s\n", step + 1,
               r->n_buckets, ok ? "yes" : "NO");
        EXPECT(ok);
    }
    gnet_reducer_destroy(r);
}

/* With overlap, finish starts the buckets below the last ready(lo), in order, then waits
 * once, after the last start. */
static void test_finish_rest(void)
{
    float arena[ARENA] = {0};
    gnet_reducer *r = reducer(arena, 64, 1);
    for (size_t lo = 0; lo <= ARENA; lo += 17) {
        gnet_reducer_begin(r, NULL, NULL);
        g_rec.n = 0;
        gnet_reducer_ready(r, lo);
        int before = g_rec.n;
        gnet_reducer_finish(r);
        printf("  ready(%3zu) started %d; finish started %d more and waited\n", lo, before,
               g_rec.n - before - 1);
        EXPECT(before == buckets_above(r, lo) && events_are(r, r->n_buckets, 1));
    }
    gnet_reducer_destroy(r);
}

/* Without overlap, ready never starts anything; finish starts every bucket in order, then
 * waits once. */
static void test_no_overlap(void)
{
    float arena[ARENA] = {0};
    gnet_reducer *r = reducer(arena, 64, 0);
    for (int step = 0; step < 2; step++) {
        gnet_reducer_begin(r, NULL, NULL);
        g_rec.n = 0;
        for (size_t lo = ARENA + 1; lo-- > 0;)
            gnet_reducer_ready(r, lo);
        EXPECT(g_rec.n == 0);
        gnet_reducer_finish(r);
        EXPECT(r->n_buckets == 4 && events_are(r, r->n_buckets, 1));
    }
    gnet_reducer_destroy(r);
}

/* ---------- the local gradient's norm ---------- */

/* sum over [lo, hi) of (g - base)^2 in double (base NULL: g^2). */
static double direct_sqnorm(const float *g, const float *base, size_t lo, size_t hi)
{
    double s = 0.0;
    for (size_t i = lo; i < hi; i++) {
        double d = (double)g[i] - (base ? (double)base[i] : 0.0);
        s += d * d;
    }
    return s;
}

/* One step of r measuring with be on g (backend memory) freshly set to host_g: at each
 * start, the reducer's sqnorm equals the direct norm of the buckets started so far, taken on
 * the gradients as they were before any all-reduce; after finish, the total. The norm of the
 * all-reduced buffer differs (the check could tell a measurement taken after the all-reduce). */
static void sqnorm_step(gnet_reducer *r, gnet_backend *be, float *g, const float *base,
                        const float *host_g, const float *host_base)
{
    be->upload(be, g, host_g, ARENA);
    g_rec.n = 0;
    gnet_reducer_begin(r, be, base);
    for (size_t lo = ARENA + 1; lo-- > 0;)
        gnet_reducer_ready(r, lo);
    gnet_reducer_finish(r);
    EXPECT(events_are(r, r->n_buckets, 1));
    double want = 0.0;
    for (int k = 0; k < r->n_buckets && k < g_rec.n; k++) {
        want += direct_sqnorm(host_g, host_base, r->buckets[k].lo, r->buckets[k].hi);
        EXPECT_NEAR(g_rec.ev[k].sqnorm, want, 1e-12 * want);
    }
    float after[ARENA];
    be->download(be, after, g, ARENA);
    double post = direct_sqnorm(after, host_base, 0, ARENA);
    printf("  %s, base %s: sqnorm %.9g, direct %.9g (after the all-reduce: %.6g)\n",
           r->overlap ? "overlap" : "no overlap", host_base ? "set" : "NULL", r->sqnorm, want,
           post);
    EXPECT_NEAR(r->sqnorm, want, 1e-12 * want);
    EXPECT(fabs(post - want) > 1.0);
}

/* Two steps each with and without overlap (the second starts again from zero). */
static void sqnorm_steps(gnet_backend *be, const float *host_g, const float *host_base)
{
    float *g = be->alloc(be, ARENA), *base = host_base ? be->alloc(be, ARENA) : NULL;
    if (base)
        be->upload(be, base, host_base, ARENA);
    for (int overlap = 0; overlap <= 1; overlap++) {
        gnet_reducer *r = reducer(g, 64, overlap);
        for (int step = 0; step < 2; step++)
            sqnorm_step(r, be, g, base, host_g, host_base);
        gnet_reducer_destroy(r);
    }
    be->free(be, g);
    if (base)
        be->free(be, base);
}

static void random_floats(gnet_rng *rng, float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(2.0 * gnet_rng_uniform(rng) - 1.0);
}

static void sqnorm_case(int with_base)
{
    gnet_rng rng;
    gnet_rng_init(&rng, gnet_rng_key(20240602, (uint64_t)with_base, 0, 0));
    float g[ARENA], base[ARENA];
    random_floats(&rng, g, ARENA);
    random_floats(&rng, base, ARENA);
    gnet_backend *be = gnet_backend_cpu_create(1);
    sqnorm_steps(be, g, with_base ? base : NULL);
    be->destroy(be);
}

/* begin(r, cpu, base): sum over buckets of |grads - base|^2, each measured before its start. */
static void test_sqnorm_base(void) { sqnorm_case(1); }

/* begin(r, cpu, NULL): sum over buckets of |grads|^2, each measured before its start. */
static void test_sqnorm_plain(void) { sqnorm_case(0); }

/* begin(r, NULL, NULL): no measurement (sqnorm stays 0), the same starts and wait. */
static void test_sqnorm_off(void)
{
    float arena[ARENA];
    for (int i = 0; i < ARENA; i++)
        arena[i] = 1.0f;
    gnet_reducer *r = reducer(arena, 64, 1);
    gnet_reducer_begin(r, NULL, NULL);
    EXPECT(overlapped_step(r));
    for (int k = 0; k < g_rec.n; k++)
        EXPECT(g_rec.ev[k].sqnorm == 0.0);
    EXPECT(r->sqnorm == 0.0);
    gnet_reducer_destroy(r);
}

static const test_case k_cases[] = {
    TEST_CASE(plan),
    TEST_CASE(plan_properties),
    TEST_CASE(overlap_order),
    TEST_CASE(finish_rest),
    TEST_CASE(no_overlap),
    TEST_CASE(sqnorm_base),
    TEST_CASE(sqnorm_plain),
    TEST_CASE(sqnorm_off),
};

int main(int argc, char **argv)
{
    const test_case *tc = test_case_select(argc, argv, k_cases, sizeof k_cases / sizeof k_cases[0]);
    make_specs();
    printf("reducer.%s\n", tc->name);
    tc->run();
    TEST_MAIN_END();
}
