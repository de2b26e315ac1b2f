/* Writing a small file so that a reader never sees half of it: the content goes to
 * "PATH.tmp.<pid>", is flushed and synced, then renamed over PATH. */
#ifndef GNET_ATOMIC_FILE_H
#define GNET_ATOMIC_FILE_H

#include <stdio.h>

/* fill writes the content (its stdio errors are caught after it). 0, or -1 after one error
 * line naming PATH; on failure the temporary file is removed and PATH is untouched. */
int gnet_write_atomic(const char *path, void (*fill)(FILE *f, const void *ctx), const void *ctx);

#endif
