/* What the step benchmarks share: "--name value" arguments, one fixed random batch, and the
 * timed loop of whole training steps (forward, softmax-xent, backward, SGD). */
#ifndef GNET_BENCH_UTIL_H
#define GNET_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/clock.h"
#include "core/model.h"
#include "core/rng.h"

static inline const char *bench_arg_str(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

/* A positive integer option, or def. */
static inline int bench_arg_int(int argc, char **argv, const char *name, int def)
{
    int v = atoi(bench_arg_str(argc, argv, name, "0"));
    return v > 0 ? v : def;
}

/* Uniform pixels in backend memory and random labels (host; softmax_xent copies them in). */
static inline float *bench_random_batch(gnet_backend *be, int batch, int size, int32_t *labels)
{
    size_t pixels = (size_t)batch * size * size;
    float *host = malloc(pixels * sizeof(float));
    if (!host) {
        fprintf(stderr, "bench: out of host memory\n");
        exit(1);
    }
    gnet_rng r;
    gnet_rng_init(&r, gnet_rng_key(7, 0, 0, 0));
    for (size_t i = 0; i < pixels; i++)
        host[i] = (float)gnet_rng_uniform(&r);
    for (int i = 0; i < batch; i++)
        labels[i] = (int32_t)gnet_rng_below(&r, GNET_CLASSES);
    float *x = be->alloc(be, pixels);
    be->upload(be, x, host, pixels);
    free(host);
    return x;
}

/* What a step benchmark trains: the model at batch x size (Xavier init, seed 1), a random
 * batch in backend memory (*x) and its labels (*y, host). 0, or 1 when the model does not fit. */
static inline int bench_setup(gnet_backend *be, int batch, int size, gnet_model **m, float **x, int32_t **y)
{
    *m = gnet_model_create(be, batch, size);
    if (!*m)
        return 1;
    gnet_model_init(*m, 1, GNET_INIT_XAVIER);
    *y = malloc(sizeof(int32_t) * (size_t)batch);
    if (!*y) {
        fprintf(stderr, "bench: out of host memory\n");
        exit(1);
    }
    *x = bench_random_batch(be, batch, size, *y);
    return 0;
}

/* Seconds per step over `steps` steps after `warmup` untimed ones; *loss: the last mean loss.
 * Each step's loss is read after the next step is queued, as the trainer reads it, so the
 * host never waits for the step it just queued. */
static inline double bench_step_seconds(gnet_backend *be, gnet_model *m, const float *x, const int32_t *y,
                                        int warmup, int steps, double *loss)
{
    int batch = m->batch;
    double t0 = 0.0, sum = 0.0;
    int64_t correct;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) {
            be->sync(be);
            t0 = gnet_now();
        }
        gnet_model_forward(m, x);
        be->softmax_xent(be, batch, GNET_CLASSES, m->logits, y, 0.0f, 1.0f / (float)batch, m->dlogits);
        gnet_model_backward(m, 0, NULL);
        be->sgd(be, m->params, m->grads, NULL, m->n_weights, 0.05f, 0.0f, 0.0f, 0, s == 0, 1.0f);
        be->tally_close(be);
        if (s > 0)
            be->tally_take(be, &sum, &correct); /* the step before's */
    }
    be->tally_take(be, &sum, &correct); /* the last step's */
    be->sync(be);
    *loss = sum / batch;
    return (gnet_now() - t0) / steps;
}

/* The most samples bench_median_step_seconds takes. */
#define BENCH_MAX_SAMPLES 9

/* The median over `samples` (1..BENCH_MAX_SAMPLES) of bench_step_seconds, each of `steps` steps,
 * the warmup before the first only: one sample is one number, and a GPU's clocks and the host's
 * scheduling make single samples of a few steps noisy. each[] receives the samples as run. */
static inline double bench_median_step_seconds(gnet_backend *be, gnet_model *m, const float *x,
                                               const int32_t *y, int warmup, int steps, int samples,
                                               double *each, double *loss)
{
    double sorted[BENCH_MAX_SAMPLES] = {0};
    samples = samples < 1 ? 1 : samples > BENCH_MAX_SAMPLES ? BENCH_MAX_SAMPLES : samples;
    for (int i = 0; i < samples; i++) {
        each[i] = bench_step_seconds(be, m, x, y, i == 0 ? warmup : 0, steps, loss);
        int j = i; /* insertion into sorted[0..i] */
        for (; j > 0 && sorted[j - 1] > each[i]; j--)
            sorted[j] = sorted[j - 1];
        sorted[j] = each[i];
    }
    return samples % 2 ? sorted[samples / 2] : 0.5 * (sorted[samples / 2 - 1] + sorted[samples / 2]);
}

#endif
