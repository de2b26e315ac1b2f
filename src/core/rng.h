/* Counter-based randomness. Every random stream is derived from a key (seed plus the
 * purpose's coordinates: epoch, step, shard, layer), never from time or rank, so a run is
 * reproducible and independent of how many ranks share the work. */
#ifndef GNET_RNG_H
#define GNET_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4]; /* xoshiro256** state */
} gnet_rng;

/* A well-mixed 64-bit key from a seed and up to three coordinates. */
uint64_t gnet_rng_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c);
void gnet_rng_init(gnet_rng *r, uint64_t key);
uint64_t gnet_rng_u64(gnet_rng *r);
/* Uniform in [0, 1) with 24 random bits (exactly representable as float). */
float gnet_rng_uniform(gnet_rng *r);
/* Uniform integer in [0, n), unbiased. */
uint32_t gnet_rng_below(gnet_rng *r, uint32_t n);
/* Fisher-Yates shuffle of perm[0..n). */
void gnet_rng_shuffle(gnet_rng *r, int32_t *perm, int32_t n);

#endif
