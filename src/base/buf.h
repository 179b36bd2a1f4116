/* Growable byte buffer with a hard cap. Exceeding the cap is the caller's protocol
 * error, never an allocation. Bytes are consumed from the front in O(1) (an offset),
 * and compacted lazily on the next append. */
#ifndef MITM_BASE_BUF_H
#define MITM_BASE_BUF_H

#include "base/slice.h"

/* Bytes a buffer borrows instead of owning: a read-only mapping of a file, where a large
 * body is kept (src/flow/bodyfile.h). Refcounted across threads; release frees it when the
 * last buffer lets go. fd, when >= 0, is the file itself, so writers can copy the bytes
 * file to file (copy_file_range) without touching the mapping. */
struct mitm_buf_ext {
    _Atomic unsigned refs;
    int fd;
    const uint8_t *base; /* where fd's first byte is mapped: a byte at p is at fd offset p - base */
    void (*release)(struct mitm_buf_ext *x);
};

struct mitm_buf {
    uint8_t *mem;             /* owned allocation, or borrowed from ext */
    size_t off;               /* start of live bytes in mem */
    size_t len;               /* live bytes */
    size_t alloc;             /* size of mem */
    size_t limit;             /* max live bytes; 0 = unlimited (internal buffers only) */
    struct mitm_buf_ext *ext; /* not NULL: mem is borrowed (read-only); any change copies it
                               * to owned memory first */
};

/* Initialise an empty buffer holding at most limit bytes (0 = no limit). No allocation. */
void mitm_buf_init(struct mitm_buf *b, size_t limit);

/* Free memory; the buffer is left empty and reusable. */
void mitm_buf_free(struct mitm_buf *b);

/* Append n bytes. Returns 0, or -1 (nothing appended) if the cap would be exceeded or
 * the allocation failed. */
int mitm_buf_append(struct mitm_buf *b, const void *p, size_t n);

/* Make room for n more bytes without growing later (a writer that knows about how much it
 * will append). Returns 0, or -1 as mitm_buf_append. */
int mitm_buf_reserve(struct mitm_buf *b, size_t n);

/* Append n bytes the caller fills in: returns where they start (valid until the buffer next
 * changes), or NULL (nothing appended) if the cap would be exceeded or the allocation failed.
 * For writers that know a record's size before writing it (one cap check, one growth). */
uint8_t *mitm_buf_extend(struct mitm_buf *b, size_t n);

/* Append a formatted string (no NUL kept). Same returns as mitm_buf_append. */
int mitm_buf_printf(struct mitm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Make b borrow len bytes at mem from x (one more reference; b's old bytes are freed). The
 * bytes must stay readable, and mem[len] must be a readable NUL (as owned buffers keep
 * one), for as long as x lives. */
void mitm_buf_borrow(struct mitm_buf *b, struct mitm_buf_ext *x, const uint8_t *mem, size_t len);

/* Reference counting of borrowed bytes (mitm_buf_borrow takes one, mitm_buf_free drops it). */
struct mitm_buf_ext *mitm_buf_ext_ref(struct mitm_buf_ext *x);
void mitm_buf_ext_unref(struct mitm_buf_ext *x);

/* Drop n bytes from the front (n <= len). */
void mitm_buf_consume(struct mitm_buf *b, size_t n);

static inline const uint8_t *mitm_buf_data(const struct mitm_buf *b)
{
    return b->mem ? b->mem + b->off : (const uint8_t *)"";
}

static inline struct mitm_slice mitm_buf_slice(const struct mitm_buf *b)
{
    return mitm_slice(mitm_buf_data(b), b->len);
}

/* Append urllib.parse.unquote_plus of s[0..n): '+' is a space, "%XX" its byte, anything
 * else (a stray '%' too) as is. */
void mitm_buf_unquote_plus(struct mitm_buf *b, const char *s, size_t n);

/* Take the bytes out: returns the owned memory holding exactly len live bytes at
 * offset 0 (plus a NUL), and leaves the buffer empty. Never NULL. */
uint8_t *mitm_buf_steal(struct mitm_buf *b, size_t *len);

#endif
