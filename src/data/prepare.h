/* The writer side of shard.h: converts the original IDX files into a prepared directory
 * (gnet_prepare is a command-line front end to this). docs/data.md has the layout. */
#ifndef GNET_PREPARE_H
#define GNET_PREPARE_H

#include <stdint.h>

#include "data/shard.h"

typedef struct {
    const char *src; /* the four IDX files, gzip or plain (read by gnet_idx_load) */
    const char *out; /* the prepared directory to create */
    int shards;      /* 1..GNET_MAX_SHARDS and at most the training count */
    uint64_t seed;   /* keys the one shuffle of the training set */
    int force;       /* replace an existing out: one gnet_prepare wrote, or an empty one */
} gnet_prepare_opts;

/* Writes everything into OUT.tmp.<pid> next to out (creating out's missing parents) and
 * renames it into place when complete (with force, the old directory is renamed to
 * OUT.old.<pid> first and removed after). Returns 0 and, if m is not NULL, the manifest
 * written; or -1 after one error line naming the file and the problem, with out untouched
 * and neither the temporary directory nor created parents left. */
int gnet_prepare(const gnet_prepare_opts *o, gnet_manifest *m);

#endif
