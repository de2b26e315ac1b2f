#include "train/cli.h"

#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/log.h"

typedef enum { OPT_INT, OPT_I64, OPT_U64, OPT_REAL, OPT_STR, OPT_CHOICE, OPT_FLAG } opt_kind;

typedef struct {
    const char *name, *arg, *help;
    opt_kind kind;
    size_t offset;
    double min, max;            /* inclusive range for numbers */
    const char *const *choices; /* OPT_CHOICE: the accepted values, NULL-terminated */
    int cli_only;               /* not a config-file key */
} opt_def;

/* A designator, so that a row may leave out the fields after it that it does not use. */
#define OFF(field) .offset = offsetof(gnet_options, field)

static const char *const DEVICES[] = {"cpu", "cuda", "auto", NULL};
static const char *const COMMS[] = {"mpi", "nccl", NULL};
static const char *const PRECISIONS[] = {"fp32", "tf32", "bf16", NULL};
/* Indexed by gnet_opt_kind, as optim.c's table names them (test_optim checks). */
static const char *const OPTIMIZERS[] = {[GNET_OPT_SGD] = "sgd",
                                         [GNET_OPT_LARS] = "lars",
                                         [GNET_OPT_ADAMW] = "adamw",
                                         [GNET_OPT_LAMB] = "lamb",
                                         NULL};
/* --clip's rules (--clip-norm is the other one: gnet_options_clip). */
static const char *const CLIPS[] = {"none", "agc", NULL};
/* Indexed by the GNET_AUGMENT_* flags they set. */
static const char *const AUGMENTS[] = {"none", "flip", "crop", "flip-crop", NULL};
static const char *const WEIGHT_INITS[] = {
    [GNET_INIT_XAVIER] = "xavier", [GNET_INIT_HE] = "he", NULL};
/* Indexed by the enums, so that a value's position is its kind. */
static const char *const LR_SCHEDULES[] = {
    [GNET_LR_CONSTANT] = "constant", [GNET_LR_STEP] = "step", [GNET_LR_COSINE] = "cosine", NULL};
static const char *const LR_SCALES[] = {[GNET_LR_SCALE_NONE] = "none",
                                        [GNET_LR_SCALE_LINEAR] = "linear",
                                        [GNET_LR_SCALE_SQRT] = "sqrt",
                                        NULL};

