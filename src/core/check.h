/* One checked-call macro per library: on failure print file:line, the call and the
 * library's own message, then end the process (and the job, via gnet_fatal). Use these
 * for calls that fail only on a bug or a broken system; input validation (a bad file,
 * a bad option) reports its own error naming the file/option instead. HDF5's is here (the
 * base library); oneDNN's is in check_dnnl.h, CUDA's in check_cuda.h, each included only by
 * the code that links that library. */
#ifndef GNET_CHECK_H
#define GNET_CHECK_H

#include "core/log.h"

/* The outermost message on HDF5's error stack (HDF5's automatic printing is disabled), in
 * this thread's buffer: valid until its next call in the same thread. */
const char *gnet_h5_strerror(void);
/* Why the last H5Fopen failed, in the nearest true words: "truncated: N of M bytes" for a
 * file shorter than its superblock says, else the outermost error with its innermost cause.
 * Written into buf[n]; returns buf. */
const char *gnet_h5_open_strerror(char *buf, size_t n);

#define H5_CHECK(call)                                                                         \
    do {                                                                                       \
        if ((long long)(call) < 0) {                                                           \
            gnet_errorf("%s:%d: HDF5: %s: %s", __FILE__, __LINE__, #call, gnet_h5_strerror()); \
            gnet_fatal(1);                                                                     \
        }                                                                                      \
    } while (0)

#endif
