/* Where outputs may go (src/core/durable.h), the length limits and mkdir -p's undo: a name
 * over NAME_MAX anywhere in --out, or a path over PATH_MAX, is refused by the up-front checks
 * before anything exists (issue 25, item 14: the refusal used to leave --out's new parent
 * behind); a file's name must leave room for its temporary sibling; and when gnet_make_dirs
 * fails half-way it removes the directories it made, and only those. */
#define _POSIX_C_SOURCE 200809L
#include "core/durable.h"
#include "test_util.h"

#include <limits.h>
#include <sys/stat.h>

static char base[64];

static int exists(const char *rel)
{
    char p[PATH_MAX];
    struct stat st;
    (void)snprintf(p, sizeof p, "%s/%s", base, rel);
    return stat(p, &st) == 0;
}

/* base/PREFIX followed by len copies of c, then SUFFIX. */
static void long_path(char *buf, size_t n, const char *prefix, size_t len, int c,
                      const char *suffix)
{
    size_t at = (size_t)snprintf(buf, n, "%s/%s", base, prefix);
    for (size_t i = 0; i < len && at + 1 < n; i++)
        buf[at++] = (char)c;
    (void)snprintf(buf + at, n - at, "%s", suffix);
}

static void test_checks_refuse_long_names(void)
{
    char p[2 * PATH_MAX], why[256];
    long_path(p, sizeof p, "new/", NAME_MAX + 45, 'a', "/x");
    EXPECT(gnet_output_dir_check(p, why, sizeof why) == -1);
    EXPECT(strstr(why, "is too long (300 bytes; the limit is 255)") != NULL);
    long_path(p, sizeof p, "new/", NAME_MAX, 'a', "/x");
    EXPECT(gnet_output_dir_check(p, why, sizeof why) == 0); /* 255 is allowed */
    long_path(p, sizeof p, "", PATH_MAX, 'b', "");
    EXPECT(gnet_output_dir_check(p, why, sizeof why) == -1 && strstr(why, "path too long"));
    /* A file: its name leaves room for ".tmp.<pid>" (15 bytes); its directories do not. */
    long_path(p, sizeof p, "", NAME_MAX - 15, 'c', "");
    EXPECT(gnet_output_check(p, NULL, why, sizeof why) == 0);
    long_path(p, sizeof p, "", NAME_MAX - 14, 'c', "");
    EXPECT(gnet_output_check(p, NULL, why, sizeof why) == -1 && strstr(why, "limit is 240"));
    EXPECT(!exists("new"));
}

static void test_make_dirs_undoes(void)
{
    char p[2 * PATH_MAX], created[PATH_MAX] = "", why[PATH_MAX + 128];
    EXPECT(mkdir(strcat(strcpy(p, base), "/was"), 0777) == 0);
    long_path(p, sizeof p, "was/new/deep/", NAME_MAX + 1, 'd', "/x");
    EXPECT(gnet_make_dirs(p, created, sizeof created, why, sizeof why) == -1);
    EXPECT(strstr(why, "File name too long") != NULL);
    EXPECT(created[0] == '\0');                  /* nothing left for a caller to remove */
    EXPECT(exists("was") && !exists("was/new")); /* made here: gone; there before: stays */
    (void)snprintf(p, sizeof p, "%s/was/new/deep", base);
    EXPECT(gnet_make_dirs(p, created, sizeof created, why, sizeof why) == 0);
    EXPECT(exists("was/new/deep") && strstr(created, "/was/new") && !strstr(created, "deep"));
    gnet_remove_created(p, created);
    EXPECT(exists("was") && !exists("was/new"));
    (void)snprintf(p, sizeof p, "%s/was", base);
    EXPECT(rmdir(p) == 0);
}

int main(void)
{
    (void)snprintf(base, sizeof base, "/tmp/gnet_durable.XXXXXX");
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    test_checks_refuse_long_names();
    test_make_dirs_undoes();
    EXPECT(rmdir(base) == 0); /* nothing else was left in it */
    TEST_MAIN_END();
}
