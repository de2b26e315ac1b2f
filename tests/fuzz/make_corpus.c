/* Writes the seed corpora of the harnesses into OUT/<harness>/seed-*, from files made by
 * gnet's own writers (gnet_prepare, gnet_ckpt_save) and the tests' generators:
 *   fuzz_make_corpus OUT CONFIGS_DIR        (e.g. tests/fuzz/corpus configs)
 * Crash inputs (crash-*) found by fuzzing are kept beside the seeds and never rewritten. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/checkpoint.h"
#include "fixtures.h"
#include "fuzz.h"

static const char *g_out;

static void seed(const char *harness, const char *name, const void *data, size_t size)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", g_out, harness);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/seed-%s", g_out, harness, name);
    fuzz_write(path, data, size);
}

/* The whole file at path, with `prefix` bytes of room in front; *size excludes the room. */
static uint8_t *slurp(const char *path, size_t prefix, size_t *size)
{
    FILE *f = fopen(path, "rb");
    FUZZ_ASSERT(f != NULL);
    FUZZ_ASSERT(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    FUZZ_ASSERT(n >= 0 && fseek(f, 0, SEEK_SET) == 0);
    uint8_t *b = malloc(prefix + (size_t)n + 1);
    FUZZ_ASSERT(b && fread(b + prefix, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return b;
}

/* ---- idx: flags, images length, images, labels (fuzz_idx.c) ---------------------------- */

static uint8_t *gzip_of(const char *work, const uint8_t *b, size_t n, size_t *size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tmp.gz", work);
    gzFile f = gzopen(path, "wb9");
    FUZZ_ASSERT(f && gzwrite(f, b, (unsigned)n) == (int)n && gzclose(f) == Z_OK);
    return slurp(path, 0, size);
}

static void idx_seed(const char *name, int flags, const uint8_t *img, size_t ni,
                     const uint8_t *lab, size_t nl)
{
    uint8_t *b = malloc(5 + ni + nl);
    b[0] = (uint8_t)flags;
    for (int i = 0; i < 4; i++)
        b[1 + i] = (uint8_t)(ni >> (8 * i));
    memcpy(b + 5, img, ni);
    memcpy(b + 5 + ni, lab, nl);
    seed("idx", name, b, 5 + ni + nl);
    free(b);
}

static void idx_seeds(const char *work)
{
    char path[1024];
    size_t ni, nl, gi, gl;
    snprintf(path, sizeof path, "%s/src/t10k-images-idx3-ubyte.gz", work);
    uint8_t *gz_img = slurp(path, 0, &gi);
    snprintf(path, sizeof path, "%s/src/t10k-labels-idx1-ubyte.gz", work);
    uint8_t *gz_lab = slurp(path, 0, &gl);
    idx_seed("gzip", 3, gz_img, gi, gz_lab, gl);
    /* The plain bytes: gunzip through zlib, as the reader does. */
    uint8_t img[16 + FIX_TEST * FIX_ROWS * FIX_COLS], lab[8 + FIX_TEST];
    snprintf(path, sizeof path, "%s/src/t10k-images-idx3-ubyte.gz", work);
    gzFile f = gzopen(path, "rb");
    ni = (size_t)gzread(f, img, sizeof img);
    gzclose(f);
    snprintf(path, sizeof path, "%s/src/t10k-labels-idx1-ubyte.gz", work);
    f = gzopen(path, "rb");
    nl = (size_t)gzread(f, lab, sizeof lab);
    gzclose(f);
    FUZZ_ASSERT(ni == sizeof img && nl == sizeof lab);
    idx_seed("plain", 0, img, ni, lab, nl);
    idx_seed("plain-named-gz", 1, img, ni, lab, nl);
    uint8_t *gz9 = gzip_of(work, lab, nl, &gl);
    idx_seed("mixed", 2, img, ni, gz9, gl);
    free(gz_img), free(gz_lab), free(gz9);
}

/* ---- manifest, shard ------------------------------------------------------------------- */

static void prepared_seeds(const char *work)
{
    char path[1024];
    size_t n;
    snprintf(path, sizeof path, "%s/prep/manifest.txt", work);
    uint8_t *b = slurp(path, 0, &n);
    seed("manifest", "prepared", b, n);
    free(b);
    for (int index = -1; index < FIX_SHARDS; index++) {
        char dir[1024], name[32];
        snprintf(dir, sizeof dir, "%s/prep", work);
        FUZZ_ASSERT(gnet_shard_path(path, sizeof path, dir, index, FIX_SHARDS) == 0);
        b = slurp(path, 1, &n);
        b[0] = (uint8_t)(index + 1); /* fuzz_shard.c's file selector */
        snprintf(name, sizeof name, index < 0 ? "test" : "train-%d", index);
        seed("shard", name, b, n + 1);
        free(b);
    }
}

/* ---- checkpoints ----------------------------------------------------------------------- */

static void ckpt_seeds(const char *work)
{
    gnet_param_spec specs[FIX_CKPT_SPECS];
    size_t arena = fix_ckpt_specs(specs);
    float *p = malloc(arena * sizeof(float)), *m = malloc(arena * sizeof(float));
    for (size_t i = 0; i < arena; i++)
        p[i] = 0.25f * (float)i - 3.0f, m[i] = -0.5f * (float)i;
    gnet_ckpt_meta meta = {.epoch = 2, .step = 17, .epoch_step = 3, .ranks = 2, .seed = 7,
                           .batch_size = 64, .resize = 96, .lr = 0.05, .momentum = 0.9};
    snprintf(meta.config, sizeof meta.config, "gnet_dist --epochs 3");
    static const struct {
        const char *name;
        int momentum, meta;
    } kinds[] = {{"full", 1, 1}, {"params", 0, 0}, {"params-meta", 0, 1}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        char path[1024];
        size_t n;
        snprintf(path, sizeof path, "%s/ckpt.h5", work);
        gnet_ckpt_state state = {.n = 1, .group = {"optimizer"}, .data = {m}};
        FUZZ_ASSERT(gnet_ckpt_save(path, specs, FIX_CKPT_SPECS, p, kinds[k].momentum ? &state : NULL,
                                   kinds[k].meta ? &meta : NULL) == 0);
        uint8_t *b = slurp(path, 0, &n);
        seed("ckpt", kinds[k].name, b, n);
        free(b);
    }
    free(p), free(m);
}

/* ---- command line + config files ------------------------------------------------------- */

static void cli_seed(const char *name, const char *args, const char *config)
{
    size_t na = strlen(args), nc = config ? strlen(config) : 0;
    char *b = malloc(na + 1 + nc);
    memcpy(b, args, na);
    b[na] = 0x1e; /* fuzz_cli.c: the config file follows */
    if (config)
        memcpy(b + na + 1, config, nc);
    seed("cli", name, b, config ? na + 1 + nc : na);
    free(b);
}

/* Every .ini under dir (one level of subdirectories), with --dry-run. */
static void config_seeds(const char *dir, const char *sub)
{
    char path[2048];
    snprintf(path, sizeof path, "%s%s%s", dir, sub ? "/" : "", sub ? sub : "");
    DIR *d = opendir(path);
    FUZZ_ASSERT(d != NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        char file[3072], name[512];
        size_t n = strlen(e->d_name);
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".ini") == 0) {
            uint8_t *b = slurp(file, 0, &n);
            b[n] = '\0';
            snprintf(name, sizeof name, "config-%s", e->d_name);
            cli_seed(name, "--dry-run", (char *)b);
            free(b);
        } else if (!sub && e->d_name[0] != '.') {
            config_seeds(dir, e->d_name);
        }
    }
    closedir(d);
}

static void cli_seeds(const char *configs)
{
    cli_seed("synthetic", "--synthetic\n10\n--batch-size\n8\n--lr\n0.1\n--momentum\n0.9\n--nesterov", NULL);
    cli_seed("data", "--data\n/d\n--resize\n96\n--epochs\n25\n--seed\n18446744073709551615", NULL);
    cli_seed("schedule", "--idx\nx\n--lr-schedule\nstep\n--lr-step-epochs\n2\n--lr-gamma\n0.5\n"
                         "--warmup-epochs\n1\n--lr-scale\nsqrt\n--base-batch\n128", NULL);
    cli_seed("workflow", "--synthetic\n4\n--out\nrun\n--checkpoint-every\n5\n--resume\nrun\n"
                         "--trace\nt.json\n--no-progress\n--accum-steps\n2\n--bucket-mb\n0.5", NULL);
    cli_seed("bad-value", "--synthetic\n10\n--batch-size\nabc", NULL);
    cli_seed("help", "--help", NULL);
    cli_seed("config-inline", "--synthetic\n10",
             "; c\nseed = 7\n[train]\n  batch-size = 128 ; x\n\tlr = 0.1\r\nno-shuffle = yes\n");
    config_seeds(configs, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s OUT_DIR CONFIGS_DIR\n", argv[0]);
        return 2;
    }
    g_out = argv[1];
    mkdir(g_out, 0755);
    gnet_manifest m;
    fix_prepare(fuzz_dir(), &m);
    idx_seeds(fuzz_dir());
    prepared_seeds(fuzz_dir());
    ckpt_seeds(fuzz_dir());
    cli_seeds(argv[2]);
    return 0;
}
