/* Command-line options of gnet_dist: one table drives parsing, range checks and --help, for
 * the command line and for the INI file of --config alike (a key is an option's name without
 * the dashes; the command line wins over the file). gnet_cli_parse returns 0 on success, 1
 * when --help was printed, and 2 after printing one error line naming the option (or the
 * file, line and key); the caller exits with that code. Every rank parses the same command
 * line; only rank 0 prints. */
#ifndef GNET_CLI_H
#define GNET_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "core/clip.h"
#include "core/model.h"
#include "core/optim.h"

typedef struct gnet_owned_str gnet_owned_str;

typedef struct {
    int batch_size, epochs, resize, threads, synthetic, train_limit, test_limit;
    int accum_steps, drop_last, no_overlap, no_prefetch;
    int64_t max_steps, warmup_steps;
    double lr, momentum, weight_decay, bucket_mb;
    int nesterov, no_shuffle, print_shapes, dry_run;
    int warmup_epochs, lr_step_epochs, base_batch;
    int64_t checkpoint_every, checkpoint_epochs;
    double comm_timeout;
    int progress_off;
    double lr_gamma, lr_min;
    double lars_eta, target_acc, noise_ema, label_smoothing;
    double adam_beta1, adam_beta2, adam_eps;
    double clip_norm, agc_lambda; /* 0: unset (--agc-lambda's effective default 0.01) */
    int64_t eval_every;
    int noise_scale, version;
    uint64_t seed;
    const char *device, *comm, *idx_dir, *data_dir, *save_path, *init_path, *eval_path;
    const char *config_path, *lr_schedule, *lr_scale, *precision, *optimizer, *weight_init,
        *augment, *clip;
    const char *out_dir, *resume_path, *trace_path;
    gnet_owned_str *owned; /* the config file's strings, freed by gnet_options_free */
} gnet_options;

/* Fills *o (always: gnet_options_free(o) is needed whatever it returns). */
int gnet_cli_parse(int argc, char **argv, gnet_options *o);
void gnet_options_free(gnet_options *o);

/* The global batch must split into world ranks x accum_steps micro-batches: 0, or 2 after
 * printing the error. */
int gnet_options_check_batch(const gnet_options *o, int world);

/* Writes the options as a config file that gnet_dist --config reads back to the same
 * options (unset ones as comments). */
void gnet_options_write(const gnet_options *o, FILE *f);

/* --dry-run: checks the batch split, prints the resolved options as a config file (rank 0),
 * returns 0 or 2. Opens no data. */
int gnet_options_dry_run(const gnet_options *o, int world);

/* --weight-init's scheme. */
gnet_init_scheme gnet_options_init_scheme(const gnet_options *o);

/* --augment's GNET_AUGMENT_* flags (data/loader.h). */
unsigned gnet_options_augment(const gnet_options *o);

/* --optimizer's rule. */
gnet_opt_kind gnet_options_optimizer(const gnet_options *o);

/* The optimizer these options configure (--optimizer and its hyperparameters). */
gnet_optim_config gnet_options_optim_config(const gnet_options *o);

/* The gradient clipping of these options (--clip-norm, --clip agc, --agc-lambda). */
gnet_clip_config gnet_options_clip(const gnet_options *o);

/* The learning-rate schedule of these options, for gnet_lr_at. */
gnet_lr_schedule gnet_options_lr_schedule(const gnet_options *o);

#endif
