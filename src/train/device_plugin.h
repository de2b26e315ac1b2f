/* The CUDA backend as a plugin: libgnet_cuda.so, built next to gnet_dist (GNET_CUDA builds),
 * holds the CUDA backend, the NCCL communicator and the code that opens them
 * (device_cuda.c); gnet_dist loads it (device.c) only when a run may use a GPU. Linked into
 * gnet_dist, cuDNN, cuBLAS and NCCL cost every process about 0.35 s of start-up (page faults
 * of their relocations and initialisers) even on a machine without a GPU, where the CPU
 * path never calls them. The plugin's own calls into gnet (logging, allocation, the CPU
 * model code) resolve against gnet_dist, which exports its symbols: one copy of each. */
#ifndef GNET_DEVICE_PLUGIN_H
#define GNET_DEVICE_PLUGIN_H

#include <stddef.h>

#include "train/device.h"

#define GNET_CUDA_PLUGIN_FILE "libgnet_cuda.so"
#define GNET_CUDA_PLUGIN_SYMBOL "gnet_cuda_plugin_v1"

typedef struct {
    /* Usable CUDA devices; 0 with the runtime's reason in why. */
    int (*device_count)(char *why, size_t why_len);
    /* gnet_device_open's CUDA half: the backend on this rank's GPU and its communicator
     * (NCCL, or serial for one process); 0, or -1 after printing why. */
    int (*open)(gnet_device *d, const gnet_options *o, gnet_comm *boot, int devices);
    /* "CUDA on (CUDA runtime ..., cuDNN ..., cuBLAS ..., NCCL ...)" */
    void (*versions)(char *buf, size_t n);
} gnet_cuda_plugin;

#endif
