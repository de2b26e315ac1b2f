/* Files and directories gnet writes (checkpoints, --out's config.ini, log.txt and
 * metrics.jsonl, --trace, gnet_prepare's directory): where they may go, and writing them
 * durably: the one place that knows temp + fsync + rename + parent-directory fsync.
 *
 * A reader never sees half a file: a file is written under "PATH.tmp.<pid>", synced, and
 * renamed over PATH; the rename is then made durable by syncing PATH's directory. Every
 * function that can fail returns 0 or -1 with the reason in why (n bytes), never printing,
 * so that each caller names the file in its own words (checkpoint save: PATH: ...).
 *
 * An output may only create a new regular file or replace a regular one. Writing over a FIFO
 * blocks or feeds another program, over a device node (root may open /dev/null or a disk)
 * destroys it, and renaming over a directory fails only after the work is done. Permissions
 * cannot tell these apart (root passes them), so the checks look at the type (lstat/stat)
 * and at the directory the file goes in. Every writer calls them: up front, before a run
 * creates anything, and again when it writes. */
#ifndef GNET_DURABLE_H
#define GNET_DURABLE_H

#include <stddef.h>
#include <stdio.h>

/* 0 when path is absent or a regular file (a symbolic link to one counts) and its directory
 * exists, is a directory and is writable; -1 with the reason in why (e.g. "is a FIFO, not a
 * regular file", "directory x does not exist"). pending_dir (or NULL): a directory this run
 * creates later (--out), accepted as path's directory though it does not exist yet (the
 * caller checks it with gnet_output_dir_check). */
int gnet_output_check(const char *path, const char *pending_dir, char *why, size_t n);

/* 0 when dir is a writable directory, or can be created as mkdir -p would (its nearest
 * existing ancestor is a writable directory, and no component of dir is over NAME_MAX nor
 * the whole over PATH_MAX); -1 with the reason in why. gnet_output_check holds a file's path
 * to the same limits, less room for its temporary name. */
int gnet_output_dir_check(const char *dir, char *why, size_t n);

/* Room a name must leave for its temporary sibling "NAME.tmp.<pid>" (gnet_write_atomic,
 * gnet_prepare's directory): ".tmp." and a pid of up to 10 digits. */
#define GNET_TMP_SUFFIX 15

/* ENAMETOOLONG found before anything is created, not after: 0 when every component of path
 * is within NAME_MAX, and the last one and the whole path also leave reserve bytes within
 * NAME_MAX and PATH_MAX; -1 with the component and the limit in why. */
int gnet_name_lengths(const char *path, size_t reserve, char *why, size_t n);

/* The directory path is in, as written ("." without a slash, "/" in the root; trailing
 * slashes of path ignored); -1 when it does not fit in n bytes. */
int gnet_parent_dir(const char *path, char *buf, size_t n);

/* fsync(2) of a directory (a rename or a new file in it becomes durable); a filesystem
 * that cannot sync (EINVAL) counts as done. 0, or -1 with errno set. */
int gnet_fsync_dir(const char *dir);

/* Best effort gnet_fsync_dir of path's directory: after a rename or a creation in it. */
void gnet_fsync_parent(const char *path);

/* mkdir -p dir. The outermost directory this call created goes to created (n bytes; left
 * as it was when all existed), so that gnet_remove_created can take them away again. On
 * failure the directories this call created are already removed. */
int gnet_make_dirs(const char *dir, char *created, size_t n, char *why, size_t wn);

/* Removes, innermost first, the directories of dir up to and including created (those a
 * failed run made with gnet_make_dirs); stops at one that is not empty. Nothing when
 * created is "". */
void gnet_remove_created(const char *dir, const char *created);

/* Creates path (it must not exist: O_EXCL) with the n bytes of buf, synced. On failure the
 * partial file is removed. */
int gnet_write_new(const char *path, const void *buf, size_t n, char *why, size_t wn);

/* Creates or truncates path, lets fill write the content through stdio (its errors are
 * caught after it), flushes and syncs. */
int gnet_write_stream(const char *path, void (*fill)(FILE *f, const void *ctx), const void *ctx,
                      char *why, size_t wn);

/* Replace path atomically: the content (fill's, or the n bytes of buf) goes to
 * "PATH.tmp.<pid>", is synced, renamed over PATH, and PATH's directory is synced. path must
 * pass gnet_output_check. On failure the temporary file is removed and PATH is untouched. */
int gnet_write_atomic(const char *path, void (*fill)(FILE *f, const void *ctx), const void *ctx,
                      char *why, size_t wn);
int gnet_write_atomic_bytes(const char *path, const void *buf, size_t n, char *why, size_t wn);

/* Appends text to path (created if absent; it must pass gnet_output_check) and syncs it;
 * a new file's directory is synced too. */
int gnet_append_durable(const char *path, const char *text, char *why, size_t wn);

#endif
