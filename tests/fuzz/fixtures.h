/* What a harness and the corpus generator (make_corpus.c) must agree on: the small prepared
 * directory that the shard harness checks its input against, and the parameter table of the
 * checkpoint harness. */
#ifndef GNET_FUZZ_FIXTURES_H
#define GNET_FUZZ_FIXTURES_H

#include "core/params.h"
#include "data/shard.h"

#define FIX_SHARDS 2
#define FIX_ROWS 5
#define FIX_COLS 7
#define FIX_TRAIN 12
#define FIX_TEST 5

/* Writes small IDX files (FIX_TRAIN / FIX_TEST samples of FIX_ROWS x FIX_COLS) under
 * work/src and prepares them with gnet_prepare into work/prep (FIX_SHARDS shards, seed 0),
 * filling *m. The same work on any machine gives the same files and id. Aborts on failure. */
void fix_prepare(const char *work, gnet_manifest *m);

/* The checkpoint harness's model: 5 tensors in the shapes of a conv, a bias and a linear
 * layer, at gapped offsets; returns the arena size in floats. */
#define FIX_CKPT_SPECS 5
size_t fix_ckpt_specs(gnet_param_spec *specs);

#endif
