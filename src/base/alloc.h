/* Allocation. Small, internal sizes abort on failure (there is nothing sane to do);
 * sizes a peer controls go through mitm_try_alloc and become a protocol error. */
#ifndef MITM_BASE_ALLOC_H
#define MITM_BASE_ALLOC_H

#include <stddef.h>

void *mitm_alloc(size_t n);                  /* never NULL; aborts on failure */
void *mitm_calloc(size_t n, size_t sz);      /* zeroed; never NULL */
void *mitm_realloc(void *p, size_t n);       /* never NULL */
char *mitm_strdup(const char *s);            /* never NULL */
char *mitm_strndup(const char *s, size_t n); /* copies n bytes, adds a NUL */
void *mitm_memdup(const void *p, size_t n);  /* copy of n bytes (+1 NUL byte); never NULL */
void *mitm_try_alloc(size_t n);              /* NULL on failure */

#endif
