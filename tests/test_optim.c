/* The optimizer table (--optimizer's rows, AdamW's and LAMB's first step by hand) and
 * learning-rate schedules: each kind's value at chosen steps against numbers computed by
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

/* --warmup-steps counts steps, whatever the epoch length: 4 steps of 10-step epochs, and
 * cosine starts where those 4 end. */
static void test_warmup_steps(void)
{
    gnet_lr_schedule c = {GNET_LR_CONSTANT, 0.4f, .epochs = 5, .warmup_steps = 4};
    EXPECT_LR(&c, 0, 10, 0.1);
    EXPECT_LR(&c, 3, 10, 0.4);
    EXPECT(gnet_lr_at(&c, 4, 10) == 0.4f);
    gnet_lr_schedule s = {GNET_LR_COSINE, 1.0f, .epochs = 1, .warmup_steps = 4};
    EXPECT_LR(&s, 4, 10, 1.0);
    EXPECT_LR(&s, 7, 10, 0.5);
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

/* The optimizer table: every --optimizer value parses to its own row (cli.c's names are the
 * table's), each row has exactly one step function and its states, and the options reach the
 * config. */
static void test_optimizer_table(void)
{
    for (int k = 0; k < GNET_OPT_KINDS; k++) {
        const gnet_optim_rule *r = gnet_optim_rule_of((gnet_opt_kind)k);
        char *argv[] = {"gnet_dist", "--synthetic", "10", "--optimizer", (char *)r->name, NULL};
        gnet_options o;
        EXPECT(gnet_cli_parse(5, argv, &o) == 0);
        EXPECT(gnet_options_optimizer(&o) == (gnet_opt_kind)k);
        gnet_options_free(&o);
        EXPECT(!r->arena_step != !r->tensor_step);
        EXPECT(r->n_states >= 1 && r->n_states <= GNET_OPTIM_STATES_MAX && r->reference);
    }
    char *argv[] = {"gnet_dist", "--synthetic", "10", "--optimizer", "lamb", "--adam-beta1", "0.8",
                    "--adam-beta2", "0.95", "--adam-eps", "1e-6", "--weight-decay", "0.01", NULL};
    gnet_options o;
    EXPECT(gnet_cli_parse(13, argv, &o) == 0);
    gnet_optim_config c = gnet_options_optim_config(&o);
    EXPECT(c.kind == GNET_OPT_LAMB && c.beta1 == 0.8f && c.beta2 == 0.95f && c.eps == 1e-6f);
    EXPECT(c.weight_decay == 0.01f && c.momentum == 0.0f);
    gnet_options_free(&o);
}

/* One weight [2,2] then one bias [2] in a 6-float arena, on the CPU backend. */
static gnet_optim *tiny(gnet_backend *be, gnet_param_spec *specs, gnet_optim_config c)
{
    specs[0] = (gnet_param_spec){"w", 2, {2, 2}, 0, 4};
    specs[1] = (gnet_param_spec){"b", 1, {2}, 4, 2};
    return gnet_optim_create(be, specs, 2, 6, c);
}

/* AdamW's and LAMB's first step by hand (t = 1: m_hat = g, v_hat = g^2, r = g/(|g| + eps)),
 * and the states each config keeps. */
static void test_adam_family(void)
{
    gnet_backend *be = gnet_backend_cpu_create(1);
    gnet_param_spec specs[2];
    gnet_optim_config c = {.kind = GNET_OPT_SGD, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    gnet_optim *o = tiny(be, specs, c);
    EXPECT(o->n_states == 0 && !o->scratch); /* SGD without momentum keeps no buffer */
    gnet_optim_destroy(o);
    c.kind = GNET_OPT_ADAMW;
    c.weight_decay = 0.5f;
    o = tiny(be, specs, c);
    EXPECT(o->n_states == 2 && !o->scratch);
    float p[6] = {1, 2, 2, 4, 1, -1}, g[6] = {0.5f, -0.25f, 1, 0, 2, -2};
    gnet_optim_step(o, p, g, 0.1f);
    /* w *= 1 - 0.1*0.5, then -= 0.1 * g/(|g| + 1e-8): 0.95 - 0.1, 1.9 + 0.1, ..., 3.8 - 0 */
    EXPECT_NEAR(p[0], 0.85, 1e-6);
    EXPECT_NEAR(p[1], 2.0, 1e-6);
    EXPECT_NEAR(p[3], 3.8, 1e-6);
    EXPECT_NEAR(p[5], -0.85, 1e-6); /* AdamW decays the biases too */
    gnet_optim_destroy(o);
    c.kind = GNET_OPT_LAMB;
    o = tiny(be, specs, c);
    EXPECT(o->n_states == 2 && o->scratch);
    float q[6] = {3, 0, 0, 4, 1, -1}, h[6] = {1, 1, -1, 0, 2, -2};
    gnet_optim_step(o, q, h, 0.1f);
    /* weight: u = (1, 1, -1, 0) + 0.5 (3, 0, 0, 4) = (2.5, 1, -1, 2), |u| = sqrt(12.25),
     * trust = 5/3.5; bias: u = (1, -1), trust 1, no decay */
    double trust = 5.0 / 3.5;
    EXPECT_NEAR(q[0], 3 - 0.1 * trust * 2.5, 1e-6);
    EXPECT_NEAR(q[3], 4 - 0.1 * trust * 2.0, 1e-6);
    EXPECT_NEAR(q[4], 0.9, 1e-6);
    EXPECT_NEAR(q[5], -0.9, 1e-6);
    EXPECT(o->steps == 1);
    gnet_optim_destroy(o);
    be->destroy(be);
}

int main(void)
{
    test_constant();
    test_step();
    test_cosine();
    test_warmup();
    test_warmup_cosine();
    test_warmup_steps();
    test_warmup_step();
    test_scaling();
    test_options();
    test_optimizer_table();
    test_adam_family();
    TEST_MAIN_END();
}
