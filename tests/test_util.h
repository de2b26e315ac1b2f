/* Minimal test helpers: each test is a program; a failed expectation prints file:line and
 * makes the program exit non-zero (ctest reports it). */
#ifndef GNET_TEST_UTIL_H
#define GNET_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int test_failures_;

#define EXPECT(cond)                                                                       \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: expectation failed: %s\n", __FILE__, __LINE__, #cond); \
            test_failures_++;                                                              \
        }                                                                                  \
    } while (0)

#define EXPECT_NEAR(a, b, tol)                                                             \
    do {                                                                                   \
        double a_ = (a), b_ = (b);                                                         \
        if (!(fabs(a_ - b_) <= (tol))) {                                                   \
            fprintf(stderr, "%s:%d: %s = %.9g, %s = %.9g, |diff| > %g\n", __FILE__,        \
                    __LINE__, #a, a_, #b, b_, (double)(tol));                              \
            test_failures_++;                                                              \
        }                                                                                  \
    } while (0)

#define TEST_MAIN_END()                                                                    \
    do {                                                                                   \
        if (test_failures_) {                                                              \
            fprintf(stderr, "%d expectation(s) failed\n", test_failures_);                 \
            return 1;                                                                      \
        }                                                                                  \
        printf("ok\n");                                                                    \
        return 0;                                                                          \
    } while (0)

#endif
