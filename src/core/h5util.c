#include "core/h5util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/check.h"
#include "core/log.h"

/* ---- messages ---------------------------------------------------------------------------- */

static const char *or_empty(const char *s) { return s ? s : ""; }

/* Puts the failure into e->msg for the caller to report; returns -1. */
__attribute__((format(printf, 2, 3))) static int set_err(gnet_h5_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(e->msg, sizeof e->msg, fmt, ap); /* cut short, not lost, when long */
    va_end(ap);
    return -1;
}

/* "reading attribute 'meta/lr': <HDF5's message>" */
static int h5_failed(gnet_h5_err *e, const char *doing, const char *name)
{
    return set_err(e, "%s '%s%s': %s", doing, or_empty(e->prefix), name, gnet_h5_strerror());
}

static const char *class_name(H5T_class_t cls)
{
    switch (cls) {
    case H5T_INTEGER: return "an integer";
    case H5T_STRING: return "a string";
    default: return "of the expected class";
    }
}

/* ---- a file in memory ------------------------------------------------------------------- */

/* The image of an open in-memory file, flushed first. */
/* The file's image after `lead` zero bytes: H5Fget_file_image leaves a user block out (the
 * image starts at the superblock, which records the block's size), so the caller's block is
 * put back in front of it here. */
static void *copy_image(hid_t file, size_t lead, size_t *size, gnet_h5_err *e)
{
    if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) {
        set_err(e, "flushing the file in memory: %s", gnet_h5_strerror());
        return NULL;
    }
    ssize_t n = H5Fget_file_image(file, NULL, 0);
    char *image = n > 0 ? calloc(1, lead + (size_t)n) : NULL;
    if (!image || H5Fget_file_image(file, image + lead, (size_t)n) != n) {
        set_err(e, "copying the file image (%zd bytes): %s", n,
                n > 0 && !image ? "out of host memory" : gnet_h5_strerror());
        free(image);
        return NULL;
    }
    *size = lead + (size_t)n;
    return image;
}

void *gnet_h5_image(const char *name, size_t increment, size_t userblock,
                    int (*fill)(hid_t file, void *ctx), void *ctx, size_t *size, gnet_h5_err *err)
{
    err->msg[0] = '\0';
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, increment, 0) < 0) {
        if (fapl >= 0)
            H5Pclose(fapl);
        set_err(err, "setting up an in-memory HDF5 file: %s", gnet_h5_strerror());
        return NULL;
    }
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5_CHECK(fcpl);
    if (userblock)
        H5_CHECK(H5Pset_userblock(fcpl, userblock));
    hid_t file = H5Fcreate(name, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fcpl);
    H5Pclose(fapl);
    if (file < 0) {
        set_err(err, "creating the file in memory: %s", gnet_h5_strerror());
        return NULL;
    }
    void *image = fill(file, ctx) == 0 ? copy_image(file, userblock, size, err) : NULL;
    if (H5Fclose(file) < 0 && image) {
        set_err(err, "closing the file in memory: %s", gnet_h5_strerror());
        free(image);
        image = NULL;
    }
    return image;
}

/* ---- reading attributes ------------------------------------------------------------------ */

/* Opens attribute NAME of LOC and checks it holds exactly one element. */
static hid_t open_scalar(hid_t loc, const char *name, gnet_h5_err *e)
{
    const char *prefix = or_empty(e->prefix);
    if (H5Aexists(loc, name) <= 0) {
        set_err(e, "no attribute '%s%s'%s", prefix, name, or_empty(e->hint));
        return H5I_INVALID_HID;
    }
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) {
        h5_failed(e, "opening attribute", name);
        return H5I_INVALID_HID;
    }
    hid_t space = H5Aget_space(a);
    H5_CHECK(space);
    hssize_t npoints = H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    if (npoints == 1)
        return a;
    set_err(e, "attribute '%s%s' is not a scalar", prefix, name);
    H5Aclose(a);
    return H5I_INVALID_HID;
}

/* open_scalar, then checks the stored class (H5T_NO_CLASS: any); *type is the stored type,
 * for the caller to close with the attribute. */
static hid_t open_typed(hid_t loc, const char *name, H5T_class_t cls, hid_t *type, gnet_h5_err *e)
{
    hid_t a = open_scalar(loc, name, e);
    if (a < 0)
        return a;
    *type = H5Aget_type(a);
    H5_CHECK(*type);
    if (cls == H5T_NO_CLASS || H5Tget_class(*type) == cls)
        return a;
    set_err(e, "attribute '%s%s' is not %s", or_empty(e->prefix), name, class_name(cls));
    H5Tclose(*type);
    H5Aclose(a);
    return H5I_INVALID_HID;
}

int gnet_h5_read_attr(hid_t loc, const char *name, H5T_class_t cls, hid_t mtype, void *out,
                      gnet_h5_err *err)
{
    hid_t type, a = open_typed(loc, name, cls, &type, err);
    if (a < 0)
        return -1;
    int rc = 0;
    if (H5Aread(a, mtype, out) < 0)
        rc = h5_failed(err, "reading attribute", name);
    H5Tclose(type);
    H5Aclose(a);
    return rc;
}

/* Reads string attribute a, of stored type ftype, into out[cap]. A variable-length one is read
 * in its own character set: HDF5 does not convert between ASCII and UTF-8 (h5py's). */
