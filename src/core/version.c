#include "core/version.h"

#include <hdf5.h>
#include <stdio.h>
#include <zlib.h>

#include "gnet_git_version.h" /* generated at build time by cmake/version.cmake */

const char *gnet_version(char *buf, size_t n)
{
    unsigned h5_major = 0, h5_minor = 0, h5_release = 0;
    (void)H5get_libversion(&h5_major, &h5_minor, &h5_release);
    (void)snprintf(buf, n, "%s (HDF5 %u.%u.%u, zlib %s)", GNET_GIT_VERSION, h5_major, h5_minor,
                   h5_release, zlibVersion());
    return buf;
}
