/* The prepared (HDF5) copy of Fashion-MNIST that gnet_prepare writes and the loader reads
 * (docs/data.md has the full layout with an h5dump excerpt).
 *
 * A prepared directory holds:
 *   manifest.txt                 key = value lines (see gnet_manifest): the preparation's id,
 *                                shard count and sizes, image size, seed, source checksums,
 *                                and each .h5 file's size and CRC-32
 *   train-SSSSS-of-NNNNN.h5      the training set, shuffled once (seeded) then split into
 *                                NNNNN shards whose sizes differ by at most one, larger first
 *   test.h5                      the whole test set in file order
 * Every .h5 file has datasets `images` uint8 [n, rows, cols] (chunked, deflate), `labels`
 * uint8 [n] and `global_indices` int64 [n] (the original IDX index of each sample), and root
 * attributes `id` (the preparation id), `shard_index`, `shard_count` (-1 and 1 for
 * test.h5), `seed`, `format_version` and the CRC32s of the four source files.
 *
 * Opening a file first checks its size and CRC-32 against the manifest, before libhdf5 sees a
 * byte of it: libhdf5 1.10 crashes, or allocates without bound, on some damaged files
 * (docs/reliability.md), so a file damaged since gnet_prepare wrote it is refused by name
 * instead. Reading never loads a whole file: each call reads the requested samples through
 * an HDF5 selection. Every failure prints one line naming the file and the problem and
 * returns NULL / -1. A shard is used by one thread at a time. */
#ifndef GNET_SHARD_H
#define GNET_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "core/filesum.h"

#define GNET_MAX_SHARDS 4096
/* `format_version` in manifest.txt and in every .h5 file. Version 2 added the files' sizes
 * and CRC-32s to the manifest. */
#define GNET_PREPARED_VERSION 2

typedef struct {
    char id[64]; /* names the preparation (a hash of the source checksums, seed
                                    and shard count): shards from another one are refused */
    int32_t shards, rows, cols;
    int64_t train_count, test_count;
    int64_t shard_size[GNET_MAX_SHARDS];
    uint64_t seed;
    gnet_file_sum shard_file[GNET_MAX_SHARDS]; /* train-K-of-N.h5 */
    gnet_file_sum test_file;                   /* test.h5 */
} gnet_manifest;

/* Reads and validates DIR/manifest.txt: every key present once and no unknown key, numbers
 * in range, 1 <= shards <= GNET_MAX_SHARDS, shard sizes that sum to train_count, descend and
 * differ by at most one, a size and CRC-32 for every file. */
int gnet_manifest_read(const char *dir, gnet_manifest *m);
/* The manifest's size and CRC-32 of shard `index`'s file (test.h5 for index < 0). */
const gnet_file_sum *gnet_manifest_file(const gnet_manifest *m, int index);

/* DIR/train-SSSSS-of-NNNNN.h5 for index >= 0, DIR/test.h5 for index < 0, into buf[cap].
 * Returns 0, or -1 if it does not fit. */
int gnet_shard_path(char *buf, size_t cap, const char *dir, int index, int shards);

typedef struct gnet_shard gnet_shard;

/* Opens DIR/train-SSSSS-of-NNNNN.h5 (index >= 0) or DIR/test.h5 (index < 0) and checks it
 * against the manifest: its size and CRC-32 first, then the datasets exist with the right
 * type and shape, the id, shard index and count attributes match, the sample count is the
 * manifest's. */
gnet_shard *gnet_shard_open(const char *dir, const gnet_manifest *m, int index);
int64_t gnet_shard_count(const gnet_shard *s);
/* Reads samples idx[0..n) (each in [0, count), any order, repeats allowed) into images
 * (n * rows * cols bytes, in the order of idx) and labels (n bytes); labels >= 10 are an
 * error naming the file and the sample. */
int gnet_shard_read(gnet_shard *s, const int64_t *idx, int n, uint8_t *images, uint8_t *labels);
void gnet_shard_close(gnet_shard *s);

#endif
