#define _POSIX_C_SOURCE 200809L

#include "core/checkpoint.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/check.h"
#include "core/durable.h"
#include "core/filesum.h"
#include "core/h5util.h"
#include "core/log.h"

#define META_GROUP "meta"
/* Per tensor: zlib's CRC-32 of its float32 little-endian bytes, as a uint32 attribute. */
#define CRC_ATTR "crc32"

/* The CRC is taken over the native floats, which are the stored little-endian bytes only on
 * a little-endian host (gcc and clang say which this is). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint checksums assume a little-endian host"
#endif

/* The numeric /meta attributes, shared by save and load. */
enum attr_kind { A_I64, A_U64, A_I32, A_F64 };
static const struct {
    const char *name;
    enum attr_kind kind;
    size_t off;
    int optional; /* added after version 2 began: absent in older files, read as 0 */
} META_ATTRS[] = {
    {"epoch", A_I64, offsetof(gnet_ckpt_meta, epoch), 0},
    {"step", A_I64, offsetof(gnet_ckpt_meta, step), 0},
    {"epoch_step", A_I64, offsetof(gnet_ckpt_meta, epoch_step), 0},
    {"epoch_loss_sum", A_F64, offsetof(gnet_ckpt_meta, epoch_loss_sum), 0},
    {"epoch_correct", A_F64, offsetof(gnet_ckpt_meta, epoch_correct), 0},
    {"epoch_seen", A_F64, offsetof(gnet_ckpt_meta, epoch_seen), 0},
    {"epoch_seconds", A_F64, offsetof(gnet_ckpt_meta, epoch_seconds), 0},
    {"run_seconds", A_F64, offsetof(gnet_ckpt_meta, run_seconds), 0},
    {"train_seconds", A_F64, offsetof(gnet_ckpt_meta, train_seconds), 0},
    {"train_images", A_F64, offsetof(gnet_ckpt_meta, train_images), 0},
    {"ranks", A_I32, offsetof(gnet_ckpt_meta, ranks), 0},
    {"seed", A_U64, offsetof(gnet_ckpt_meta, seed), 0},
    {"batch_size", A_I32, offsetof(gnet_ckpt_meta, batch_size), 0},
    {"resize", A_I32, offsetof(gnet_ckpt_meta, resize), 0},
    {"lr", A_F64, offsetof(gnet_ckpt_meta, lr), 0},
    {"momentum", A_F64, offsetof(gnet_ckpt_meta, momentum), 0},
    {"weight_decay", A_F64, offsetof(gnet_ckpt_meta, weight_decay), 0},
    {"optimizer", A_I32, offsetof(gnet_ckpt_meta, optimizer), 1},
    {"lars_eta", A_F64, offsetof(gnet_ckpt_meta, lars_eta), 1},
    {"adam_beta1", A_F64, offsetof(gnet_ckpt_meta, adam_beta1), 1},
    {"adam_beta2", A_F64, offsetof(gnet_ckpt_meta, adam_beta2), 1},
    {"adam_eps", A_F64, offsetof(gnet_ckpt_meta, adam_eps), 1},
    {"since_loss", A_F64, offsetof(gnet_ckpt_meta, since_loss), 1},
    {"since_seen", A_F64, offsetof(gnet_ckpt_meta, since_seen), 1},
    {"gns_g2_ema", A_F64, offsetof(gnet_ckpt_meta, gns_g2_ema), 1},
    {"gns_tr_ema", A_F64, offsetof(gnet_ckpt_meta, gns_tr_ema), 1},
    {"gns_weight", A_F64, offsetof(gnet_ckpt_meta, gns_weight), 1},
    {"gns_steps", A_I64, offsetof(gnet_ckpt_meta, gns_steps), 1},
    {"target_acc", A_F64, offsetof(gnet_ckpt_meta, target_acc), 1},
    {"target_step", A_I64, offsetof(gnet_ckpt_meta, target_step), 1},
    {"target_images", A_F64, offsetof(gnet_ckpt_meta, target_images), 1},
    {"target_train_s", A_F64, offsetof(gnet_ckpt_meta, target_train_s), 1},
    {"target_epoch", A_F64, offsetof(gnet_ckpt_meta, target_epoch), 1},
    {"target_wall_s", A_F64, offsetof(gnet_ckpt_meta, target_wall_s), 1},
    {"target_test_acc", A_F64, offsetof(gnet_ckpt_meta, target_test_acc), 1},
    {"label_smoothing", A_F64, offsetof(gnet_ckpt_meta, label_smoothing), 1},
    {"clip", A_I32, offsetof(gnet_ckpt_meta, clip), 1},
    {"clip_norm", A_F64, offsetof(gnet_ckpt_meta, clip_norm), 1},
    {"agc_lambda", A_F64, offsetof(gnet_ckpt_meta, agc_lambda), 1},
};
#define N_META_ATTRS ((int)(sizeof META_ATTRS / sizeof META_ATTRS[0]))