/* One option per line, as --help prints them. */
// clang-format off
static const opt_def OPTIONS[] = {
    {"--batch-size", "B", "global batch size (default 64)", OPT_INT, OFF(batch_size), 1, 65536},
    {"--lr", "LR", "learning rate (default 0.05)", OPT_REAL, OFF(lr), 0, 1e6},
    {"--momentum", "M", "SGD momentum (default 0)", OPT_REAL, OFF(momentum), 0, 1},
    {"--nesterov", NULL, "Nesterov momentum", OPT_FLAG, OFF(nesterov), 0, 0},
    {"--weight-decay", "WD", "weight decay (default 0): L2, added to the gradient, for sgd and lars; decoupled for adamw and lamb", OPT_REAL, OFF(weight_decay), 0, 1},
    {"--label-smoothing", "EPS", "label smoothing: the loss's target is (1 - EPS) onehot + EPS/classes, as PyTorch's CrossEntropyLoss(label_smoothing=EPS); train and test loss (default 0)", OPT_REAL, OFF(label_smoothing), 0, 0.999999},
    {"--optimizer", "O", "sgd, lars (layer-wise trust ratio, You et al. 2017), adamw (torch.optim.AdamW) or lamb (You et al. 2019); docs/training.md (default sgd)", OPT_CHOICE, OFF(optimizer), 0, 0, OPTIMIZERS},
    {"--lars-eta", "ETA", "LARS trust coefficient (default 0.001)", OPT_REAL, OFF(lars_eta), 1e-12, 1e6},
    {"--adam-beta1", "B1", "adamw and lamb: the first moment's factor, PyTorch's betas[0] (default 0.9)", OPT_REAL, OFF(adam_beta1), 0, 0.999999},
    {"--adam-beta2", "B2", "adamw and lamb: the second moment's factor, PyTorch's betas[1] (default 0.999)", OPT_REAL, OFF(adam_beta2), 0, 0.999999},
    {"--adam-eps", "EPS", "adamw and lamb: added to sqrt(v_hat), PyTorch's eps (default 1e-8)", OPT_REAL, OFF(adam_eps), 1e-30, 1},
    {"--clip-norm", "C", "clip the gradient's global L2 norm to C, as torch.nn.utils.clip_grad_norm_ (default: no clipping)", OPT_REAL, OFF(clip_norm), 1e-12, 1e12},
    {"--clip", "K", "none (default) or agc: adaptive gradient clipping per unit, as NFNets (the final classifier unclipped; docs/training.md)", OPT_CHOICE, OFF(clip), 0, 0, CLIPS},
    {"--agc-lambda", "L", "--clip agc: a unit's gradient norm is clipped to L x its weight norm (default 0.01)", OPT_REAL, OFF(agc_lambda), 1e-12, 1e6},
    {"--lr-scale", "RULE", "none, linear or sqrt: scale --lr by B/base-batch or its square root (default none)", OPT_CHOICE, OFF(lr_scale), 0, 0, LR_SCALES},
    {"--base-batch", "B", "the batch size --lr is meant for, for --lr-scale (default 256)", OPT_INT, OFF(base_batch), 1, 65536},
    {"--lr-schedule", "S", "constant, step or cosine (default constant)", OPT_CHOICE, OFF(lr_schedule), 0, 0, LR_SCHEDULES},
    {"--lr-step-epochs", "N", "step schedule: multiply the lr by --lr-gamma every N epochs", OPT_INT, OFF(lr_step_epochs), 1, 100000},
    {"--lr-gamma", "G", "step schedule: the factor (default 0.1)", OPT_REAL, OFF(lr_gamma), 0, 1},
    {"--lr-min", "LR", "cosine schedule: the lr it ends at (default 0)", OPT_REAL, OFF(lr_min), 0, 1e6},
    {"--warmup-epochs", "W", "raise the lr linearly to its peak over the first W epochs (default 0)", OPT_INT, OFF(warmup_epochs), 0, 100000},
    {"--warmup-steps", "N", "raise the lr linearly to its peak over the first N optimizer steps instead of --warmup-epochs (default 0)", OPT_I64, OFF(warmup_steps), 0, 1e15},
    {"--epochs", "N", "epochs (default 10)", OPT_INT, OFF(epochs), 1, 100000},
    {"--eval-every", "N", "also evaluate every N optimizer steps: an eval record in metrics.jsonl (default: at epoch ends only)", OPT_I64, OFF(eval_every), 1, 1e15},
    {"--target-acc", "A", "end the run at the first evaluation whose test acc is >= A; the final record says when", OPT_REAL, OFF(target_acc), 1e-9, 1},
    {"--noise-scale", NULL, "measure the gradient noise scale B_simple every step (needs 2+ ranks or --accum-steps)", OPT_FLAG, OFF(noise_scale), 0, 0},
    {"--noise-ema", "BETA", "the noise scale's moving-average factor (default 0.95)", OPT_REAL, OFF(noise_ema), 0, 0.999999},
    {"--max-steps", "N", "stop after N optimizer steps (default: no limit)", OPT_I64, OFF(max_steps), 1, 1e15},
    {"--resize", "R", "resize images to RxR like torchvision Resize (default: none, 28)", OPT_INT, OFF(resize), 28, 1024},
    {"--augment", "A", "training images only: none (default), flip (horizontal, p = 1/2), crop (shift by up to 2 px of 28, zero fill) or flip-crop", OPT_CHOICE, OFF(augment), 0, 0, AUGMENTS},
    {"--weight-init", "I", "xavier (d2l's, default) or he (Kaiming: suits ReLU without batch norm)", OPT_CHOICE, OFF(weight_init), 0, 0, WEIGHT_INITS},
    {"--seed", "S", "seed for weights, shuffling and synthetic data (default 0)", OPT_U64, OFF(seed), 0, 1.8e19},
    {"--threads", "N", "CPU threads (default: all cores)", OPT_INT, OFF(threads), 1, 1024},
    {"--device", "D", "cpu, cuda or auto (default auto)", OPT_CHOICE, OFF(device), 0, 0, DEVICES},
    {"--precision", "P", "CUDA math: fp32 (default, matches the CPU), tf32 or bf16 (autocast-like, fp32 master weights)", OPT_CHOICE, OFF(precision), 0, 0, PRECISIONS},
    {"--comm-timeout", "S", "abort the job when a collective takes longer than S seconds (default 300)", OPT_REAL, OFF(comm_timeout), 1, 1e6},
    {"--comm", "C", "gradient all-reduce: mpi or nccl (default: nccl with cuda, mpi with cpu)", OPT_CHOICE, OFF(comm), 0, 0, COMMS},
    {"--accum-steps", "K", "split each rank's share of the batch into K micro-batches (default 1)", OPT_INT, OFF(accum_steps), 1, 65536},
    {"--bucket-mb", "MB", "gradient all-reduce bucket size in MB (default 4)", OPT_REAL, OFF(bucket_mb), 0.001, 1024},
    {"--no-overlap", NULL, "all-reduce after backward instead of overlapping with it", OPT_FLAG, OFF(no_overlap), 0, 0},
    {"--data", "DIR", "read a directory prepared by gnet_prepare (HDF5 shards)", OPT_STR, OFF(data_dir), 0, 0},
    {"--idx", "DIR", "read the original IDX files (gzip or plain) from DIR", OPT_STR, OFF(idx_dir), 0, 0},
    {"--synthetic", "N", "train on N random images with random labels instead", OPT_INT, OFF(synthetic), 1, 10000000},
    {"--train-limit", "N", "use only the first N training images", OPT_INT, OFF(train_limit), 1, 10000000},
    {"--test-limit", "N", "evaluate on only the first N test images", OPT_INT, OFF(test_limit), 1, 10000000},
    {"--no-shuffle", NULL, "keep file order (no per-epoch shuffle)", OPT_FLAG, OFF(no_shuffle), 0, 0},
    {"--drop-last", NULL, "drop the last partial global batch (default: pad it, like PyTorch)", OPT_FLAG, OFF(drop_last), 0, 0},
    {"--no-prefetch", NULL, "load batches in the step instead of a prefetch thread", OPT_FLAG, OFF(no_prefetch), 0, 0},
    {"--out", "DIR", "collect the run in DIR: config.ini, metrics.jsonl, log.txt, checkpoint.h5", OPT_STR, OFF(out_dir), 0, 0},
    {"--save", "FILE", "write an HDF5 checkpoint at the end (default with --out: DIR/checkpoint.h5)", OPT_STR, OFF(save_path), 0, 0},
    {"--checkpoint-every", "N", "also write the checkpoint every N optimizer steps", OPT_I64, OFF(checkpoint_every), 1, 1e15},
    {"--checkpoint-epochs", "N", "also write the checkpoint every N epochs", OPT_I64, OFF(checkpoint_epochs), 1, 1e15},
    {"--resume", "PATH", "continue the run of a checkpoint (a file, or a --out directory) exactly", OPT_STR, OFF(resume_path), 0, 0},
    {"--trace", "FILE", "write a Chrome trace-event timeline (Perfetto); rank r writes FILE.r with several ranks", OPT_STR, OFF(trace_path), 0, 0},
    {"--no-progress", NULL, "no progress line within the epoch (default: a bar on a terminal, a line every 10% otherwise)", OPT_FLAG, OFF(progress_off), 0, 0},
    {"--init", "FILE", "start from the parameters of an HDF5 checkpoint", OPT_STR, OFF(init_path), 0, 0},
    {"--eval", "FILE", "print the test accuracy of a checkpoint and exit", OPT_STR, OFF(eval_path), 0, 0},
    {"--print-shapes", NULL, "print block output shapes and the parameter count, then exit", OPT_FLAG, OFF(print_shapes), 0, 0},
    {"--config", "FILE", "read options from an INI file; the command line wins (docs/training.md)", OPT_STR, OFF(config_path), 0, 0, NULL, 1},
    {"--version", NULL, "print the source's version and the libraries', then exit", OPT_FLAG, OFF(version), 0, 0, NULL, 1},
    {"--dry-run", NULL, "check the options and the batch split, print the resolved config, then exit", OPT_FLAG, OFF(dry_run), 0, 0, NULL, 1},
};
// clang-format on
#define N_OPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])

