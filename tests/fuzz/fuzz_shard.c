/* gnet_shard_open + gnet_shard_read (src/data/shard.c, core/h5util.c): a prepared HDF5 file
 * checked against its manifest, then read. The manifest is a real one (fixtures.h prepares a
 * small directory once per process); the input replaces one of its files. Input: byte 0 picks
 * the file (its low 7 bits: 0 test.h5, 1..FIX_SHARDS train shard 0.., modulo FIX_SHARDS + 1),
 * the rest is the file. Byte 0 below 0x80: the manifest vouches for the input (its size and
 * CRC-32), as for a crafted file, so libhdf5 and the checks behind the checksum see it; from
 * 0x80: the manifest's own sums, which refuse any input but the file itself. */
#include <stdio.h>
#include <stdlib.h>

#include "data/shard.h"
#include "fixtures.h"
#include "fuzz.h"

static gnet_manifest g_m;
static char g_prep[1024];

/* Reads every sample, last first, and sample 0 twice: on success each label is a class. */
static void read_all(gnet_shard *s, int64_t count)
{
    int n = (int)count + 1;
    int64_t idx[FIX_TRAIN + 1];
    uint8_t images[(FIX_TRAIN + 1) * FIX_ROWS * FIX_COLS], labels[FIX_TRAIN + 1];
    for (int i = 0; i < n - 1; i++)
        idx[i] = count - 1 - i;
    idx[n - 1] = 0;
    if (gnet_shard_read(s, idx, n, images, labels) == 0)
        for (int i = 0; i < n; i++)
            FUZZ_ASSERT(labels[i] < 10);
    idx[0] = count; /* one past the end: always refused */
    FUZZ_ASSERT(gnet_shard_read(s, idx, 1, images, labels) == -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_prep[0]) {
        fix_prepare(fuzz_dir(), &g_m);
        fuzz_path(g_prep, sizeof g_prep, "prep");
    }
    if (size < 1)
        return 0;
    int index = (data[0] & 0x7f) % (FIX_SHARDS + 1) - 1;
    char path[1100];
    FUZZ_ASSERT(gnet_shard_path(path, sizeof path, g_prep, index, FIX_SHARDS) == 0);
    fuzz_write(path, data + 1, size - 1);
    static gnet_manifest m; /* 96 KiB: not on the stack */
    m = g_m;
    if (!(data[0] & 0x80))
        *(index < 0 ? &m.test_file : &m.shard_file[index]) =
            gnet_file_sum_of(data + 1, size - 1);

    long ids = fuzz_h5_ids();
    gnet_shard *s = gnet_shard_open(g_prep, &m, index);
    if (s) {
        int64_t want = index < 0 ? g_m.test_count : g_m.shard_size[index];
        FUZZ_ASSERT(gnet_shard_count(s) == want);
        read_all(s, want);
        gnet_shard_close(s);
    }
    /* Every identifier the reader opened is closed again. */
    FUZZ_ASSERT(fuzz_h5_ids() == ids);
    return 0;
}
