/* WebSocket extensions: the Sec-WebSocket-Extensions grammar (RFC 6455 §9.1) and permessage-deflate
 * (RFC 7692) on zlib. Sans-io. The parser and writer of ws.h use the inflater and deflater; they
 * are public so that tests and tools can drive them alone.
 *
 * mitmproxy relays the extension headers unchanged and configures both of its connections from
 * the server's answer; unknown extensions are logged ("Ignoring unknown WebSocket extension")
 * and otherwise ignored, so frames using their RSV bits are then refused. mitm_ws_negotiate gives
 * the layer the same inputs: the agreed permessage-deflate parameters and the list to warn about. */
#ifndef MITM_PROTO_WS_DEFLATE_H
#define MITM_PROTO_WS_DEFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/slice.h"
#include "proto/http/http-t.h"

/* ---------------------------------------------------------------- Sec-WebSocket-Extensions */

struct mitm_ws_ext_param {
    char *name;  /* NUL-terminated token, as written */
    char *value; /* NULL when the parameter has no value; quotes and escapes removed */
};

struct mitm_ws_ext {
    char *name; /* extension token, as written (compare case-insensitively) */
    struct mitm_ws_ext_param *params;
    size_t nparams;
};

/* Every extension of every Sec-WebSocket-Extensions field, in order. Owns its strings. */
struct mitm_ws_extensions {
    struct mitm_ws_ext *v;
    size_t n;
};

#define MITM_WS_MAX_EXTENSIONS 64 /* elements accepted in one handshake */
#define MITM_WS_MAX_EXT_PARAMS 32 /* parameters accepted on one element */

/* Parse all Sec-WebSocket-Extensions fields of h (several fields are one comma list, RFC 9110
 * §5.3):  extension *( OWS ";" OWS param [ OWS "=" OWS ( token / quoted-string ) ] ), elements
 * separated by commas, empty elements skipped (RFC 9110 §5.6.1). out is overwritten. Returns 0,
 * or -1 with *reason (and out empty) for a name or value that is not a token (a quoted value
 * must unquote to a token, §9.1), an unterminated quoted string, or more elements or parameters
 * than the caps above. No field is not an error: out->n == 0. */
int mitm_ws_extensions_parse(const struct mitm_headers *h, struct mitm_ws_extensions *out,
                             const char **reason);

/* Free the strings and arrays; out is left empty. */
void mitm_ws_extensions_free(struct mitm_ws_extensions *e);

/* ---------------------------------------------------------------- permessage-deflate parameters */

#define MITM_WS_PMD_NAME          "permessage-deflate"
#define MITM_WS_PMD_BITS_NO_VALUE 1 /* client_max_window_bits offered without a value (§7.1.2.2) */

/* One offer or response of permessage-deflate (RFC 7692 §7.1). */
struct mitm_ws_pmd {
    bool server_no_context_takeover; /* §7.1.1.1: the server resets its compressor per message */
    bool client_no_context_takeover; /* §7.1.1.2: the client does */
    uint8_t server_max_window_bits;  /* §7.1.2.1: 8..15; 0 = absent (15) */
    uint8_t client_max_window_bits;  /* §7.1.2.2: 8..15; 0 = absent (15); in an offer also
                                        MITM_WS_PMD_BITS_NO_VALUE */
};

/* Read the parameters of a permessage-deflate element e (offer = true for a request's offer,
 * false for a server's response). Returns 0, or -1 with *reason when e is not
 * permessage-deflate or (§7) a parameter is unknown, repeated, has a value where none is allowed
 * (the no_context_takeover ones), lacks a required value (server_max_window_bits; and
 * client_max_window_bits in a response) or has a value that is not a decimal 8..15 without a
 * leading zero (§7.1.2.1). */
int mitm_ws_pmd_parse(const struct mitm_ws_ext *e, bool offer, struct mitm_ws_pmd *out, const char **reason);

/* Can the response be the server's acceptance of one of the permessage-deflate offers in
 * offers (§7.1)? Needs an offer such that: client_max_window_bits in the response only if the
 * offer has it, and no larger than the offer's value (§7.1.2.2); server_max_window_bits in the
 * response no larger than the offer's (§7.1.2.1); and, if the offer asked for
 * server_no_context_takeover or a server window, the response grants it (§7.1.1.1, §7.1.2.1: a
 * server that cannot must decline the offer). These are the checks of Python's websockets
 * client. Offers that do not parse are skipped (a server declines them). Returns 0 or -1 with
 * *reason. */
int mitm_ws_pmd_check_response(const struct mitm_ws_extensions *offers, const struct mitm_ws_pmd *resp,
                               const char **reason);

/* The window size (bits, 8..15) and context takeover of the messages a side sends, from the
 * agreed parameters. */
static inline int mitm_ws_pmd_window_bits(const struct mitm_ws_pmd *p, bool client)
{
    uint8_t b = client ? p->client_max_window_bits : p->server_max_window_bits;
    return b >= 8 && b <= 15 ? b : 15;
}

