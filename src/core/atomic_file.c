#include "core/atomic_file.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

__attribute__((format(printf, 3, 4))) static int say(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(why, n, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized): as in cli.c
    va_end(ap);
    return -1;
}

static const char *type_name(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "something other than a file";
}

/* The directory path is in, as written ("." without a slash, "/" in the root); -1 when it
 * does not fit. */
static int parent_of(const char *path, char *buf, size_t n)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') /* "dir/" names dir */
        len--;
    while (len > 0 && path[len - 1] != '/')
        len--;
    while (len > 1 && path[len - 1] == '/')
        len--;
    int w = len == 0 ? snprintf(buf, n, ".") : snprintf(buf, n, "%.*s", (int)len, path);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* a and b name the same directory as written, trailing slashes aside ("runs/a/" is "runs/a"). */
static int same_dir(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (lb > 1 && b[lb - 1] == '/')
        lb--;
    return la == lb && strncmp(a, b, la) == 0;
}

/* An existing directory that this process may create files in. */
static int writable_dir(const char *dir, char *why, size_t n)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return say(why, n, "directory %s %s", dir, errno == ENOENT ? "does not exist" : strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return say(why, n, "%s is %s, not a directory", dir, type_name(st.st_mode));
    if (access(dir, W_OK | X_OK) != 0)
        return say(why, n, "directory %s is not writable: %s", dir, strerror(errno));
    return 0;
}

int gnet_output_check(const char *path, const char *pending_dir, char *why, size_t n)
{
    struct stat st;
    if (lstat(path, &st) == 0) {
        int link = S_ISLNK(st.st_mode);
        if (link && stat(path, &st) != 0)
            return say(why, n, "is a symbolic link to nothing usable (%s)", strerror(errno));
        if (!S_ISREG(st.st_mode))
            return say(why, n, "is %s%s, not a regular file", link ? "a symbolic link to " : "",
                       type_name(st.st_mode));
    } else if (errno != ENOENT && errno != ENOTDIR) { /* ENOTDIR: the directory check names it */
        return say(why, n, "%s", strerror(errno));
    }
    char dir[1024];
    if (parent_of(path, dir, sizeof dir))
        return say(why, n, "path too long");
    struct stat dst;
    if (pending_dir && same_dir(dir, pending_dir) && stat(dir, &dst) != 0 && errno == ENOENT)
        return 0;
    return writable_dir(dir, why, n);
}

int gnet_output_dir_check(const char *dir, char *why, size_t n)
{
    char at[1024];
    struct stat st;
    if (snprintf(at, sizeof at, "%s", dir) >= (int)sizeof at)
        return say(why, n, "path too long");
    /* Up to the nearest ancestor that exists: mkdir -p creates the rest inside it. */
    while (stat(at, &st) != 0 && (errno == ENOENT || errno == ENOTDIR) && strcmp(at, ".") != 0 &&
           strcmp(at, "/") != 0) {
        char up[1024];
        (void)parent_of(at, up, sizeof up); /* shorter than at: fits */
        memcpy(at, up, strlen(up) + 1);
    }
    return writable_dir(at, why, n);
}

int gnet_write_atomic(const char *path, void (*fill)(FILE *f, const void *ctx), const void *ctx)
{
    char tmp[1100], why[512];
    if (gnet_output_check(path, NULL, why, sizeof why)) {
        gnet_errorf("%s: %s", path, why);
        return -1;
    }
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