/* The longest reason a value is refused, which callers prefix with where it came from. */
#define WHY_MAX 512
/* The longest quote of an input value in a message (gnet_escape). */
#define SHOWN_MAX 160

struct gnet_owned_str {
    gnet_owned_str *next;
    char s[];
};

static void defaults(gnet_options *o)
{
    memset(o, 0, sizeof *o);
    o->batch_size = 64;
    o->lr = 0.05;
    o->epochs = 10;
    o->device = "auto";
    o->accum_steps = 1;
    o->bucket_mb = 4.0;
    o->lr_scale = "none";
    o->base_batch = 256;
    o->lr_schedule = "constant";
    o->lr_gamma = 0.1;
    o->precision = "fp32";
    o->comm_timeout = 300.0;
    o->optimizer = "sgd";
    o->weight_init = "xavier";
    o->augment = "none";
    o->clip = "none";
    o->lars_eta = 0.001;
    o->adam_beta1 = 0.9;
    o->adam_beta2 = 0.999;
    o->adam_eps = 1e-8;
    o->noise_ema = 0.95;
}

void gnet_options_free(gnet_options *o)
{
    while (o->owned) {
        gnet_owned_str *next = o->owned->next;
        free(o->owned);
        o->owned = next;
    }
}

/* A copy of a config file's string, which inih hands out only for the handler's call. */
static const char *keep(gnet_options *o, const char *s)
{
    size_t n = strlen(s) + 1;
    gnet_owned_str *k = gnet_malloc(sizeof *k + n, "a config file's value");
    if (!k)
        gnet_fatal(1);
    memcpy(k->s, s, n);
    k->next = o->owned;
    o->owned = k;
    return k->s;
}

