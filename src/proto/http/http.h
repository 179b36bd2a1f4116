/* Operations on the neutral HTTP model (see http-t.h). */
#ifndef MITM_PROTO_HTTP_H
#define MITM_PROTO_HTTP_H

#include "base/slice.h"
#include "proto/http/http-t.h"

/* Headers. Name comparisons are ASCII case-insensitive; values are exact bytes. */
void mitm_headers_init(struct mitm_headers *h);
void mitm_headers_free(struct mitm_headers *h);
void mitm_headers_copy(struct mitm_headers *dst, const struct mitm_headers *src); /* dst uninitialised */
void mitm_headers_add(struct mitm_headers *h, const char *name, size_t nlen, const char *value, size_t vlen);
/* Index of the first header called name at or after start, or -1. */
long mitm_headers_find(const struct mitm_headers *h, const char *name, size_t start);
/* First value of name, or NULL (then *len untouched). */
const char *mitm_headers_get(const struct mitm_headers *h, const char *name, size_t *len);
/* Number of headers called name. */
size_t mitm_headers_count(const struct mitm_headers *h, const char *name);
/* Remove every header called name; returns how many were removed. */
size_t mitm_headers_remove(struct mitm_headers *h, const char *name);
/* Replace the first header called name (keeping its position and name spelling) and drop
 * the others; append if absent. */
void mitm_headers_set(struct mitm_headers *h, const char *name, const char *value, size_t vlen);

/* Messages. new() returns zeroed, initialised objects; free() accepts NULL. */
struct mitm_http_request *mitm_http_request_new(void);
void mitm_http_request_free(struct mitm_http_request *r);
struct mitm_http_response *mitm_http_response_new(void);
void mitm_http_response_free(struct mitm_http_response *r);
/* Replace an owned string field (frees the old one). */
void mitm_str_set(char **field, const char *s, size_t n);

/* A response made by the proxy itself (errors, replies of addons): status, reason from
 * the status table, "Content-Type: text/html" (or none when body is NULL) and a body. */
struct mitm_http_response *mitm_http_response_make(int status, const char *body, const char *content_type);

/* Standard reason phrase for a status code ("" if unknown). */
const char *mitm_http_reason(int status);

/* mitmproxy's request.url: scheme://host[:port]path, with the port left out when it is
 * the scheme's default. pretty_url (showhost) uses the host and port of the Host header
 * (host_header) instead, as mitmproxy rebuilds it: "Host: example.com:80" gives
 * http://example.com/. Writes a NUL-terminated string into out (truncated to cap). */
void mitm_http_request_url(const struct mitm_http_request *r, bool pretty, char *out, size_t cap);
/* request.host_header (mitmproxy): the Host header, or :authority for HTTP/2 without one;
 * NULL if neither. */
const char *mitm_http_request_host_header(const struct mitm_http_request *r, size_t *len);

/* mitmproxy's url.parse_authority(check=False), without its host validity check: the host
 * and port of "host", "host:port", "[v6]" or "[v6]:port" (brackets stripped; port -1 when
 * there is none); anything else (two colons, a port that is not 0..65535) is the host whole,
 * with no port. */
void mitm_http_parse_authority(const char *v, size_t len, const char **host, size_t *hl, long *port);

/* The origin- or absolute-form URL of those parts, as mitm_http_request_url writes it without
 * a Host header: scheme://host[:port]path, the port left out when it is the scheme's default,
 * an IPv6 host in brackets. */
void mitm_http_url_format(const char *scheme, const char *host, unsigned port, const char *path, char *out,
                          size_t cap);

#endif
