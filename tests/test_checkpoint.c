/* HDF5 checkpoint: round trips (with and without optimizer state and meta), validation
 * failures that leave the caller's arrays untouched, and atomic-save hygiene. Error lines
 * printed by the expected failures are part of the normal output. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "core/checkpoint.h"
#include "test_util.h"

#define N_SPECS 5

static gnet_param_spec make_spec(const char *name, int ndim, int s0, int s1, int s2, int s3)
{
    gnet_param_spec s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "%s", name);
    s.ndim = ndim;
    int shape[4] = {s0, s1, s2, s3};
    s.count = 1;
    for (int d = 0; d < ndim; d++) {
        s.shape[d] = shape[d];
        s.count *= (size_t)shape[d];
    }
    return s;
}

/* Fills offsets (with a gap between entries, so packed vs arena layout matters); returns
 * the arena size in floats. */
static size_t layout(gnet_param_spec *specs, int n)
{
    size_t off = 3;
    for (int i = 0; i < n; i++) {
        specs[i].offset = off;
        off += specs[i].count + 5;
    }
    return off;
}

static void fake_specs(gnet_param_spec *specs)
{
    specs[0] = make_spec("0.0.weight", 4, 4, 1, 3, 3);
    specs[1] = make_spec("0.0.bias", 1, 4, 0, 0, 0);
    specs[2] = make_spec("2.0.p1_1.weight", 4, 2, 4, 1, 1);
    specs[3] = make_spec("5.weight", 2, 3, 8, 0, 0);
    specs[4] = make_spec("5.bias", 1, 3, 0, 0, 0);
}

static float *filled(size_t n, float base)
{
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = base + 0.25f * (float)i;
    return p;
}

static int same_params(const gnet_param_spec *specs, int n, const float *a, const float *b)
{
    for (int i = 0; i < n; i++)
        if (memcmp(a + specs[i].offset, b + specs[i].offset, specs[i].count * sizeof(float)))
            return 0;
    return 1;
}

static gnet_ckpt_meta sample_meta(void)
{
    gnet_ckpt_meta m;
    memset(&m, 0, sizeof m);
    m.epoch = 7;
    m.step = 123456789012LL;
    m.seed = 0xfedcba9876543210ULL;
    m.batch_size = 64;
    m.resize = 96;
    m.lr = 0.05;
    m.momentum = 0.9;
    m.weight_decay = 1e-4;
    snprintf(m.config, sizeof m.config, "gnet_dist --epochs 10 --lr 0.05 --data 'a b'");
    return m;
}

static int count_entries(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && (!needle || strstr(e->d_name, needle)))
            count++;
    closedir(d);
    return count;
}

static void join(char *out, size_t cap, const char *dir, const char *name)
{
    if ((size_t)snprintf(out, cap, "%s/%s", dir, name) >= cap)
        abort();
}

static void test_round_trip(const char *dir, const gnet_param_spec *specs, size_t arena)
{
    char path[512];
    join(path, sizeof path, dir, "full.h5");
    float *p = filled(arena, 1.0f), *m = filled(arena, -3.0f);
    gnet_ckpt_meta meta = sample_meta();
    EXPECT(gnet_ckpt_save(path, specs, N_SPECS, p, m, &meta) == 0);

    float *p2 = calloc(arena, sizeof(float)), *m2 = calloc(arena, sizeof(float));
    gnet_ckpt_meta meta2;
    memset(&meta2, 0, sizeof meta2);
    EXPECT(gnet_ckpt_load(path, specs, N_SPECS, p2, m2, &meta2) == 0);
    EXPECT(same_params(specs, N_SPECS, p, p2));
    EXPECT(same_params(specs, N_SPECS, m, m2));
    EXPECT(p2[0] == 0.0f && p2[arena - 1] == 0.0f); /* gaps not written */
    EXPECT(meta2.epoch == meta.epoch && meta2.step == meta.step && meta2.seed == meta.seed);
    EXPECT(meta2.batch_size == 64 && meta2.resize == 96);
    EXPECT(meta2.lr == meta.lr && meta2.momentum == meta.momentum);
    EXPECT(meta2.weight_decay == meta.weight_decay);
    EXPECT(strcmp(meta2.config, meta.config) == 0);

    /* Parameters only, no meta requested. */
    float *p3 = calloc(arena, sizeof(float));
    EXPECT(gnet_ckpt_load(path, specs, N_SPECS, p3, NULL, NULL) == 0);
    EXPECT(same_params(specs, N_SPECS, p, p3));

    /* Overwriting an existing checkpoint. */
    EXPECT(gnet_ckpt_save(path, specs, N_SPECS, m, NULL, &meta) == 0);
    EXPECT(gnet_ckpt_load(path, specs, N_SPECS, p3, NULL, NULL) == 0);
    EXPECT(same_params(specs, N_SPECS, m, p3));
    free(p), free(m), free(p2), free(m2), free(p3);
}