static hid_t attr_file_type(enum attr_kind k)
{
    switch (k) {
    case A_I64: return H5T_STD_I64LE;
    case A_U64: return H5T_STD_U64LE;
    case A_I32: return H5T_STD_I32LE;
    default: return H5T_IEEE_F64LE;
    }
}

static hid_t attr_mem_type(enum attr_kind k)
{
    switch (k) {
    case A_I64: return H5T_NATIVE_INT64;
    case A_U64: return H5T_NATIVE_UINT64;
    case A_I32: return H5T_NATIVE_INT32;
    default: return H5T_NATIVE_DOUBLE;
    }
}

/* ---- shared helpers ---------------------------------------------------------------- */

/* Prints "cannot OP checkpoint PATH: <message>" and returns -1. */
__attribute__((format(printf, 3, 4))) static int ckpt_fail(const char *op, const char *path,
                                                           const char *fmt, ...)
{
    char what[1100];
    (void)snprintf(what, sizeof what, "cannot %s checkpoint %s", op,
                   path); /* cut short when long */
    va_list ap;
    va_start(ap, fmt);
    int rc = gnet_file_verrorf(what, 0, fmt, ap);
    va_end(ap);
    return rc;
}

static int check_specs(const char *op, const char *path, const gnet_param_spec *specs, int n)
{
    if (n < 0 || (n > 0 && !specs))
        return ckpt_fail(op, path, "invalid parameter table (n = %d)", n);
    for (int i = 0; i < n; i++) {
        const gnet_param_spec *s = &specs[i];
        size_t count = 1;
        int ok = s->name[0] != '\0' && s->ndim >= 1 && s->ndim <= 4;
        for (int d = 0; ok && d < s->ndim; d++) {
            ok = s->shape[d] > 0;
            count *= ok ? (size_t)s->shape[d] : 0;
        }
        if (!ok || count != s->count)
            return ckpt_fail(op, path, "invalid parameter table entry %d ('%.*s')", i,
                             GNET_PARAM_NAME_MAX, s->name);
    }
    return 0;
}

static void spec_dims(const gnet_param_spec *s, hsize_t *dims)
{
    for (int d = 0; d < s->ndim; d++)
        dims[d] = (hsize_t)s->shape[d];
}

static uint32_t tensor_crc(const float *data, size_t count)
{
    return (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), (const Bytef *)data, count * sizeof(float));
}

/* The first NaN or infinity of data as "NaN at index I" in buf, or 0 when all are finite.
 * A checkpoint is a state to continue from: a non-finite weight or momentum is never one
 * (behind a ReLU a NaN trains on unseen; an Inf surfaces steps later as a "diverged" loss
 * that blames the learning rate), so neither save nor load lets one through. */
static int non_finite(const float *data, size_t count, char *buf, size_t n)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(data[i])) {
            (void)snprintf(buf, n, "%s at index %zu",
                           isnan(data[i]) ? "NaN"
                           : data[i] > 0  ? "+Inf"
                                          : "-Inf",
                           i);
            return 1;
        }
    return 0;
}

/* ---- save -------------------------------------------------------------------------- */

/* A fixed-length, null-padded string of exactly strnlen(s, cap) bytes (h5py reads it as
 * bytes). */
static int write_str_attr(hid_t loc, const char *name, const char *s, size_t cap, gnet_h5_err *e)
{
    return gnet_h5_write_str_attr(loc, name, s, strnlen(s, cap), H5T_STR_NULLPAD, e);
}

/* One tensor and its checksum attribute. */
static int write_param(hid_t loc, const gnet_param_spec *s, const float *data, gnet_h5_err *e)
{
    hsize_t dims[4];
    spec_dims(s, dims);
    if (gnet_h5_write_dataset(loc, s->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, s->ndim, dims,
                              H5P_DEFAULT, data, e) < 0)
        return -1;
    hid_t d = H5Dopen2(loc, s->name, H5P_DEFAULT);
    H5_CHECK(d); /* it was just written */
    const uint32_t crc = tensor_crc(data, s->count);
    int rc = gnet_h5_write_attr(d, CRC_ATTR, H5T_STD_U32LE, H5T_NATIVE_UINT32, &crc, e);
    H5Dclose(d);
    return rc;
}