static void usage(void)
{
    if (gnet_log_rank() != 0)
        return;
    printf("usage: gnet_dist [options]\n"
           "Trains the d2l.ai GoogLeNet on Fashion-MNIST (one process, or one rank per GPU).\n\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char left[40];
        (void)snprintf(left, sizeof left, "%s%s%s", OPTIONS[i].name, OPTIONS[i].arg ? " " : "",
                       OPTIONS[i].arg ? OPTIONS[i].arg : "");
        printf("  %-24s %s\n", left, OPTIONS[i].help);
    }
    printf("  %-24s %s\n", "--help", "this text");
}

static int refuse(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(char *why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    /* clang-analyzer 14 misreads va_start here (a known false positive). */
    (void)vsnprintf(why, WHY_MAX, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
    va_end(ap);
    return -1;
}

static int set_flag(int *field, const char *v, char *why)
{
    static const char *const yes[] = {"true", "yes", "1"}, *const no[] = {"false", "no", "0"};
    for (int i = 0; i < 3; i++) {
        int is_yes = strcasecmp(v, yes[i]) == 0;
        if (is_yes || strcasecmp(v, no[i]) == 0) {
            *field = is_yes;
            return 0;
        }
    }
    char s[SHOWN_MAX];
    return refuse(why, "'%s' is not one of true, false, yes, no, 1, 0",
                  gnet_escape(v, s, sizeof s));
}

/* Stores the table's own string, which outlives v. */
static int set_choice(const char *const *choices, const char **field, const char *v, char *why)
{
    char list[128] = "";
    for (const char *const *c = choices; *c; c++) {
        if (strcmp(v, *c) == 0) {
            *field = *c;
            return 0;
        }
        size_t used = strlen(list);
        (void)snprintf(list + used, sizeof list - used, "%s%s", c == choices ? "" : ", ", *c);
    }
    char s[SHOWN_MAX];
    return refuse(why, "'%s' is not one of %s", gnet_escape(v, s, sizeof s), list);
}

static int set_number(const opt_def *d, void *field, const char *v, char *why)
{
    char *end;
    errno = 0;
    char s[SHOWN_MAX];
    double x = d->kind == OPT_REAL ? strtod(v, &end) : (double)strtoll(v, &end, 10);
    if (end == v || *end || errno == ERANGE || !isfinite(x))
        return refuse(why, "'%s' %s", gnet_escape(v, s, sizeof s),
                      d->kind == OPT_REAL ? "is not a number" : "is not an integer");
    if (x < d->min || x > d->max)
        return refuse(why, "'%s' is out of range (%g to %g)", gnet_escape(v, s, sizeof s), d->min,
                      d->max);
    switch (d->kind) {
    case OPT_INT: *(int *)field = (int)x; break;
    case OPT_I64: *(int64_t *)field = strtoll(v, NULL, 10); break;
    case OPT_U64: *(uint64_t *)field = strtoull(v, NULL, 10); break;
    default: *(double *)field = x; break;
    }
    return 0;
}

/* The one place a value is checked and stored, for the command line and config files alike;
 * a string must outlive the options. Returns 0, or -1 with the reason in why. */
static int set_value(const opt_def *d, const char *v, gnet_options *o, char *why)
{
    void *field = (char *)o + d->offset;
    switch (d->kind) {
    case OPT_FLAG: return set_flag(field, v, why);
    case OPT_CHOICE: return set_choice(d->choices, field, v, why);
    case OPT_STR:
        if (!*v)
            return refuse(why, "'' is empty");
        *(const char **)field = v;
        return 0;
    default: return set_number(d, field, v, why);
    }
}

/* The option called name, written with `dashes` leading dashes: 2 on the command line
 * ("--lr"), 0 in a config file ("lr"). */
static const opt_def *find(const char *name, size_t dashes)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strcmp(OPTIONS[i].name + 2 - dashes, name) == 0)
            return &OPTIONS[i];
    return NULL;
}

