/* gnet_prepare: the original Fashion-MNIST IDX files -> HDF5 shards + manifest (prepare.h).
 * Exit status: 0 done, 1 the conversion failed, 2 a bad command line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/version.h"
#include "data/prepare.h"

static void usage(void)
{
    printf("usage: gnet_prepare --src DIR --out DIR --shards N [--seed S] [--force]\n"
           "Converts the four IDX files of Fashion-MNIST (gzip or plain) into N shuffled HDF5\n"
           "training shards, test.h5 and manifest.txt (layout: docs/data.md).\n\n"
           "  --src DIR     the IDX files, e.g. /usr/share/datasets/fashion-mnist\n"
           "  --out DIR     the directory to create, with missing parents (must not exist,\n"
           "                unless --force)\n"
           "  --shards N    training shards, 1..%d and at most the training count\n"
           "  --seed S      seed of the one shuffle before the split (default 0)\n"
           "  --force       replace an existing output directory written by gnet_prepare\n"
           "  --version     print the source's version and the libraries', then exit\n"
           "  --help        this text\n",
           GNET_MAX_SHARDS);
}

/* Plain decimal digits, min..max. */
static int parse_u64(const char *opt, const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t x = 0;
    int ok = *v != '\0';
    for (const char *c = v; ok && *c; c++) {
        ok = *c >= '0' && *c <= '9' && x <= (UINT64_MAX - (uint64_t)(*c - '0')) / 10;
        x = x * 10 + (uint64_t)(*c - '0');
    }
    if (!ok || x < min || x > max) {
        char s[160];
        gnet_errorf("%s: '%s' is not an integer %llu..%llu", opt, gnet_escape(v, s, sizeof s),
                    (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = x;
    return 0;
}

static int set_value(const char *opt, const char *v, gnet_prepare_opts *o)
{
    uint64_t shards;
    if (!strcmp(opt, "--src"))
        o->src = v;
    else if (!strcmp(opt, "--out"))
        o->out = v;
    else if (!strcmp(opt, "--seed"))
        return parse_u64(opt, v, 0, UINT64_MAX, &o->seed);
    else if (parse_u64(opt, v, 1, GNET_MAX_SHARDS, &shards) == 0)
        o->shards = (int)shards;
    else
        return -1;
    return 0;
}

/* Returns 0 to run, 1 after --help, 2 on a bad command line (error printed). */
static int parse(int argc, char **argv, gnet_prepare_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--version")) {
            char v[256];
            printf("gnet_prepare %s\n", gnet_version(v, sizeof v));
            return 1;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 1;
        }
        if (!strcmp(a, "--force")) {
            o->force = 1;
            continue;
        }
        if (strcmp(a, "--src") != 0 && strcmp(a, "--out") != 0 && strcmp(a, "--shards") != 0 &&
            strcmp(a, "--seed") != 0) {
            char s[160];
            gnet_errorf("unknown option '%s' (see --help)", gnet_escape(a, s, sizeof s));
            return 2;
        }
        if (i + 1 >= argc) {
            gnet_errorf("%s: missing value", a);
            return 2;
        }
        if (set_value(a, argv[++i], o) < 0)
            return 2;
    }
    const char *missing = !o->src || !*o->src   ? "--src DIR"
                          : !o->out || !*o->out ? "--out DIR"
                          : !o->shards          ? "--shards N"
                                                : NULL;
    if (missing) {
        gnet_errorf("missing %s (see --help)", missing);
        return 2;
    }
    return 0;
}

static void report(const char *out_arg, const gnet_manifest *m)
{
    char out[4096], path[4200];
    size_t len = strlen(out_arg); /* "data/" -> "data" as gnet_prepare wrote it */
    while (len > 1 && out_arg[len - 1] == '/')
        len--;
    (void)snprintf(out, sizeof out, "%.*s", (int)len, out_arg); /* only printed */
    for (int s = 0; s < m->shards; s++) {
        gnet_shard_path(path, sizeof path, out, s, m->shards);
        printf("%s: %lld samples\n", path, (long long)m->shard_size[s]);
    }
    gnet_shard_path(path, sizeof path, out, -1, 1);
    printf("%s: %lld samples\n", path, (long long)m->test_count);
    printf("%s/manifest.txt: id %s, %d shard%s of %dx%d images, seed %llu\n", out, m->id, m->shards,
           m->shards == 1 ? "" : "s", m->rows, m->cols, (unsigned long long)m->seed);
}

int main(int argc, char **argv)
{
    gnet_prepare_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    /* 96 KiB of shard sizes and sums: not on the stack */
    gnet_manifest *m = gnet_malloc(sizeof *m, "the manifest");
    if (!m)
        return 1;
    rc = gnet_prepare(&o, m) == 0 ? 0 : 1;
    if (rc == 0)
        report(o.out, m);
    free(m);
    return rc;
}
