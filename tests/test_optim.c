/* Learning-rate schedules: each kind's value at chosen steps against numbers computed by
 * hand, warmup alone and with each schedule, the batch-size scaling rules, and the schedule
 * gnet_dist's options build (the constant default must be the configured lr bit for bit). */
#include "core/optim.h"
#include "test_util.h"
#include "train/cli.h"

/* Relative tolerance for float results of double arithmetic. */
#define EXPECT_LR(s, step, spe, want) EXPECT_NEAR(gnet_lr_at(s, step, spe), want, 1e-6 * (want) + 1e-12)

static void test_constant(void)
{
    gnet_lr_schedule s = {.kind = GNET_LR_CONSTANT, .base_lr = 0.05f};
    int64_t steps[] = {0, 1, 937, 938, 1000000, INT64_C(1) << 40};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        EXPECT(gnet_lr_at(&s, steps[i], 938) == 0.05f);
}

/* base 0.1, x0.1 every 2 epochs of 10 steps. */
static void test_step(void)
{
    gnet_lr_schedule s = {GNET_LR_STEP, 0.1f, .epochs = 10, .step_epochs = 2, .gamma = 0.1f};
    EXPECT_LR(&s, 0, 10, 0.1);
    EXPECT_LR(&s, 19, 10, 0.1);
    EXPECT_LR(&s, 20, 10, 0.01);
    EXPECT_LR(&s, 39, 10, 0.01);
    EXPECT_LR(&s, 40, 10, 0.001);
}

/* 4 epochs of 25 steps, base 1: lr = min + (1 - min)(1 + cos(pi s/100))/2. */
static void test_cosine(void)
{
    gnet_lr_schedule s = {GNET_LR_COSINE, 1.0f, .epochs = 4};
    EXPECT_LR(&s, 0, 25, 1.0);
    EXPECT_LR(&s, 25, 25, 0.853553390593274);  /* (1 + cos(pi/4))/2 */
    EXPECT_LR(&s, 50, 25, 0.5);
    EXPECT_LR(&s, 75, 25, 0.146446609406726);  /* (1 - cos(pi/4))/2 */
    EXPECT_LR(&s, 99, 25, 0.000246719817678);  /* (1 + cos(0.99 pi))/2 */
    s.min_lr = 0.1f;
    EXPECT_LR(&s, 50, 25, 0.55);
    EXPECT_LR(&s, 99, 25, 0.1 + 0.9 * 0.000246719817678);
}

/* Warmup over 2 epochs of 10 steps: step s < 20 gets (s + 1)/20 of the lr. */
static void test_warmup(void)
{
    gnet_lr_schedule s = {GNET_LR_CONSTANT, 0.4f, .epochs = 5, .warmup_epochs = 2};
    EXPECT_LR(&s, 0, 10, 0.02);
    EXPECT_LR(&s, 9, 10, 0.2);
    EXPECT_LR(&s, 19, 10, 0.4);
    EXPECT(gnet_lr_at(&s, 20, 10) == 0.4f);
    EXPECT(gnet_lr_at(&s, 49, 10) == 0.4f);
}

/* Cosine starts where warmup ends: 1 warmup epoch then 40 cosine steps of 5 epochs x 10. */
static void test_warmup_cosine(void)
{
    gnet_lr_schedule s = {GNET_LR_COSINE, 1.0f, .epochs = 5, .warmup_epochs = 1};
    EXPECT_LR(&s, 4, 10, 0.5);
    EXPECT_LR(&s, 10, 10, 1.0);
    EXPECT_LR(&s, 20, 10, 0.853553390593274);
    EXPECT_LR(&s, 30, 10, 0.5);
}

/* The step schedule counts epochs from the start, warmup ramping up to it. */
static void test_warmup_step(void)
{
    gnet_lr_schedule s = {GNET_LR_STEP, 1.0f, .epochs = 5, .warmup_epochs = 2, .step_epochs = 1, .gamma = 0.5f};
    EXPECT_LR(&s, 5, 10, 0.3);   /* 6/20 x 1 */
    EXPECT_LR(&s, 15, 10, 0.4);  /* 16/20 x 0.5 */
    EXPECT_LR(&s, 20, 10, 0.25);
}

static void test_scaling(void)
{
    EXPECT(gnet_lr_scaled(0.1, GNET_LR_SCALE_NONE, 4096, 256) == 0.1);
    EXPECT_NEAR(gnet_lr_scaled(0.1, GNET_LR_SCALE_LINEAR, 4096, 256), 1.6, 1e-12);
    EXPECT_NEAR(gnet_lr_scaled(0.1, GNET_LR_SCALE_LINEAR, 64, 256), 0.025, 1e-12);
    EXPECT_NEAR(gnet_lr_scaled(0.05, GNET_LR_SCALE_SQRT, 1024, 64), 0.2, 1e-12);
    EXPECT_NEAR(gnet_lr_scaled(0.1, GNET_LR_SCALE_SQRT, 512, 256), 0.141421356237310, 1e-12);
}

/* The schedule of a command line (parsed as gnet_dist does). */
static gnet_lr_schedule schedule_of(char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    gnet_options o;
    EXPECT(gnet_cli_parse(argc, argv, &o) == 0);
    gnet_lr_schedule s = gnet_options_lr_schedule(&o);
    gnet_options_free(&o);
    return s;
}

static void test_options(void)
{
    gnet_lr_schedule s = schedule_of((char *[]){"gnet_dist", "--synthetic", "10", "--lr", "0.05", NULL});
    EXPECT(s.kind == GNET_LR_CONSTANT && s.base_lr == (float)0.05 && s.warmup_epochs == 0);
    EXPECT(gnet_lr_at(&s, 12345, 938) == (float)0.05);

    s = schedule_of((char *[]){"gnet_dist", "--synthetic", "10", "--batch-size", "1024", "--lr", "0.1",
                               "--lr-scale", "linear", "--lr-schedule", "cosine", "--warmup-epochs", "2",
                               "--lr-min", "0.001", "--epochs", "20", NULL});
    EXPECT(s.kind == GNET_LR_COSINE && s.base_lr == 0.4f && s.epochs == 20 && s.warmup_epochs == 2);
    EXPECT(s.min_lr == 0.001f);

    s = schedule_of((char *[]){"gnet_dist", "--synthetic", "10", "--batch-size", "1024", "--base-batch", "64",
                               "--lr-scale", "sqrt", "--lr-schedule", "step", "--lr-step-epochs", "3",
                               "--lr-gamma", "0.5", NULL});
    EXPECT(s.kind == GNET_LR_STEP && s.base_lr == 0.2f && s.step_epochs == 3 && s.gamma == 0.5f);
}

int main(void)
{
    test_constant();
    test_step();
    test_cosine();
    test_warmup();
    test_warmup_cosine();
    test_warmup_step();
    test_scaling();
    test_options();
    TEST_MAIN_END();
}
