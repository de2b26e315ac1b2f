/* Helpers shared by the tests and the fuzz harnesses: a parameter spec written out by hand,
 * and the removal of a scratch directory holding only plain files. */
#ifndef GNET_TEST_FILES_H
#define GNET_TEST_FILES_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/params.h"

static inline gnet_param_spec test_spec(const char *name, int ndim, int s0, int s1, int s2, int s3)
{
    gnet_param_spec s;
    memset(&s, 0, sizeof s);
    (void)snprintf(s.name, sizeof s.name, "%s", name);
    s.ndim = ndim;
    int shape[4] = {s0, s1, s2, s3};
    s.count = 1;
    for (int d = 0; d < ndim; d++) {
        s.shape[d] = shape[d];
        s.count *= (size_t)shape[d];
    }
    return s;
}

/* dir's files, then dir (best effort: a test's cleanup). */
static inline void test_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            (void)snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            (void)unlink(path);
        }
    (void)closedir(d);
    (void)rmdir(dir);
}

#endif