static int write_params(hid_t loc, const char *path, const char *prefix,
                        const gnet_param_spec *specs, int n, const float *arena)
{
    gnet_h5_err e = {.prefix = prefix};
    for (int i = 0; i < n; i++)
        if (write_param(loc, &specs[i], arena + specs[i].offset, &e) < 0)
            return ckpt_fail("save", path, "%s", e.msg);
    return 0;
}

/* One state buffer as its group. */
static int write_state(hid_t file, const char *path, const gnet_param_spec *specs, int n,
                       const char *group, const float *arena)
{
    hid_t g = gnet_h5_create_group(file, group);
    if (g < 0)
        return ckpt_fail("save", path, "creating group '%s': %s", group, gnet_h5_strerror());
    char prefix[80];
    (void)snprintf(prefix, sizeof prefix, "%s/", group);
    int rc = write_params(g, path, prefix, specs, n, arena);
    H5Gclose(g);
    return rc;
}

static int write_meta(hid_t file, const char *path, const gnet_ckpt_meta *m)
{
    hid_t g = gnet_h5_create_group(file, META_GROUP);
    if (g < 0)
        return ckpt_fail("save", path, "creating group '%s': %s", META_GROUP, gnet_h5_strerror());
    gnet_h5_err e = {.prefix = META_GROUP "/"};
    int rc = 0;
    for (int i = 0; i < N_META_ATTRS && rc == 0; i++)
        rc = gnet_h5_write_attr(g, META_ATTRS[i].name, attr_file_type(META_ATTRS[i].kind),
                                attr_mem_type(META_ATTRS[i].kind),
                                (const char *)m + META_ATTRS[i].off, &e);
    if (rc == 0)
        rc = write_str_attr(g, "config", m->config, sizeof m->config, &e);
    H5Gclose(g);
    return rc == 0 ? 0 : ckpt_fail("save", path, "%s", e.msg);
}

/* What the in-memory file gets (gnet_h5_image's fill). */
typedef struct {
    const char *path;
    const gnet_param_spec *specs;
    int n;
    const float *params;
    const gnet_ckpt_state *state;
    const gnet_ckpt_meta *meta;
} save_job;

static int write_contents(hid_t file, void *ctx)
{
    const save_job *j = ctx;
    const int32_t version = GNET_CKPT_VERSION;
    gnet_h5_err e = {.prefix = ""};
    if (write_str_attr(file, "format", GNET_CKPT_FORMAT, sizeof GNET_CKPT_FORMAT, &e) < 0 ||
        gnet_h5_write_attr(file, "version", H5T_STD_I32LE, H5T_NATIVE_INT32, &version, &e) < 0)
        return ckpt_fail("save", j->path, "%s", e.msg);
    if (write_params(file, j->path, "", j->specs, j->n, j->params) < 0)
        return -1;
    for (int i = 0; j->state && i < j->state->n; i++)
        if (write_state(file, j->path, j->specs, j->n, j->state->group[i], j->state->data[i]) < 0)
            return -1;
    if (j->meta && write_meta(file, j->path, j->meta) < 0)
        return -1;
    return 0;
}

/* Refuses to write non-finite values (non_finite): the file at path stays the last good
 * state. */
static int check_finite(const char *path, const char *prefix, const gnet_param_spec *specs, int n,
                        const float *arena)
{
    char where[64];
    for (int i = 0; i < n; i++)
        if (non_finite(arena + specs[i].offset, specs[i].count, where, sizeof where))
            return ckpt_fail("save", path,
                             "tensor '%s%s' holds %s (a diverged or damaged state); "
                             "not written, the previous file is kept",
                             prefix, specs[i].name, where);
    return 0;
}

/* Each state buffer's values, as check_finite does the parameters'. */
static int check_state_finite(const char *path, const gnet_param_spec *specs, int n,
                              const gnet_ckpt_state *state)
{
    for (int i = 0; state && i < state->n; i++) {
        char prefix[80];
        (void)snprintf(prefix, sizeof prefix, "%s/", state->group[i]);
        if (check_finite(path, prefix, specs, n, state->data[i]) < 0)
            return -1;
    }
    return 0;
}

