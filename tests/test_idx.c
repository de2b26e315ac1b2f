/* IDX reading: small valid files (plain and gzip) read back exactly; each kind of broken
 * file fails with one error line naming it; and, when Debian's dataset-fashion-mnist is
 * installed, the real files have the known counts, class balance and pixel mean. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/idx.h"
#include "test_util.h"

#define REAL_DIR "/usr/share/datasets/fashion-mnist"

static char g_dir[] = "/tmp/gnet_test_idx_XXXXXX";

typedef struct {
    uint8_t *b;
    size_t n;
} blob;

static blob blob_new(size_t cap)
{
    blob b = {malloc(cap), 0};
    EXPECT(b.b != NULL);
    return b;
}

/* A copy of b with one more byte at the end. */
static blob blob_plus(const blob *b, uint8_t extra)
{
    blob c = blob_new(b->n + 1);
    memcpy(c.b, b->b, b->n);
    c.b[b->n] = extra;
    c.n = b->n + 1;
    return c;
}

static void put_be32(blob *b, uint32_t v)
{
    for (int s = 24; s >= 0; s -= 8)
        b->b[b->n++] = (uint8_t)(v >> s);
}

static blob images_blob(uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols)
{
    blob b = blob_new(16 + (size_t)n * rows * cols);
    put_be32(&b, magic), put_be32(&b, n), put_be32(&b, rows), put_be32(&b, cols);
    uint32_t x = 2463534242u; /* xorshift32: incompressible, so gzip files get large */
    for (uint32_t i = 0; i < n * rows * cols; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        b.b[b.n++] = (uint8_t)x;
    }
    return b;
}

static blob labels_blob(uint32_t magic, uint32_t n, int bad_at)
{
    blob b = blob_new(8 + (size_t)n);
    put_be32(&b, magic), put_be32(&b, n);
    for (uint32_t i = 0; i < n; i++)
        b.b[b.n++] = (int)i == bad_at ? 12 : (uint8_t)(i % 10);
    return b;
}

static void path_of(char *p, size_t cap, const char *prefix, const char *kind, int gz)
{
    int d = strcmp(kind, "images") == 0 ? 3 : 1;
    snprintf(p, cap, "%s/%s-%s-idx%d-ubyte%s", g_dir, prefix, kind, d, gz ? ".gz" : "");
}

static void write_file(const char *prefix, const char *kind, const blob *b, int gz)
{
    char p[512];
    path_of(p, sizeof p, prefix, kind, gz);
    if (gz) {
        gzFile f = gzopen(p, "wb");
        EXPECT(f && gzwrite(f, b->b, (unsigned)b->n) == (int)b->n);
        EXPECT(f && gzclose(f) == Z_OK);
    } else {
        FILE *f = fopen(p, "wb");
        EXPECT(f && fwrite(b->b, 1, b->n, f) == b->n);
        EXPECT(f && fclose(f) == 0);
    }
}

/* Rewrites a file keeping `keep` bytes (negative: drop that many from the end), or
 * flipping the byte at -keep-1 from the end when flip is set. */
static void damage(const char *prefix, const char *kind, int gz, long keep, int flip)
{
    char p[512];
    uint8_t *buf = malloc(1 << 22);
    path_of(p, sizeof p, prefix, kind, gz);
    FILE *f = fopen(p, "rb");
    size_t n = f ? fread(buf, 1, 1 << 22, f) : 0;
    if (f)
        fclose(f);
    if (flip)
        buf[n / 2] ^= 0x5a;
    else
        n = keep < 0 ? n - (size_t)-keep : (size_t)keep;
    f = fopen(p, "wb");
    EXPECT(f && fwrite(buf, 1, n, f) == n);
    if (f)
        fclose(f);
    free(buf);
}

static void clear_files(void)
{
    static const char *prefixes[] = {"train", "t10k"}, *kinds[] = {"images", "labels"};
    char p[512];
    for (int i = 0; i < 8; i++) {
        path_of(p, sizeof p, prefixes[i / 4], kinds[(i / 2) % 2], i % 2);
        remove(p);
    }
}

