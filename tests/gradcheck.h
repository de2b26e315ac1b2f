/* A generic finite-difference gradient checker in the Caffe style.
 *
 * The op under test is given as two callbacks over plain host arrays (the callbacks do any
 * layout conversion and backend transfers themselves):
 *   forward(ctx, in, out)          runs the op at the inputs in[0..n_inputs) and writes its
 *                                  out_count outputs (as double, so that an op whose output
 *                                  is a double, like a summed loss, keeps its precision);
 *   backward(ctx, in, g, grad)     given the upstream gradient g (out_count values), writes
 *                                  dL/d in[i] into grad[i] for every checked input
 *                                  (grad[i] is NULL for inputs held fixed).
 * The checker draws g (seeded, uniform in [-1, 1), exactly representable in float), defines
 * L = sum_o g[o] * out[o] in double, and compares the analytical dL/d in[i][j] against the
 * central difference (L(x + h) - L(x - h)) / ((x + h) - (x - h)), where the denominator is
 * the perturbation actually applied in float and L(x + h) - L(x - h) is accumulated as
 * sum g * (out+ - out-) so that unaffected outputs cancel exactly.
 *
 * An element passes when |a - n| <= rtol * max(|a|, |n|) + atol * scale, where scale is the
 * largest |gradient| of that input (analytic over all elements, numeric over the probed
 * ones). The gradient arrays are pre-filled with NaN, so an element the backward callback
 * never writes fails the check even when it is not probed; any non-finite analytic element
 * fails. */
#ifndef GNET_GRADCHECK_H
#define GNET_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name; /* for the report */
    float *data;      /* the point to check at; perturbed in place and restored */
    size_t count;
    int check;        /* 0: held fixed (no gradient) */
} gnet_gc_input;

typedef struct {
    void (*forward)(void *ctx, float *const *in, double *out);
    void (*backward)(void *ctx, float *const *in, const double *g, float *const *grad);
    void *ctx;
    gnet_gc_input *inputs;
    int n_inputs;
    size_t out_count;
    uint64_t seed;
    float step;        /* central-difference step (0: 1e-2) */
    double rtol;       /* 0: 1e-2 */
    double atol;       /* floor, relative to the input's gradient scale (0: 1e-3) */
    size_t max_probes; /* elements probed per input, drawn at random (0: all of them) */
    int quiet;         /* 1: print nothing (for negative controls that are meant to fail) */
} gnet_gradcheck;

typedef struct {
    int ok;
    double worst_ratio;   /* max over inputs and probed elements of |a - n| / tolerance */
    double worst_rel;     /* max |a - n| / max(|a|, |n|, atol * scale) */
    int worst_input;      /* where worst_ratio was reached */
    size_t worst_index;
    double worst_analytic, worst_numeric;
    size_t nonfinite;     /* analytic elements that are NaN or Inf */
} gnet_gc_result;

/* Runs the check and prints one line per checked input. Returns 1 when every element
 * passed. res may be NULL. */
int gnet_gradcheck_run(const gnet_gradcheck *gc, const char *label, gnet_gc_result *res);

#endif
