/* What gnet_dist does: train (the epoch loop with d2l-style epoch lines and an optional final
 * checkpoint), evaluate a checkpoint on the test set, or print the network's shapes. Each
 * returns the process exit code (0 on success, 1 after printing an error). */
#ifndef GNET_TRAINER_H
#define GNET_TRAINER_H

#include "train/cli.h"

int gnet_train(const gnet_options *o, const char *command_line);
int gnet_eval(const gnet_options *o);
int gnet_print_shapes(const gnet_options *o);

#endif
