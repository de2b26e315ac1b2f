/* The backend ops of one training step, as the model itself issues them: a recording backend
 * (ops only note their kind and shape arguments; buffers are never touched) runs
 * gnet_model_create, forward, the loss, backward and the update, so the list follows
 * src/core/model.c's own layer table instead of a copy of it. Used by bench/gpu_ops_bench.c. */
#ifndef GNET_OP_RECORD_H
#define GNET_OP_RECORD_H

#include "core/backend.h"

typedef enum {
    OP_CONV_FWD,
    OP_CONV_DATA,
    OP_CONV_FILTER,
    OP_POOL_FWD,
    OP_POOL_BWD,
    OP_LINEAR_FWD,
    OP_LINEAR_BWD,
    OP_XENT,
    OP_RELU_BWD,
    OP_ADD,
    OP_COPY_CHANNELS,
    OP_SGD,
    OP_SUMSQ,
    OP_COPY,
    OP_KINDS
} op_kind;

#define OP_KEY_LEN 12

/* One distinct op: its kind and shape arguments, and how often a step calls it. key by kind:
 *   conv (all three):  in n c h w, out c h w, k, stride, pad, relu | filter: + accumulate
 *   pool (both):       alg, in n c h w, out h w, k, stride, pad
 *   linear fwd / bwd:  n, in, out | bwd: + has dx, accumulate
 *   softmax_xent:      n, classes
 *   relu_backward, add, sgd, copy: count | sumsq: count, has b
 *   copy_channels:     dst_c, dst_off, src_c, src_off, c, n, hw */
typedef struct {
    op_kind kind;
    long key[OP_KEY_LEN];
    int calls;
} op_rec;

typedef struct {
    op_rec *ops;
    int n, cap;
} op_list;

/* The distinct ops of one step of GoogLeNet at batch x size x size, in first-call order:
 * forward, softmax_xent, backward, SGD with momentum over the arena, and the arena's sumsq
 * and copy (what --noise-scale adds). Returns -1 (after the model's error line) when size is
 * too small for the network. */
int op_record_step(op_list *l, int batch, int size);
void op_list_free(op_list *l);

/* The descriptors a conv / pool record stands for. */
gnet_conv_desc op_conv_desc(const op_rec *r);
gnet_pool_desc op_pool_desc(const op_rec *r);

#endif
