/* Minimal test helpers: each test is a program; a failed expectation prints file:line and
 * makes the program exit non-zero (ctest reports it). A program may hold named cases (one
 * ctest entry each: test_case_select), and may capture what its code under test prints on
 * stderr (test_capture_begin / test_capture_end). */
#ifndef GNET_TEST_UTIL_H
#define GNET_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* ---- named cases ------------------------------------------------------------------------ */

/* One case of a program: its name (the ctest entry is "<program>.<name>") and its body. */
typedef struct {
    const char *name;
    void (*run)(void);
} test_case;

/* A table entry for the function test_NAME. tests/CMakeLists.txt reads the names from these
 * entries (gnet_add_cases), so every case in the table gets its ctest entry. */
#define TEST_CASE(name) {#name, test_##name}

/* The case argv[1] names. "--list" prints every name, one a line, and exits 0; a missing or
 * unknown name prints the usage and exits 2. */
static inline const test_case *test_case_select(int argc, char **argv, const test_case *cases,
                                                size_t n)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", cases[i].name);
        exit(0);
    }
    for (size_t i = 0; argc == 2 && i < n; i++)
        if (strcmp(argv[1], cases[i].name) == 0)
            return &cases[i];
    fprintf(stderr, "usage: %s --list | CASE (%s%s)\n", argv[0], argc == 2 ? "unknown case " : "",
            argc == 2 ? argv[1] : "one case name");
    exit(2);
}

/* ---- stderr capture --------------------------------------------------------------------- */

/* What stderr (fd 2) receives between test_capture_begin and test_capture_end goes to a
 * temporary file instead of the terminal; end hands it over as a string. Captures do not nest. */
typedef struct {
    FILE *file;
    int saved_fd;
} test_capture;

static inline void test_capture_begin(test_capture *c)
{
    fflush(stderr);
    c->file = tmpfile();
    c->saved_fd = dup(2);
    if (!c->file || c->saved_fd < 0 || dup2(fileno(c->file), 2) < 0) {
        perror("test_capture_begin");
        exit(2);
    }
}

/* Restores stderr; buf gets what was printed (NUL-terminated, at most cap - 1 bytes).
 * Returns its length. */
static inline size_t test_capture_end(test_capture *c, char *buf, size_t cap)
{
    fflush(stderr);
    dup2(c->saved_fd, 2);
    close(c->saved_fd);
    rewind(c->file);
    size_t n = fread(buf, 1, cap - 1, c->file);
    buf[n] = '\0';
    fclose(c->file);
    c->file = NULL;
    c->saved_fd = -1;
    return n;
}

#endif
