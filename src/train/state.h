/* The training state across processes and time: initial parameters (from the seed or
 * --init) made identical on every rank, checkpoints of the whole state (parameters, the
 * optimizer's state buffers, where training stands and the epoch's metrics so far; the data order and every
 * random choice derive from (seed, epoch, step), so that is the loader's and the RNG's state
 * too), and exact resumption from one. All functions are collective: every rank calls them
 * at the same point. They return 0, or -1 on every rank after the failing rank printed why. */
#ifndef GNET_STATE_H
#define GNET_STATE_H

#include "train/run.h"

/* --resume PATH: a checkpoint file, or a --out directory holding checkpoint.h5; buf gets the
 * file. */
void gnet_state_resume_file(const char *path, char *buf, size_t n);

/* Parameters from --resume (then *p is where the checkpoint stood), else from path (--init or
 * --eval; NULL: initialised from the seed), broadcast from rank 0 and checked identical. */
int gnet_state_init(gnet_run *r, const char *path, gnet_progress *p);

/* Writes r->save_path (rank 0) with the state of *p. */
int gnet_state_save(gnet_run *r, const gnet_progress *p);

/* Every rank's parameters hash the same as rank 0's (a broken broadcast or all-reduce would
 * otherwise go on as silently different models). */
int gnet_state_check_replicas(gnet_run *r, const char *when);

#endif
