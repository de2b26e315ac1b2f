/* The slot queue of what is read one step late (src/core/fifo.h): slots come back oldest
 * first, across the wrap-around; a full queue refuses a push and an empty one a pop; and the
 * trainer's pattern (queue a step, read all but the newest; drain) never holds more than two. */
#include "core/fifo.h"
#include "test_util.h"

static void test_order_and_limits(void)
{
    gnet_fifo f;
    gnet_fifo_init(&f, 3);
    EXPECT(gnet_fifo_pop(&f) == -1);
    EXPECT(gnet_fifo_push(&f) == 0);
    EXPECT(gnet_fifo_push(&f) == 1);
    EXPECT(gnet_fifo_push(&f) == 2);
    EXPECT(gnet_fifo_push(&f) == -1); /* full: nothing changes */
    EXPECT(f.count == 3);
    EXPECT(gnet_fifo_pop(&f) == 0);
    EXPECT(gnet_fifo_push(&f) == 0); /* wraps into the freed slot */
    EXPECT(gnet_fifo_pop(&f) == 1);
    EXPECT(gnet_fifo_pop(&f) == 2);
    EXPECT(gnet_fifo_pop(&f) == 0);
    EXPECT(gnet_fifo_pop(&f) == -1);
    EXPECT(f.count == 0);
}

/* Many pushes and pops of a random-free but irregular pattern: the k-th pop returns the slot
 * of the k-th push, and a slot is never handed out twice while in use. */
static void test_long_run(void)
{
    enum { CAP = 4 };
    gnet_fifo f;
    gnet_fifo_init(&f, CAP);
    int values[CAP], next = 0, expect = 0, in_use[CAP] = {0};
    for (int round = 0; round < 1000; round++) {
        int pushes = round % 3, pops = (round + 1) % 3;
        for (int i = 0; i < pushes; i++) {
            int slot = gnet_fifo_push(&f);
            if (slot < 0) {
                EXPECT(f.count == CAP);
                break;
            }
            EXPECT(!in_use[slot]);
            in_use[slot] = 1;
            values[slot] = next++;
        }
        for (int i = 0; i < pops; i++) {
            int slot = gnet_fifo_pop(&f);
            if (slot < 0) {
                EXPECT(f.count == 0);
                break;
            }
            EXPECT(values[slot] == expect);
            expect++;
            in_use[slot] = 0;
        }
    }
    EXPECT(expect + f.count == next);
}

/* The step loop: push the step just queued, pop down to one; at an evaluation, a checkpoint
 * or the end, pop to none. Two slots always suffice (GNET_PENDING_STEPS). */
static void test_trainer_pattern(void)
{
    gnet_fifo f;
    gnet_fifo_init(&f, 2);
    int step_of[2], read = 0;
    for (int step = 1; step <= 50; step++) {
        int slot = gnet_fifo_push(&f);
        EXPECT(slot >= 0);
        if (slot < 0)
            return;
        step_of[slot] = step;
        int keep = step % 7 == 0 ? 0 : 1; /* a drain every 7 steps */
        while (f.count > keep) {
            int s = gnet_fifo_pop(&f);
            EXPECT(step_of[s] == ++read); /* every step read once, in order */
        }
        EXPECT(read == step - keep);
    }
    while (f.count > 0)
        EXPECT(step_of[gnet_fifo_pop(&f)] == ++read);
    EXPECT(read == 50);
}

int main(void)
{
    test_order_and_limits();
    test_long_run();
    test_trainer_pattern();
    TEST_MAIN_END();
}
