#define _POSIX_C_SOURCE 200809L
#include "data/idx.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/log.h"

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_MAX_DIM 4096u
#define IDX_CLASSES 10

/* One open IDX file. zlib reads plain files transparently, so both kinds share a path. */
typedef struct {
    gzFile f;
    char path[4096];
} reader;

/* Opens DIR/PREFIX-KIND-idxD-ubyte, the ".gz" one if it exists. */
static int rd_open(reader *r, const char *dir, const char *prefix, const char *kind, int d)
{
    char plain[sizeof r->path - 3];
    struct stat st;
    int len = snprintf(plain, sizeof plain, "%s/%s-%s-idx%d-ubyte", dir, prefix, kind, d);
    if (len < 0 || (size_t)len >= sizeof plain) {
        gnet_errorf("%s/%s-%s-idx%d-ubyte: path too long", dir, prefix, kind, d);
        return -1;
    }
    (void)snprintf(r->path, sizeof r->path, "%s.gz", plain); /* plain is 3 bytes shorter */
    int gz = stat(r->path, &st) == 0;
    if (!gz)
        memcpy(r->path, plain, (size_t)len + 1);
    errno = 0;
    r->f = gzopen(r->path, "rb");
    if (!r->f) {
        gnet_file_errorf(r->path, 0, "cannot open: %s%s", errno ? strerror(errno) : "out of memory",
                         gz ? "" : " (and there is no .gz of it)");
        return -1;
    }
    if (gzbuffer(r->f, 1 << 18) != 0) {
        gnet_file_errorf(r->path, 0, "gzbuffer failed");
        return -1;
    }
    return 0;
}

/* zlib's own message for the stream's state, or NULL if there is no error. gzerror
 * prefixes the path, which the caller prints already. */
static const char *rd_zerror(const reader *r)
{
    int err = Z_OK;
    const char *msg = gzerror(r->f, &err);
    size_t len = strlen(r->path);
    if (err == Z_OK)
        return NULL;
    if (strncmp(msg, r->path, len) == 0 && msg[len] == ':' && msg[len + 1] == ' ')
        msg += len + 2;
    return msg;
}

/* The message for a zlib error while reading at `offset`. "Unexpected end of file" means the
 * compressed file ends early: zlib decompresses ahead, so it can stop before the bytes asked
 * for even when far more were stored, and "read failed in bytes 0..8" would mislead. */
static void rd_failed(const reader *r, size_t offset, const char *zmsg)
{
    int err = Z_OK;
    (void)gzerror(r->f, &err);
    struct stat st;
    if (err == Z_BUF_ERROR && stat(r->path, &st) == 0)
        gnet_file_errorf(
            r->path, 0,
            "truncated: the compressed data ends early (the file has %lld bytes; zlib: %s)",
            (long long)st.st_size, zmsg);
    else
        gnet_file_errorf(r->path, 0, "read failed at byte %zu of the data: %s", offset, zmsg);
}

/* Reads bytes offset..offset+n of the file into buf; end is where the data should end, for
 * the message when it ends sooner. */
static int rd_exact(reader *r, void *buf, size_t n, size_t offset, size_t end)
{
    size_t done = 0;
    while (done < n) {
        size_t want = n - done > (1u << 30) ? (1u << 30) : n - done;
        int got = gzread(r->f, (char *)buf + done, (unsigned)want);
        const char *zmsg = rd_zerror(r);
        if (zmsg) {
            rd_failed(r, offset + done, zmsg);
            return -1;
        }
        if (got <= 0) {
            gnet_file_errorf(r->path, 0, "truncated: data ends at byte %zu, expected %zu",
                             offset + done, end);
            return -1;
        }
        done += (size_t)got;
    }
    return 0;
}

/* The data must end exactly here; reading on also makes zlib check the gzip trailer. */
static int rd_end(reader *r, size_t offset)
{
    int c = gzgetc(r->f);
    const char *zmsg = rd_zerror(r);
    if (zmsg) {
        rd_failed(r, offset, zmsg);
        return -1;
    }
    if (c != -1) {
        gnet_file_errorf(r->path, 0, "trailing data after the expected %zu bytes", offset);
        return -1;
    }
    return 0;
}

