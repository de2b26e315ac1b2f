/* A logical NCHW shape. Activation buffers are plain float arrays (backend->act_count() elements);
 * their physical layout is the backend's choice (the CPU backend keeps oneDNN's nChw16c for every
 * activation but the single-channel input; a 1x1-spatial tensor with a multiple of 16 channels,
 * like the pooled features, is then the same as plain row-major). Only the backend interprets the
 * layout; code outside it moves activations through backend ops, and the edges (input images,
 * logits, parameters) are always plain row-major. */
#ifndef GNET_TENSOR_H
#define GNET_TENSOR_H

#include <stddef.h>

typedef struct {
    int n, c, h, w;
} gnet_shape;

static inline size_t gnet_shape_count(gnet_shape s)
{
    return (size_t)s.n * (size_t)s.c * (size_t)s.h * (size_t)s.w;
}

#endif
