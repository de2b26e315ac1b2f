#include "train/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "train/placement.h"
#ifdef GNET_CUDA
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>

#include "train/device_plugin.h"
#endif

/* CPU threads per rank: ranks on one node share its cores. */
static int cpu_threads(const gnet_options *o, const gnet_comm *c)
{
    if (o->threads)
        return o->threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores / c->local_size > 0 ? (int)(cores / c->local_size) : 1;
}

static int open_cpu(gnet_device *d, const gnet_options *o, gnet_comm *boot,
                    const char *why_not_cuda)
{
    if (strcmp(o->precision, "fp32") != 0) {
        gnet_errorf_once("--precision %s needs the CUDA backend; the CPU computes in fp32",
                         o->precision);
        return -1;
    }
    if (o->comm && strcmp(o->comm, "nccl") == 0) {
        gnet_errorf_once(
            "--comm nccl: NCCL needs the CUDA backend; use --comm mpi with --device cpu");
        return -1;
    }
    d->be = gnet_backend_cpu_create(cpu_threads(o, boot));
    d->comm = boot;
    (void)snprintf(d->summary, sizeof d->summary, "cpu (%d threads), %s communicator%s%s",
                   d->be->threads, boot->name, why_not_cuda ? "; no CUDA: " : "",
                   why_not_cuda ? why_not_cuda : "");
    return 0;
}

#ifdef GNET_CUDA
/* The plugin (device_plugin.h) from gnet_dist's own directory. It stays loaded for the
 * process's life, as linked libraries do (the CUDA libraries are not made to be unloaded). */
static const gnet_cuda_plugin *load_plugin(char *why, size_t n)
{
    char path[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", path, sizeof path - sizeof GNET_CUDA_PLUGIN_FILE);
    path[len > 0 ? len : 0] = '\0';
    char *slash = strrchr(path, '/');
    if (!slash) {
        (void)snprintf(why, n, "gnet_dist's directory is unknown (/proc/self/exe: %s)",
                       len < 0 ? strerror(errno) : "no directory");
        return NULL;
    }
    memcpy(slash + 1, GNET_CUDA_PLUGIN_FILE, sizeof GNET_CUDA_PLUGIN_FILE);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    const gnet_cuda_plugin *p = h ? dlsym(h, GNET_CUDA_PLUGIN_SYMBOL) : NULL;
    if (!p)
        (void)snprintf(why, n, "the CUDA backend did not load (%s)",
                       h ? "no " GNET_CUDA_PLUGIN_SYMBOL " in it" : dlerror());
    return p;
}

/* A machine without the driver learns it here, without loading the CUDA libraries (the
 * runtime would load the driver the same way; it stays loaded for it). */
static int have_driver(char *why, size_t n)
{
    if (dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL))
        return 1;
    (void)snprintf(why, n, "no CUDA driver (%s)", dlerror());
    return 0;
}
#endif

int gnet_device_open(gnet_device *d, const gnet_options *o, gnet_comm *boot)
{
    memset(d, 0, sizeof *d);
    if (strcmp(o->device, "cpu") == 0)
        return open_cpu(d, o, boot, NULL);
#ifdef GNET_CUDA
    char why[320] = "";
    const gnet_cuda_plugin *cuda =
        have_driver(why, sizeof why) ? load_plugin(why, sizeof why) : NULL;
    int devices = cuda ? cuda->device_count(why, sizeof why) : 0;
    if (devices > 0)
        return cuda->open(d, o, boot, devices);
#else
    const char *why = "this gnet was built without the CUDA toolkit (GNET_CUDA=OFF)";
#endif
    if (strcmp(o->device, "cuda") == 0) {
        gnet_errorf("--device cuda: no usable CUDA device (%s)", why);
        return -1;
    }
    return open_cpu(d, o, boot, why);
}

void gnet_device_close(gnet_device *d)
{
    if (d->owned_comm)
        d->owned_comm->destroy(d->owned_comm);
    if (d->be)
        d->be->destroy(d->be);
    memset(d, 0, sizeof *d);
}

#define WHERE_LINE 224 /* bytes of one rank's line, its NUL included */

char *gnet_device_where(const gnet_device *d, gnet_comm *boot)
{
    if (boot->world < 2)
        return NULL;
    char host[64] = "?", line[WHERE_LINE];
    if (gethostname(host, sizeof host) != 0)
        (void)snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = '\0';
    int dev_len = (int)strcspn(d->summary, ";");
    (void)snprintf(line, sizeof line, "rank %d of %d: host %s, local rank %d of %d, %.*s",
                   boot->rank, boot->world, host, boot->local_rank, boot->local_size, dev_len,
                   d->summary);
    /* Rank 0 collects the lines one broadcast per rank (every rank takes part in each). */
    char *all =
        boot->rank == 0 ? gnet_malloc((size_t)boot->world * WHERE_LINE, "the ranks' hosts") : NULL;
    size_t used = 0;
    for (int r = 0; r < boot->world; r++) {
        char buf[WHERE_LINE];
        if (r == boot->rank)
            memcpy(buf, line, sizeof buf);
        boot->broadcast_bytes(boot, buf, sizeof buf, r);
        buf[sizeof buf - 1] = '\0';
        if (all)
            used += (size_t)snprintf(all + used, (size_t)boot->world * WHERE_LINE - used, "%s%s",
                                     r ? "\n" : "", buf);
    }
    return all;
}

void gnet_device_versions(char *buf, size_t n)
{
#ifdef GNET_CUDA
    char why[320];
    const gnet_cuda_plugin *cuda = load_plugin(why, sizeof why);
    if (cuda)
        cuda->versions(buf, n);
    else
        (void)snprintf(buf, n, "CUDA on, but %s", why);
#else
    (void)snprintf(buf, n, "CUDA off");
#endif
}
