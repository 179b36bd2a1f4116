/* HAR 1.2 (HTTP Archive, http://www.softwareishard.com/blog/har-12-spec/) export and import,
 * after mitmproxy's addons/savehar.py (export: save.har, hardump) and io/har.py (import:
 * `-r file.har`).
 *
 * Export maps each HTTP flow to an entry exactly as savehar.py does (field names, order,
 * timings in ms, -1 for connect/ssl on a reused server connection, headersSize =
 * len(str(headers)), content.size = the encoded body size, content.compression = decoded -
 * encoded, binary bodies (mitmproxy's is_mostly_bin) in base64, postData for POST/PUT/PATCH,
 * response status 0 with "_error" for a flow without response), with these choices of ours:
 *   - creator {name "mitmc", version MITM_VERSION, comment ""};
 *   - timings also carry "blocked": -1 and "dns": -1 (HAR 1.2 fields mitmproxy leaves out);
 *   - text is decoded with the Content-Type charset, UTF-8 by default (mitmproxy: Latin-1 for
 *     non-JSON types); a body that is not valid text in its charset is written in base64
 *     (response content "encoding": "base64"; request postData "_encoding": "base64"), so a
 *     body always survives a round trip byte for byte;
 *   - header names/values and cookies that are not valid UTF-8 have the bad bytes replaced
 *     by U+FFFD (JSON strings must be Unicode).
 * TCP flows are skipped (HAR has no place for them).
 *
 * Import (request_to_flow) accepts mitmproxy's, Chrome/Chromium DevTools', Firefox's,
 * Safari's, Charles', Fiddler's and Insomnia's files: headers as {"name","value"} objects or
 * Slack's [name, value] pairs; base64 bodies; Chrome's private fields (_resourceType,
 * _initiator, _transferSize, _fetchedViaServiceWorker, ...) are ignored; missing optional
 * fields get defaults (time 0, no body, no headers). Our choices:
 *   - HTTP/2 pseudo-headers (":authority", ":method", ... as Chrome writes them) are dropped:
 *     they are not header fields (RFC 9113 §8.3) and the URL carries the same information;
 *   - an entry without a response, or with status 0 (Chrome's failed/blocked requests), gives
 *     a flow without response (with its "_error" as the flow error when there is one);
 *   - entries whose URL is not http(s) (data:, blob:, chrome-extension:) are skipped with a
 *     warning (mitmproxy fails the whole file);
 *   - http versions: "http/2.0", "HTTP/2", "h2" -> "HTTP/2"; "HTTP/3", "h3" -> "HTTP/3";
 *     "HTTP/1.0" is kept; anything else -> "HTTP/1.1" (mitmproxy maps 1.0 and h2/h3 to 1.1);
 *   - body text is encoded in the Content-Type charset (UTF-8 by default), Content-Encoding
 *     is dropped for a non-empty body (the HAR text is decoded content) and Content-Length
 *     updated when present or the body is non-empty (mitmproxy also adds "content-length: 0"
 *     to every body-less request);
 *   - startedDateTime without a zone offset is read as UTC.
 * A zlib-compressed document (.zhar) is inflated first. */
#ifndef MITM_FLOW_HAR_H
#define MITM_FLOW_HAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "flow/flow-t.h"

struct mitm_cmd_registry;

#define MITM_HAR_MAX_INPUT   ((size_t)512 << 20) /* largest HAR document read (after inflating) */
#define MITM_HAR_MAX_ENTRIES ((size_t)1000000)   /* most entries read from one document */
#define MITM_HAR_BODY_CAP    ((size_t)256 << 20) /* largest body decoded for export */

/* Parse a HAR document (len bytes at data, JSON or zlib-compressed JSON) into flows.
 * On success returns 0, *flows is a new array of *n new flows (refs = 1; the caller unrefs
 * each and frees the array; *flows may be NULL when *n == 0). On error returns -1 with *flows
 * NULL, *n 0 and err (errlen bytes, always NUL-terminated when errlen > 0) saying why:
 * "HAR: invalid JSON at line L, column C: <jansson's text>", "HAR: larger than N bytes",
 * "HAR: no log.entries array", "HAR: more than N entries", "HAR entry I: <field> missing
 * or not a <type>", "HAR entry I: invalid base64 in response.content.text". */
int mitm_har_read(const uint8_t *data, size_t len, struct mitm_flow ***flows, size_t *n, char *err,
                  size_t errlen);

/* Serialise flows as one HAR document (JSON, 4-space indent, ASCII-only like Python's
 * json.dumps) and append it to out, zlib-compressed (level 9, as mitmproxy's .zhar) when
 * zlib is true. Non-HTTP flows are skipped. flows are not modified.
 * Returns 0, or -1 with err set (out's cap exceeded, compression failure). */
int mitm_har_write(struct mitm_flow *const *flows, size_t n, struct mitm_buf *out, bool zlib, char *err,
                   size_t errlen);

/* Write flows as HAR to path, as hardump does on exit: "-" = stdout (plain JSON and a
 * newline, as mitmproxy prints it); a path ending in ".zhar" is zlib-compressed. Logs
 * "HAR file saved (SIZE bytes)." at ALERT for a file. Returns 0, or -1 with err naming the
 * path and the OS error. */
int mitm_har_write_file(const char *path, struct mitm_flow *const *flows, size_t n, char *err, size_t errlen);

/* Register save.har (flows:flow[] path:path). Returns 0, or -1 with err set. */
int mitm_har_register_commands(struct mitm_cmd_registry *reg, char *err, size_t errlen);

#endif
