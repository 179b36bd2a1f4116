/* Error messages for callers that pass a (char *err, size_t errlen) buffer. */
#ifndef MITM_BASE_ERR_H
#define MITM_BASE_ERR_H

#include <stddef.h>

/* Format into err (truncated to errlen); does nothing when err is NULL or errlen 0. */
void mitm_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
