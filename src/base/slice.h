/* Byte views. A slice never owns its bytes and is never NUL-terminated by contract. */
#ifndef MITM_BASE_SLICE_H
#define MITM_BASE_SLICE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* Parser results (STYLE: parsers return ssize_t: >0 consumed, or one of these). */
#define MITM_INCOMPLETE  ((ssize_t)-2)
#define MITM_PARSE_ERROR ((ssize_t)-1)

struct mitm_slice {
    const uint8_t *base;
    size_t len;
};

static inline struct mitm_slice mitm_slice(const void *p, size_t n)
{
    return (struct mitm_slice){(const uint8_t *)p, n};
}

static inline struct mitm_slice mitm_slice_str(const char *s)
{
    return (struct mitm_slice){(const uint8_t *)s, strlen(s)};
}

/* Exact byte equality. */
static inline int mitm_slice_eq(struct mitm_slice a, struct mitm_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

/* Strip spaces and tabs (HTTP's OWS) from both ends of [s, e): returns the new start and
 * sets *end to the new end. */
static inline const char *mitm_trim_ows(const char *s, const char *e, const char **end)
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *end = e;
    return s;
}

/* The value of a hex digit (either case), or -1. */
static inline int mitm_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The byte a "%XX" escape at s[i] (n bytes in all) stands for, or -1 if there is none. */
static inline int mitm_pct_at(const void *s, size_t n, size_t i)
{
    const unsigned char *p = s;
    if (i + 2 >= n || p[i] != '%')
        return -1;
    int hi = mitm_hexval(p[i + 1]), lo = mitm_hexval(p[i + 2]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* ASCII case-insensitive equality with a C string (header names, tokens). */
int mitm_slice_ieq(struct mitm_slice a, const char *s);

#endif