/* --clip-norm and --clip agc are two rules for one gradient: one at a time (docs/training.md). */
static int check_clip(const gnet_options *o)
{
    int agc = strcmp(o->clip, "agc") == 0;
    if (agc && o->clip_norm > 0) {
        gnet_errorf_once("--clip-norm %g: not with --clip agc (one clipping rule at a time)",
                         o->clip_norm);
        return 2;
    }
    if (!agc && o->agc_lambda > 0) {
        gnet_errorf_once("--agc-lambda %g: only with --clip agc", o->agc_lambda);
        return 2;
    }
    return 0;
}

static int check_schedule(const gnet_options *o)
{
    gnet_lr_schedule s = gnet_options_lr_schedule(o);
    if (s.kind == GNET_LR_STEP && s.step_epochs == 0) {
        gnet_errorf_once("--lr-schedule step: needs --lr-step-epochs N");
        return 2;
    }
    if (s.warmup_steps > 0 && s.warmup_epochs > 0) {
        gnet_errorf_once("--warmup-steps %" PRId64 ": give it or --warmup-epochs %d, not both",
                         s.warmup_steps, s.warmup_epochs);
        return 2;
    }
    if (s.warmup_epochs >= s.epochs) {
        gnet_errorf_once("--warmup-epochs %d: must be less than --epochs %d", s.warmup_epochs,
                         s.epochs);
        return 2;
    }
    if (s.kind == GNET_LR_COSINE && s.min_lr > s.base_lr) {
        gnet_errorf_once("--lr-min %g: above the peak learning rate %g", s.min_lr, s.base_lr);
        return 2;
    }
    return 0;
}

/* What chooses the starting state or writes something: a training run's options, which a
 * mode that only looks (--eval, --print-shapes) would silently ignore. */
#define TRAINING_OUTPUTS \
    "--init", "--resume", "--out", "--save", "--checkpoint-every", "--checkpoint-epochs", "--trace"

/* Options that contradict each other: `opt` with any of `with`, where the run used to ignore
 * one of them. Both given in one place (the command line, or the config file) are refused,
 * naming both. One on the command line and the other only in the file: the command line wins,
 * as it does over the file's values, and the file's option is dropped, so that a run's
 * config.ini (which holds its out, init, checkpoint-every, ...) still serves
 * `--config DIR/config.ini --eval FILE` and `--config DIR/config.ini --resume DIR`, and
 * `--config FILE --synthetic N` replaces the file's data source. */
static const struct {
    const char *opt;
    const char *const with[10]; /* unused entries are NULL */
    const char *why;
} CONFLICTS[] = {
    {"--init",
     {"--resume"},
     "--resume restores the parameters (and the rest of the state) from its own checkpoint; give "
     "one of them"},
    {"--eval",
     {TRAINING_OUTPUTS},
     "--eval only evaluates its checkpoint: it starts from no other state and writes nothing"},
    {"--print-shapes",
     {"--eval", TRAINING_OUTPUTS},
     "--print-shapes only prints the model's shapes and exits"},
    {"--data",
     {"--train-limit", "--test-limit"},
     "the limits apply to --idx and --synthetic only (prepare a smaller set instead)"},
    {"--data", {"--idx", "--synthetic"}, "give only one data source"},
    {"--idx", {"--synthetic"}, "give only one data source"},
};
#define N_CONFLICTS (sizeof CONFLICTS / sizeof CONFLICTS[0])

/* Whether option `name` has a value other than its unset one (0, NULL). */
static int is_set(const gnet_options *o, const char *name)
{
    const opt_def *d = find(name, 2);
    const void *field = (const char *)o + d->offset;
    switch (d->kind) {
    case OPT_STR:
    case OPT_CHOICE: return *(const char *const *)field != NULL;
    case OPT_I64: return *(const int64_t *)field != 0;
    case OPT_U64: return *(const uint64_t *)field != 0;
    case OPT_REAL: return *(const double *)field != 0.0;
    default: return *(const int *)field != 0;
    }
}

