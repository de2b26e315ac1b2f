/* Byte-exact check of gnet_resize against Pillow (tests/resize_ref.py), plus a speed line
 * for the training resize. Usage: test_resize [resize_ref.py [python]]. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/rng.h"
#include "data/resize.h"
#include "test_util.h"

#ifndef GNET_RESIZE_REF
#define GNET_RESIZE_REF "tests/resize_ref.py"
#endif
#ifndef GNET_PYTHON_EXE
#define GNET_PYTHON_EXE "/usr/bin/python3"
#endif

typedef struct {
    int sh, sw, dh, dw;
} dims;

typedef struct {
    int n;
    dims d[256];
    uint8_t *img[256];
} case_list;

static void put_i32(FILE *f, int v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    fwrite(b, 1, 4, f);
}

/* pattern 0: uniform noise, 1: all 0, 2: all 255, 3: 0/255 checkerboard (extremes
 * exercise the clipping and the rounding of the fixed-point weights). */
static void add_case(case_list *c, dims d, int pattern, gnet_rng *r)
{
    uint8_t *p = malloc((size_t)d.sh * d.sw);
    for (int i = 0; i < d.sh * d.sw; i++) {
        int y = i / d.sw, x = i % d.sw;
        p[i] = pattern == 0   ? (uint8_t)gnet_rng_u64(r)
               : pattern == 1 ? 0
               : pattern == 2 ? 255
                              : (uint8_t)(((x + y) & 1) * 255);
    }
    c->d[c->n] = d;
    c->img[c->n++] = p;
}

static void build_cases(case_list *c)
{
    static const dims fixed[] = {{28, 28, 96, 96}, {28, 28, 224, 224}, {28, 28, 28, 28},
                                 {28, 28, 14, 14}, {28, 28, 37, 50},   {5, 5, 7, 7},
                                 {96, 96, 28, 28}, {28, 28, 28, 50},   {28, 28, 50, 28},
                                 {1, 1, 3, 3},     {3, 200, 1, 7},     {224, 224, 28, 28},
                                 {96, 96, 224, 224}, {300, 20, 17, 301}};
    gnet_rng r;
    gnet_rng_init(&r, gnet_rng_key(1234, 0, 0, 0));
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        for (int pat = 0; pat < 6; pat++)
            add_case(c, fixed[i], pat < 3 ? 0 : pat - 2, &r);
    while (c->n < 256) {
        dims d = {1 + (int)gnet_rng_below(&r, 64), 1 + (int)gnet_rng_below(&r, 64),
                  1 + (int)gnet_rng_below(&r, 64), 1 + (int)gnet_rng_below(&r, 64)};
        add_case(c, d, 0, &r);
    }
}

static int run_reference(const case_list *c, const char *dir, const char *py,
                         const char *script, uint8_t **ref, size_t total)
{
    char in[512], out[512], cmd[2048];
    snprintf(in, sizeof in, "%s/in.bin", dir);
    snprintf(out, sizeof out, "%s/out.bin", dir);
    FILE *f = fopen(in, "wb");
    if (!f)
        return -1;
    for (int i = 0; i < c->n; i++) {
        const dims *d = &c->d[i];
        put_i32(f, d->sh), put_i32(f, d->sw), put_i32(f, d->dh), put_i32(f, d->dw);
        fwrite(c->img[i], 1, (size_t)d->sh * d->sw, f);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' '%s'", py, script, in, out);
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "reference failed (status %d): %s\n", rc, cmd);
        remove(in);
        remove(out);
        return -1;
    }
    *ref = malloc(total);
    f = fopen(out, "rb");
    size_t got = f ? fread(*ref, 1, total, f) : 0;
    int extra = f ? fgetc(f) : EOF;
    if (f)
        fclose(f);
    remove(in);
    remove(out);
    return got == total && extra == EOF ? 0 : -1;
}

static void compare(const case_list *c, const uint8_t *ref)
{
    size_t off = 0, bad_total = 0;
    for (int i = 0; i < c->n; i++) {
        const dims *d = &c->d[i];
        size_t nd = (size_t)d->dh * d->dw;
        uint8_t *a = malloc(nd), *b = malloc(nd);
        void *scratch = malloc(gnet_resize_scratch_bytes(d->sh, d->sw, d->dh, d->dw));
        gnet_resize_u8(c->img[i], d->sh, d->sw, a, d->dh, d->dw, scratch);
        gnet_resize_plan *p = gnet_resize_plan_create(d->sh, d->sw, d->dh, d->dw);
        void *tmp = malloc(gnet_resize_plan_tmp_bytes(p) + 1);
        gnet_resize_plan_apply(p, c->img[i], b, tmp);
        size_t bad = 0;
        for (size_t j = 0; j < nd; j++)
            bad += (a[j] != ref[off + j]) + (b[j] != ref[off + j]);
        if (bad)
            fprintf(stderr, "case %d: %dx%d -> %dx%d: %zu mismatches\n", i, d->sh, d->sw,
                    d->dh, d->dw, bad);
        bad_total += bad;
        off += nd;
        free(a), free(b), free(scratch), free(tmp);
        gnet_resize_plan_free(p);
    }
    printf("compared %zu bytes over %d images, %zu mismatches\n", off, c->n, bad_total);
    EXPECT(bad_total == 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Not a pass/fail check: reports what one thread manages for the training resize. */
static void report_speed(void)
{
    enum { N = 20000 };
    static uint8_t src[64][28 * 28], dst[96 * 96];
    gnet_rng r;
    gnet_rng_init(&r, 7);
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 28 * 28; j++)
            src[i][j] = (uint8_t)gnet_rng_u64(&r);
    gnet_resize_plan *p = gnet_resize_plan_create(28, 28, 96, 96);
    void *tmp = malloc(gnet_resize_plan_tmp_bytes(p));
    void *scratch = malloc(gnet_resize_scratch_bytes(28, 28, 96, 96));
    unsigned sum = 0;
    double t0 = now_s();
    for (int i = 0; i < N; i++, sum += dst[i % 9216])
        gnet_resize_plan_apply(p, src[i % 64], dst, tmp);
    double t1 = now_s();
    for (int i = 0; i < N; i++, sum += dst[i % 9216])
        gnet_resize_u8(src[i % 64], 28, 28, dst, 96, 96, scratch);
    double t2 = now_s();
    printf("28->96: plan %.0f images/s, gnet_resize_u8 %.0f images/s (checksum %u)\n",
           N / (t1 - t0), N / (t2 - t1), sum);
    free(tmp), free(scratch);
    gnet_resize_plan_free(p);
}

int main(int argc, char **argv)
{
    const char *script = argc > 1 ? argv[1] : GNET_RESIZE_REF;
    const char *py = argc > 2 ? argv[2] : GNET_PYTHON_EXE;
    static case_list c;
    build_cases(&c);
    size_t total = 0;
    for (int i = 0; i < c.n; i++)
        total += (size_t)c.d[i].dh * c.d[i].dw;

    char dir[] = "/tmp/gnet_test_resize_XXXXXX";
    EXPECT(mkdtemp(dir) != NULL);
    uint8_t *ref = NULL;
    int rc = run_reference(&c, dir, py, script, &ref, total);
    EXPECT(rc == 0); /* no PIL is a failure, not a skip */
    if (rc == 0)
        compare(&c, ref);
    rmdir(dir);
    free(ref);
    for (int i = 0; i < c.n; i++)
        free(c.img[i]);
    EXPECT(gnet_resize_plan_create(0, 28, 96, 96) == NULL);
    report_speed();
    TEST_MAIN_END();
}
