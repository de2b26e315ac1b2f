/* train/placement.c: GPU choice under per-node and per-task binding, shared-GPU detection, and
 * the communicator a CUDA run gets. Pure decisions: no GPU needed. */
#include <stdio.h>
#include <string.h>

#include "test_util.h"
#include "train/placement.h"

static void test_pick_gpu(void)
{
    char why[256] = "";
    /* per-node: 4 ranks, 4 GPUs (or more) -> local rank */
    EXPECT(gnet_pick_gpu(0, 4, 4, why, sizeof why) == 0);
    EXPECT(gnet_pick_gpu(3, 4, 4, why, sizeof why) == 3);
    EXPECT(gnet_pick_gpu(2, 4, 8, why, sizeof why) == 2);
    /* per-task binding: each of 4 ranks sees one GPU -> device 0, for every rank */
    for (int r = 0; r < 4; r++)
        EXPECT(gnet_pick_gpu(r, 4, 1, why, sizeof why) == 0);
    /* one process, one GPU */
    EXPECT(gnet_pick_gpu(0, 1, 1, why, sizeof why) == 0);
    /* 4 ranks, 2 GPUs: sharing -> refused, with a reason naming the counts */
    why[0] = '\0';
    EXPECT(gnet_pick_gpu(3, 4, 2, why, sizeof why) == -1);
    EXPECT(strstr(why, "4 ranks on this node see 2 CUDA devices") != NULL);
    printf("  refusal: %s\n", why);
}

static void test_shared(void)
{
    double distinct[4] = {11, 22, 33, 44}, two_on_one[4] = {11, 22, 11, 44};
    for (int r = 0; r < 4; r++)
        EXPECT(gnet_gpu_shared_with(distinct, 4, r) == -1);
    EXPECT(gnet_gpu_shared_with(two_on_one, 4, 0) == 2);
    EXPECT(gnet_gpu_shared_with(two_on_one, 4, 2) == 0);
    EXPECT(gnet_gpu_shared_with(two_on_one, 4, 1) == -1);
    double one[1] = {5};
    EXPECT(gnet_gpu_shared_with(one, 1, 0) == -1);
}

static void test_comm_choice(void)
{
    EXPECT(strcmp(gnet_cuda_comm_choice(NULL, 1), "serial") == 0);
    EXPECT(strcmp(gnet_cuda_comm_choice("nccl", 1), "nccl") == 0);
    EXPECT(strcmp(gnet_cuda_comm_choice(NULL, 2), "nccl") == 0);
    EXPECT(strcmp(gnet_cuda_comm_choice(NULL, 8), "nccl") == 0);
}

int main(void)
{
    printf("pick_gpu\n");
    test_pick_gpu();
    printf("shared\n");
    test_shared();
    printf("comm choice\n");
    test_comm_choice();
    TEST_MAIN_END();
}
