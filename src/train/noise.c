#include "train/noise.h"

#include <math.h>
#include <stdio.h>

#include "train/json.h"

void gnet_noise_init(gnet_noise *n, double beta) { *n = (gnet_noise){.beta = beta}; }

void gnet_noise_add(gnet_noise *n, double small_mean, double big, double b, double B)
{
    double g2 = (B * big - b * small_mean) / (B - b);
    double trace = (small_mean - big) / (1.0 / b - 1.0 / B);
    n->g2_ema = n->beta * n->g2_ema + (1.0 - n->beta) * g2;
    n->tr_ema = n->beta * n->tr_ema + (1.0 - n->beta) * trace;
    n->weight = n->beta * n->weight + (1.0 - n->beta);
    n->steps++;
}

int gnet_noise_get(const gnet_noise *n, double *g2, double *trace, double *b_simple)
{
    if (n->steps == 0 || n->weight <= 0.0) {
        *g2 = *trace = *b_simple = 0.0;
        return 0;
    }
    *g2 = n->g2_ema / n->weight;
    *trace = n->tr_ema / n->weight;
    *b_simple = *trace / *g2;
    return 1;
}

void gnet_noise_fields(const gnet_noise *n, char *buf, size_t len)
{
    double g2, trace, b_simple;
    if (!gnet_noise_get(n, &g2, &trace, &b_simple)) {
        buf[0] = '\0';
        return;
    }
    /* |G|^2 averaging to exactly 0 gives no ratio; a diverged run, no norms. */
    char a[32], b[32], c[32];
    (void)snprintf(
        buf, len, ", \"gns_g2\": %s, \"gns_trace\": %s, \"b_simple\": %s, \"gns_steps\": %lld",
        gnet_json_num(a, sizeof a, "%.9g", g2), gnet_json_num(b, sizeof b, "%.9g", trace),
        gnet_json_num(c, sizeof c, "%.9g", b_simple), (long long)n->steps);
}
