#define _POSIX_C_SOURCE 200809L
#include "core/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    return S_ISDIR(m)    ? "a directory"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
                         : "something other than a file";
}

int gnet_parent_dir(const char *path, char *buf, size_t n)
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

int gnet_name_lengths(const char *path, size_t reserve, char *why, size_t n)
{
    if (strlen(path) + reserve >= PATH_MAX)
        return say(why, n, "path too long (%zu bytes; the limit is %d)", strlen(path),
                   PATH_MAX - 1 - (int)reserve);
    for (const char *c = path; *c;) {
        size_t len = strcspn(c, "/"), skip = strspn(c + len, "/");
        size_t limit = NAME_MAX - (c[len + skip] ? 0 : reserve);
        if (len > limit)
            return say(why, n, "the name %.16s... is too long (%zu bytes; the limit is %zu)", c,
                       len, limit);
        c += len + skip;
    }
    return 0;
}

/* An existing directory that this process may create files in. */
static int writable_dir(const char *dir, char *why, size_t n)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return say(why, n, "directory %s %s", dir,
                   errno == ENOENT ? "does not exist" : strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return say(why, n, "%s is %s, not a directory", dir, type_name(st.st_mode));
    if (access(dir, W_OK | X_OK) != 0)
        return say(why, n, "directory %s is not writable: %s", dir, strerror(errno));
    return 0;
}

int gnet_output_check(const char *path, const char *pending_dir, char *why, size_t n)
{
    struct stat st;
    if (gnet_name_lengths(path, GNET_TMP_SUFFIX, why, n))
        return -1;
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
    if (gnet_parent_dir(path, dir, sizeof dir))
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
    if (gnet_name_lengths(dir, 0, why, n))
        return -1;
    if (snprintf(at, sizeof at, "%s", dir) >= (int)sizeof at)
        return say(why, n, "path too long");
    /* Up to the nearest ancestor that exists: mkdir -p creates the rest inside it. */
    while (stat(at, &st) != 0 && (errno == ENOENT || errno == ENOTDIR) && strcmp(at, ".") != 0 &&
           strcmp(at, "/") != 0) {
        char up[1024];
        (void)gnet_parent_dir(at, up, sizeof up); /* shorter than at: fits */
        memcpy(at, up, strlen(up) + 1);
    }
    return writable_dir(at, why, n);
}

int gnet_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd) != 0 && errno != EINVAL ? -1 : 0;
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

void gnet_fsync_parent(const char *path)
{
    char dir[4096];
    if (gnet_parent_dir(path, dir, sizeof dir) == 0)
        (void)gnet_fsync_dir(dir);
}

/* gnet_make_dirs failed to create path: the directories it made before (created, the
 * outermost) go, innermost first; what was there before stays. */
static void undo_dirs(char *path, char *created, size_t n)
{
    char *slash = strrchr(path, '/');
    if (!created[0] || !slash)
        return;
    *slash = '\0';
    gnet_remove_created(path, created);
    memset(created, 0, n);
}

int gnet_make_dirs(const char *dir, char *created, size_t n, char *why, size_t wn)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return say(why, wn, "path too long");
    for (char *c = path + 1;; c++) {
        int end = *c == '\0';
        if (*c != '/' && !end)
            continue;
        *c = '\0';
        if (mkdir(path, 0777) == 0) {
            if (!created[0])
                (void)snprintf(created, n, "%s", path);
        } else if (errno != EEXIST) {
            (void)say(why, wn, "cannot create the directory %s: %s", path, strerror(errno));
            undo_dirs(path, created, n);
            return -1;
        }
        if (end)
            return 0;
        *c = '/';
    }
}

void gnet_remove_created(const char *dir, const char *created)
{
    char at[4096];
    if (!created[0] || snprintf(at, sizeof at, "%s", dir) >= (int)sizeof at)
        return;
    for (;;) {
        size_t len = strlen(at);
        while (len > 1 && at[len - 1] == '/')
            at[--len] = '\0';
        /* ENOENT: the innermost ones do not exist when creating them was what failed. */
        if ((rmdir(at) != 0 && errno != ENOENT) || same_dir(at, created))
            return;
        char *slash = strrchr(at, '/');
        if (!slash)
            return;
        *slash = '\0';
    }
}

