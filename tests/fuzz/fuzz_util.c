/* Helpers shared by the fuzz harnesses: see fuzz.h. */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test_files.h"

static char g_dir[512];

_Noreturn void fuzz_fail(const char *file, int line, const char *cond)
{
    fprintf(stderr, "%s:%d: parser contract broken: %s\n", file, line, cond);
    abort();
}

/* The harness's files only: the directory holds nothing else. */
static void remove_dir(void) { test_remove_dir(g_dir); }

const char *fuzz_dir(void)
{
    if (g_dir[0])
        return g_dir;
    const char *base = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/gnet_fuzz_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(remove_dir);
    return g_dir;
}

long fuzz_h5_ids(void)
{
    static const H5I_type_t types[] = {H5I_FILE,     H5I_GROUP,     H5I_DATASET,    H5I_ATTR,
                                       H5I_DATATYPE, H5I_DATASPACE, H5I_GENPROP_LST};
    long total = 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        hsize_t n = 0; /* a type HDF5 has not initialized yet has none */
        if (H5Itype_exists(types[i]) > 0)
            FUZZ_ASSERT(H5Inmembers(types[i], &n) >= 0);
        total += (long)n;
    }
    return total;
}

void fuzz_path(char *buf, size_t cap, const char *name)
{
    if ((size_t)snprintf(buf, cap, "%s/%s", fuzz_dir(), name) >= cap)
        fuzz_fail(__FILE__, __LINE__, "path fits");
}

void fuzz_write(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}