/* quiet: on an error path, where the one error line has already been printed. */
static int rd_close(reader *r, int quiet)
{
    if (!r->f)
        return 0;
    int rc = gzclose(r->f);
    r->f = NULL;
    if (rc != Z_OK && !quiet) {
        gnet_file_errorf(r->path, 0, "close failed: %s",
                         rc == Z_ERRNO ? strerror(errno) : zError(rc));
        return -1;
    }
    return 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int check_magic(const reader *r, uint32_t got, uint32_t want)
{
    if (got == want)
        return 0;
    gnet_file_errorf(r->path, 0, "bad magic number 0x%08x (expected 0x%08x)", got, want);
    return -1;
}

static int check_count(const reader *r, uint32_t n)
{
    if (n >= 1 && n <= INT32_MAX)
        return 0;
    gnet_file_errorf(r->path, 0, "sample count %u outside 1..%d", n, INT32_MAX);
    return -1;
}

/* Reads the n bytes that follow the header (which ends at offset) into a new buffer. It
 * grows with the data actually read, from 1 MiB by doubling, so a header that claims more
 * than the file holds is refused as truncated instead of allocating what it claims (a 27-byte
 * file once asked for 180 GB). */
static uint8_t *rd_body(reader *r, size_t n, size_t offset)
{
    const size_t first = (size_t)1 << 20;
    uint8_t *buf = NULL;
    size_t have = 0;
    while (have < n) {
        size_t want = have == 0 ? (n < first ? n : first) : (have > n / 2 ? n : 2 * have);
        uint8_t *grown = gnet_realloc(buf, want, r->path);
        if (!grown)
            break;
        buf = grown;
        if (rd_exact(r, buf + have, want - have, offset + have, offset + n) != 0)
            break;
        have = want;
    }
    if (have == n)
        return buf;
    free(buf);
    return NULL;
}

static int read_images_body(reader *r, gnet_idx_set *s)
{
    uint8_t h[16];
    if (rd_exact(r, h, sizeof h, 0, sizeof h) || check_magic(r, be32(h), IDX_MAGIC_IMAGES))
        return -1;
    uint32_t rows = be32(h + 8), cols = be32(h + 12);
    if (rows < 1 || rows > IDX_MAX_DIM || cols < 1 || cols > IDX_MAX_DIM) {
        gnet_file_errorf(r->path, 0, "image size %ux%u outside 1..%u", rows, cols, IDX_MAX_DIM);
        return -1;
    }
    if (check_count(r, be32(h + 4)))
        return -1;
    uint64_t bytes = (uint64_t)be32(h + 4) * rows * cols;
    if (bytes > SIZE_MAX) {
        gnet_file_errorf(r->path, 0, "%llu bytes of images do not fit in memory",
                         (unsigned long long)bytes);
        return -1;
    }
    s->n = (int32_t)be32(h + 4), s->rows = (int32_t)rows, s->cols = (int32_t)cols;
    s->images = rd_body(r, (size_t)bytes, sizeof h);
    if (!s->images)
        return -1;
    return rd_end(r, sizeof h + (size_t)bytes);
}

static int check_labels(const reader *r, const gnet_idx_set *s)
{
    for (int32_t i = 0; i < s->n; i++) {
        if (s->labels[i] >= IDX_CLASSES) {
            gnet_file_errorf(r->path, 0, "label %u at index %d is >= %d", s->labels[i], i,
                             IDX_CLASSES);
            return -1;
        }
    }
    return 0;
}

static int read_labels_body(reader *r, gnet_idx_set *s, const char *images_path)
{
    uint8_t h[8];
    if (rd_exact(r, h, sizeof h, 0, sizeof h) || check_magic(r, be32(h), IDX_MAGIC_LABELS) ||
        check_count(r, be32(h + 4)))
        return -1;
    if (be32(h + 4) != (uint32_t)s->n) {
        gnet_file_errorf(r->path, 0, "%u labels but %s has %d images", be32(h + 4), images_path,
                         s->n);
        return -1;
    }
    s->labels = rd_body(r, (size_t)s->n, sizeof h);
    if (!s->labels || rd_end(r, sizeof h + (size_t)s->n))
        return -1;
    return check_labels(r, s);
}

int gnet_idx_load(const char *dir, const char *prefix, gnet_idx_set *out)
{
    gnet_idx_set s = {0};
    reader img = {0}, lab = {0};
    int rc = rd_open(&img, dir, prefix, "images", 3);
    rc = rc ? rc : read_images_body(&img, &s);
    rc = rc ? rc : rd_close(&img, 0);
    rc = rc ? rc : rd_open(&lab, dir, prefix, "labels", 1);
    rc = rc ? rc : read_labels_body(&lab, &s, img.path);
    rc = rc ? rc : rd_close(&lab, 0);
    rd_close(&img, 1);
    rd_close(&lab, 1);
    if (rc) {
        gnet_idx_free(&s);
        memset(out, 0, sizeof *out);
        return -1;
    }
    *out = s;
    return 0;
}

void gnet_idx_free(gnet_idx_set *s)
{
    free(s->images);
    free(s->labels);
    memset(s, 0, sizeof *s);
}