/* Writes all n bytes to fd, retrying short writes; a full disk is ENOSPC. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Some filesystems cannot fsync (EINVAL): there is nothing better to do there. */
static int sync_fd(int fd) { return fsync(fd) != 0 && errno != EINVAL ? -1 : 0; }

static int write_fd(const char *path, int flags, const void *buf, size_t n, char *why, size_t wn)
{
    int fd = open(path, O_WRONLY | O_CREAT | flags, 0666);
    if (fd < 0)
        return say(why, wn, "cannot create: %s", strerror(errno));
    int bad = write_all(fd, buf, n) || sync_fd(fd);
    int e = errno;
    if (close(fd) != 0 && !bad)
        bad = 1, e = errno;
    if (!bad)
        return 0;
    (void)unlink(path);
    return say(why, wn, "write failed: %s", strerror(e));
}

int gnet_write_new(const char *path, const void *buf, size_t n, char *why, size_t wn)
{
    return write_fd(path, O_EXCL, buf, n, why, wn);
}

int gnet_write_stream(const char *path, void (*fill)(FILE *f, const void *ctx), const void *ctx,
                      char *why, size_t wn)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return say(why, wn, "cannot create: %s", strerror(errno));
    fill(f, ctx);
    int bad = ferror(f) || fflush(f) != 0 || sync_fd(fileno(f));
    int e = bad ? errno : 0;
    if (fclose(f) != 0 && !bad)
        bad = 1, e = errno;
    return bad ? say(why, wn, "write failed: %s", strerror(e ? e : EIO)) : 0;
}

/* tmp = "PATH.tmp.<pid>", after the check every output passes. */
static int tmp_name(const char *path, char *tmp, size_t n, char *why, size_t wn)
{
    if (gnet_output_check(path, NULL, why, wn))
        return -1;
    if (snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid()) >= (int)n)
        return say(why, wn, "path too long");
    return 0;
}

/* The rename that publishes a written temporary file, made durable; written: the writer's
 * result, its reason in why (about tmp, named here). */
static int commit(const char *tmp, const char *path, int written, char *why, size_t wn)
{
    if (written != 0) {
        char inner[512];
        (void)snprintf(inner, sizeof inner, "%s", why);
        (void)unlink(tmp);
        return say(why, wn, "%s: %s", tmp, inner);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        (void)unlink(tmp);
        return say(why, wn, "renaming %s to it: %s", tmp, strerror(e));
    }
    gnet_fsync_parent(path);
    return 0;
}

int gnet_write_atomic(const char *path, void (*fill)(FILE *f, const void *ctx), const void *ctx,
                      char *why, size_t wn)
{
    char tmp[4200];
    if (tmp_name(path, tmp, sizeof tmp, why, wn))
        return -1;
    return commit(tmp, path, gnet_write_stream(tmp, fill, ctx, why, wn), why, wn);
}

int gnet_write_atomic_bytes(const char *path, const void *buf, size_t n, char *why, size_t wn)
{
    char tmp[4200];
    if (tmp_name(path, tmp, sizeof tmp, why, wn))
        return -1;
    return commit(tmp, path, write_fd(tmp, O_TRUNC, buf, n, why, wn), why, wn);
}

int gnet_append_durable(const char *path, const char *text, char *why, size_t wn)
{
    struct stat st;
    if (gnet_output_check(path, NULL, why, wn))
        return -1;
    int created = lstat(path, &st) != 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (fd < 0)
        return say(why, wn, "cannot open: %s", strerror(errno));
    int bad = write_all(fd, text, strlen(text)) || sync_fd(fd);
    int e = errno;
    if (close(fd) != 0 && !bad)
        bad = 1, e = errno;
    if (bad)
        return say(why, wn, "cannot append: %s", strerror(e));
    if (created)
        gnet_fsync_parent(path);
    return 0;
}
