/* Bodies kept in a file instead of RAM (docs/internals/flows.md, "Large bodies"). A body that
 * streams through because it outgrew body_buffer_limit is written to an unlinked temporary
 * file as it passes; when the message ends the file is mapped read-only and becomes the
 * message's content (a borrowed mitm_buf, base/buf.h). Every reader of content sees the
 * whole body as usual; the flow-file writers of -w and the store copy it file to file
 * (mitm_flowfile_encode_holes), so neither the download nor its recording costs RAM. */
#ifndef MITM_FLOW_BODYFILE_H
#define MITM_FLOW_BODYFILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* An unlinked temporary file in dir (else $TMPDIR, else /tmp): O_TMPFILE, else mkostemp and
 * unlink, so no crash leaves it behind. Returns the fd, or -1 with err set ("cannot create
 * <what> in <dir>: <why>"). */
int mitm_tmpfile_open(const char *dir, const char *what, char *err, size_t errlen);

struct mitm_bodyfile; /* a body being written */

/* A new body file in dir; NULL with err set. */
struct mitm_bodyfile *mitm_bodyfile_new(const char *dir, char *err, size_t errlen);

/* Append n bytes. Returns 0, or -1 with err set (the file is then useless: free it). */
int mitm_bodyfile_append(struct mitm_bodyfile *w, const void *p, size_t n, char *err, size_t errlen);

/* Bytes written so far. */
uint64_t mitm_bodyfile_len(const struct mitm_bodyfile *w);

/* The body is complete: content borrows its bytes (read-only, mapped; content's old bytes
 * are freed) and w is freed. Returns 0, or -1 with err set (w freed, content untouched). */
int mitm_bodyfile_finish(struct mitm_bodyfile *w, struct mitm_buf *content, char *err, size_t errlen);

/* Discard an unfinished body file. Accepts NULL. */
void mitm_bodyfile_free(struct mitm_bodyfile *w);

#endif
