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

/* Not H5Inmembers per identifier type: HDF5 1.10 refuses every library type there ("cannot
 * call public function on library type"), which made an earlier version of this count 0
 * always. */
static long open_objects(void)
{
    ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    FUZZ_ASSERT(n >= 0);
    return (long)n;
}

long fuzz_h5_ids(void)
{
    static int checked;
    if (!checked) { /* an in-memory file and a group in it: two more, then none */
        long before = open_objects();
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        FUZZ_ASSERT(fapl >= 0 && H5Pset_fapl_core(fapl, 4096, 0) >= 0);
        hid_t f = H5Fcreate("count-check", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        hid_t g = H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        FUZZ_ASSERT(f >= 0 && g >= 0 && open_objects() == before + 2);
        H5Gclose(g), H5Fclose(f), H5Pclose(fapl);
        FUZZ_ASSERT(open_objects() == before);
        checked = 1;
    }
    return open_objects();
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
