/* Command-line options of gnet_dist: one table drives parsing, range checks and --help.
 * gnet_cli_parse returns 0 on success, 1 when --help was printed, and 2 after printing one
 * error line naming the option (the caller exits with that code). Every rank parses the
 * same command line; only rank 0 prints. */
#ifndef GNET_CLI_H
#define GNET_CLI_H

#include <stdint.h>

typedef struct {
    int batch_size, epochs, resize, threads, synthetic, train_limit, test_limit;
    int accum_steps, drop_last, no_overlap, no_prefetch;
    int64_t max_steps;
    double lr, momentum, weight_decay, bucket_mb;
    int nesterov, no_shuffle, print_shapes;
    uint64_t seed;
    const char *device, *comm, *idx_dir, *data_dir, *save_path, *init_path, *eval_path;
} gnet_options;

int gnet_cli_parse(int argc, char **argv, gnet_options *o);

#endif
