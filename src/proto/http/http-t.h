/* The version-neutral HTTP message model (DESIGN §3). HTTP/1 and later HTTP/2 codecs
 * translate bytes to and from these; the per-request logic and the addons only see
 * these types. Types only; functions are in http.h. */
#ifndef MITM_PROTO_HTTP_T_H
#define MITM_PROTO_HTTP_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* One header field, bytes exactly as received (name case kept). name and value live in
 * one allocation owned by the header; both are NUL-terminated for convenience, but
 * code must use the lengths. */
struct mitm_header {
    char *name;
    size_t name_len;
    char *value;
    size_t value_len;
};

/* An ordered multimap: order, case and duplicates are kept. */
struct mitm_headers {
    struct mitm_header *v;
    size_t n, cap;
};

/* How the request target was written (RFC 9112 §3.2). */
enum mitm_target_form {
    MITM_TARGET_ORIGIN = 0, /* /path?q */
    MITM_TARGET_ABSOLUTE,   /* http://host:port/path */
    MITM_TARGET_AUTHORITY,  /* host:port (CONNECT) */
    MITM_TARGET_ASTERISK,   /* * (OPTIONS) */
};

/* A request, like mitmproxy's http.Request. Strings are NUL-terminated and never hold
 * a NUL (the parsers refuse them). */
struct mitm_http_request {
    char *method;       /* any token, as received */
    char *scheme;       /* "http" or "https" */
    char *authority;    /* host[:port] from an absolute/authority target, else "" */
    char *host;         /* destination host (no brackets for IPv6) */
    uint16_t port;      /* destination port */
    char *path;         /* path + query for origin/absolute form; "*" for asterisk; "" for CONNECT */
    char *http_version; /* "HTTP/1.1", "HTTP/1.0", later "HTTP/2.0" */
    enum mitm_target_form form;
    struct mitm_headers headers;
    struct mitm_buf content;               /* raw (still content-encoded) body */
    bool content_missing;                  /* body was streamed and not kept (mitmproxy: content None) */
    struct mitm_headers *trailers;         /* NULL = none */
    double timestamp_start, timestamp_end; /* end 0 = not yet complete */
    bool stream;                           /* set by the stream logic or a hook: forward body unbuffered */
};

struct mitm_http_response {
    char *http_version;
    int status_code;
    char *reason;
    struct mitm_headers headers;
    struct mitm_buf content;
    bool content_missing;
    struct mitm_headers *trailers;
    double timestamp_start, timestamp_end;
    bool stream;
};

#endif
