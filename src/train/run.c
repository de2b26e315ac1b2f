#include "train/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"

static int open_memory_sources(gnet_run *r)
{
    const gnet_options *o = r->o;
    if (o->synthetic) {
        /* A synthetic test set of its own seed, a sixth of the training size (as 10k/60k). */
        int n_test = o->synthetic / 6 > 0 ? o->synthetic / 6 : 1;
        if (gnet_dataset_synthetic(&r->train_set, o->synthetic, 28, o->seed) ||
            gnet_dataset_synthetic(&r->test_set, n_test, 28, o->seed + 1))
            return -1;
    } else if (gnet_dataset_load_idx(&r->train_set, o->idx_dir, 1) ||
               gnet_dataset_load_idx(&r->test_set, o->idx_dir, 0)) {
        return -1;
    }
    if (o->train_limit && o->train_limit < r->train_set.n)
        gnet_dataset_truncate(&r->train_set, o->train_limit);
    if (o->test_limit && o->test_limit < r->test_set.n)
        gnet_dataset_truncate(&r->test_set, o->test_limit);
    r->train_src = gnet_source_from_dataset(&r->train_set);
    r->test_src = gnet_source_from_dataset(&r->test_set);
    return r->train_src && r->test_src ? 0 : -1;
}

static int open_sources(gnet_run *r)
{
    const gnet_options *o = r->o;
    if (!o->data_dir) /* --train-limit/--test-limit with --data: refused by cli.c */
        return open_memory_sources(r);
    r->train_src = gnet_source_open_prepared(o->data_dir, "train", r->comm->rank, r->comm->world);
    r->test_src =
        r->train_src ? gnet_source_open_prepared(o->data_dir, "test", r->comm->rank, r->comm->world)
                     : NULL;
    return r->train_src && r->test_src ? 0 : -1;
}

static int open_loaders(gnet_run *r)
{
    const gnet_options *o = r->o;
    const char *what = o->data_dir ? o->data_dir : o->idx_dir ? o->idx_dir : "synthetic data";
    gnet_sampler_config tc = {.mode = GNET_SAMPLE_TRAIN,
                              .global_batch = o->batch_size,
                              .rank = r->comm->rank,
                              .world = r->comm->world,
                              .shuffle = !o->no_shuffle,
                              .drop_last = o->drop_last,
                              .seed = o->seed};
    gnet_sampler_config ec = {.mode = GNET_SAMPLE_EVAL,
                              .global_batch = r->micro * r->comm->world,
                              .rank = r->comm->rank,
                              .world = r->comm->world,
                              .seed = o->seed};
    r->train = gnet_loader_create(r->train_src, &tc, r->size, !o->no_prefetch, what);
    r->test =
        r->train ? gnet_loader_create(r->test_src, &ec, r->size, !o->no_prefetch, what) : NULL;
    if (r->train)
        gnet_loader_set_augment(r->train, gnet_options_augment(o), o->seed);
    return r->train && r->test ? 0 : -1;
}

/* Host memory the kernel could give this process now (MemAvailable), in bytes. */
static double host_memory_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1)
            break;
    if (f)
        (void)fclose(f);
    return kb > 0 ? kb * 1024 : (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
}

/* A batch too large for the host's memory is refused with the numbers before anything is
 * allocated (an allocation failing halfway could only say how many bytes it missed). The
 * CUDA backend reports device memory itself. */
static int check_host_memory(gnet_run *r)
{
    if (strcmp(r->be->name, "cpu") != 0)
        return 0;
    gnet_model *one = gnet_model_create(r->be, 1, r->size);
    if (!one)
        return -1;
    double per_image = (double)one->activation_bytes,
           weights = 5.0 * sizeof(float) * (double)one->n_weights;
    gnet_model_destroy(one);
    double need = per_image * r->micro + weights,
           have = host_memory_available() / r->comm->local_size;
    if (need <= have)
        return 0;
    gnet_errorf("--batch-size %d: out of memory: each rank needs about %.1f GB (%d images of %dx%d "
                "at %.1f MB of "
                "activations each, plus %.0f MB of weights), but %.1f GB is free for each of %d "
                "rank(s) on this "
                "node; lower --batch-size or raise --accum-steps",
                r->o->batch_size, need / 1e9, r->micro, r->size, r->size, per_image / 1e6,
                weights / 1e6, have / 1e9, r->comm->local_size);
    return -1;
}