/* Unsets option `name` (a config file's value that the command line overrides). */
static void unset(gnet_options *o, const char *name)
{
    const opt_def *d = find(name, 2);
    void *field = (char *)o + d->offset;
    size_t size = d->kind == OPT_STR || d->kind == OPT_CHOICE ? sizeof(const char *)
                  : d->kind == OPT_I64 || d->kind == OPT_U64  ? sizeof(int64_t)
                  : d->kind == OPT_REAL                       ? sizeof(double)
                                                              : sizeof(int);
    memset(field, 0, size);
}

/* given: the options the command line alone sets (over zeros); file: those the config file
 * alone sets (over the defaults). A pair within the file is refused before any is dropped, so
 * the command line overriding one of them does not hide the file's contradiction. */
static int check_conflicts(gnet_options *o, const gnet_options *given, const gnet_options *file)
{
    for (size_t i = 0; i < N_CONFLICTS; i++) {
        const char *opt = CONFLICTS[i].opt;
        for (size_t j = 0; j < sizeof CONFLICTS[i].with / sizeof *CONFLICTS[i].with; j++) {
            const char *w = CONFLICTS[i].with[j];
            if (!w)
                continue;
            int in_file = is_set(file, opt) && is_set(file, w);
            if (!in_file && (!is_set(o, opt) || !is_set(o, w)))
                continue;
            if (!in_file && is_set(given, opt) != is_set(given, w)) {
                unset(o, is_set(given, opt) ? w : opt);
                continue;
            }
            gnet_errorf_once("%s and %s conflict: %s", opt, w, CONFLICTS[i].why);
            return 2;
        }
    }
    return 0;
}

static int check_combination(gnet_options *o, const gnet_options *given, const gnet_options *file)
{
    if (check_conflicts(o, given, file))
        return 2;
    if (o->nesterov && o->momentum == 0.0) {
        gnet_errorf_once("--nesterov: needs --momentum > 0 (as in PyTorch)");
        return 2;
    }
    if (o->momentum != 0.0 && gnet_optim_rule_of(gnet_options_optimizer(o))->adam) {
        gnet_errorf_once("--momentum: not used by --optimizer %s (its moments are "
                         "--adam-beta1 and --adam-beta2)",
                         o->optimizer);
        return 2;
    }
    if (!o->print_shapes && !o->idx_dir && !o->synthetic && !o->data_dir) {
        gnet_errorf_once("no data: give --data DIR (from gnet_prepare), --idx DIR (e.g. "
                         "/usr/share/datasets/fashion-mnist) or --synthetic N");
        return 2;
    }
    return check_clip(o) ? 2 : check_schedule(o);
}

/* The command line, over whatever *o holds. */
static int parse_argv(int argc, char **argv, gnet_options *o)
{
    char why[WHY_MAX];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            return 1;
        }
        const opt_def *d = find(argv[i], 2);
        if (!d) {
            char s[SHOWN_MAX];
            gnet_errorf_once("unknown option '%s' (see --help)", gnet_escape(argv[i], s, sizeof s));
            return 2;
        }
        const char *v = "true";
        if (d->kind != OPT_FLAG) {
            if (i + 1 >= argc) {
                gnet_errorf_once("%s: missing value", d->name);
                return 2;
            }
            v = argv[++i];
        }
        if (set_value(d, v, o, why)) {
            gnet_errorf_once("%s: %s", d->name, why);
            return 2;
        }
    }
    return 0;
}

/* A --config file being read: the line inih is at, where each key was set (duplicates are
 * errors) and the first error, which stops the reading. */
typedef struct {
    FILE *f;
    gnet_options *o;
    int line, key_line[N_OPTIONS], error_line;
    char error[WHY_MAX + 128];
} config_file;

static int file_error(config_file *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int file_error(config_file *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): as in refuse
    (void)vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
    c->error_line = c->line;
    return 0; /* inih: the handler failed */
}

/* A byte a text line may not hold: NUL (fgets and inih would cut the line there silently)
 * and the other control characters but tab and carriage return. */
