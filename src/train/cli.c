#include "train/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

typedef enum { OPT_INT, OPT_I64, OPT_U64, OPT_REAL, OPT_STR, OPT_FLAG } opt_kind;

typedef struct {
    const char *name, *arg, *help;
    opt_kind kind;
    size_t offset;
    double min, max; /* inclusive range for numbers */
} opt_def;

#define OFF(field) offsetof(gnet_options, field)

static const opt_def OPTIONS[] = {
    {"--batch-size", "B", "global batch size (default 64)", OPT_INT, OFF(batch_size), 1, 65536},
    {"--lr", "LR", "learning rate (default 0.05)", OPT_REAL, OFF(lr), 0, 1e6},
    {"--momentum", "M", "SGD momentum (default 0)", OPT_REAL, OFF(momentum), 0, 1},
    {"--nesterov", NULL, "Nesterov momentum", OPT_FLAG, OFF(nesterov), 0, 0},
    {"--weight-decay", "WD", "L2 weight decay (default 0)", OPT_REAL, OFF(weight_decay), 0, 1},
    {"--epochs", "N", "epochs (default 10)", OPT_INT, OFF(epochs), 1, 100000},
    {"--max-steps", "N", "stop after N optimizer steps (default: no limit)", OPT_I64, OFF(max_steps), 1, 1e15},
    {"--resize", "R", "resize images to RxR like torchvision Resize (default: none, 28)", OPT_INT, OFF(resize), 28, 1024},
    {"--seed", "S", "seed for weights, shuffling and synthetic data (default 0)", OPT_U64, OFF(seed), 0, 1.8e19},
    {"--threads", "N", "CPU threads (default: all cores)", OPT_INT, OFF(threads), 1, 1024},
    {"--device", "D", "cpu, cuda or auto (default auto)", OPT_STR, OFF(device), 0, 0},
    {"--comm", "C", "gradient all-reduce: mpi or nccl (default: nccl with cuda, mpi with cpu)", OPT_STR, OFF(comm), 0, 0},
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
    {"--save", "FILE", "write an HDF5 checkpoint at the end", OPT_STR, OFF(save_path), 0, 0},
    {"--init", "FILE", "start from the parameters of an HDF5 checkpoint", OPT_STR, OFF(init_path), 0, 0},
    {"--eval", "FILE", "print the test accuracy of a checkpoint and exit", OPT_STR, OFF(eval_path), 0, 0},
    {"--print-shapes", NULL, "print block output shapes and the parameter count, then exit", OPT_FLAG, OFF(print_shapes), 0, 0},
};
#define N_OPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])

static void defaults(gnet_options *o)
{
    memset(o, 0, sizeof *o);
    o->batch_size = 64;
    o->lr = 0.05;
    o->epochs = 10;
    o->device = "auto";
    o->accum_steps = 1;
    o->bucket_mb = 4.0;
}

static void usage(void)
{
    if (gnet_log_rank() != 0)
        return;
    printf("usage: gnet_dist [options]\n"
           "Trains the d2l.ai GoogLeNet on Fashion-MNIST (one process, or one rank per GPU).\n\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char left[40];
        snprintf(left, sizeof left, "%s%s%s", OPTIONS[i].name, OPTIONS[i].arg ? " " : "",
                 OPTIONS[i].arg ? OPTIONS[i].arg : "");
        printf("  %-24s %s\n", left, OPTIONS[i].help);
    }
    printf("  %-24s %s\n", "--help", "this text");
}

static int bad(const opt_def *d, const char *value, const char *why)
{
    gnet_errorf_once("%s: '%s' %s", d->name, value, why);
    return 2;
}

static int set_value(const opt_def *d, const char *v, gnet_options *o)
{
    char *base = (char *)o + d->offset;
    if (d->kind == OPT_STR) {
        if (!*v)
            return bad(d, v, "is empty");
        *(const char **)base = v;
        return 0;
    }
    char *end;
    errno = 0;
    double x = d->kind == OPT_REAL ? strtod(v, &end) : (double)strtoll(v, &end, 10);
    if (end == v || *end || errno == ERANGE || !isfinite(x))
        return bad(d, v, d->kind == OPT_REAL ? "is not a number" : "is not an integer");
    if (x < d->min || x > d->max) {
        char why[96];
        snprintf(why, sizeof why, "is out of range (%g to %g)", d->min, d->max);
        return bad(d, v, why);
    }
    switch (d->kind) {
    case OPT_INT:
        *(int *)base = (int)x;
        break;
    case OPT_I64:
        *(int64_t *)base = strtoll(v, NULL, 10);
        break;
    case OPT_U64:
        *(uint64_t *)base = strtoull(v, NULL, 10);
        break;
    default:
        *(double *)base = x;
        break;
    }
    return 0;
}

static const opt_def *find(const char *name)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strcmp(OPTIONS[i].name, name) == 0)
            return &OPTIONS[i];
    return NULL;
}

static int check_combination(const gnet_options *o)
{
    if (strcmp(o->device, "cpu") && strcmp(o->device, "cuda") && strcmp(o->device, "auto")) {
        gnet_errorf_once("--device: '%s' is not one of cpu, cuda, auto", o->device);
        return 2;
    }
    if (!!o->idx_dir + !!o->synthetic + !!o->data_dir > 1) {
        gnet_errorf_once("--data, --idx and --synthetic: give only one data source");
        return 2;
    }
    if (o->comm && strcmp(o->comm, "mpi") && strcmp(o->comm, "nccl")) {
        gnet_errorf_once("--comm: '%s' is not one of mpi, nccl", o->comm);
        return 2;
    }
    if (o->nesterov && o->momentum == 0.0) {
        gnet_errorf_once("--nesterov: needs --momentum > 0 (as in PyTorch)");
        return 2;
    }
    if (!o->print_shapes && !o->idx_dir && !o->synthetic && !o->data_dir) {
        gnet_errorf_once("no data: give --data DIR (from gnet_prepare), --idx DIR (e.g. /usr/share/datasets/fashion-mnist) or --synthetic N");
        return 2;
    }
    return 0;
}

int gnet_cli_parse(int argc, char **argv, gnet_options *o)
{
    defaults(o);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            return 1;
        }
        const opt_def *d = find(argv[i]);
        if (!d) {
            gnet_errorf_once("unknown option '%s' (see --help)", argv[i]);
            return 2;
        }
        if (d->kind == OPT_FLAG) {
            *(int *)((char *)o + d->offset) = 1;
            continue;
        }
        if (i + 1 >= argc) {
            gnet_errorf_once("%s: missing value", d->name);
            return 2;
        }
        int rc = set_value(d, argv[++i], o);
        if (rc)
            return rc;
    }
    return check_combination(o);
}
