/* Sampler: for every shard layout, rank count, batch and option, the ranks agree on the
 * number of steps, each gets B/P rows, together they load exactly the one-rank batch, an
 * epoch visits every sample once, and a rank reads only its own shards. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "data/sampler.h"
#include "test_util.h"

#define N_TOTAL 1003
#define MAX_WORLD 8
#define MAX_BATCH 64

typedef struct {
    int S;
    int64_t size[8];
} layout;

/* N split into S shards whose sizes descend and differ by at most one. */
static layout make_layout(int S, int64_t n)
{
    layout L = {S, {0}};
    for (int s = 0; s < S; s++)
        L.size[s] = (n - s + S - 1) / S;
    return L;
}

static gnet_sampler_config train_cfg(const layout *L, int B, int rank, int P, int shuffle,
                                     int drop_last, uint64_t seed)
{
    return (gnet_sampler_config){GNET_SAMPLE_TRAIN, L->S, L->size, B, rank, P,
                                 shuffle, drop_last, seed};
}

static int64_t key(gnet_sample_ref r) { return (int64_t)r.shard * N_TOTAL + r.index; }

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The sorted keys of a batch's real rows; returns their count. */
static int sorted_keys(const gnet_sample_ref *rows, int n, int64_t *keys)
{
    for (int i = 0; i < n; i++)
        keys[i] = key(rows[i]);
    qsort(keys, (size_t)n, sizeof *keys, cmp_i64);
    return n;
}

typedef struct {
    const layout *L;
    int B, P, shuffle, drop_last;
    gnet_sampler *one, *rank[MAX_WORLD];
    int seen[8 * N_TOTAL];
    int64_t seen_total;
} train_check;

/* Batch b on every rank against the one-rank batch b. */
static void check_train_batch(train_check *t, int64_t b)
{
    gnet_sample_ref ref[MAX_BATCH], rows[MAX_BATCH];
    int64_t want[MAX_BATCH], got[MAX_BATCH], gv_one, gv;
    int v_one, v, n_got = 0;
    gnet_sampler_batch(t->one, b, ref, &v_one, &gv_one);
    int64_t left = N_TOTAL - b * t->B;
    EXPECT(v_one == gv_one && gv_one == (left < t->B ? left : t->B));
    for (int r = 0; r < t->P; r++) {
        EXPECT(gnet_sampler_local_batch(t->rank[r]) == t->B / t->P);
        gnet_sampler_batch(t->rank[r], b, rows, &v, &gv);
        EXPECT(gv == gv_one && v >= 0 && v <= t->B / t->P);
        for (int i = 0; i < t->B / t->P; i++) {
            if (i >= v) {
                EXPECT(rows[i].shard == -1 && rows[i].index == -1);
                continue;
            }
            EXPECT(gnet_sampler_owns(rows[i].shard, t->L->S, r, t->P));
            EXPECT(rows[i].index >= 0 && rows[i].index < t->L->size[rows[i].shard]);
            got[n_got++] = key(rows[i]);
            t->seen[key(rows[i])]++;
        }
    }
    EXPECT(n_got == gv_one);
    t->seen_total += n_got;
    sorted_keys(ref, v_one, want);
    qsort(got, (size_t)n_got, sizeof *got, cmp_i64);
    EXPECT(n_got == v_one && memcmp(want, got, sizeof(int64_t) * (size_t)n_got) == 0);
}

static void check_train_epoch(train_check *t, int64_t epoch)
{
    int64_t steps = gnet_sampler_steps(t->one);
    EXPECT(steps == (t->drop_last ? N_TOTAL / t->B : (N_TOTAL + t->B - 1) / t->B));
    gnet_sampler_set_epoch(t->one, epoch);
    for (int r = 0; r < t->P; r++) {
        gnet_sampler_set_epoch(t->rank[r], epoch);
        EXPECT(gnet_sampler_steps(t->rank[r]) == steps);
    }
    memset(t->seen, 0, sizeof t->seen);
    t->seen_total = 0;
    for (int64_t b = 0; b < steps; b++)
        check_train_batch(t, b);
    int bad = 0;
    for (int s = 0; s < t->L->S; s++)
        for (int64_t i = 0; i < t->L->size[s]; i++) {
            int c = t->seen[s * N_TOTAL + i];
            bad += t->drop_last ? c > 1 : c != 1;
        }
    EXPECT(bad == 0);
    EXPECT(t->seen_total == (t->drop_last ? N_TOTAL / t->B * t->B : N_TOTAL));
}

static int valid_setup(int S, int P, int B)
{
    return B % P == 0 && B % S == 0 && (S % P == 0 || P % S == 0);
}

