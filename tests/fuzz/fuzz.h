/* Shared by the fuzz harnesses (tests/fuzz/fuzz_*.c). Each harness defines
 * LLVMFuzzerTestOneInput: built with GNET_FUZZ=ON (clang) it is a libFuzzer target; otherwise
 * regress_main.c runs it over every file of its corpus directory as a ctest regression test.
 * A harness feeds the bytes to the real parser (through a file where the parser takes a
 * path) and checks the parser's contract on the way out; a broken contract aborts, so both
 * libFuzzer and ctest report it. A refusal of bad input is the expected outcome, not a
 * finding. */
#ifndef GNET_FUZZ_H
#define GNET_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private directory for the harness's files, made on first use and removed at exit. */
const char *fuzz_dir(void);

/* fuzz_dir()/name into buf[cap]; aborts if it does not fit. */
void fuzz_path(char *buf, size_t cap, const char *name);

/* Writes size bytes to path (replacing it); aborts if the harness cannot (not a finding of
 * the parser: the machine is broken). */
void fuzz_write(const char *path, const void *data, size_t size);

/* How many HDF5 objects are open, in all files: files, groups, datasets, named datatypes and
 * attributes (H5Fget_obj_count). A harness compares the count before and after the parser's
 * call, so that an object the parser leaves open fails the input. (HDF5's own leaks on
 * malformed files are suppressed for LeakSanitizer; a leak that gnet causes in HDF5 is an
 * identifier left open.) Dataspaces and property lists have no public count in HDF5 1.10
 * and are not counted. The first call checks that an open file is counted. */
long fuzz_h5_ids(void);

/* Aborts with file:line and the condition when a parser breaks its contract. */
#define FUZZ_ASSERT(cond)                                                                  \
    do {                                                                                   \
        if (!(cond))                                                                       \
            fuzz_fail(__FILE__, __LINE__, #cond);                                          \
    } while (0)
_Noreturn void fuzz_fail(const char *file, int line, const char *cond);

#endif
