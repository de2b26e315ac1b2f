/* Which samples form each batch, and which of them this rank loads. Pure functions of the
 * shard sizes, seed, epoch, global batch, rank and world size, so every rank agrees without
 * talking, and the sequence of global batches does not depend on the number of ranks.
 *
 * TRAIN mode (DistributedSampler semantics, keyed by shard, never by rank):
 *  - S shards of sizes n_0 >= n_1 >= ... (differing by at most one), N = sum.
 *  - Each epoch, shard s is permuted by pi_s: identity without shuffle, else Fisher-Yates from
 *    gnet_rng keyed gnet_rng_key(seed, epoch, s, GNET_SAMPLER_PURPOSE).
 *  - The epoch's global order interleaves the shards: position j is sample pi_s[k] of shard
 *    s = j mod S, k = j div S (j < N covers every sample exactly once).
 *  - Global batch b holds positions [b*B, (b+1)*B). Steps per epoch: floor(N/B) with
 *    drop_last, else ceil(N/B), where positions >= N of the last batch are padding (rows with
 *    zero gradient: the update equals a batch of the real samples, like PyTorch's
 *    DataLoader(drop_last=False) on one process).
 *  - Shard ownership: with S >= P, rank r owns shards s with s mod P == r; with S < P, the
 *    P/S ranks r with r mod S == s share shard s, taking its positions within each batch in
 *    turn (the i-th position of shard s in the batch goes to rank s + S*(i mod (P/S))).
 *  - Requirements (else one error line and NULL): B % P == 0, B % S == 0, and S % P == 0 or
 *    P % S == 0; shard sizes in 1..INT32_MAX, descending, differing by at most one. Then
 *    every rank gets exactly B/P rows of every batch, padding included.
 * EVAL mode (S must be 1; shuffle and drop_last are ignored): rank r takes the contiguous
 * slice [r*N/P, (r+1)*N/P) of the shard in file order, in batches of B/P. Every rank runs
 * ceil(ceil(N/P) / (B/P)) batches, so collectives stay matched; a rank's last batch may be
 * short, or even empty when its slice is shorter than the longest.
 * A rank's rows of a batch are in position order, real samples first; padding rows are
 * {shard -1, index -1}. */
#ifndef GNET_SAMPLER_H
#define GNET_SAMPLER_H

#include <stdint.h>

#define GNET_SAMPLER_PURPOSE 0x73616d70 /* "samp": keeps these streams apart from others */

typedef enum { GNET_SAMPLE_TRAIN, GNET_SAMPLE_EVAL } gnet_sample_mode;

typedef struct {
    gnet_sample_mode mode;
    int n_shards;
    const int64_t *shard_size;
    int global_batch, rank, world;
    int shuffle, drop_last;
    uint64_t seed;
} gnet_sampler_config;

typedef struct {
    int32_t shard;
    int64_t index; /* within the shard */
} gnet_sample_ref;

typedef struct gnet_sampler gnet_sampler;

/* `what` names the data for error messages (e.g. the directory). */
gnet_sampler *gnet_sampler_create(const gnet_sampler_config *c, const char *what);
void gnet_sampler_destroy(gnet_sampler *s);
/* Does `rank` of `world` read shard `shard` of `n_shards` (TRAIN ownership rule)? */
int gnet_sampler_owns(int shard, int n_shards, int rank, int world);
int64_t gnet_sampler_steps(const gnet_sampler *s);   /* this rank's batches per epoch */
int gnet_sampler_local_batch(const gnet_sampler *s); /* B / P */
/* Computes the epoch's permutations of the shards this rank owns (allocation-free after
 * create; nothing to do in EVAL mode). Epoch 0 is set by create. */
void gnet_sampler_set_epoch(gnet_sampler *s, int64_t epoch);
/* This rank's rows of batch b in [0, steps) (out: local_batch entries; the first *valid are
 * samples, the rest padding) and the number of real samples in the whole global batch (the
 * sum of *valid over the ranks). A b outside [0, steps) is a bug: the process ends. */
void gnet_sampler_batch(const gnet_sampler *s, int64_t b, gnet_sample_ref *out, int *valid,
                        int64_t *global_valid);

#endif