static void test_train_properties(void)
{
    static const int shards[] = {1, 2, 4, 8}, worlds[] = {1, 2, 4, 8}, batches[] = {8, 16, 32, 64};
    static train_check t;
    int configs = 0;
    for (int si = 0; si < 4; si++) {
        layout L = make_layout(shards[si], N_TOTAL);
        for (int pi = 0; pi < 4; pi++)
            for (int bi = 0; bi < 4; bi++)
                for (int opt = 0; opt < 4; opt++) {
                    int S = shards[si], P = worlds[pi], B = batches[bi];
                    if (!valid_setup(S, P, B))
                        continue;
                    t.L = &L, t.B = B, t.P = P, t.shuffle = opt & 1, t.drop_last = opt >> 1;
                    gnet_sampler_config c = train_cfg(&L, B, 0, 1, t.shuffle, t.drop_last, 11);
                    t.one = gnet_sampler_create(&c, "one");
                    for (int r = 0; r < P; r++) {
                        c = train_cfg(&L, B, r, P, t.shuffle, t.drop_last, 11);
                        t.rank[r] = gnet_sampler_create(&c, "rank");
                        EXPECT(t.rank[r] != NULL);
                    }
                    EXPECT(t.one != NULL);
                    check_train_epoch(&t, 0);
                    check_train_epoch(&t, 1);
                    gnet_sampler_destroy(t.one);
                    for (int r = 0; r < P; r++)
                        gnet_sampler_destroy(t.rank[r]);
                    configs++;
                }
    }
    printf("train: %d configurations checked\n", configs);
    EXPECT(configs > 100);
}

/* The whole epoch's order (one rank, keys in position order). */
static void epoch_order(const layout *L, int shuffle, uint64_t seed, int64_t epoch, int64_t *out)
{
    gnet_sampler_config c = train_cfg(L, 8, 0, 1, shuffle, 0, seed);
    gnet_sampler *s = gnet_sampler_create(&c, "order");
    gnet_sample_ref rows[8];
    int v;
    int64_t gv, n = 0;
    gnet_sampler_set_epoch(s, epoch);
    for (int64_t b = 0; b < gnet_sampler_steps(s); b++) {
        gnet_sampler_batch(s, b, rows, &v, &gv);
        for (int i = 0; i < v; i++)
            out[n++] = key(rows[i]);
    }
    EXPECT(n == N_TOTAL);
    gnet_sampler_destroy(s);
}

static void test_shuffle(void)
{
    static int64_t a[N_TOTAL], b[N_TOTAL], c[N_TOTAL], d[N_TOTAL];
    layout L = make_layout(4, N_TOTAL);
    size_t bytes = sizeof a;
    epoch_order(&L, 1, 5, 0, a);
    epoch_order(&L, 1, 5, 0, b);
    epoch_order(&L, 1, 5, 1, c);
    epoch_order(&L, 1, 6, 0, d);
    EXPECT(memcmp(a, b, bytes) == 0);
    EXPECT(memcmp(a, c, bytes) != 0);
    EXPECT(memcmp(a, d, bytes) != 0);
    epoch_order(&L, 0, 5, 3, a);
    int interleaved = 1;
    for (int64_t j = 0; j < N_TOTAL; j++)
        interleaved &= a[j] == (j % 4) * N_TOTAL + j / 4;
    EXPECT(interleaved);
    /* Position j is sample perm_s[j / S] of shard s = j % S, perm_s from the documented
     * key (so another implementation can reproduce the order). */
    epoch_order(&L, 1, 5, 2, a);
    int as_documented = 1, moved = 0;
    for (int s = 0; s < 4; s++) {
        static int32_t perm[N_TOTAL];
        int32_t n = (int32_t)L.size[s];
        for (int32_t k = 0; k < n; k++)
            perm[k] = k;
        gnet_rng r;
        gnet_rng_init(&r, gnet_rng_key(5, 2, (uint64_t)s, GNET_SAMPLER_PURPOSE));
        gnet_rng_shuffle(&r, perm, n);
        for (int32_t k = 0; k < n; k++) {
            as_documented &= a[s + 4 * k] == s * N_TOTAL + perm[k];
            moved += perm[k] != k;
        }
    }
    EXPECT(as_documented && moved > N_TOTAL / 2);
}

/* Runs create with stderr sent to a file; returns the sampler and the text printed. */
static gnet_sampler *create_capturing(const gnet_sampler_config *c, const char *what,
                                      char *text, size_t cap)
{
    test_capture capture;
    test_capture_begin(&capture);
    gnet_sampler *s = gnet_sampler_create(c, what);
    test_capture_end(&capture, text, cap);
    return s;
}

static int count_lines(const char *t)
{
    int n = 0;
    for (; *t; t++)
        n += *t == '\n';
    return n;
}

static void expect_refused(const layout *L, int B, int P, int mode)
{
    char text[1024];
    gnet_sampler_config c = train_cfg(L, B, 0, P, 1, 0, 1);
    c.mode = mode;
    gnet_sampler *s = create_capturing(&c, "/data/prep-x", text, sizeof text);
    printf("S=%d P=%d B=%d: %s", L->S, P, B, text);
    EXPECT(s == NULL);
    EXPECT(count_lines(text) == 1 && strstr(text, "/data/prep-x") != NULL);
}