static inline bool mitm_ws_pmd_no_context_takeover(const struct mitm_ws_pmd *p, bool client)
{
    return client ? p->client_no_context_takeover : p->server_no_context_takeover;
}

/* What the handshake agreed on. */
struct mitm_ws_negotiated {
    bool pmd;                      /* permessage-deflate is in use */
    struct mitm_ws_pmd params;     /* its parameters, from the response */
    struct mitm_ws_extensions ext; /* the response's extensions, in order */
    size_t pmd_index;              /* index of permessage-deflate in ext (SIZE_MAX if none): every
                                      other element is an extension this codec does not implement
                                      (the layer warns and relays the headers as they are) */
};

/* Read the extensions of a handshake: req = the client's request headers, resp = the 101's.
 * Returns 0 with *out filled (free with mitm_ws_negotiated_free), or -1 with *reason (*out then
 * holds nothing to free) when the response's Sec-WebSocket-Extensions does not parse, names
 * permessage-deflate twice (RFC 7692 §5: a response holds one element per extension), has
 * invalid permessage-deflate parameters, accepts permessage-deflate that the request did not
 * offer (RFC 6455 §4.1) or that fails mitm_ws_pmd_check_response. The request's own field is
 * only read to compare: a request whose offers do not parse just counts as offering nothing. */
int mitm_ws_negotiate(const struct mitm_headers *req, const struct mitm_headers *resp,
                      struct mitm_ws_negotiated *out, const char **reason);
void mitm_ws_negotiated_free(struct mitm_ws_negotiated *n);

/* ---------------------------------------------------------------- inflater / deflater */

struct mitm_ws_inflater; /* opaque: a zlib raw inflate stream */
struct mitm_ws_deflater; /* opaque: a zlib raw deflate stream */

/* An inflater for the messages of a sender that uses window_bits (8..15) and resets its context
 * per message when no_context_takeover. Returns NULL if zlib cannot allocate (the caller closes
 * with 1011). */
struct mitm_ws_inflater *mitm_ws_inflater_new(int window_bits, bool no_context_takeover);
void mitm_ws_inflater_free(struct mitm_ws_inflater *z);

/* Inflate part of a compressed message's payload. Consumes bytes from in[0..len) and reports
 * the output in *out (at most MITM_WS_CHUNK bytes, in the inflater's buffer, valid until the
 * next call). Returns the bytes consumed, or MITM_PARSE_ERROR with *code 1007 (not deflate
 * data) or 1011 (zlib failure) and *reason. Call again while out->len > 0 (output may still be
 * pending for input already consumed) or bytes are left. Data after a final DEFLATE block
 * (BFINAL) is consumed and ignored, as Python's zlib (and so mitmproxy) does. */
ssize_t mitm_ws_inflate(struct mitm_ws_inflater *z, const uint8_t *in, size_t len, struct mitm_slice *out,
                        uint16_t *code, const char **reason);

/* End the message: inflate the 00 00 ff ff tail the sender removed (RFC 7692 §7.2.2). Returns
 * 1 with a piece of output in *out (call again), 0 once the message is finished (the context is
 * reset if no_context_takeover, or if the sender ended the stream with BFINAL), or
 * MITM_PARSE_ERROR as mitm_ws_inflate. */
int mitm_ws_inflate_finish(struct mitm_ws_inflater *z, struct mitm_slice *out, uint16_t *code,
                           const char **reason);

/* Inflate one whole compressed message (in = its frames' payloads, concatenated) and append it
 * to out, with at most max bytes of output. Returns 0, or -1 with *code: 1009 when the message
 * inflates to more than max (bomb protection: inflation stops there), 1007/1011 as above, or
 * 1009 if out's own cap was hit. */
int mitm_ws_inflate_message(struct mitm_ws_inflater *z, const uint8_t *in, size_t len, uint64_t max,
                            struct mitm_buf *out, uint16_t *code, const char **reason);

/* A deflater for messages we send with window_bits (8..15; zlib cannot write 8-bit raw streams,
 * so 8 uses a 9-bit zlib window, whose matches never reach back more than 250 bytes and so suit
 * a 256-byte window) at zlib's default level. NULL if zlib cannot allocate. */
struct mitm_ws_deflater *mitm_ws_deflater_new(int window_bits, bool no_context_takeover);
void mitm_ws_deflater_free(struct mitm_ws_deflater *z);

/* Compress part of a message (the payload of one frame) and append the output to out. Each call
 * ends in a sync flush, so the receiver can inflate every frame whole and the decoded frames keep
 * the boundaries given here (wsproto flushes only at the message end; both are valid, §7.2.1
 * only fixes the end). fin ends the message: the 00 00 ff ff tail is removed (RFC 7692 §7.2.1)
 * and, with no_context_takeover, the context reset. An empty message, or an empty last frame,
 * compresses to the single byte 00 (§7.2.3.6). Returns 0, or -1 if out's cap was hit or zlib
 * failed. */
int mitm_ws_deflate(struct mitm_ws_deflater *z, const uint8_t *in, size_t len, bool fin,
                    struct mitm_buf *out);

#endif