/* The backend's waits for the device run the communicator's watchdog: with NCCL the host
 * no longer waits for the all-reduce itself, so a hung one is caught where it waits anyway
 * (comm.h watch). */
static void watch_comm(void *comm)
{
    gnet_comm *c = comm;
    c->watch(c);
}

static int open_model(gnet_run *r)
{
    const gnet_options *o = r->o;
    if (gnet_device_open(&r->dev, o, r->comm))
        return -1;
    r->be = r->dev.be;
    r->comm = r->dev.comm;
    if (check_host_memory(r) || !(r->m = gnet_model_create(r->be, r->micro, r->size)))
        return -1;
    size_t n = r->m->n_weights;
    /* Host staging for the parameters and the optimizer's state buffers (checkpoints). */
    r->zeros = gnet_calloc((size_t)r->micro * GNET_CLASSES, sizeof(float), "the zero gradient");
    r->host = gnet_malloc((1 + GNET_OPTIM_STATES_MAX) * n * sizeof(float),
                          "the host copy of the parameters");
    if (!r->zeros || !r->host)
        return -1;
    r->x = r->be->alloc(r->be, (size_t)r->micro * r->size * r->size);
    /* Every micro-batch uploads this much (and the smaller zero gradient of padding rows). */
    r->be->reserve_upload(r->be, (size_t)r->micro * r->size * r->size);
    r->be->on_wait = watch_comm;
    r->be->on_wait_ctx = r->comm;
    r->opt = gnet_optim_create(r->be, r->m->params_spec, r->m->n_params, n,
                               gnet_options_optim_config(o));
    r->clip = gnet_clip_create(r->be, r->m->params_spec, r->m->n_params, n, gnet_options_clip(o));
    /* Under accumulation, the noise scale needs the gradient sum before each micro-batch. */
    if (o->noise_scale && o->accum_steps > 1)
        r->snap = r->be->alloc(r->be, n);
    r->red = gnet_reducer_create(r->comm, r->m->grads, r->m->params_spec, r->m->n_params,
                                 (size_t)(o->bucket_mb * 1e6), !o->no_overlap);
    return 0;
}

void gnet_run_close(gnet_run *r)
{
    gnet_loader_destroy(r->train);
    gnet_loader_destroy(r->test);
    if (r->train_src)
        r->train_src->destroy(r->train_src);
    if (r->test_src)
        r->test_src->destroy(r->test_src);
    gnet_dataset_free(&r->train_set);
    gnet_dataset_free(&r->test_set);
    gnet_reducer_destroy(r->red);
    gnet_optim_destroy(r->opt);
    gnet_clip_destroy(r->clip);
    if (r->be) {
        r->be->on_wait = NULL; /* the communicator may go first (gnet_device_close) */
        if (r->x)
            r->be->free(r->be, r->x);
        if (r->snap)
            r->be->free(r->be, r->snap);
        gnet_model_destroy(r->m);
    }
    free(r->host);
    free(r->zeros);
    gnet_device_close(&r->dev);
}

int gnet_run_open(gnet_run *r, const gnet_options *o, gnet_comm *comm, int with_data)
{
    memset(r, 0, sizeof *r);
    r->o = o;
    r->comm = comm;
    comm->timeout_s = o->comm_timeout;
    r->t_start = gnet_now();
    r->size = o->resize ? o->resize : 28;
    r->micro = o->batch_size / (comm->world * o->accum_steps);
    r->noise_on = o->noise_scale && comm->world * o->accum_steps > 1;
    gnet_fifo_init(&r->pending_fifo, GNET_PENDING_STEPS);
    /* Every rank's data opened, or every rank stops here: nothing is created for a job in
     * which one rank cannot read its share. */
    if (with_data && gnet_run_agree(comm, open_sources(r) == 0 && open_loaders(r) == 0))
        return -1;
    return open_model(r);
}
