/* The checked-call macro for oneDNN (included only by the CPU backend, which links it):
 * file:line, the call, oneDNN's own status string, then gnet_fatal. */
#ifndef GNET_CHECK_DNNL_H
#define GNET_CHECK_DNNL_H

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "core/log.h"

#define DNNL_CHECK(call)                                                                          \
    do {                                                                                          \
        dnnl_status_t s_ = (call);                                                                \
        if (s_ != dnnl_success) {                                                                 \
            gnet_errorf("%s:%d: oneDNN: %s: %s", __FILE__, __LINE__, #call, dnnl_status2str(s_)); \
            gnet_fatal(1);                                                                        \
        }                                                                                         \
    } while (0)

#endif