static int read_str_value(hid_t a, hid_t ftype, char *out, size_t cap)
{
    if (H5Tis_variable_str(ftype) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5_CHECK(mt);
        H5_CHECK(H5Tset_size(mt, H5T_VARIABLE));
        H5_CHECK(H5Tset_cset(mt, H5Tget_cset(ftype)));
        char *s = NULL;
        herr_t e = H5Aread(a, mt, &s);
        H5Tclose(mt);
        if (e < 0)
            return -1;
        (void)snprintf(out, cap, "%s", s ? s : ""); /* truncating, as documented */
        H5free_memory(s);
        return 0;
    }
    /* One byte more than the stored size: a null-padded string fills it all. */
    char *buf = calloc(H5Tget_size(ftype) + 1, 1);
    if (!buf)
        return -1;
    int rc = H5Aread(a, ftype, buf) < 0 ? -1 : 0;
    if (rc == 0)
        (void)snprintf(out, cap, "%s", buf); /* truncating, as documented */
    free(buf);
    return rc;
}

int gnet_h5_read_str_attr(hid_t loc, const char *name, char *out, size_t cap, gnet_h5_err *err)
{
    hid_t type, a = open_typed(loc, name, H5T_STRING, &type, err);
    if (a < 0)
        return -1;
    int rc = 0;
    if (read_str_value(a, type, out, cap) < 0)
        rc = h5_failed(err, "reading attribute", name);
    H5Tclose(type);
    H5Aclose(a);
    return rc;
}

/* ---- writing ----------------------------------------------------------------------------- */

int gnet_h5_write_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *value,
                       gnet_h5_err *err)
{
    hid_t space = H5Screate(H5S_SCALAR);
    H5_CHECK(space);
    hid_t a = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (a < 0 || H5Awrite(a, mtype, value) < 0)
        rc = h5_failed(err, "writing attribute", name);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(space);
    return rc;
}

int gnet_h5_write_str_attr(hid_t loc, const char *name, const char *s, size_t len, H5T_str_t pad,
                           gnet_h5_err *err)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5_CHECK(t);
    H5_CHECK(H5Tset_size(t, len ? len : 1));
    H5_CHECK(H5Tset_strpad(t, pad));
    int rc = gnet_h5_write_attr(loc, name, t, t, len ? s : "", err);
    H5Tclose(t);
    return rc;
}

int gnet_h5_write_dataset(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                          const hsize_t *dims, hid_t dcpl, const void *buf, gnet_h5_err *err)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    H5_CHECK(space);
    hid_t untimed = dcpl == H5P_DEFAULT ? H5Pcreate(H5P_DATASET_CREATE) : H5Pcopy(dcpl);
    H5_CHECK(untimed);
    H5_CHECK(H5Pset_obj_track_times(untimed, 0));
    hid_t d = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, untimed, H5P_DEFAULT);
    int rc = 0;
    if (d < 0 || H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = h5_failed(err, "writing dataset", name);
    if (d >= 0)
        H5Dclose(d);
    H5Pclose(untimed);
    H5Sclose(space);
    return rc;
}

hid_t gnet_h5_create_group(hid_t loc, const char *name)
{
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5_CHECK(gcpl);
    H5_CHECK(H5Pset_obj_track_times(gcpl, 0));
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

/* ---- shapes ------------------------------------------------------------------------------ */

/* The bytes dataset d of shape dims[rank] holds, as stored. */
static hsize_t stored_bytes(hid_t d, int rank, const hsize_t *dims)
{
    hid_t t = H5Dget_type(d);
    H5_CHECK(t);
    hsize_t bytes = H5Tget_size(t);
    H5Tclose(t);
    for (int i = 0; i < rank; i++)
        bytes *= dims[i];
    return bytes;
}

int gnet_h5_check_layout(hid_t d, int rank, const hsize_t *dims, hsize_t *chunk)
{
    hid_t dcpl = H5Dget_create_plist(d);
    H5_CHECK(dcpl);
    H5D_layout_t layout = H5Pget_layout(dcpl);
    int ok = layout != H5D_CHUNKED || H5Pget_chunk(dcpl, rank, chunk) == rank;
    H5Pclose(dcpl);
    for (int i = 0; layout == H5D_CHUNKED && ok && i < rank; i++)
        ok = chunk[i] >= 1 && chunk[i] <= dims[i];
    if (layout == H5D_COMPACT)
        ok = H5Dget_storage_size(d) == stored_bytes(d, rank, dims);
    /* Stored data larger than the whole file: HDF5 would allocate what a damaged chunk index
     * claims (gigabytes) before finding out. */
    hid_t f = H5Iget_file_id(d);
    hsize_t file_bytes = 0;
    H5_CHECK(f);
    H5_CHECK(H5Fget_filesize(f, &file_bytes));
    H5Fclose(f);
    if (ok && H5Dget_storage_size(d) > file_bytes)
        ok = 0;
    return ok ? layout == H5D_CHUNKED : -1;
}

/* "[64,1,7,7]", truncated to cap. */
static void fmt_dims(char *buf, size_t cap, int ndim, const hsize_t *dims)
{
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%llu", d ? "," : "",
                                (unsigned long long)dims[d]);
    if (len < cap)
        (void)snprintf(buf + len, cap - len, "]");
}

int gnet_h5_same_shape(hid_t d, int rank, const hsize_t *want, gnet_h5_shapes *text)
{
    hid_t space = H5Dget_space(d);
    H5_CHECK(space);
    hsize_t found[H5S_MAX_RANK];
    int nd = H5Sget_simple_extent_dims(space, found, NULL);
    H5Sclose(space);
    int same = nd == rank;
    for (int i = 0; same && i < nd; i++)
        same = found[i] == want[i];
    if (same)
        return 1;
    fmt_dims(text->want, sizeof text->want, rank, want);
    fmt_dims(text->found, sizeof text->found, nd < 0 ? 0 : nd, found);
    return 0;
}
