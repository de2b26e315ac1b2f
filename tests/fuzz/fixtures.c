/* See fixtures.h. The IDX contents follow tests/test_shard.c's generator. */
#define _POSIX_C_SOURCE 200809L
#include "fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data/prepare.h"
#include "../test_files.h"
#include "fuzz.h"

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void write_gz(const char *path, const uint8_t *hdr, size_t hn, const uint8_t *b, size_t n)
{
    gzFile f = gzopen(path, "wb");
    FUZZ_ASSERT(f != NULL);
    FUZZ_ASSERT(gzwrite(f, hdr, (unsigned)hn) == (int)hn && gzwrite(f, b, (unsigned)n) == (int)n);
    FUZZ_ASSERT(gzclose(f) == Z_OK);
}

static void write_idx(const char *dir, const char *prefix, int32_t n)
{
    enum { SB = FIX_ROWS * FIX_COLS };
    uint8_t hdr[16], img[FIX_TRAIN * SB], lab[FIX_TRAIN];
    char path[1024];
    for (int32_t i = 0; i < n; i++) {
        for (int32_t p = 0; p < SB; p++)
            img[i * SB + p] = (uint8_t)(i * 131 + p * 7 + (i >> 5));
        lab[i] = (uint8_t)((i * 7 + i / 10) % 10);
    }
    put_be32(hdr, 0x803), put_be32(hdr + 4, (uint32_t)n), put_be32(hdr + 8, FIX_ROWS);
    put_be32(hdr + 12, FIX_COLS);
    FUZZ_ASSERT(snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, prefix) < (int)sizeof path);
    write_gz(path, hdr, 16, img, (size_t)n * SB);
    put_be32(hdr, 0x801);
    FUZZ_ASSERT(snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix) < (int)sizeof path);
    write_gz(path, hdr, 8, lab, (size_t)n);
}

void fix_prepare(const char *work, gnet_manifest *m)
{
    char src[1024], out[1024];
    snprintf(src, sizeof src, "%s/src", work);
    snprintf(out, sizeof out, "%s/prep", work);
    FUZZ_ASSERT(mkdir(src, 0755) == 0);
    write_idx(src, "train", FIX_TRAIN);
    write_idx(src, "t10k", FIX_TEST);
    gnet_prepare_opts o = {.src = src, .out = out, .shards = FIX_SHARDS, .seed = 0};
    FUZZ_ASSERT(gnet_prepare(&o, m) == 0);
}

size_t fix_ckpt_specs(gnet_param_spec *specs)
{
    specs[0] = test_spec("0.0.weight", 4, 4, 1, 3, 3);
    specs[1] = test_spec("0.0.bias", 1, 4, 0, 0, 0);
    specs[2] = test_spec("2.0.p1_1.weight", 4, 2, 4, 1, 1);
    specs[3] = test_spec("5.weight", 2, 3, 8, 0, 0);
    specs[4] = test_spec("5.bias", 1, 3, 0, 0, 0);
    size_t off = 3; /* gaps: the packed file order differs from the arena's */
    for (int i = 0; i < FIX_CKPT_SPECS; i++) {
        specs[i].offset = off;
        off += specs[i].count + 5;
    }
    return off;
}