static void test_bad_configs(void)
{
    layout L1 = make_layout(1, 100), L3 = make_layout(3, 100), L8 = make_layout(8, 100);
    expect_refused(&L1, 10, 4, GNET_SAMPLE_TRAIN); /* B % P */
    expect_refused(&L8, 12, 2, GNET_SAMPLE_TRAIN); /* B % S */
    expect_refused(&L3, 6, 2, GNET_SAMPLE_TRAIN);  /* neither S % P nor P % S */
    expect_refused(&L8, 16, 2, GNET_SAMPLE_EVAL);  /* evaluation reads one shard */
    expect_refused(&L1, 10, 4, GNET_SAMPLE_EVAL);
    layout uneven = {2, {50, 48}}, rising = {2, {49, 50}};
    expect_refused(&uneven, 8, 1, GNET_SAMPLE_TRAIN);
    expect_refused(&rising, 8, 1, GNET_SAMPLE_TRAIN);
    layout ok = {2, {50, 49}};
    char text[256];
    gnet_sampler_config c = train_cfg(&ok, 8, 1, 2, 1, 0, 1);
    gnet_sampler *s = create_capturing(&c, "ok", text, sizeof text);
    EXPECT(s != NULL && text[0] == '\0');
    gnet_sampler_destroy(s);
}

/* Rank r reads [r*N/P, (r+1)*N/P) in order, batches of B/P; all ranks run the same number
 * of batches (a shorter slice ends with a short or empty one). */
static void check_eval(int64_t n, int B, int P)
{
    layout L = make_layout(1, n);
    char *seen = calloc((size_t)n, 1);
    int64_t steps = -1, covered = 0;
    gnet_sample_ref rows[MAX_BATCH];
    for (int r = 0; r < P; r++) {
        gnet_sampler_config c = train_cfg(&L, B, r, P, 1, 1, 3);
        c.mode = GNET_SAMPLE_EVAL;
        gnet_sampler *s = gnet_sampler_create(&c, "eval");
        EXPECT(s != NULL && gnet_sampler_local_batch(s) == B / P);
        if (steps < 0)
            steps = gnet_sampler_steps(s);
        EXPECT(gnet_sampler_steps(s) == steps);
        int64_t next = r * n / P, end = (r + 1) * n / P;
        for (int64_t b = 0; b < steps; b++) {
            int v;
            int64_t gv;
            gnet_sampler_batch(s, b, rows, &v, &gv);
            int64_t want = end - next < B / P ? end - next : B / P;
            EXPECT(v == want);
            EXPECT(gv >= v);
            for (int i = 0; i < v; i++) {
                EXPECT(rows[i].shard == 0 && rows[i].index == next);
                if (rows[i].index >= 0 && rows[i].index < n && !seen[rows[i].index]++)
                    covered++;
                next++;
            }
        }
        EXPECT(next == end);
        gnet_sampler_destroy(s);
    }
    EXPECT(covered == n);
    free(seen);
}

/* global_valid in EVAL is the sum of the ranks' valid counts. */
static void check_eval_global(int64_t n, int B, int P)
{
    layout L = make_layout(1, n);
    gnet_sampler *s[MAX_WORLD];
    for (int r = 0; r < P; r++) {
        gnet_sampler_config c = train_cfg(&L, B, r, P, 0, 0, 3);
        c.mode = GNET_SAMPLE_EVAL;
        s[r] = gnet_sampler_create(&c, "eval");
    }
    gnet_sample_ref rows[MAX_BATCH];
    for (int64_t b = 0; b < gnet_sampler_steps(s[0]); b++) {
        int64_t sum = 0, gv = 0;
        for (int r = 0; r < P; r++) {
            int v;
            gnet_sampler_batch(s[r], b, rows, &v, &gv);
            sum += v;
        }
        EXPECT(gv == sum);
    }
    for (int r = 0; r < P; r++)
        gnet_sampler_destroy(s[r]);
}

static void test_eval(void)
{
    static const int worlds[] = {1, 2, 4, 8}, batches[] = {8, 16, 64};
    for (int pi = 0; pi < 4; pi++)
        for (int bi = 0; bi < 3; bi++) {
            check_eval(N_TOTAL, batches[bi], worlds[pi]);
            check_eval_global(N_TOTAL, batches[bi], worlds[pi]);
        }
    check_eval(17, 8, 2); /* slices 8 and 9 in batches of 4: rank 0's third is empty */
    check_eval_global(17, 8, 2);
    check_eval(3, 16, 8); /* most ranks have nothing at all */
    check_eval_global(3, 16, 8);
}

static void test_owns(void)
{
    /* S >= P: shard s belongs to rank s % P alone; S < P: ranks r % S == s share shard s. */
    EXPECT(gnet_sampler_owns(5, 8, 1, 4) && !gnet_sampler_owns(5, 8, 0, 4));
    EXPECT(gnet_sampler_owns(1, 2, 3, 8) && !gnet_sampler_owns(0, 2, 3, 8));
    for (int s = 0; s < 8; s++) {
        int owners = 0;
        for (int r = 0; r < 4; r++)
            owners += gnet_sampler_owns(s, 8, r, 4);
        EXPECT(owners == 1);
    }
}

int main(void)
{
    test_owns();
    test_train_properties();
    test_shuffle();
    test_bad_configs();
    test_eval();
    TEST_MAIN_END();
}
