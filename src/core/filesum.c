/* Whole-file sizes, CRC-32s and checkpoint seals (filesum.h). */
#define _POSIX_C_SOURCE 200809L
#include "core/filesum.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define BLOCK ((size_t)64 << 10) /* bytes read at a time, on the stack */
#define SEAL_MAGIC "gnet-seal 1\n"
const unsigned char GNET_HDF5_SIGNATURE[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

/* Opens path read-only without blocking (a FIFO is refused below, not waited on) and checks
 * it is a regular file; its size into *bytes. The descriptor, or -1 with why. */
static int open_regular(const char *path, int64_t *bytes, char *why, size_t n)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        (void)snprintf(why, n, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = fstat(fd, &st);
    if (rc != 0 || !S_ISREG(st.st_mode)) {
        (void)snprintf(why, n, "%s", rc != 0 ? strerror(errno) : "not a regular file");
        (void)close(fd); /* read only */
        return -1;
    }
    *bytes = (int64_t)st.st_size;
    return fd;
}

/* CRC-32 of the bytes of fd from offset `from` to its end. 0, or -1 with why. */
static int crc_from(int fd, int64_t from, uint32_t *crc, char *why, size_t n)
{
    unsigned char buf[BLOCK];
    uLong c = crc32_z(0, NULL, 0);
    ssize_t got;
    int rc = lseek(fd, (off_t)from, SEEK_SET) < 0 ? -1 : 0;
    while (rc == 0 && (got = read(fd, buf, BLOCK)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            rc = -1;
        else
            c = crc32_z(c, buf, (size_t)got);
    }
    if (rc != 0)
        (void)snprintf(why, n, "read failed: %s", strerror(errno));
    *crc = (uint32_t)c;
    return rc;
}

/* The size and CRC-32 of fd's bytes from `from` against want, which is `whose` sum ("the
 * manifest's"). 0, or -1 with why. */
static int compare(int fd, int64_t bytes, int64_t from, const gnet_file_sum *want,
                   const char *whose, char *why, size_t n)
{
    if (bytes < want->bytes) {
        (void)snprintf(why, n, "truncated: %lld of %lld bytes (%s size)", (long long)bytes,
                       (long long)want->bytes, whose);
        return -1;
    }
    if (bytes > want->bytes) {
        (void)snprintf(why, n, "has %lld bytes, %s size is %lld: not the file gnet wrote",
                       (long long)bytes, whose, (long long)want->bytes);
        return -1;
    }
    uint32_t crc;
    if (crc_from(fd, from, &crc, why, n) != 0)
        return -1;
    if (crc == want->crc32)
        return 0;
    (void)snprintf(why, n, "damaged: its CRC-32 is %08" PRIx32 ", %s is %08" PRIx32, crc, whose,
                   want->crc32);
    return -1;
}

int gnet_file_sum_check(const char *path, const gnet_file_sum *want, char *why, size_t n)
{
    int64_t bytes;
    int fd = open_regular(path, &bytes, why, n);
    if (fd < 0)
        return -1;
    int rc = compare(fd, bytes, 0, want, "the manifest's", why, n);
    (void)close(fd); /* read only */
    return rc;
}

gnet_file_sum gnet_file_sum_of(const void *p, size_t n)
{
    return (gnet_file_sum){(int64_t)n, (uint32_t)crc32_z(crc32_z(0, NULL, 0), p, n)};
}

void gnet_seal(void *image, size_t size)
{
    char *p = image;
    uint32_t crc = gnet_file_sum_of(p + GNET_SEAL_BYTES, size - GNET_SEAL_BYTES).crc32;
    memset(p, 0, GNET_SEAL_BYTES);
    (void)snprintf(p, GNET_SEAL_BYTES, SEAL_MAGIC "bytes %zu\ncrc32 %08" PRIx32 "\n", size, crc);
}

/* Parses a seal block (NUL-terminated within GNET_SEAL_BYTES): 0 and *sum, or -1. */
static int parse_seal(const char *block, gnet_file_sum *sum)
{
    long long bytes;
    unsigned crc;
    char end;
    if (!memchr(block, '\0', GNET_SEAL_BYTES) ||
        strncmp(block, SEAL_MAGIC, strlen(SEAL_MAGIC)) != 0 ||
        sscanf(block + strlen(SEAL_MAGIC), "bytes %lld\ncrc32 %8x%c", &bytes, &crc, &end) != 3 ||
        end != '\n' || bytes <= GNET_SEAL_BYTES)
        return -1;
    *sum = (gnet_file_sum){bytes, crc};
    return 0;
}

/* Reads exactly n bytes at offset 0 of fd (fewer: the file is shorter). */
static ssize_t read_head(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -1 : (ssize_t)got;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int check_open(int fd, int64_t bytes, char *why, size_t n)
{
    char head[GNET_SEAL_BYTES + sizeof GNET_HDF5_SIGNATURE];
    ssize_t got = read_head(fd, head, sizeof head);
    gnet_file_sum sum;
    if (got < 0) {
        (void)snprintf(why, n, "read failed: %s", strerror(errno));
        return -1;
    }
    if (got >= (ssize_t)sizeof GNET_HDF5_SIGNATURE &&
        memcmp(head, GNET_HDF5_SIGNATURE, sizeof GNET_HDF5_SIGNATURE) == 0)
        return 0;
    if (got < (ssize_t)sizeof head ||
        memcmp(head + GNET_SEAL_BYTES, GNET_HDF5_SIGNATURE, sizeof GNET_HDF5_SIGNATURE) != 0) {
        (void)snprintf(why, n, "not an HDF5 file");
        return -1;
    }
    if (parse_seal(head, &sum) != 0) {
        (void)snprintf(why, n, "damaged: its seal (the first %d bytes) is unreadable",
                       GNET_SEAL_BYTES);
        return -1;
    }
    return compare(fd, bytes, GNET_SEAL_BYTES, &sum, "the seal's", why, n) == 0 ? 1 : -1;
}

int gnet_seal_check(const char *path, char *why, size_t n)
{
    int64_t bytes;
    int fd = open_regular(path, &bytes, why, n);
    if (fd < 0)
        return -1;
    int rc = check_open(fd, bytes, why, n);
    (void)close(fd); /* read only */
    return rc;
}
