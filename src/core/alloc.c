#include "core/alloc.h"

#include <stdint.h>
#include <stdlib.h>

#include "core/log.h"

static void *fail(size_t n, const char *what)
{
    gnet_errorf("out of host memory: %zu bytes for %s", n, what);
    return NULL;
}

void *gnet_malloc(size_t n, const char *what)
{
    void *p = malloc(n ? n : 1);
    return p ? p : fail(n, what);
}

void *gnet_calloc(size_t count, size_t size, const char *what)
{
    if (size && count > SIZE_MAX / size) {
        gnet_errorf("out of host memory: %zu x %zu bytes for %s", count, size, what);
        return NULL;
    }
    void *p = calloc(count ? count : 1, size ? size : 1);
    return p ? p : fail(count * size, what);
}

void *gnet_realloc(void *p, size_t n, const char *what)
{
    void *q = realloc(p, n ? n : 1);
    return q ? q : fail(n, what);
}

void *gnet_aligned_alloc(size_t align, size_t n, const char *what)
{
    if (n > SIZE_MAX - align)
        return fail(n, what);
    void *p = aligned_alloc(align, n ? (n + align - 1) / align * align : align);
    return p ? p : fail(n, what);
}
