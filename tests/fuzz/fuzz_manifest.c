/* gnet_manifest_read (src/data/shard.c): a prepared directory's manifest.txt. Input: the
 * file's bytes. */
#include <string.h>

#include "data/shard.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[1024];
    static gnet_manifest m; /* 96 KiB of shard sizes and sums: not on the stack */
    if (!path[0])
        fuzz_path(path, sizeof path, "manifest.txt");
    fuzz_write(path, data, size);
    memset(&m, 0, sizeof m);
    if (gnet_manifest_read(fuzz_dir(), &m) != 0)
        return 0;
    /* What the loader relies on (docs/data.md's table). */
    FUZZ_ASSERT(m.shards >= 1 && m.shards <= GNET_MAX_SHARDS);
    FUZZ_ASSERT(m.rows >= 1 && m.rows <= 4096 && m.cols >= 1 && m.cols <= 4096);
    FUZZ_ASSERT(m.test_count >= 1 && m.train_count >= m.shards);
    FUZZ_ASSERT(m.id[0] != '\0' && memchr(m.id, '\0', sizeof m.id));
    int64_t sum = 0;
    for (int k = 0; k < m.shards; k++) {
        FUZZ_ASSERT(m.shard_size[k] >= 1 && m.shard_size[0] - m.shard_size[k] <= 1);
        sum += m.shard_size[k];
    }
    FUZZ_ASSERT(sum == m.train_count);
    return 0;
}