static void write_pair(const char *prefix, const blob *img, const blob *lab, int gz)
{
    clear_files();
    write_file(prefix, "images", img, gz);
    write_file(prefix, "labels", lab, gz);
}

static int is_zeroed(const gnet_idx_set *s)
{
    return s->n == 0 && s->rows == 0 && s->cols == 0 && !s->images && !s->labels;
}

/* The load must fail, leave *out zeroed and print exactly one line containing needle. */
static void expect_fail(const char *what, const char *prefix, const char *needle)
{
    test_capture cap;
    test_capture_begin(&cap);
    gnet_idx_set s = {.n = 99};
    int rc = gnet_idx_load(g_dir, prefix, &s);
    char text[2048];
    size_t len = test_capture_end(&cap, text, sizeof text);
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    fprintf(stderr, "[%s] %s", what, text);
    EXPECT(rc == -1);
    EXPECT(is_zeroed(&s));
    EXPECT(lines == 1);
    EXPECT(strstr(text, needle) != NULL);
}

static void expect_loads(const blob *img, const blob *lab, const char *prefix)
{
    gnet_idx_set s;
    EXPECT(gnet_idx_load(g_dir, prefix, &s) == 0);
    EXPECT(s.n == 3 && s.rows == 4 && s.cols == 5);
    EXPECT(s.images && memcmp(s.images, img->b + 16, 60) == 0);
    EXPECT(s.labels && memcmp(s.labels, lab->b + 8, 3) == 0);
    gnet_idx_free(&s);
    EXPECT(is_zeroed(&s));
}

static void test_valid(void)
{
    blob img = images_blob(0x803, 3, 4, 5), lab = labels_blob(0x801, 3, -1);
    write_pair("train", &img, &lab, 0);
    expect_loads(&img, &lab, "train");
    write_pair("t10k", &img, &lab, 1);
    expect_loads(&img, &lab, "t10k");
    /* Both present: the .gz wins, so a broken plain file next to it does not matter. */
    blob bad = images_blob(0x999, 3, 4, 5);
    write_file("t10k", "images", &bad, 0);
    expect_loads(&img, &lab, "t10k");
    free(img.b), free(lab.b), free(bad.b);
}

/* Writes the pair, breaks one file, and expects the load to fail naming it. */
static void broken_pair(const char *what, const blob *img, const blob *lab, int gz,
                        const char *kind, long keep, int flip, const char *needle)
{
    write_pair("train", img, lab, gz);
    if (kind)
        damage("train", kind, gz, keep, flip);
    expect_fail(what, "train", needle);
}

static void test_broken_headers(const blob *img, const blob *lab)
{
    blob m = images_blob(0x802, 3, 4, 5), lm = labels_blob(0x803, 3, -1);
    blob dims = images_blob(0x803, 3, 0, 5), big = images_blob(0x803, 0, 5000, 5);
    blob l4 = labels_blob(0x801, 4, -1);
    blob l0 = labels_blob(0x801, 0, -1), i0 = images_blob(0x803, 0, 4, 5);
    broken_pair("image magic", &m, lab, 0, NULL, 0, 0, "images-idx3-ubyte: bad magic");
    broken_pair("label magic", img, &lm, 1, NULL, 0, 0, "labels-idx1-ubyte.gz: bad magic");
    broken_pair("zero rows", &dims, lab, 0, NULL, 0, 0, "image size 0x5");
    broken_pair("rows > 4096", &big, lab, 0, NULL, 0, 0, "image size 5000x5");
    broken_pair("count mismatch", img, &l4, 0, NULL, 0, 0, "4 labels but");
    broken_pair("empty", &i0, &l0, 0, NULL, 0, 0, "sample count 0");
    free(m.b), free(lm.b), free(dims.b), free(big.b), free(l4.b), free(l0.b), free(i0.b);
}

