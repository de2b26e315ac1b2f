#include "core/check.h"

#include <hdf5.h>
#include <string.h>

struct h5_walk {
    char msg[256];
    char deepest[256]; /* the innermost error's description: the cause */
};

static herr_t h5_walk_cb(unsigned n, const H5E_error2_t *err, void *data)
{
    struct h5_walk *w = data;
    if (n == 0 && err->desc)
        (void)snprintf(w->msg, sizeof w->msg, "%s (in %s)", err->desc, err->func_name);
    if (err->desc)
        (void)snprintf(w->deepest, sizeof w->deepest, "%s", err->desc);
    return 0;
}

const char *gnet_h5_open_strerror(char *buf, size_t n)
{
    struct h5_walk w = {.msg = "unknown HDF5 error"};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, h5_walk_cb, &w);
    long long eof, base, stored;
    if (sscanf(w.deepest, "truncated file: eof = %lld, sblock->base_addr = %lld, stored_eof = %lld",
               &eof, &base, &stored) == 3)
        (void)snprintf(buf, n, "truncated: %lld of %lld bytes", eof, stored);
    else if (w.deepest[0] && strcmp(w.deepest, "unable to open file") != 0)
        (void)snprintf(buf, n, "%s: %s", w.msg, w.deepest);
    else
        (void)snprintf(buf, n, "%s", w.msg);
    return buf;
}

const char *gnet_h5_strerror(void)
{
    /* One per thread: the loader's prefetch thread reads shards while the main thread may
     * report on a checkpoint (HDF5 itself serialises their calls). */
    static _Thread_local struct h5_walk w;
    strcpy(w.msg, "unknown HDF5 error");
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, h5_walk_cb, &w);
    return w.msg;
}
