/* gnet_ckpt_load (src/core/checkpoint.c, core/h5util.c): what --init, --resume and --eval
 * read. Input: the HDF5 file. It is loaded twice, as --resume does (parameters, momentum and
 * /meta) and as --init and --eval do (parameters only), against fixtures.h's small model. */
#include <stdlib.h>
#include <string.h>

#include "core/checkpoint.h"
#include "fixtures.h"
#include "fuzz.h"

enum { ARENA_MAX = 256 };
static gnet_param_spec g_specs[FIX_CKPT_SPECS];
static size_t g_arena;

/* A failed load leaves the caller's arrays untouched (checkpoint.h). */
static void load(const char *path, int with_state)
{
    static float params[ARENA_MAX], momentum[ARENA_MAX], before[ARENA_MAX];
    gnet_ckpt_meta meta;
    for (size_t i = 0; i < g_arena; i++)
        params[i] = momentum[i] = before[i] = (float)i;
    int rc = gnet_ckpt_load(path, g_specs, FIX_CKPT_SPECS, params, with_state ? momentum : NULL,
                            with_state ? &meta : NULL);
    FUZZ_ASSERT(rc == 0 || rc == -1);
    if (rc != 0) {
        FUZZ_ASSERT(memcmp(params, before, g_arena * sizeof(float)) == 0);
        FUZZ_ASSERT(memcmp(momentum, before, g_arena * sizeof(float)) == 0);
    } else if (with_state) {
        FUZZ_ASSERT(memchr(meta.config, '\0', sizeof meta.config) != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[1024];
    if (!path[0]) {
        g_arena = fix_ckpt_specs(g_specs);
        FUZZ_ASSERT(g_arena <= ARENA_MAX);
        fuzz_path(path, sizeof path, "checkpoint.h5");
    }
    fuzz_write(path, data, size);
    long ids = fuzz_h5_ids();
    load(path, 1);
    load(path, 0);
    FUZZ_ASSERT(fuzz_h5_ids() == ids); /* every identifier opened is closed again */
    return 0;
}
