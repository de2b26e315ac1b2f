#include "data/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"

/* Pillow's weights come from plain double arithmetic; a fused multiply-add would change
 * the last bit of a weight and, rarely, an output byte. (GCC in ISO C mode never fuses.) */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* Pillow: 8 bits of result, 2 bits of headroom for negative lobes, the rest fraction. */
#define PRECISION_BITS (32 - 8 - 2)
#define HALF (1 << (PRECISION_BITS - 1))
#define GNET_RESIZE_MAX 4096

/* One axis: for output i, taps [lo[i], lo[i] + len[i]) with weights w[i * ksize ..].
 * When fixed, every output has exactly ksize taps (len[i] == ksize). */
typedef struct {
    int ksize, fixed;
    int32_t *lo, *len, *w;
} axis;

struct gnet_resize_plan {
    int sh, sw, dh, dw;
    int need_h, need_v;
    int row0, rows; /* source rows that the vertical pass reads (Pillow's ybox) */
    axis h, v;
};

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Pillow passes the box edges as float and divides in double. */
static double axis_scale(int in, int out) { return (double)((float)in - 0.0f) / out; }

static int axis_ksize(int in, int out)
{
    double fs = axis_scale(in, out);
    if (fs < 1.0)
        fs = 1.0;
    return (int)ceil(fs) * 2 + 1; /* bilinear support is 1.0 */
}

static size_t axis_bytes(int in, int out)
{
    return align8(sizeof(int32_t) * (size_t)out * (2 + (size_t)axis_ksize(in, out)));
}

static size_t plan_bytes(int sh, int sw, int dh, int dw)
{
    return align8(sizeof(gnet_resize_plan)) + axis_bytes(sw, dw) + axis_bytes(sh, dh);
}

