/* Where samples come from: shards of 8-bit images with labels, read by (shard, index). Two
 * sources: an in-memory set (IDX files or synthetic; one shard) and the prepared HDF5
 * directory (opens only the shards this rank owns, and test.h5 for evaluation). */
#ifndef GNET_SOURCE_H
#define GNET_SOURCE_H

#include <stdint.h>

#include "data/dataset.h"

typedef struct gnet_source gnet_source;
struct gnet_source {
    int n_shards;
    const int64_t *shard_size;
    int rows, cols;
    /* Reads samples idx[0..n) of `shard` (in that order) into images (n*rows*cols bytes) and
     * labels. One thread at a time. 0, or -1 after one error line. */
    int (*read)(gnet_source *src, int shard, const int64_t *idx, int n, uint8_t *images,
                uint8_t *labels);
    void (*destroy)(gnet_source *src);
    void *impl;
};

/* One shard holding the whole set; d must outlive the source. */
gnet_source *gnet_source_from_dataset(const gnet_dataset *d);
/* split "train": the shards of DIR that `rank` of `world` owns (others are not opened and
 * reading them is an error); split "test": DIR/test.h5 as one shard. NULL after one error
 * line (missing or inconsistent files, a shard from another preparation). */
gnet_source *gnet_source_open_prepared(const char *dir, const char *split, int rank, int world);

#endif