static int control_byte(int ch)
{
    return (ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') || ch == 0x7f;
}

/* inih's fgets. Besides counting lines, it refuses control bytes (NUL included), a line
 * longer than inih's buffer (inih would silently read the rest as another line), and drops
 * indentation (inih would read an indented key as the continuation of the previous value). */
static char *read_line(char *buf, int size, void *user)
{
    config_file *c = user;
    int n = 0, ch = 0;
    while (!c->error_line && n < size - 1 && (ch = getc(c->f)) != EOF) {
        c->line += n == 0;
        if (control_byte(ch))
            file_error(c, "control character 0x%02x in column %d: a config file is text", ch,
                       n + 1);
        buf[n++] = (char)ch;
        if (ch == '\n')
            break;
    }
    if (c->error_line || n == 0)
        return NULL;
    buf[n] = '\0';
    if (buf[n - 1] != '\n' && n == size - 1 && getc(c->f) != EOF) {
        file_error(c, "line longer than %d characters", size - 2);
        return NULL;
    }
    size_t indent = strspn(buf, " \t");
    memmove(buf, buf + indent, n - indent + 1);
    return buf;
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
    config_file *c = user;
    char why[WHY_MAX];
    if (*section && strcmp(section, "train") != 0)
        return file_error(c, "%s: in section [%s]; keys go before any section or under [train]",
                          key, section);
    const opt_def *d = find(key, 0);
    if (!d || d->cli_only)
        return file_error(c, "%s: %s", key,
                          d ? "only allowed on the command line"
                            : "unknown key (see gnet_dist --help)");
    int *first = &c->key_line[d - OPTIONS];
    if (*first)
        return file_error(c, "%s: duplicate key (first on line %d)", key, *first);
    *first = c->line;
    if (set_value(d, d->kind == OPT_STR ? keep(c->o, value) : value, c->o, why))
        return file_error(c, "%s: %s", key, why);
    return 1;
}

static int parse_file(const char *path, gnet_options *o)
{
    config_file c = {.o = o};
    if (!(c.f = fopen(path, "r"))) {
        if (gnet_log_rank() == 0)
            gnet_file_errorf(path, 0, "cannot open the config file: %s", strerror(errno));
        return 2;
    }
    int syntax_line = ini_parse_stream(read_line, &c, on_key, &c);
    int read_errno = ferror(c.f) ? errno : 0;
    (void)fclose(c.f);
    /* inih reports the first bad line, which is ours when the handler refused it. Every
     * rank reads the same file: rank 0 says what is wrong. */
    if (gnet_log_rank() == 0) {
        if (read_errno)
            gnet_file_errorf(path, 0, "cannot read the config file: %s", strerror(read_errno));
        else if (syntax_line > 0 && syntax_line != c.error_line)
            gnet_file_errorf(path, syntax_line, "not a 'key = value' or '[section]' line");
        else if (c.error_line)
            gnet_file_errorf(path, c.error_line, "%s", c.error);
    }
    return read_errno || syntax_line || c.error_line ? 2 : 0;
}

int gnet_cli_parse(int argc, char **argv, gnet_options *o)
{
    defaults(o);
    int rc = parse_argv(argc, argv, o);
    if (rc == 0 && o->version)
        return 0; /* nothing else matters */

    gnet_options file; /* the config file alone, for check_conflicts (read-only: owns nothing) */
    memset(&file, 0, sizeof file);
    /* The command line wins whatever the order: its first pass reports its errors and finds
     * --config, then the file is read over the defaults and the command line again over it. */
    if (rc == 0 && o->config_path) {
        const char *path = o->config_path;
        defaults(o);
        rc = parse_file(path, o);
        file = *o;
        if (rc == 0)
            rc = parse_argv(argc, argv, o);
    }
    if (rc)
        return rc;
    gnet_options given; /* the command line alone, for check_conflicts; parsed fine above */
    memset(&given, 0, sizeof given);
    (void)parse_argv(argc, argv, &given);
    return check_combination(o, &given, &file);
}

int gnet_options_check_batch(const gnet_options *o, int world)
{
    if (o->batch_size % (world * o->accum_steps) == 0)
        return 0;
    gnet_errorf_once("--batch-size %d is not divisible by %d rank(s) x %d accumulation step(s)",
                     o->batch_size, world, o->accum_steps);
    return 2;
}

/* A double as short as it reads back exactly. */
static void format_real(char *buf, size_t n, double x)
{
    (void)snprintf(buf, n, "%.15g", x);
    if (strtod(buf, NULL) != x)
        (void)snprintf(buf, n, "%.17g", x);
}

/* An option's value as a config file holds it (numbers formatted in buf), or NULL when unset:
 * a NULL string, or a number outside its range, such as --max-steps's 0 for "no limit". */
static const char *format_value(const opt_def *d, const gnet_options *o, char *buf, size_t n)
{
    const void *field = (const char *)o + d->offset;
    double x = 0;
    switch (d->kind) {
    case OPT_FLAG: return *(const int *)field ? "true" : "false";
    case OPT_STR:
    case OPT_CHOICE: return *(const char *const *)field;
    case OPT_INT:
        x = *(const int *)field;
        (void)snprintf(buf, n, "%d", *(const int *)field);
        break;
    case OPT_I64:
        x = (double)*(const int64_t *)field;
        (void)snprintf(buf, n, "%" PRId64, *(const int64_t *)field);
        break;
    case OPT_U64:
        x = (double)*(const uint64_t *)field;
        (void)snprintf(buf, n, "%" PRIu64, *(const uint64_t *)field);
        break;
    case OPT_REAL:
        x = *(const double *)field;
        format_real(buf, n, x);
        break;
    }
    return x >= d->min && x <= d->max ? buf : NULL;
}

void gnet_options_write(const gnet_options *o, FILE *f)
{
    (void)fprintf(f, "; gnet_dist's resolved options (defaults < %s < command line)\n[train]\n",
                  o->config_path ? o->config_path : "no config file");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char number[32];
        const char *value = format_value(&OPTIONS[i], o, number, sizeof number);
        if (OPTIONS[i].cli_only)
            continue;
        if (value)
            (void)fprintf(f, "%s = %s\n", OPTIONS[i].name + 2, value);
        else
            (void)fprintf(f, "; %s: not set\n", OPTIONS[i].name + 2);
    }
}

