/* gnet_ckpt_load (src/core/checkpoint.c, core/filesum.c, core/h5util.c): what --init,
 * --resume and --eval read. Input: the file. It is loaded twice, as --resume does
 * (parameters, momentum and /meta) and as --init and --eval do (parameters only), against
 * fixtures.h's small model. A sealed input (the HDF5 signature after GNET_SEAL_BYTES) whose
 * seal block ends in a zero byte, as gnet writes it, is sealed again first, as a crafted file
 * would be, so that libhdf5 and the checks behind the seal see the mutations; one whose last
 * seal byte is not zero is written as it is, and the seal refuses it unless it is intact. */
#include <stdlib.h>
#include <string.h>

#include "core/checkpoint.h"
#include "core/filesum.h"
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
    gnet_ckpt_state state = {.n = 1, .group = {"optimizer"}, .data = {momentum}};
    int rc = gnet_ckpt_load(path, g_specs, FIX_CKPT_SPECS, params, with_state ? &state : NULL,
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
    const size_t sig = sizeof GNET_HDF5_SIGNATURE;
    if (size > GNET_SEAL_BYTES + sig && data[GNET_SEAL_BYTES - 1] == 0 &&
        memcmp(data + GNET_SEAL_BYTES, GNET_HDF5_SIGNATURE, sig) == 0) {
        uint8_t *sealed = malloc(size);
        FUZZ_ASSERT(sealed != NULL);
        memcpy(sealed, data, size);
        gnet_seal(sealed, size);
        fuzz_write(path, sealed, size);
        free(sealed);
    } else {
        fuzz_write(path, data, size);
    }
    long ids = fuzz_h5_ids();
    load(path, 1);
    load(path, 0);
    FUZZ_ASSERT(fuzz_h5_ids() == ids); /* every identifier opened is closed again */
    return 0;
}
