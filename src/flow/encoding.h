/* Content-Encoding codecs for viewing, filtering and editing bodies (mitmproxy's
 * mitmproxy/net/encoding.py): gzip, deflate (zlib-wrapped or raw), br, zstd, identity.
 *
 * Every call takes a cap on its output. A decompression bomb is refused as soon as the
 * output passes the cap: decoding stops there and never allocates more than cap + 1
 * bytes for a stage's output (the extra byte keeps mitm_buf's room for a NUL; a chain
 * holds two stages at a time). Decoder state is bounded as well: zlib uses 32 KiB,
 * brotli at most 16 MiB, and a zstd frame asking for a window larger than the cap
 * (above 1 KiB) is refused.
 *
 * Encoding names are matched case-insensitively: "identity", "none", "gzip", "x-gzip"
 * (RFC 9110 §8.4.1.3: treat as gzip), "deflate", "deflateraw", "br", "zstd". A list
 * such as "gzip, br" is a chain (RFC 9110 §8.4: codings listed in the order applied),
 * so it is decoded right to left and encoded left to right. mitmproxy itself only takes
 * one name; a chain is our extension. */
#ifndef MITM_FLOW_ENCODING_H
#define MITM_FLOW_ENCODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/slice.h"
#include "proto/http/http-t.h"

/* Decode in[0..len) per content_encoding (NULL or "" = identity).
 *
 * out must be empty (initialised or zeroed, holding no memory); on success it holds the
 * decoded bytes (its own allocation, limit set to cap; free with mitm_buf_free). On error
 * out is left empty and err (if not NULL) holds a NUL-terminated reason.
 *
 * Rejects: an unknown coding ("unknown content encoding: x"); output larger than cap
 * ("decompressed body exceeds N bytes"); corrupt or truncated br/zstd/deflate streams.
 * Like mitmproxy (zlib.decompressobj), a gzip stream cut short yields the bytes decoded
 * so far, and bytes after the end of the first gzip member are ignored. Empty input
 * decodes to empty output for every coding. deflate tries a zlib-wrapped stream first,
 * then raw deflate (servers send both, see RFC 9110 §8.4.1.2).
 *
 * Returns 0 on success, -1 on error. */
int mitm_decode(const char *content_encoding, const uint8_t *in, size_t len, size_t cap, struct mitm_buf *out,
                char *err, size_t errlen);

/* Encode in[0..len) per content_encoding, for writing back an edited body. gzip is
 * written with mtime 0 (deterministic), deflate zlib-wrapped, both at level 1, br at
 * quality 0, zstd at level 1 (mitmproxy's speed-first settings).
 *
 * Same ownership, errors ("encoded body exceeds N bytes", unknown coding) and returns as
 * mitm_decode. */
int mitm_encode(const char *content_encoding, const uint8_t *in, size_t len, size_t cap, struct mitm_buf *out,
                char *err, size_t errlen);

/* The body of a message as mitmproxy's Message.get_content(strict=False) returns it:
 * decoded per its Content-Encoding headers (all values joined with ", ", as mitmproxy's
 * Headers.get does); the raw bytes when there is no Content-Encoding or decoding fails
 * (unknown coding, corrupt data, or more than cap decoded bytes).
 *
 * storage must be empty; it receives the decoded bytes when decoding was needed, and
 * the caller frees it with mitm_buf_free in every case. *body is a view into storage or
 * into the message's content, valid while both live and are unchanged.
 *
 * Returns true, or false (with *body empty) when the body is missing (content_missing:
 * streamed and not kept, mitmproxy's content None). */
bool mitm_encoding_message_content(const struct mitm_headers *headers, const struct mitm_buf *content,
                                   bool missing, size_t cap, struct mitm_buf *storage,
                                   struct mitm_slice *body);

/* mitm_encoding_message_content for a request / a response. */
bool mitm_encoding_request_content(const struct mitm_http_request *r, size_t cap, struct mitm_buf *storage,
                                   struct mitm_slice *body);
bool mitm_encoding_response_content(const struct mitm_http_response *r, size_t cap, struct mitm_buf *storage,
                                    struct mitm_slice *body);

#endif
