/* gnet_idx_load (src/data/idx.c): the IDX image and label files, gzip or plain.
 * Input: byte 0 = flags (bit 0: the images file is named .gz, bit 1: the labels file), bytes
 * 1..4 = the images file's length n (little-endian, clipped to what is left), then n bytes of
 * the images file and the rest as the labels file. Contents may be gzip or plain under either
 * name (zlib reads both), as a damaged download may be. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "data/idx.h"
#include "fuzz.h"

/* Writes one of the pair under its plain or .gz name and removes the other name (the reader
 * prefers .gz when both exist). */
static void put(const char *kind, int d, int gz, const uint8_t *data, size_t size)
{
    char name[64], path[1024], other[1024];
    snprintf(name, sizeof name, "train-%s-idx%d-ubyte%s", kind, d, gz ? ".gz" : "");
    fuzz_path(path, sizeof path, name);
    snprintf(name, sizeof name, "train-%s-idx%d-ubyte%s", kind, d, gz ? "" : ".gz");
    fuzz_path(other, sizeof other, name);
    unlink(other);
    fuzz_write(path, data, size);
}

static int zeroed(const gnet_idx_set *s)
{
    return s->n == 0 && s->rows == 0 && s->cols == 0 && !s->images && !s->labels;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    uint32_t n = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
                 (uint32_t)data[4] << 24;
    size_t rest = size - 5, img = n < rest ? n : rest;
    put("images", 3, data[0] & 1, data + 5, img);
    put("labels", 1, data[0] & 2, data + 5 + img, rest - img);

    gnet_idx_set s;
    memset(&s, 0x5a, sizeof s);
    if (gnet_idx_load(fuzz_dir(), "train", &s) == 0) {
        /* A loaded set is complete and valid, as idx.h promises. */
        FUZZ_ASSERT(s.n >= 1 && s.rows >= 1 && s.rows <= 4096 && s.cols >= 1 && s.cols <= 4096);
        FUZZ_ASSERT(s.images && s.labels);
        for (int32_t i = 0; i < s.n; i++)
            FUZZ_ASSERT(s.labels[i] < 10);
        gnet_idx_free(&s);
    }
    FUZZ_ASSERT(zeroed(&s)); /* after a failure, or after gnet_idx_free */
    return 0;
}