static void test_broken_data(const blob *img, const blob *lab)
{
    /* A gzip cut short is called truncated (naming the file's size), not a read failure in
     * the bytes zlib happened to be asked for; a corrupt one is a read failure. */
    broken_pair("truncated gzip", img, lab, 1, "images", -12, 0,
                "images-idx3-ubyte.gz: truncated: the compressed data ends early (the file has");
    broken_pair("gzip trailer cut", img, lab, 1, "labels", -3, 0,
                "labels-idx1-ubyte.gz: truncated: the compressed data ends early");
    broken_pair("corrupt gzip", img, lab, 1, "images", 0, 1, "images-idx3-ubyte.gz: read failed at byte");
    broken_pair("truncated plain", img, lab, 0, "images", -1, 0,
                "images-idx3-ubyte: truncated");
    broken_pair("truncated header", img, lab, 0, "labels", 6, 0,
                "labels-idx1-ubyte: truncated");
    /* Many buffers of incompressible data and only the 4-byte length in the gzip
     * trailer missing: every pixel can be read, and the damage must still be noticed. */
    blob large = images_blob(0x803, 1000, 28, 28), ll = labels_blob(0x801, 1000, -1);
    broken_pair("large gzip trailer cut", &large, &ll, 1, "images", -4, 0,
                "images-idx3-ubyte.gz: truncated: the compressed data ends early");
    blob tr = blob_plus(img, 0), tl = blob_plus(lab, 1), bl = labels_blob(0x801, 3, 2);
    broken_pair("trailing plain", &tr, lab, 0, NULL, 0, 0, "images-idx3-ubyte: trailing");
    broken_pair("trailing gzip", img, &tl, 1, NULL, 0, 0, "labels-idx1-ubyte.gz: trailing");
    broken_pair("label >= 10", img, &bl, 1, NULL, 0, 0,
                "train-labels-idx1-ubyte.gz: label 12 at index 2 is >= 10");
    free(large.b), free(ll.b), free(tr.b), free(tl.b), free(bl.b);
}

static void test_broken(void)
{
    blob img = images_blob(0x803, 3, 4, 5), lab = labels_blob(0x801, 3, -1);
    clear_files();
    expect_fail("missing", "train", "train-images-idx3-ubyte");
    write_file("train", "images", &img, 1);
    expect_fail("missing labels", "train", "train-labels-idx1-ubyte");
    test_broken_headers(&img, &lab);
    test_broken_data(&img, &lab);
    clear_files();
    free(img.b), free(lab.b);
}

static void check_real(const char *prefix, int32_t n, int per_class, double mean)
{
    gnet_idx_set s;
    EXPECT(gnet_idx_load(REAL_DIR, prefix, &s) == 0);
    EXPECT(s.n == n && s.rows == 28 && s.cols == 28);
    if (s.n != n)
        return;
    int count[10] = {0};
    for (int32_t i = 0; i < n; i++)
        count[s.labels[i]]++;
    for (int c = 0; c < 10; c++)
        EXPECT(count[c] == per_class);
    if (mean >= 0) {
        uint64_t sum = 0;
        for (size_t i = 0; i < (size_t)n * 784; i++)
            sum += s.images[i];
        double m = (double)sum / ((double)n * 784 * 255);
        printf("%s pixel mean/255 = %.6f\n", prefix, m);
        EXPECT_NEAR(m, mean, 1e-4);
    }
    gnet_idx_free(&s);
}

int main(void)
{
    EXPECT(mkdtemp(g_dir) != NULL);
    test_valid();
    test_broken();
    rmdir(g_dir);
    struct stat st;
    if (stat(REAL_DIR, &st) == 0) {
        check_real("train", 60000, 6000, 0.2860);
        check_real("t10k", 10000, 1000, -1);
    } else {
        printf("SKIP: real data not installed\n");
    }
    TEST_MAIN_END();
}
