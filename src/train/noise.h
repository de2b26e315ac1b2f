/* The gradient noise scale of McCandlish et al. (2018, "An Empirical Model of Large-Batch
 * Training", appendix A), measured for free from data parallelism. Each step gives the
 * squared norm of mean gradients at two batch sizes: of each micro-batch of b rows (a rank's
 * share, or one micro-batch under --accum-steps), averaged over the n = B/b of them, and of
 * the all-reduced gradient of all B rows. Since E|G_b|^2 = |G|^2 + tr(Sigma)/b, the unbiased
 * estimates are
 *     |G|^2     = (B |G_B|^2 - b mean|G_b|^2) / (B - b)
 *     tr(Sigma) = (mean|G_b|^2 - |G_B|^2) / (1/b - 1/B)
 * Each is smoothed by an exponential moving average (bias-corrected like Adam's, so the first
 * step's estimate is that step's), and B_simple = tr(Sigma) / |G|^2 of the two averages.
 * One plain struct of numbers, so that checkpoints carry it and a resumed run continues it. */
#ifndef GNET_NOISE_H
#define GNET_NOISE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double beta;           /* the moving average's factor */
    double g2_ema, tr_ema; /* the averages before bias correction */
    double weight;         /* 1 - beta^steps: the bias correction */
    int64_t steps;         /* steps measured */
} gnet_noise;

void gnet_noise_init(gnet_noise *n, double beta);
/* One step: small_mean = mean over the B/b micro-batches of |G_b|^2, big = |G_B|^2. */
void gnet_noise_add(gnet_noise *n, double small_mean, double big, double b, double B);
/* The estimates so far (|G|^2, tr(Sigma), B_simple): 0 when no step was measured. */
int gnet_noise_get(const gnet_noise *n, double *g2, double *trace, double *b_simple);
/* The JSON fields `, "gns_g2": .., "gns_trace": .., "b_simple": ..` for a metrics record, or
 * "" when nothing was measured. */
void gnet_noise_fields(const gnet_noise *n, char *buf, size_t len);

#endif
