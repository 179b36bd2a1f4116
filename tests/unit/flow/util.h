/* Test helpers: flows built by hand. */
#ifndef MITM_TEST_FLOW_UTIL_H
#define MITM_TEST_FLOW_UTIL_H

#include <stddef.h>

#include "flow/flow.h"

/* A flow with a request (method, scheme, host, port, path; HTTP/1.1, origin form) and headers
 * given as alternating name/value strings ending with NULL. body may be NULL. */
struct mitm_flow *t_flow(const char *method, const char *scheme, const char *host, unsigned port,
                         const char *path, const void *body, size_t blen, ...);
/* Add a response (HTTP/1.1) with headers as alternating name/value strings ending with NULL. */
void t_response(struct mitm_flow *f, int status, const void *body, size_t blen, ...);
/* Read a whole file; caller frees. */
char *t_read_file(const char *path, size_t *len);

#endif
