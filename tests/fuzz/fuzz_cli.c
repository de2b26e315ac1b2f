/* gnet_cli_parse (src/train/cli.c): the command line and the --config INI file (read with
 * inih). Input: argv[1..] separated by NUL or newline bytes, then optionally a 0x1e byte and
 * the contents of a config file, which is written to a file and passed as "--config FILE"
 * after the other arguments. A parse that succeeds also writes its options out as a config
 * file (what --dry-run and --out's config.ini print). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "train/cli.h"

enum { MAX_ARGS = 64 };

/* Splits text[0..n) (NUL-terminated at n) in place into argv[1..]; returns argc. */
static int split(char *text, size_t n, char **argv)
{
    int argc = 1;
    argv[0] = "gnet_dist";
    char *start = text;
    for (size_t i = 0; i <= n && argc < MAX_ARGS - 3; i++) { /* room for --config FILE NULL */
        if (i == n || text[i] == '\0' || text[i] == '\n') {
            text[i] = '\0';
            if (i < n || start < text + i)
                argv[argc++] = start;
            start = text + i + 1;
        }
    }
    return argc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char config[1024];
    static FILE *sink;
    if (!config[0]) {
        fuzz_path(config, sizeof config, "config.ini");
        sink = fopen("/dev/null", "w");
        FUZZ_ASSERT(sink != NULL);
    }
    const uint8_t *sep = memchr(data, 0x1e, size);
    size_t args_len = sep ? (size_t)(sep - data) : size;
    char *text = malloc(args_len + 1);
    FUZZ_ASSERT(text != NULL);
    memcpy(text, data, args_len);
    text[args_len] = '\0';
    char *argv[MAX_ARGS];
    int argc = split(text, args_len, argv);
    if (sep) {
        fuzz_write(config, sep + 1, size - args_len - 1);
        argv[argc++] = "--config";
        argv[argc++] = config;
    }
    argv[argc] = NULL;

    gnet_options o;
    int rc = gnet_cli_parse(argc, argv, &o);
    FUZZ_ASSERT(rc == 0 || rc == 1 || rc == 2); /* cli.h's contract */
    if (rc == 0) {
        gnet_options_write(&o, sink);
        FUZZ_ASSERT(gnet_options_check_batch(&o, 2) == 0 || o.batch_size % (2 * o.accum_steps));
    }
    gnet_options_free(&o);
    free(text);
    return 0;
}
