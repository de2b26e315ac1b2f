/* The parameter table: every learnable tensor of the model, in PyTorch state_dict order,
 * as a named slice of the one contiguous parameter arena (gradients and optimizer state use
 * the same offsets in their own arenas). */
#ifndef GNET_PARAMS_H
#define GNET_PARAMS_H

#include <stddef.h>

#define GNET_PARAM_NAME_MAX 48

typedef struct {
    char name[GNET_PARAM_NAME_MAX]; /* state_dict key, e.g. "2.0.p1_1.weight" */
    int ndim; /* 4 for conv weights (OIHW), 2 for linear (out,in), 1 for biases */
    int shape[4];
    size_t offset; /* in floats, into the arena */
    size_t count;  /* product of shape */
} gnet_param_spec;

#endif
