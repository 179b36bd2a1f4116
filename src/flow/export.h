/* Export one flow as a shell command or raw HTTP/1 bytes (mitmproxy/addons/export.py; the
 * formats are byte-for-byte mitmproxy's):
 *
 *   curl         `curl [--resolve 'host:port:[ip]'] -H 'k: v'... [-H 'content-length: 0'] [-X M] URL [-d
 * BODY]` httpie       `http METHOD URL 'k: v'... [<<< BODY]` raw_request  the request as HTTP/1 bytes, body
 * decoded (Content-Encoding removed) raw_response the response likewise raw          raw_request "\r\n\r\n"
 * raw_response (or whichever exists); for a WebSocket flow with both, "\r\n\r\n" and the messages as
 * "[OUTGOING] content" / "[INCOMING] content" lines joined by "\n" (mitmproxy >= 10.3)
 *
 * For curl and httpie the request body is decoded first, Content-Length is dropped, and Host /
 * :authority are dropped when equal to the request host; an Accept-Encoding header becomes
 * `--compressed` for curl. Arguments are quoted like Python's shlex.quote. A body becomes
 * text by its charset (Content-Type charset; JSON: UTF-8; else Latin-1, as mitmproxy's
 * infer_content_encoding); control characters are written as \xNN inside "$(printf '...')".
 * The URL is mitmproxy's pretty_url (from the Host header). */
#ifndef MITM_FLOW_EXPORT_H
#define MITM_FLOW_EXPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

#include "base/buf.h"
#include "flow/flow-t.h"

struct mitm_cmd_registry;

/* Largest decoded request/response body an export decodes (bigger: exported as stored). */
#define MITM_EXPORT_DECODE_CAP ((size_t)64 << 20)

/* The format names, sorted (mitmproxy's export.formats): curl, httpie, raw, raw_request,
 * raw_response. Static; *n receives the count. */
const char *const *mitm_export_formats(size_t *n);

/* Export flow f in format (a name of mitm_export_formats) and append the result to out.
 * preserve_ip = the export_preserve_original_ip option (curl only: adds --resolve when the
 * server's address differs from the host). f is not modified.
 * Errors (-1, err set, out unchanged): "No such export format: X"; "Can't export flow with no
 * request." / "... no response." / "... no request or response."; "Request content
 * missing." / "Response content missing." (streamed body not kept); "Request content must
 * be valid unicode" (curl/httpie body not decodable in its charset). Returns 0 or -1. */
int mitm_export(const char *format, const struct mitm_flow *f, bool preserve_ip, struct mitm_buf *out,
                char *err, size_t errlen);

/* Append s (n bytes) quoted like Python's shlex.quote: unchanged when non-empty and made
 * only of [A-Za-z0-9_@%+=:,./-], else in single quotes with each ' as '"'"'. */
void mitm_export_shell_quote(struct mitm_buf *out, const char *s, size_t n);

/* mitmproxy's Request.pretty_url (appended to out): the URL with the host from the host
 * header (Host, or :authority / the request authority for HTTP/2+), the port left out when it
 * is the scheme's default; an authority-form request gives its authority. */
void mitm_export_pretty_url(const struct mitm_http_request *r, struct mitm_buf *out);

/* mitmproxy's Request.pretty_host: the host of the host header without port or brackets, else
 * the request's host. NUL-terminated into out (truncated to cap). */
void mitm_export_pretty_host(const struct mitm_http_request *r, char *out, size_t cap);

/* Text encodings of bodies (a subset of Python's codecs: what HTTP bodies use in practice). */
enum mitm_charset {
    MITM_CHARSET_UTF8,
    MITM_CHARSET_LATIN1, /* iso-8859-1 and its aliases: every byte is a code point */
    MITM_CHARSET_ASCII,
    MITM_CHARSET_OTHER, /* a charset we have no codec for: treated as UTF-8 */
};

/* The charset a Content-Type value (ct, len bytes; NULL = none) names in its charset
 * parameter; without one: UTF-8 for a JSON type, else dflt (mitmproxy's
 * infer_content_encoding uses Latin-1 there; gb2312/gbk have no codec here: OTHER). */
enum mitm_charset mitm_charset_of(const char *ct, size_t len, enum mitm_charset dflt);

/* The value of parameter name (case-insensitive) in a Content-Type of len bytes, after the
 * first ';' (RFC 9110 §8.3.1), quotes removed; its length in *vl. NULL when absent or
 * when nothing follows its '='. */
const char *mitm_content_type_param(const char *ct, size_t len, const char *name, size_t *vl);

/* Decode n bytes in charset cs and append them to out as UTF-8. Returns 0, or -1 (out may
 * hold a prefix) when the bytes are invalid in cs (UTF-8: per RFC 3629, no surrogates or
 * overlong forms; ASCII: bytes >= 0x80). */
int mitm_charset_decode(enum mitm_charset cs, const uint8_t *p, size_t n, struct mitm_buf *out);

/* Length (1-4) of the valid UTF-8 sequence at p (n bytes available), or 0 when the bytes there
 * are not valid UTF-8 (RFC 3629: no overlong forms, surrogates or code points above U+10FFFF). */
size_t mitm_utf8_seq(const uint8_t *p, size_t n);

/* Encode UTF-8 text (n bytes, assumed valid) in cs and append to out. Returns 0, or -1 when a
 * character has no encoding in cs (Latin-1 above U+00FF, ASCII above U+007F); the caller
 * then falls back to UTF-8 as mitmproxy does. */
int mitm_charset_encode(enum mitm_charset cs, const uint8_t *p, size_t n, struct mitm_buf *out);

/* Register the commands export, export.file and export.formats (mitmproxy's signatures;
 * export.clip is not provided: no clipboard). export_preserve_original_ip is read from the
 * process options (mitm_options) at call time. Returns 0, or -1 with err set. */
int mitm_export_register_commands(struct mitm_cmd_registry *reg, char *err, size_t errlen);

#endif