static int check_state(const char *op, const char *path, const gnet_ckpt_state *state)
{
    if (state && (state->n < 0 || state->n > GNET_CKPT_STATES_MAX))
        return ckpt_fail(op, path, "invalid state buffer count %d", state->n);
    return 0;
}

int gnet_ckpt_save(const char *path, const gnet_param_spec *specs, int n, const float *params,
                   const gnet_ckpt_state *state, const gnet_ckpt_meta *meta)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (!path || !*path)
        return ckpt_fail("save", "(none)", "empty path");
    char why[512];
    if (gnet_output_check(path, NULL, why, sizeof why) < 0)
        return ckpt_fail("save", path, "%s", why);
    if (check_specs("save", path, specs, n) < 0 || check_state("save", path, state) < 0 ||
        check_finite(path, "", specs, n, params) < 0 ||
        check_state_finite(path, specs, n, state) < 0)
        return -1;
    /* Built in memory, then written with plain write(2) (core/durable.h): a full disk is
     * ours to report and clean up, never HDF5's to trip over. */
    save_job j = {path, specs, n, params, state, meta};
    gnet_h5_err e;
    size_t size = 0;
    void *image =
        gnet_h5_image(path, (size_t)1 << 24, GNET_SEAL_BYTES, write_contents, &j, &size, &e);
    if (!image)
        return e.msg[0] ? ckpt_fail("save", path, "%s", e.msg) : -1;
    gnet_seal(image, size);
    int rc = gnet_write_atomic_bytes(path, image, size, why, sizeof why);
    free(image);
    return rc == 0 ? 0 : ckpt_fail("save", path, "%s", why);
}

/* ---- load -------------------------------------------------------------------------- */

/* The file being loaded. A gnet checkpoint (one with the format or version attribute) must
 * carry every tensor's checksum, and from version 3 a seal; a plain state_dict dump (h5py,
 * the PyTorch reference's outputs) has none to require, and its checksums are checked where
 * present. */
typedef struct {
    const char *path;
    int sealed; /* the file's seal was checked (core/filesum.h) */
    int need_crc;
} ckpt_in;

