#include "core/alloc.h"

#include <stdint.h>
#include <stdlib.h>

#include "core/log.h"

/* p, after the error line when it is NULL. */
static void *checked(void *p, size_t n, const char *what)
{
    if (!p)
        gnet_errorf("out of host memory: %zu bytes for %s", n, what);
    return p;
}

void *gnet_malloc(size_t n, const char *what) { return checked(malloc(n ? n : 1), n, what); }

void *gnet_calloc(size_t count, size_t size, const char *what)
{
    if (size && count > SIZE_MAX / size) {
        gnet_errorf("out of host memory: %zu x %zu bytes for %s", count, size, what);
        return NULL;
    }
    return checked(calloc(count ? count : 1, size ? size : 1), count * size, what);
}

void *gnet_realloc(void *p, size_t n, const char *what)
{
    return checked(realloc(p, n ? n : 1), n, what);
}

void *gnet_aligned_alloc(size_t align, size_t n, const char *what)
{
    if (n > SIZE_MAX - align)
        return checked(NULL, n, what);
    return checked(aligned_alloc(align, n ? (n + align - 1) / align * align : align), n, what);
}
