/* HTTP/1.x codec (DESIGN §2: our own head parser + body framing). Sans-io: pure functions over
 * byte buffers; nothing here reads a socket or a clock. A proxy must forward any method token
 * and keep header bytes, order, case and duplicates exactly, so heads are parsed into the
 * neutral model (proto/http/http-t.h) without normalising names or values.
 *
 * Wire rules follow RFC 9112 (message syntax) and RFC 9110 (semantics); the smuggling checks
 * mirror mitmproxy's validate_inbound_headers option (lim->validate). */
#ifndef MITM_PROTO_HTTP1_H1_H
#define MITM_PROTO_HTTP1_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/slice.h"
#include "proto/http/http-t.h"

/* Caps on what a peer may make us buffer. A zero field means the default below; a NULL
 * limits pointer means all defaults. */
struct mitm_h1_limits {
    size_t max_line; /* longest request/status line (without CRLF); longer -> 414 for requests */
    size_t max_head; /* largest head incl. start line, leading blank lines and final blank line;
                        larger -> 431 for requests. Also the cap on chunked trailers. */
    bool validate;   /* mitmproxy's validate_inbound_headers: strict RFC 9112 checks against
                        request smuggling (true by default) */
};

#define MITM_H1_DEFAULT_MAX_LINE ((size_t)64 * 1024)
#define MITM_H1_DEFAULT_MAX_HEAD ((size_t)256 * 1024)
#define MITM_H1_LIMITS_DEFAULT                                                                               \
    ((struct mitm_h1_limits){                                                                                \
        .max_line = MITM_H1_DEFAULT_MAX_LINE, .max_head = MITM_H1_DEFAULT_MAX_HEAD, .validate = true})

/* Parse one request head from buf[0..len).
 *
 * Returns the bytes consumed (leading empty lines, request line, header lines and the blank
 * line), MITM_INCOMPLETE when more bytes are needed (the caller re-calls with the grown buffer;
 * the scan restarts, which is cheap next to I/O), or MITM_PARSE_ERROR with *status set to the
 * HTTP status to answer and *reason to a static string:
 *   414 request line longer than max_line (even while still incomplete);
 *   431 head larger than max_head (even while still incomplete);
 *   505 a well-formed but unsupported version (HTTP/2.0, HTTP/0.9 ...): only HTTP/1.0 and
 *       HTTP/1.1 are accepted;
 *   400 everything else: not exactly three parts, invalid method token (RFC 9110 tchar),
 *       request target with SP/CTL, asterisk form for a method other than OPTIONS, authority
 *       form for a method other than CONNECT (and CONNECT without a host:port target),
 *       userinfo in an absolute URL, bare CR (RFC 9112 §2.2), NUL, and with lim->validate:
 *       obs-fold (§5.2), whitespace between field name and colon (§5.1), empty or non-token
 *       field name, CTL other than HTAB in a field value, a second Host header.
 * Lines end in CRLF or a bare LF (RFC 9112 §2.2); empty lines before the request line are
 * skipped. Without lim->validate the parser is lenient (obs-fold is unfolded into one SP,
 * whitespace before the colon is dropped, names are not checked) but still refuses NUL, bare
 * CR and malformed request lines.
 *
 * req must be fresh from mitm_http_request_new(); on success its method, scheme ("http", or the
 * lower-cased scheme of an absolute URL), authority (absolute/authority form as written, else
 * ""), host/port (absolute/authority form; origin and asterisk form leave host NULL and port 0:
 * the caller resolves them from Host with mitm_h1_parse_authority), path ("*" for asterisk
 * form, "" for authority form, "/" for an absolute URL without a path; "/?q" when it has only
 * a query), http_version, form and headers (values without surrounding OWS) are set. On error
 * req may be partially filled; the caller still owns and frees it. */
ssize_t mitm_h1_parse_request_head(const uint8_t *buf, size_t len, const struct mitm_h1_limits *lim,
                                   struct mitm_http_request *req, int *status, const char **reason);

/* Parse one response head ("HTTP/1.x NNN [reason]", status 100..999, reason may be empty or
 * absent) from buf[0..len). Same returns and line rules as the request parser; on
 * MITM_PARSE_ERROR only *reason is set (the caller answers 502). resp must be fresh from
 * mitm_http_response_new(); on success http_version, status_code, reason ("" if absent) and
 * headers are set. Duplicate Host headers are not checked in responses. */
ssize_t mitm_h1_parse_response_head(const uint8_t *buf, size_t len, const struct mitm_h1_limits *lim,
                                    struct mitm_http_response *resp, const char **reason);

/* Parse an authority "host[:port]" (a Host header value, a CONNECT target, the authority of
 * an absolute URL) from s[0..len). IPv6 literals must be in brackets and valid; a reg-name or
 * IPv4 host may only hold RFC 3986 unreserved, sub-delims and '%' characters (max 255 bytes).
 * The port, when present, is 1..5 digits in 1..65535; default_port is used when it is absent.
 * Returns 0 with *host a new NUL-terminated string without brackets (caller frees) and *port
 * set, or -1 (malformed; *host and *port untouched). */
int mitm_h1_parse_authority(const char *s, size_t len, uint16_t default_port, char **host, uint16_t *port);

enum mitm_h1_body_kind {
    MITM_H1_BODY_NONE,    /* no body (or the body is already complete) */
    MITM_H1_BODY_LENGTH,  /* Content-Length bytes */
    MITM_H1_BODY_CHUNKED, /* chunked transfer coding, then optional trailers */
    MITM_H1_BODY_CLOSE,   /* everything until the peer closes (responses only) */
};

/* Body framing state, filled by mitm_h1_request_framing()/mitm_h1_response_framing() and
 * advanced by mitm_h1_body_decode(). Release with mitm_h1_body_free(). */