int gnet_options_dry_run(const gnet_options *o, int world)
{
    if (gnet_options_check_batch(o, world))
        return 2;
    if (gnet_log_rank() != 0)
        return 0;
    gnet_options_write(o, stdout);
    printf("; each of %d rank(s) takes %d rows a step, in %d micro-batch(es) of %d\n", world,
           o->batch_size / world, o->accum_steps, o->batch_size / (world * o->accum_steps));
    printf("; peak learning rate %g (lr-scale %s, base-batch %d)\n",
           gnet_options_lr_schedule(o).base_lr, o->lr_scale, o->base_batch);
    return 0;
}

/* v's position in choices; v is one of them (set_choice or the defaults put it there). */
static int choice_index(const char *const *choices, const char *v)
{
    int i = 0;
    while (choices[i + 1] && strcmp(choices[i], v) != 0)
        i++;
    return i;
}

gnet_init_scheme gnet_options_init_scheme(const gnet_options *o)
{
    return (gnet_init_scheme)choice_index(WEIGHT_INITS, o->weight_init);
}

unsigned gnet_options_augment(const gnet_options *o)
{
    return (unsigned)choice_index(AUGMENTS, o->augment);
}

gnet_opt_kind gnet_options_optimizer(const gnet_options *o)
{
    return (gnet_opt_kind)choice_index(OPTIMIZERS, o->optimizer);
}

gnet_optim_config gnet_options_optim_config(const gnet_options *o)
{
    return (gnet_optim_config){.kind = gnet_options_optimizer(o),
                               .momentum = (float)o->momentum,
                               .weight_decay = (float)o->weight_decay,
                               .nesterov = o->nesterov,
                               .lars_eta = (float)o->lars_eta,
                               .beta1 = (float)o->adam_beta1,
                               .beta2 = (float)o->adam_beta2,
                               .eps = (float)o->adam_eps};
}

gnet_clip_config gnet_options_clip(const gnet_options *o)
{
    if (o->clip_norm > 0)
        return (gnet_clip_config){.kind = GNET_CLIP_NORM, .max_norm = o->clip_norm};
    if (strcmp(o->clip, "agc") == 0)
        return (gnet_clip_config){.kind = GNET_CLIP_AGC,
                                  .lambda = o->agc_lambda > 0 ? o->agc_lambda : 0.01};
    return (gnet_clip_config){.kind = GNET_CLIP_NONE};
}

gnet_lr_schedule gnet_options_lr_schedule(const gnet_options *o)
{
    gnet_lr_scale rule = (gnet_lr_scale)choice_index(LR_SCALES, o->lr_scale);
    return (gnet_lr_schedule){
        .kind = (gnet_lr_kind)choice_index(LR_SCHEDULES, o->lr_schedule),
        .base_lr = (float)gnet_lr_scaled(o->lr, rule, o->batch_size, o->base_batch),
        .epochs = o->epochs,
        .warmup_epochs = o->warmup_epochs,
        .warmup_steps = o->warmup_steps,
        .step_epochs = o->lr_step_epochs,
        .gamma = (float)o->lr_gamma,
        .min_lr = (float)o->lr_min,
    };
}