/* The seal first (when there is one), so a damaged file never reaches libhdf5. */
static hid_t open_for_read(ckpt_in *in)
{
    const char *path = in->path;
    char why[256];
    in->sealed = gnet_seal_check(path, why, sizeof why);
    if (in->sealed < 0) {
        ckpt_fail("load", path, "%s", why);
        return H5I_INVALID_HID;
    }
    if (H5Fis_hdf5(path) <= 0) {
        ckpt_fail("load", path, "not an HDF5 file");
        return H5I_INVALID_HID;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        ckpt_fail("load", path, "%s", gnet_h5_open_strerror(why, sizeof why));
    return f;
}

/* Checks the float class, the exact shape of dataset d against spec s, and a storage layout
 * that holds it (gnet_h5_check_layout: HDF5 1.10 crashes reading one that does not). */
static int check_dataset(hid_t d, const char *path, const char *prefix, const gnet_param_spec *s)
{
    hid_t t = H5Dget_type(d);
    H5_CHECK(t);
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    H5Tclose(t);
    if (cls != H5T_FLOAT)
        return ckpt_fail("load", path, "dataset '%s%s' is not floating point", prefix, s->name);
    /* float16/32/64. A damaged type of gigabytes per number would have HDF5 allocate its
     * conversion buffer before anything else fails. */
    if (size < 2 || size > 8)
        return ckpt_fail("load", path, "dataset '%s%s' holds %zu-byte floats (expected 2 to 8)",
                         prefix, s->name, size);
    hsize_t want[4], chunk[4];
    spec_dims(s, want);
    gnet_h5_shapes text;
    if (!gnet_h5_same_shape(d, s->ndim, want, &text))
        return ckpt_fail("load", path, "dataset '%s%s': expected shape %s, found %s", prefix,
                         s->name, text.want, text.found);
    if (gnet_h5_check_layout(d, s->ndim, want, chunk) < 0)
        return ckpt_fail("load", path,
                         "dataset '%s%s' has a storage layout that cannot hold "
                         "its shape (a damaged file?)",
                         prefix, s->name);
    return 0;
}

/* Compares the tensor just read from dataset d with its stored checksum. */
static int check_crc(const ckpt_in *in, hid_t d, const char *prefix, const gnet_param_spec *s,
                     const float *data)
{
    int has = H5Aexists(d, CRC_ATTR);
    if (has <= 0 && !in->need_crc)
        return 0;
    uint32_t stored = 0;
    gnet_h5_err e = {.hint = " (a gnet checkpoint stores one per tensor)"};
    if (has <= 0 || gnet_h5_read_attr(d, CRC_ATTR, H5T_INTEGER, H5T_NATIVE_UINT32, &stored, &e) < 0)
        return ckpt_fail("load", in->path, "dataset '%s%s': %s", prefix, s->name,
                         has <= 0 ? "no checksum attribute 'crc32'" : e.msg);
    uint32_t found = tensor_crc(data, s->count);
    if (found != stored)
        return ckpt_fail("load", in->path,
                         "dataset '%s%s' is corrupted: its data has CRC-32 %08x, the checksum "
                         "stored with it is %08x",
                         prefix, s->name, found, stored);
    return 0;
}

static int read_param(const ckpt_in *in, hid_t loc, const char *prefix, const gnet_param_spec *s,
                      float *out)
{
    if (H5Lexists(loc, s->name, H5P_DEFAULT) <= 0)
        return ckpt_fail("load", in->path, "no dataset '%s%s'", prefix, s->name);
    hid_t d = H5Dopen2(loc, s->name, H5P_DEFAULT);
    if (d < 0)
        return ckpt_fail("load", in->path, "'%s%s' is not a dataset: %s", prefix, s->name,
                         gnet_h5_strerror());
    int rc = check_dataset(d, in->path, prefix, s);
    if (rc == 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        rc = ckpt_fail("load", in->path, "reading dataset '%s%s': %s", prefix, s->name,
                       gnet_h5_strerror());
    if (rc == 0)
        rc = check_crc(in, d, prefix, s, out);
    char where[64];
    if (rc == 0 && non_finite(out, s->count, where, sizeof where))
        rc = ckpt_fail("load", in->path,
                       "dataset '%s%s' holds %s: not a usable state (saved from a "
                       "diverged run, or edited?)",
                       prefix, s->name, where);
    H5Dclose(d);
    return rc;
}

/* Reads every parameter, packed one after another, into buf. */
static int read_params(const ckpt_in *in, hid_t loc, const char *prefix,
                       const gnet_param_spec *specs, int n, float *buf)
{
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        if (read_param(in, loc, prefix, &specs[i], buf + pos) < 0)
            return -1;
        pos += specs[i].count;
    }
    return 0;
}

static hid_t open_group(hid_t file, const char *path, const char *name)
{
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) {
        ckpt_fail("load", path, "no '%s' group", name);
        return H5I_INVALID_HID;
    }
    hid_t g = H5Gopen2(file, name, H5P_DEFAULT);
    if (g < 0)
        ckpt_fail("load", path, "'%s' is not a group: %s", name, gnet_h5_strerror());
    return g;
}

static int read_state(const ckpt_in *in, hid_t file, const gnet_param_spec *specs, int n,
                      const char *group, float *buf)
{
    hid_t g = open_group(file, in->path, group);
    if (g < 0)
        return -1;
    char prefix[80];
    (void)snprintf(prefix, sizeof prefix, "%s/", group);
    int rc = read_params(in, g, prefix, specs, n, buf);
    H5Gclose(g);
    return rc;
}

static int read_meta(hid_t file, const char *path, gnet_ckpt_meta *m)
{
    hid_t g = open_group(file, path, META_GROUP);
    if (g < 0)
        return -1;
    /* Numbers of any class that HDF5 converts: a file not written by gnet may hold others. */
    gnet_h5_err e = {.prefix = META_GROUP "/"};
    int rc = 0;
    for (int i = 0; i < N_META_ATTRS && rc == 0; i++) {
        char *field = (char *)m + META_ATTRS[i].off;
        if (META_ATTRS[i].optional && H5Aexists(g, META_ATTRS[i].name) <= 0)
            memset(field, 0, META_ATTRS[i].kind == A_I32 ? sizeof(int32_t) : sizeof(int64_t));
        else
            rc = gnet_h5_read_attr(g, META_ATTRS[i].name, H5T_NO_CLASS,
                                   attr_mem_type(META_ATTRS[i].kind), field, &e);
    }
    if (rc == 0)
        rc = gnet_h5_read_str_attr(g, "config", m->config, sizeof m->config, &e);
    H5Gclose(g);
    return rc == 0 ? 0 : ckpt_fail("load", path, "%s", e.msg);
}