struct mitm_h1_body {
    enum mitm_h1_body_kind kind;
    uint64_t remaining;            /* LENGTH: bytes left; CHUNKED: bytes left in current chunk */
    int state;                     /* CHUNKED decoder state (private) */
    struct mitm_headers *trailers; /* CHUNKED: trailers received once done (NULL if none); the
                                      caller may take it (then set this to NULL) */
    size_t max_trailer;            /* cap on trailer bytes (lim->max_head) */
    /* private */
    bool validate;        /* trailer fields checked like head fields */
    uint8_t tstate;       /* trailer line scanner state */
    uint32_t line_len;    /* bytes of the current chunk-size line, capped */
    struct mitm_buf tbuf; /* trailer bytes until the section ends, capped by max_trailer */
};

/* RFC 9112 §6.3 framing of a request body. Errors (return -1, *reason static text):
 * Content-Length together with Transfer-Encoding (when lim->validate; otherwise
 * Transfer-Encoding wins as §6.3 rule 3 says and the caller must drop Content-Length when
 * forwarding), differing Content-Length values (identical duplicates and "5, 5" lists are
 * accepted), a Content-Length that is empty, not 1*DIGIT, or above 2^63-1, Transfer-Encoding
 * whose final coding is not "chunked", "chunked" more than once, an unknown coding, and
 * Transfer-Encoding in an HTTP/1.0 request (§6.1). No Content-Length and no Transfer-Encoding
 * -> NONE (a request is never read until close). Returns 0 with *b overwritten (it must not
 * hold resources). */
int mitm_h1_request_framing(const struct mitm_http_request *req, const struct mitm_h1_limits *lim,
                            struct mitm_h1_body *b, const char **reason);

/* Framing of a response to a request with method req_method (RFC 9112 §6.3): HEAD, 1xx, 204,
 * 304 and 2xx to CONNECT -> NONE whatever the headers say; Transfer-Encoding ending in chunked
 * -> CHUNKED; other Transfer-Encoding, or any in an HTTP/1.0 response (§6.1) -> CLOSE;
 * Content-Length -> LENGTH; nothing -> CLOSE. Errors (-1, *reason): Content-Length with
 * Transfer-Encoding when lim->validate, invalid Content-Length as for requests, "chunked"
 * more than once, an invalid coding token. Returns 0 with *b overwritten. */
int mitm_h1_response_framing(const char *req_method, const struct mitm_http_response *resp,
                             const struct mitm_h1_limits *lim, struct mitm_h1_body *b, const char **reason);

/* Do these headers frame a body as chunked: the final coding of all Transfer-Encoding
 * fields together, read as the framing functions read it (empty list elements ignored,
 * several fields one list)? What a writer that forwards the headers must then frame with. */
bool mitm_h1_te_chunked(const struct mitm_headers *h);

/* Parse header field lines (a head without its start line, or a chunked trailer section)
 * from p[0..n): n covers whole lines, each ending in LF (optionally CRLF), without the final
 * blank line. Applies the field rules of mitm_h1_parse_request_head (strict when validate);
 * request adds the single-Host rule. Appends to h; returns 0, or -1 with *reason (h may then
 * hold the fields before the bad one; the caller frees it). */
int mitm_h1_parse_fields(const uint8_t *p, size_t n, bool validate, bool request, struct mitm_headers *h,
                         const char **reason);

/* Decode body bytes from in[0..len). Consumes framing and reports at most one contiguous payload
 * slice per call in *data (pointing into in; len 0 if none). Returns bytes consumed (0 only when
 * len == 0 or the body is done), or MITM_PARSE_ERROR with *reason: invalid or empty chunk size,
 * chunk size above 2^63-1, chunk-size line over 4 KiB, CTL or bare CR in a chunk extension,
 * missing CRLF after chunk data, trailers over max_trailer, and trailer fields failing the head
 * rules. Errors are sticky. Sets *done when the body (and trailers) ended; bytes after that
 * belong to the next message and are not consumed. NONE is done at once; CLOSE passes
 * everything as payload and is never done (the caller ends it at EOF). The caller loops until
 * everything is consumed or done. Any split of the input across calls gives the same result. */
ssize_t mitm_h1_body_decode(struct mitm_h1_body *b, const uint8_t *in, size_t len, struct mitm_slice *data,
                            bool *done, const char **reason);

/* Free the trailers if still held and the private buffers; b may be reused after framing. */
void mitm_h1_body_free(struct mitm_h1_body *b);

/* Serialisers (append to out, which should have no cap or a large one; a refused append leaves
 * the output truncated, which the caller detects by a cap it chose).
 * Request line "METHOD target VERSION\r\n", target by form: origin -> path ("/" if empty),
 * asterisk -> "*", authority -> authority (or host:port), absolute -> scheme "://" authority (or
 * host with ":port" unless it is the scheme's default) path. Headers are written as stored:
 * name ": " value CRLF, then CRLF. NULL method/version are written as "GET"/"HTTP/1.1". */
void mitm_h1_write_request_head(struct mitm_buf *out, const struct mitm_http_request *req,
                                enum mitm_target_form form);
/* "VERSION NNN reason\r\n" (the SP before an empty reason is kept, RFC 9112 §4), headers, CRLF. */
void mitm_h1_write_response_head(struct mitm_buf *out, const struct mitm_http_response *resp);
/* One chunk: "%zx\r\n" data "\r\n". Writes nothing for len == 0 (that would end the body). */
void mitm_h1_write_chunk(struct mitm_buf *out, const uint8_t *data, size_t len);
/* The last chunk: "0\r\n", the trailers (may be NULL) as header lines, "\r\n". */
void mitm_h1_write_last_chunk(struct mitm_buf *out, const struct mitm_headers *trailers);

#endif
