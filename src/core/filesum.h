/* Whole-file checks that run before libhdf5 parses a file. libhdf5 1.10 crashes (SIGSEGV,
 * SIGFPE) or allocates without bound on some damaged files before gnet has a handle to check
 * anything (docs/reliability.md), so a file that changed since gnet wrote it is refused here:
 *
 * - prepared shards: their size and CRC-32 are in the manifest (data/shard.h);
 * - checkpoints: a seal, an HDF5 user block of GNET_SEAL_BYTES at the start of the file (HDF5
 *   skips it and finds the superblock after it; h5py reads the file as any other) holding
 *   the text "gnet-seal 1\nbytes N\ncrc32 XXXXXXXX\n": the file's size and the CRC-32 of
 *   everything after the block.
 *
 * This catches damage, not a crafted file (which can carry a matching sum). Functions that
 * can fail return -1 with the reason in why (n bytes) and print nothing: the caller names the
 * file in its own words. */
#ifndef GNET_FILESUM_H
#define GNET_FILESUM_H

#include <stddef.h>
#include <stdint.h>

/* A file as gnet wrote it: its size and zlib's CRC-32 of its bytes. */
typedef struct {
    int64_t bytes;
    uint32_t crc32;
} gnet_file_sum;

#define GNET_SEAL_BYTES 512
/* The 8 bytes an HDF5 superblock starts with: at offset 0 of a plain file, at GNET_SEAL_BYTES
 * of a sealed one. */
extern const unsigned char GNET_HDF5_SIGNATURE[8];

/* The sum of the n bytes at p, as of a file holding them. */
gnet_file_sum gnet_file_sum_of(const void *p, size_t n);

/* Checks the file at path against want: it is a regular file (opened without blocking, so a
 * FIFO is refused rather than waited on) of want->bytes bytes whose CRC-32 is want->crc32.
 * 0, or -1 with why: "truncated: 10 of 20 bytes (...)", "damaged: its CRC-32 is ...". */
int gnet_file_sum_check(const char *path, const gnet_file_sum *want, char *why, size_t n);

/* Seals image[0..size), an HDF5 file built with a user block of GNET_SEAL_BYTES (zeroed), by
 * writing the seal of image[GNET_SEAL_BYTES..size) into that block. */
void gnet_seal(void *image, size_t size);

/* The file at path: 1 sealed and intact; 0 not sealed (the HDF5 signature at offset 0, as
 * h5py and older gnet versions write); -1 with why: not a regular file, neither sealed nor
 * HDF5, or a seal the file does not match (truncated, damaged). */
int gnet_seal_check(const char *path, char *why, size_t n);

#endif
