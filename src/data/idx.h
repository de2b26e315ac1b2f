/* Reader for the original MNIST / Fashion-MNIST IDX files. A load either returns a
 * complete, validated set or fails with one error line that names the file and the
 * problem; nothing partial survives a failure. */
#ifndef GNET_IDX_H
#define GNET_IDX_H

#include <stdint.h>

typedef struct {
    int32_t n, rows, cols;
    uint8_t *images; /* n * rows * cols bytes, row-major */
    uint8_t *labels; /* n bytes, each < 10 */
} gnet_idx_set;

/* Reads DIR/PREFIX-images-idx3-ubyte and DIR/PREFIX-labels-idx1-ubyte, each either
 * gzip-compressed (".gz" appended; preferred when both exist) or plain. PREFIX is "train"
 * or "t10k". Checks the magic numbers (0x803 images, 0x801 labels), rows and cols in
 * 1..4096, a non-zero count equal in both files, exact lengths (truncated or trailing
 * data is an error, and so is a damaged gzip stream) and labels < 10.
 * Returns 0, or -1 with *out zeroed after printing the error via gnet_errorf. */
int gnet_idx_load(const char *dir, const char *prefix, gnet_idx_set *out);
/* Frees the buffers and zeroes *s; a zeroed set is fine. */
void gnet_idx_free(gnet_idx_set *s);

#endif
