/* Files gnet writes (checkpoints, --out's config.ini, log.txt and metrics.jsonl, --trace):
 * where they may go, and writing a small one so that a reader never sees half of it.
 *
 * An output may only create a new regular file or replace a regular one. Writing over a FIFO
 * blocks or feeds another program, over a device node (root may open /dev/null or a disk)
 * destroys it, and renaming over a directory fails only after the work is done. Permissions
 * cannot tell these apart (root passes them), so the checks look at the type (lstat/stat)
 * and at the directory the file goes in. Every writer calls them: up front, before a run
 * creates anything, and again when it writes. */
#ifndef GNET_ATOMIC_FILE_H
#define GNET_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

/* 0 when path is absent or a regular file (a symbolic link to one counts) and its directory
 * exists, is a directory and is writable; -1 with the reason in why (e.g. "is a FIFO, not a
 * regular file", "directory x does not exist"). pending_dir (or NULL): a directory this run
 * creates later (--out), accepted as path's directory though it does not exist yet (the
 * caller checks it with gnet_output_dir_check). */
int gnet_output_check(const char *path, const char *pending_dir, char *why, size_t n);

/* 0 when dir is a writable directory, or can be created as mkdir -p would (its nearest
 * existing ancestor is a writable directory); -1 with the reason in why. */
int gnet_output_dir_check(const char *dir, char *why, size_t n);

/* The content goes to "PATH.tmp.<pid>", is flushed and synced, then renamed over PATH. fill
 * writes the content (its stdio errors are caught after it). 0, or -1 after one error line
 * naming PATH (one that gnet_output_check refuses included); on failure the temporary file
 * is removed and PATH is untouched. */
int gnet_write_atomic(const char *path, void (*fill)(FILE *f, const void *ctx), const void *ctx);

#endif
