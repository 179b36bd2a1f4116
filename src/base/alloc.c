#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "mitmc: out of memory allocating %zu bytes\n", n);
    abort();
}

void *mitm_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *mitm_calloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        oom(n * sz);
    return p;
}

void *mitm_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *mitm_strdup(const char *s)
{
    return mitm_strndup(s, strlen(s));
}

char *mitm_strndup(const char *s, size_t n)
{
    char *p = mitm_alloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void *mitm_memdup(const void *src, size_t n)
{
    char *p = mitm_alloc(n + 1);
    if (n)
        memcpy(p, src, n);
    p[n] = 0;
    return p;
}

void *mitm_try_alloc(size_t n)
{
    return malloc(n ? n : 1);
}
