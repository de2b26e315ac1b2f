/* Where a rank runs, as pure decisions (no CUDA call), so that they are tested without a GPU:
 * which of the visible GPUs a rank takes, whether two ranks ended up on one GPU, and which
 * communicator carries a CUDA run's gradients. train/device.c applies them. */
#ifndef GNET_PLACEMENT_H
#define GNET_PLACEMENT_H

#include <stddef.h>

/* The device index (among the `visible` ones) for local rank `local_rank` of `local_size`
 * ranks on this node:
 *   visible == 1           device 0: per-task binding (srun --gpus-per-task=1, --gpu-bind,
 *                          CUDA_VISIBLE_DEVICES set per rank) shows each rank only its own GPU;
 *   visible >= local_size  device local_rank: one GPU per rank of the node;
 *   otherwise              -1, with why[] saying that ranks would have to share GPUs. */
int gnet_pick_gpu(int local_rank, int local_size, int visible, char *why, size_t why_len);

/* ids[0..world): each rank's GPU identity (equal ids = the same physical GPU). The lowest
 * rank other than `rank` with rank's id, or -1 when rank's GPU is its own. */
int gnet_gpu_shared_with(const double *ids, int world, int rank);

/* A CUDA run's gradient communicator: "nccl" when asked for (--comm nccl) or when there are
 * several ranks; "serial" for one process (no NCCL bootstrap, topology detection or per-step
 * poll around an all-reduce of one). asked: --comm, or NULL. ("mpi" is refused before.) */
const char *gnet_cuda_comm_choice(const char *asked, int world);

#endif
