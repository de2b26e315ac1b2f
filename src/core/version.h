/* What was built: the git version of the source (at build time) and the versions of the
 * libraries every gnet program links (HDF5, zlib), as one line for --version and the top of
 * a run's log. Programs add what only they link (oneDNN, MPI, CUDA, cuDNN, NCCL). */
#ifndef GNET_VERSION_H
#define GNET_VERSION_H

#include <stddef.h>

/* e.g. "a34d25c-dirty (HDF5 1.10.8, zlib 1.2.13)" into buf[n]; returns buf. */
const char *gnet_version(char *buf, size_t n);

#endif