/* A file with neither a format nor a version attribute is a plain state_dict dump (h5py), read
 * without required checksums. One with either is a gnet checkpoint: both must be right, and
 * it must be this version, sealed, or version 2 (before seals; version 1 had no checksums),
 * so in->need_crc is set. */
static int check_version(hid_t file, ckpt_in *in)
{
    if (H5Aexists(file, "format") <= 0 && H5Aexists(file, "version") <= 0)
        return 0;
    char format[64];
    int32_t v = 0;
    gnet_h5_err e = {.prefix = "", .hint = " (the file has the other of format and version)"};
    if (gnet_h5_read_str_attr(file, "format", format, sizeof format, &e) < 0 ||
        gnet_h5_read_attr(file, "version", H5T_INTEGER, H5T_NATIVE_INT32, &v, &e) < 0)
        return ckpt_fail("load", in->path, "%s", e.msg);
    if (strcmp(format, GNET_CKPT_FORMAT) != 0)
        return ckpt_fail("load", in->path, "format '%s' is not '%s'", format, GNET_CKPT_FORMAT);
    if (v != GNET_CKPT_VERSION && v != GNET_CKPT_UNSEALED_VERSION)
        return ckpt_fail("load", in->path,
                         "unsupported checkpoint version %d (this build reads versions %d, "
                         "which added per-tensor checksums, and %d, which added the seal)",
                         (int)v, GNET_CKPT_UNSEALED_VERSION, GNET_CKPT_VERSION);
    if (v == GNET_CKPT_VERSION && !in->sealed)
        return ckpt_fail("load", in->path,
                         "a version %d checkpoint without its seal (the first %d bytes): "
                         "rewritten by another program?",
                         (int)v, GNET_SEAL_BYTES);
    in->need_crc = 1;
    return 0;
}

/* sbuf[i]: scratch for state group i. */
static int load_file(const char *path, const gnet_param_spec *specs, int n, float *pbuf,
                     const gnet_ckpt_state *state, float *const *sbuf, gnet_ckpt_meta *meta)
{
    ckpt_in in = {.path = path};
    hid_t f = open_for_read(&in);
    if (f < 0)
        return -1;
    int rc = check_version(f, &in);
    if (rc == 0)
        rc = read_params(&in, f, "", specs, n, pbuf);
    for (int i = 0; rc == 0 && state && i < state->n; i++)
        rc = read_state(&in, f, specs, n, state->group[i], sbuf[i]);
    if (rc == 0 && meta)
        rc = read_meta(f, path, meta);
    H5Fclose(f);
    return rc;
}

static void scatter(const gnet_param_spec *specs, int n, const float *packed, float *arena)
{
    for (int i = 0; i < n; i++) {
        memcpy(arena + specs[i].offset, packed, specs[i].count * sizeof(float));
        packed += specs[i].count;
    }
}

int gnet_ckpt_load(const char *path, const gnet_param_spec *specs, int n, float *params,
                   const gnet_ckpt_state *state, gnet_ckpt_meta *meta)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (!path || !*path)
        return ckpt_fail("load", "(none)", "empty path");
    if (check_specs("load", path, specs, n) < 0 || check_state("load", path, state) < 0)
        return -1;
    size_t total = 1; /* never malloc(0) */
    for (int i = 0; i < n; i++)
        total += specs[i].count;
    int n_state = state ? state->n : 0, ok = 1;
    float *pbuf = gnet_malloc(total * sizeof(float), path);
    float *sbuf[GNET_CKPT_STATES_MAX] = {NULL};
    for (int i = 0; i < n_state; i++)
        ok &= (sbuf[i] = gnet_malloc(total * sizeof(float), path)) != NULL;
    gnet_ckpt_meta m;
    memset(&m, 0, sizeof m);
    int rc = -1;
    if (pbuf && ok)
        rc = load_file(path, specs, n, pbuf, state, sbuf, meta ? &m : NULL);
    if (rc == 0) {
        scatter(specs, n, pbuf, params);
        for (int i = 0; i < n_state; i++)
            scatter(specs, n, sbuf[i], state->data[i]);
        if (meta)
            *meta = m;
    }
    free(pbuf);
    for (int i = 0; i < n_state; i++)
        free(sbuf[i]);
    return rc;
}