static double bilinear(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static int32_t to_fixed(double k)
{
    double s = k * (1 << PRECISION_BITS);
    return (int32_t)(k < 0 ? -0.5 + s : 0.5 + s);
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc, step for step; the weights are
 * evaluated twice (sum, then normalise) rather than stored as doubles, which gives the
 * same bits because the evaluation is deterministic. */
static void axis_init(axis *a, int in, int out, char *mem)
{
    double scale = axis_scale(in, out), fs = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * fs, ss = 1.0 / fs;
    a->ksize = axis_ksize(in, out);
    a->fixed = 0;
    a->lo = (int32_t *)mem;
    a->len = a->lo + out;
    a->w = a->len + out;
    for (int i = 0; i < out; i++) {
        double center = 0.0f + (i + 0.5) * scale, ww = 0.0;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        lo = lo < 0 ? 0 : lo;
        hi = hi > in ? in : hi;
        int32_t *k = a->w + (size_t)i * a->ksize;
        for (int x = 0; x < hi - lo; x++)
            ww += bilinear((x + lo - center + 0.5) * ss);
        for (int x = 0; x < a->ksize; x++) {
            double w = x < hi - lo ? bilinear((x + lo - center + 0.5) * ss) : 0.0;
            k[x] = to_fixed(ww != 0.0 ? w / ww : w);
        }
        a->lo[i] = lo;
        a->len[i] = hi - lo;
    }
}

/* Moves each window left so that it holds ksize taps inside the image, with zero
 * weights for the added taps: a fixed trip count, and the same sums (0 * pixel = 0). */
static void axis_pad(axis *a, int in, int out)
{
    if (a->ksize > in)
        return;
    for (int i = 0; i < out; i++) {
        int32_t *k = a->w + (size_t)i * a->ksize;
        int shift = a->lo[i] + a->ksize > in ? a->lo[i] + a->ksize - in : 0;
        memmove(k + shift, k, sizeof(int32_t) * (size_t)(a->ksize - shift));
        for (int x = 0; x < shift; x++)
            k[x] = 0;
        a->lo[i] -= shift;
        a->len[i] = a->ksize;
    }
    a->fixed = 1;
}

static gnet_resize_plan *plan_init(void *mem, int sh, int sw, int dh, int dw)
{
    gnet_resize_plan *p = mem;
    char *m = (char *)mem + align8(sizeof *p);
    *p = (gnet_resize_plan){
        .sh = sh, .sw = sw, .dh = dh, .dw = dw, .need_h = sw != dw, .need_v = sh != dh};
    axis_init(&p->h, sw, dw, m);
    axis_init(&p->v, sh, dh, m + axis_bytes(sw, dw));
    p->row0 = p->v.lo[0];
    p->rows = p->v.lo[dh - 1] + p->v.len[dh - 1] - p->row0;
    axis_pad(&p->h, sw, dw);
    /* The horizontal pass only produces rows [row0, row0 + rows). */
    if (p->need_h)
        for (int i = 0; i < dh; i++)
            p->v.lo[i] -= p->row0;
    return p;
}

static uint8_t clip8(int32_t ss)
{
    int32_t v = ss >> PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Horizontal taps are padded to a fixed count (see axis_pad), so that the common
 * upscaling case (3 taps) compiles to straight-line code. */
static void pass_h(const axis *a, const uint8_t *src, int sw, int rows, uint8_t *dst, int dw)
{
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src + (size_t)y * sw;
        uint8_t *out = dst + (size_t)y * dw;
        if (a->fixed && a->ksize == 3) {
            for (int i = 0; i < dw; i++) {
                const uint8_t *px = in + a->lo[i];
                const int32_t *k = a->w + (size_t)i * 3;
                out[i] = clip8(HALF + px[0] * k[0] + px[1] * k[1] + px[2] * k[2]);
            }
            continue;
        }
        for (int i = 0; i < dw; i++) {
            const uint8_t *px = in + a->lo[i];
            const int32_t *k = a->w + (size_t)i * a->ksize;
            int32_t ss = HALF;
            for (int x = 0; x < a->len[i]; x++)
                ss += px[x] * k[x];
            out[i] = clip8(ss);
        }
    }
}

/* The vertical pass runs along contiguous pixels of a row, so it vectorises. Integer
 * sums do not depend on order, so this matches Pillow's tap-innermost loop. Upscaling
 * needs 2 taps per output row; those are summed in registers. */
static void row_2taps(const uint8_t *restrict r0, const uint8_t *restrict r1, int32_t k0,
                      int32_t k1, int w, uint8_t *restrict out)
{
    for (int x = 0; x < w; x++)
        out[x] = clip8(HALF + r0[x] * k0 + r1[x] * k1);
}

static void row_ntaps(const uint8_t *src, int w, const int32_t *k, int n, int32_t *restrict acc,
                      uint8_t *restrict out)
{
    for (int x = 0; x < w; x++)
        acc[x] = HALF;
    for (int t = 0; t < n; t++) {
        const uint8_t *restrict in = src + (size_t)t * w;
        int32_t kt = k[t];
        for (int x = 0; x < w; x++)
            acc[x] += in[x] * kt;
    }
    for (int x = 0; x < w; x++)
        out[x] = clip8(acc[x]);
}

static void pass_v(const axis *a, const uint8_t *src, int w, uint8_t *dst, int dh, int32_t *acc)
{
    for (int i = 0; i < dh; i++) {
        const int32_t *k = a->w + (size_t)i * a->ksize;
        const uint8_t *in = src + (size_t)a->lo[i] * w;
        uint8_t *out = dst + (size_t)i * w;
        if (a->len[i] == 2)
            row_2taps(in, in + w, k[0], k[1], w, out);
        else
            row_ntaps(in, w, k, a->len[i], acc, out);
    }
}

size_t gnet_resize_plan_tmp_bytes(const gnet_resize_plan *p)
{
    size_t acc = p->need_v ? align8(sizeof(int32_t) * (size_t)p->dw) : 0;
    size_t mid = p->need_h && p->need_v ? (size_t)p->rows * p->dw : 0;
    return acc + mid;
}

void gnet_resize_plan_apply(const gnet_resize_plan *p, const uint8_t *src, uint8_t *dst, void *tmp)
{
    if (!p->need_h && !p->need_v) {
        memcpy(dst, src, (size_t)p->sh * p->sw);
    } else if (!p->need_v) {
        pass_h(&p->h, src, p->sw, p->sh, dst, p->dw);
    } else if (!p->need_h) {
        pass_v(&p->v, src, p->sw, dst, p->dh, tmp);
    } else {
        uint8_t *mid = (uint8_t *)tmp + align8(sizeof(int32_t) * (size_t)p->dw);
        pass_h(&p->h, src + (size_t)p->row0 * p->sw, p->sw, p->rows, mid, p->dw);
        pass_v(&p->v, mid, p->dw, dst, p->dh, tmp);
    }
}

static int sizes_ok(int sh, int sw, int dh, int dw)
{
    return sh >= 1 && sw >= 1 && dh >= 1 && dw >= 1 && sh <= GNET_RESIZE_MAX &&
           sw <= GNET_RESIZE_MAX && dh <= GNET_RESIZE_MAX && dw <= GNET_RESIZE_MAX;
}

gnet_resize_plan *gnet_resize_plan_create(int sh, int sw, int dh, int dw)
{
    if (!sizes_ok(sh, sw, dh, dw)) {
        gnet_errorf("resize: sizes %dx%d -> %dx%d outside 1..%d", sh, sw, dh, dw, GNET_RESIZE_MAX);
        return NULL;
    }
    char what[80];
    (void)snprintf(what, sizeof what, "a %dx%d -> %dx%d resize plan", sh, sw, dh, dw);
    void *mem = gnet_malloc(plan_bytes(sh, sw, dh, dw), what);
    if (!mem)
        return NULL;
    return plan_init(mem, sh, sw, dh, dw);
}

void gnet_resize_plan_free(gnet_resize_plan *p) { free(p); }

size_t gnet_resize_scratch_bytes(int sh, int sw, int dh, int dw)
{
    size_t acc = align8(sizeof(int32_t) * (size_t)dw);
    /* The horizontal pass never needs more than all source rows. */
    return plan_bytes(sh, sw, dh, dw) + acc + (size_t)sh * dw;
}

void gnet_resize_u8(const uint8_t *src, int sh, int sw, uint8_t *dst, int dh, int dw, void *scratch)
{
    gnet_resize_plan *p = plan_init(scratch, sh, sw, dh, dw);
    gnet_resize_plan_apply(p, src, dst, (char *)scratch + plan_bytes(sh, sw, dh, dw));
}
