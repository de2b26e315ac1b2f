#include "core/atomic_file.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

int gnet_write_atomic(const char *path, void (*fill)(FILE *f, const void *ctx), const void *ctx)
{
    char tmp[1100];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp) {
        gnet_errorf("%s: path too long", path);
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        gnet_errorf("%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    fill(f, ctx);
    int bad = ferror(f);
    if (fflush(f) || bad || fsync(fileno(f)) || fclose(f) || rename(tmp, path)) {
        gnet_errorf("%s: cannot write: %s", path, strerror(errno));
        (void)remove(tmp);
        return -1;
    }
    return 0;
}
