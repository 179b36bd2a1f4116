#include "base/buf.h"
#include "base/alloc.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mitm_buf_init(struct mitm_buf *b, size_t limit)
{
    memset(b, 0, sizeof(*b));
    b->limit = limit;
}

struct mitm_buf_ext *mitm_buf_ext_ref(struct mitm_buf_ext *x)
{
    if (x)
        atomic_fetch_add(&x->refs, 1);
    return x;
}

void mitm_buf_ext_unref(struct mitm_buf_ext *x)
{
    if (x && atomic_fetch_sub(&x->refs, 1) == 1)
        x->release(x);
}

void mitm_buf_free(struct mitm_buf *b)
{
    if (b->ext)
        mitm_buf_ext_unref(b->ext);
    else
        free(b->mem);
    b->ext = NULL;
    b->mem = NULL;
    b->off = b->len = b->alloc = 0;
}

void mitm_buf_borrow(struct mitm_buf *b, struct mitm_buf_ext *x, const uint8_t *mem, size_t len)
{
    mitm_buf_ext_ref(x);
    mitm_buf_free(b);
    b->ext = x;
    b->mem = (uint8_t *)mem; /* never written through: own() copies before any change */
    b->len = b->alloc = len;
}

/* Borrowed bytes become owned before the buffer changes. */
static int own(struct mitm_buf *b, size_t extra)
{
    if (!b->ext)
        return 0;
    uint8_t *m = malloc(b->len + extra + 1);
    if (!m)
        return -1;
    memcpy(m, b->mem + b->off, b->len);
    m[b->len] = 0;
    mitm_buf_ext_unref(b->ext);
    b->ext = NULL;
    b->mem = m;
    b->off = 0;
    b->alloc = b->len + extra + 1;
    return 0;
}

/* Make room for n more bytes (+1 for a NUL the steal may add). */
static int reserve(struct mitm_buf *b, size_t n)
{
    if (own(b, n) < 0)
        return -1;
    if (b->off && b->off + b->len + n + 1 > b->alloc) {
        memmove(b->mem, b->mem + b->off, b->len);
        b->off = 0;
    }
    if (b->len + n + 1 <= b->alloc)
        return 0;
    /* a first allocation is sized to what is asked (a 64 KiB body piece must not round up to
     * 128 KiB: at glibc's mmap threshold every such buffer would be mmap'd, faulted in and
     * munmap'd, with a TLB shootdown per free); later growth doubles */
    size_t want = b->alloc ? b->alloc : 256;
    if (!b->alloc && want < b->len + n + 1)
        want = (b->len + n + 1 + 63) & ~(size_t)63;
    while (want < b->len + n + 1)
        want *= 2;
    uint8_t *m = realloc(b->mem, want);
    if (!m)
        return -1;
    b->mem = m;
    b->alloc = want;
    return 0;
}

int mitm_buf_reserve(struct mitm_buf *b, size_t n)
{
    if (b->limit && (n > b->limit || b->len > b->limit - n))
        return -1;
    return reserve(b, n);
}

int mitm_buf_append(struct mitm_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (b->limit && (n > b->limit || b->len > b->limit - n))
        return -1;
    if (reserve(b, n) < 0)
        return -1;
    memcpy(b->mem + b->off + b->len, p, n);
    b->len += n;
    return 0;
}

uint8_t *mitm_buf_extend(struct mitm_buf *b, size_t n)
{
    if (b->limit && (n > b->limit || b->len > b->limit - n))
        return NULL;
    if (reserve(b, n) < 0)
        return NULL;
    uint8_t *p = b->mem + b->off + b->len;
    b->len += n;
    return p;
}

int mitm_buf_printf(struct mitm_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof(small))
        return mitm_buf_append(b, small, (size_t)n);
    char *big = mitm_alloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int r = mitm_buf_append(b, big, (size_t)n);
    free(big);
    return r;
}

void mitm_buf_consume(struct mitm_buf *b, size_t n)
{
    if (n >= b->len) {
        b->off = b->len = 0;
        return;
    }
    b->off += n;
    b->len -= n;
}

uint8_t *mitm_buf_steal(struct mitm_buf *b, size_t *len)
{
    uint8_t *m;
    if (own(b, 0) < 0)
        abort(); /* out of memory: mitm_alloc's policy */
    if (!b->mem) {
        m = mitm_alloc(1);
    } else {
        if (b->off)
            memmove(b->mem, b->mem + b->off, b->len);
        m = b->mem;
    }
    m[b->len] = 0; /* reserve() always keeps room for this */
    *len = b->len;
    b->mem = NULL;
    b->off = b->len = b->alloc = 0;
    return m;
}

void mitm_buf_unquote_plus(struct mitm_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int v = mitm_pct_at(s, n, i);
        char c = v >= 0 ? (char)v : s[i] == '+' ? ' ' : s[i];
        if (v >= 0)
            i += 2;
        mitm_buf_append(b, &c, 1);
    }
}
