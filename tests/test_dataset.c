/* Dataset: synthetic data and epoch orders are reproducible from (seed, epoch) and change
 * with them; a batch is exactly resize-to-uint8 then byte / 255 of the chosen images. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "data/resize.h"
#include "test_util.h"

static int same_set(const gnet_dataset *a, const gnet_dataset *b)
{
    size_t px = (size_t)a->n * a->h * a->w;
    return a->n == b->n && a->h == b->h && a->w == b->w &&
           memcmp(a->images, b->images, px) == 0 &&
           memcmp(a->labels, b->labels, (size_t)a->n) == 0;
}

static void test_synthetic(void)
{
    gnet_dataset a, b, c;
    EXPECT(gnet_dataset_synthetic(&a, 500, 28, 42) == 0);
    EXPECT(gnet_dataset_synthetic(&b, 500, 28, 42) == 0);
    EXPECT(gnet_dataset_synthetic(&c, 500, 28, 43) == 0);
    EXPECT(a.n == 500 && a.h == 28 && a.w == 28);
    EXPECT(same_set(&a, &b));
    EXPECT(memcmp(a.images, c.images, 500 * 784) != 0);
    EXPECT(memcmp(a.labels, c.labels, 500) != 0);
    int seen[10] = {0}, classes = 0;
    for (int i = 0; i < a.n; i++) {
        EXPECT(a.labels[i] < 10);
        seen[a.labels[i] % 10] = 1;
    }
    for (int k = 0; k < 10; k++)
        classes += seen[k];
    EXPECT(classes == 10);
    gnet_dataset_truncate(&a, 7);
    EXPECT(a.n == 7 && memcmp(a.images, b.images, 7 * 784) == 0);
    gnet_dataset_free(&a), gnet_dataset_free(&b), gnet_dataset_free(&c);
    EXPECT(a.images == NULL && a.n == 0);
    gnet_dataset d = {.n = 5};
    EXPECT(gnet_dataset_synthetic(&d, 0, 28, 1) == -1 && d.n == 0 && !d.images);
}

static int is_perm(const int32_t *p, int32_t n)
{
    char *seen = calloc((size_t)n, 1);
    int ok = 1;
    for (int32_t i = 0; i < n && ok; i++) {
        ok = p[i] >= 0 && p[i] < n && !seen[p[i]];
        if (ok)
            seen[p[i]] = 1;
    }
    free(seen);
    return ok;
}

static void test_order(void)
{
    enum { N = 1000 };
    static int32_t a[N], b[N], c[N], d[N];
    gnet_dataset_order(a, N, 0, 5, 3);
    int identity = 1;
    for (int i = 0; i < N; i++)
        identity &= a[i] == i;
    EXPECT(identity);
    gnet_dataset_order(a, N, 1, 5, 3);
    gnet_dataset_order(b, N, 1, 5, 3);
    gnet_dataset_order(c, N, 1, 5, 4);
    gnet_dataset_order(d, N, 1, 6, 3);
    EXPECT(is_perm(a, N) && is_perm(c, N) && is_perm(d, N));
    EXPECT(memcmp(a, b, sizeof a) == 0);
    EXPECT(memcmp(a, c, sizeof a) != 0);
    EXPECT(memcmp(a, d, sizeof a) != 0);
    int moved = 0;
    for (int i = 0; i < N; i++)
        moved += a[i] != i;
    EXPECT(moved > N / 2);
}

/* The batcher's output must equal gnet_resize_u8 (checked against Pillow in test_resize)
 * followed by byte / 255.0f, bit for bit. */
static void check_batch(const gnet_dataset *d, int r)
{
    enum { B = 9 };
    const int32_t idx[B] = {3, 0, 17, 17, 5, 19, 1, 8, 12};
    size_t rr = (size_t)r * r;
    float *x = malloc(sizeof(float) * B * rr);
    int32_t y[B];
    uint8_t *want = malloc(rr);
    void *scratch = malloc(gnet_resize_scratch_bytes(d->h, d->w, r, r));
    gnet_batcher *bt = gnet_batcher_create(d, r);
    EXPECT(bt != NULL);
    gnet_batcher_fill(bt, idx, B, x, y);
    size_t bad = 0;
    for (int i = 0; i < B; i++) {
        gnet_resize_u8(d->images + (size_t)idx[i] * d->h * d->w, d->h, d->w, want, r, r,
                       scratch);
        for (size_t j = 0; j < rr; j++) {
            float v = (float)want[j] / 255.0f;
            bad += memcmp(&x[i * rr + j], &v, sizeof v) != 0;
        }
        EXPECT(y[i] == d->labels[idx[i]]);
    }
    printf("batch %dx%d -> %dx%d: %zu mismatches\n", d->h, d->w, r, r, bad);
    EXPECT(bad == 0);
    gnet_batcher_free(bt);
    free(x), free(want), free(scratch);
}

static void test_batcher(void)
{
    gnet_dataset d;
    EXPECT(gnet_dataset_synthetic(&d, 20, 28, 9) == 0);
    check_batch(&d, 96);
    check_batch(&d, 28);
    check_batch(&d, 14);
    /* Without a resize a value is exactly byte / 255 of the source pixel. */
    float x[784];
    int32_t y, k = 4;
    gnet_batcher *bt = gnet_batcher_create(&d, 28);
    gnet_batcher_fill(bt, &k, 1, x, &y);
    EXPECT(x[100] == (float)d.images[4 * 784 + 100] / 255.0f && y == d.labels[4]);
    EXPECT(gnet_batcher_create(&d, 0) == NULL);
    gnet_batcher_free(bt);
    gnet_dataset_free(&d);
}

static void test_load_missing(void)
{
    gnet_dataset d = {.n = 3};
    EXPECT(gnet_dataset_load_idx(&d, "/nonexistent/gnet", 1) == -1);
    EXPECT(d.n == 0 && d.images == NULL && d.labels == NULL);
}

int main(void)
{
    test_synthetic();
    test_order();
    test_batcher();
    test_load_missing();
    TEST_MAIN_END();
}
