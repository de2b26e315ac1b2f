/* Small HDF5 helpers shared by checkpoints (core/checkpoint.c) and the prepared data
 * (data/prepare.c writes it, data/shard.c reads it): scalar and string attributes, a
 * dataset written whole, a shape check, a file built in memory.
 *
 * Errors: a helper prints nothing. On a bad file it returns -1 (or H5I_INVALID_HID) with a
 * one-line description in err->msg, and the caller passes that on through its own message,
 * so that the one-line error still names the caller's file ("cannot load checkpoint X: ...",
 * "DIR/test.h5: ..."). Calls that fail only on a bug or a broken library (copying a type,
 * making a dataspace) end the process through H5_CHECK, as elsewhere. Not thread-safe
 * (HDF5 serial, and gnet_h5_strerror's buffer). */
#ifndef GNET_H5UTIL_H
#define GNET_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>

typedef struct {
    const char *prefix; /* before a name in messages: its group ("meta/"), or NULL at the root */
    const char *hint;   /* after "no attribute 'NAME'": why it must be there, or NULL */
    char msg[768];      /* on failure: what went wrong, for the caller's error line */
} gnet_h5_err;

/* Reads scalar attribute NAME of LOC as mtype. Its stored class must be cls ("attribute
 * 'NAME' is not an integer"); H5T_NO_CLASS accepts any that HDF5 converts to mtype. */
int gnet_h5_read_attr(hid_t loc, const char *name, H5T_class_t cls, hid_t mtype, void *out,
                      gnet_h5_err *err);

/* Reads string attribute NAME of LOC, fixed-length (as gnet writes) or variable-length (as
 * h5py writes), into out[cap], truncating. */
int gnet_h5_read_str_attr(hid_t loc, const char *name, char *out, size_t cap, gnet_h5_err *err);

/* Creates scalar attribute NAME of LOC, stored as ftype, from *value of type mtype. */
int gnet_h5_write_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *value,
                       gnet_h5_err *err);

/* Creates a fixed-length string attribute of exactly len bytes of s (one NUL byte when len is
 * 0: HDF5 has no empty fixed-length string), padded as pad says. */
int gnet_h5_write_str_attr(hid_t loc, const char *name, const char *s, size_t len, H5T_str_t pad,
                           gnet_h5_err *err);

/* Creates dataset NAME of LOC, stored as ftype with creation properties dcpl, and writes all of
 * buf (of type mtype, shape dims[rank]) to it. Datasets and groups are created without
 * HDF5's object times, so the same contents give the same file bytes (and checksums). */
int gnet_h5_write_dataset(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                          const hsize_t *dims, hid_t dcpl, const void *buf, gnet_h5_err *err);
/* Creates group NAME of LOC (without object times); its id, or negative (HDF5's error). */
hid_t gnet_h5_create_group(hid_t loc, const char *name);

/* Two shapes as text, "[64,1,7,7]", for the caller's message about a mismatch. */
typedef struct {
    char want[128], found[256];
} gnet_h5_shapes;

/* 1 if dataset d has exactly the shape want[rank]; 0 if not, with both shapes in *text. */
int gnet_h5_same_shape(hid_t d, int rank, const hsize_t *want, gnet_h5_shapes *text);

/* Checks that the storage layout of dataset d, whose shape is dims[rank], can hold it: 1 if
 * chunked (the chunk shape into chunk[rank]), 0 if contiguous or compact, -1 if a chunk is
 * larger than the dataset or of another rank, compact data is not the dataset's size, or the
 * stored data is larger than the file.
 * HDF5 never writes either, but 1.10 reads such a damaged file past its buffers and crashes
 * in H5Dread (found by fuzz_shard and fuzz_ckpt), so readers refuse it first. */
int gnet_h5_check_layout(hid_t d, int rank, const hsize_t *dims, hsize_t *chunk);

/* The bytes of an HDF5 file that fill builds in memory (HDF5's core driver without a backing
 * store, growing by increment bytes): malloc'd, *size bytes, for core/durable.h to write.
 * HDF5 never touches the disk, so a write error (a full disk) is write(2)'s, with errno,
 * never a failed H5Fclose, which in HDF5 1.10 leaves an id that crashes the library at exit.
 * fill writes the contents into file and returns 0, or -1 having printed its own error line.
 * NULL on failure: err->msg is "" when fill failed, else what went wrong. name is only the
 * file's name in HDF5's own messages. userblock: 0, or the size of a zeroed HDF5 user block
 * at the start of the file (a power of two >= 512) for the caller to fill (core/filesum.h's
 * seal). */
void *gnet_h5_image(const char *name, size_t increment, size_t userblock,
                    int (*fill)(hid_t file, void *ctx), void *ctx, size_t *size, gnet_h5_err *err);

#endif
