#include "train/placement.h"

#include <stdio.h>
#include <string.h>

int gnet_pick_gpu(int local_rank, int local_size, int visible, char *why, size_t why_len)
{
    if (visible == 1)
        return 0;
    if (visible >= local_size)
        return local_rank;
    (void)snprintf(
        why, why_len,
        "%d ranks on this node see %d CUDA devices: start at most %d ranks per node, or bind "
        "one GPU per rank (srun --gpus-per-task=1, or CUDA_VISIBLE_DEVICES per rank)",
        local_size, visible, visible);
    return -1;
}

int gnet_gpu_shared_with(const double *ids, int world, int rank)
{
    for (int r = 0; r < world; r++)
        if (r != rank && ids[r] == ids[rank])
            return r;
    return -1;
}

const char *gnet_cuda_comm_choice(const char *asked, int world)
{
    if ((asked && strcmp(asked, "nccl") == 0) || world > 1)
        return "nccl";
    return "serial";
}
