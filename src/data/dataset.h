/* An in-memory labelled set of 8-bit grey images, the epoch order, and batch assembly.
 * Everything random comes from gnet_rng keyed by (seed, epoch), so every rank computes the
 * same order and a run is reproducible. A batch is what torchvision's
 * Compose([Resize(r), ToTensor()]) gives for the same images: PIL's bilinear resize to
 * uint8 (byte-exact, see resize.h), then byte / 255.0f. */
#ifndef GNET_DATASET_H
#define GNET_DATASET_H

#include <stdint.h>

typedef struct {
    int32_t n, h, w;
    uint8_t *images; /* n * h * w bytes, image i at i * h * w */
    uint8_t *labels; /* n bytes, 0..9 */
} gnet_dataset;

/* train: 1 for DIR/train-*, 0 for DIR/t10k-*. Returns 0, or -1 (error printed, *d zeroed). */
int gnet_dataset_load_idx(gnet_dataset *d, const char *dir, int train);
/* n images of uniform random bytes, size x size, labels uniform in 0..9, all determined
 * by seed. Returns 0, or -1 (error printed, *d zeroed) on bad sizes or no memory. */
int gnet_dataset_synthetic(gnet_dataset *d, int32_t n, int size, uint64_t seed);
/* Keeps the first n samples (0 <= n <= d->n), for quick runs on a subset. */
void gnet_dataset_truncate(gnet_dataset *d, int32_t n);
/* Frees the buffers and zeroes *d; a zeroed set is fine. */
void gnet_dataset_free(gnet_dataset *d);

/* The epoch's sample order in perm[0..n): identity if shuffle == 0, otherwise a
 * Fisher-Yates permutation from gnet_rng keyed gnet_rng_key(seed, epoch, 0, 0). */
void gnet_dataset_order(int32_t *perm, int32_t n, int shuffle, uint64_t seed, uint64_t epoch);

/* Owns the resize plan and buffers so that filling a batch allocates nothing. It keeps a
 * pointer to the dataset, which must outlive it. One batcher is for one thread. */
typedef struct gnet_batcher gnet_batcher;
/* r: output side (r x r). NULL (error printed) on a bad r or no memory. */
gnet_batcher *gnet_batcher_create(const gnet_dataset *d, int r);
/* For i in [0, b): image idx[i] resized to r x r (not resized when r == h == w) into
 * x[i * r * r ..] as byte / 255.0f, and its label into y[i]. An idx outside [0, n) is a
 * bug: it ends the process with an error line. */
void gnet_batcher_fill(gnet_batcher *bt, const int32_t *idx, int b, float *x, int32_t *y);
void gnet_batcher_free(gnet_batcher *bt);

#endif
