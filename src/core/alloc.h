/* The one out-of-memory idiom: every host allocation whose failure is reported goes through
 * these. On failure they print one error line, "out of host memory: N bytes for WHAT"
 * (gnet_errorf, core/log.h), and return NULL; the caller returns its own error code and
 * prints nothing more. what is a short noun phrase naming the thing, and the file, directory
 * or option it belongs to when there is one ("shard 3 of DIR", "--trace PATH"), so that the
 * line alone says what could not be held. A size of 0 allocates one byte: NULL always means
 * failure. */
#ifndef GNET_ALLOC_H
#define GNET_ALLOC_H

#include <stddef.h>

void *gnet_malloc(size_t n, const char *what);
/* Zeroed, like calloc; count*size overflowing size_t counts as a failure. */
void *gnet_calloc(size_t count, size_t size, const char *what);
/* Like realloc: on failure p stays allocated, the caller's to free. */
void *gnet_realloc(void *p, size_t n, const char *what);
/* n bytes aligned to align (a power of two), n rounded up to a multiple of align as C11's
 * aligned_alloc requires; freed with free. */
void *gnet_aligned_alloc(size_t align, size_t n, const char *what);

#endif