static void test_without_momentum(const char *dir, const gnet_param_spec *specs, size_t arena)
{
    char path[512];
    join(path, sizeof path, dir, "params.h5");
    float *p = filled(arena, 2.0f);
    EXPECT(gnet_ckpt_save(path, specs, N_SPECS, p, NULL, NULL) == 0);
    float *p2 = calloc(arena, sizeof(float)), *m2 = calloc(arena, sizeof(float));
    EXPECT(gnet_ckpt_load(path, specs, N_SPECS, p2, NULL, NULL) == 0);
    EXPECT(same_params(specs, N_SPECS, p, p2));

    /* Asking for what the file lacks fails and changes nothing. */
    float *p3 = calloc(arena, sizeof(float)), *m3 = calloc(arena, sizeof(float));
    gnet_ckpt_meta meta;
    memset(&meta, 0x5a, sizeof meta);
    gnet_ckpt_meta meta_before = meta;
    EXPECT(gnet_ckpt_load(path, specs, N_SPECS, p3, m3, NULL) == -1);
    EXPECT(gnet_ckpt_load(path, specs, N_SPECS, p3, NULL, &meta) == -1);
    EXPECT(same_params(specs, N_SPECS, p3, m2)); /* still all zero */
    EXPECT(same_params(specs, N_SPECS, m3, m2));
    EXPECT(memcmp(&meta, &meta_before, sizeof meta) == 0);
    free(p), free(p2), free(m2), free(p3), free(m3);
}

static void expect_load_fails(const char *path, const gnet_param_spec *specs, size_t arena)
{
    float *p = filled(arena, 9.0f), *before = filled(arena, 9.0f);
    float *m = filled(arena, 4.0f), *mbefore = filled(arena, 4.0f);
    EXPECT(gnet_ckpt_load(path, specs, N_SPECS, p, m, NULL) == -1);
    EXPECT(memcmp(p, before, arena * sizeof(float)) == 0);
    EXPECT(memcmp(m, mbefore, arena * sizeof(float)) == 0);
    free(p), free(before), free(m), free(mbefore);
}

static void test_validation(const char *dir, const gnet_param_spec *specs, size_t arena)
{
    char path[512];
    join(path, sizeof path, dir, "valid.h5");
    float *p = filled(arena, 1.0f);
    EXPECT(gnet_ckpt_save(path, specs, N_SPECS, p, p, NULL) == 0);
    free(p);

    gnet_param_spec bad[N_SPECS];
    memcpy(bad, specs, sizeof bad);
    bad[3] = make_spec("5.weight", 2, 3, 9, 0, 0); /* wrong shape, last-but-one entry */
    size_t bad_arena = layout(bad, N_SPECS);
    expect_load_fails(path, bad, bad_arena);

    memcpy(bad, specs, sizeof bad);
    bad[2] = make_spec("2.0.p1_1.weight", 2, 2, 4, 0, 0); /* wrong rank, same count */
    expect_load_fails(path, bad, layout(bad, N_SPECS));

    memcpy(bad, specs, sizeof bad);
    bad[4] = make_spec("5.bias_missing", 1, 3, 0, 0, 0); /* missing dataset */
    expect_load_fails(path, bad, layout(bad, N_SPECS));

    char other[512];
    join(other, sizeof other, dir, "not_hdf5.h5");
    FILE *fp = fopen(other, "w");
    fputs("this is not an HDF5 file\n", fp);
    fclose(fp);
    expect_load_fails(other, specs, arena);

    join(other, sizeof other, dir, "empty.h5");
    fclose(fopen(other, "w"));
    expect_load_fails(other, specs, arena);

    join(other, sizeof other, dir, "does_not_exist.h5");
    expect_load_fails(other, specs, arena);
    expect_load_fails(dir, specs, arena); /* a directory */
}

static void test_save_hygiene(const char *dir, const gnet_param_spec *specs, size_t arena)
{
    EXPECT(count_entries(dir, ".tmp.") == 0);
    int before = count_entries(dir, NULL);

    char path[512], missing[512];
    join(missing, sizeof missing, dir, "no_such_dir");
    join(path, sizeof path, missing, "x.h5");
    float *p = filled(arena, 1.0f);
    EXPECT(gnet_ckpt_save(path, specs, N_SPECS, p, NULL, NULL) == -1);
    struct stat st;
    EXPECT(stat(missing, &st) != 0);
    EXPECT(count_entries(dir, NULL) == before);

    /* Renaming onto a directory fails after the temp file was written: it must go away. */
    join(path, sizeof path, dir, "a_directory");
    EXPECT(mkdir(path, 0755) == 0);
    EXPECT(gnet_ckpt_save(path, specs, N_SPECS, p, NULL, NULL) == -1);
    EXPECT(count_entries(dir, ".tmp.") == 0);
    rmdir(path);
    free(p);
}

/* Objects (files, groups, datasets, attributes) the checkpoint code left open. */
static ssize_t open_objects(void) { return H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL); }

static void remove_all(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            remove(path);
        }
    closedir(d);
    rmdir(dir);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/gnet_ckpt_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    gnet_param_spec specs[N_SPECS];
    fake_specs(specs);
    size_t arena = layout(specs, N_SPECS);

    test_round_trip(dir, specs, arena);
    test_without_momentum(dir, specs, arena);
    test_validation(dir, specs, arena);
    test_save_hygiene(dir, specs, arena);
    EXPECT(open_objects() == 0);

    remove_all(dir);
    TEST_MAIN_END();
}
