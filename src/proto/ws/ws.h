/* WebSocket codec (RFC 6455; DESIGN §2: our own framing + permessage-deflate on zlib). Sans-io:
 * pure functions and state machines over byte buffers; nothing here reads a socket or a clock,
 * and nothing draws random numbers (client masking keys come from the caller). The WebSocket
 * layer is built on these pieces:
 *
 *   handshake   mitm_ws_is_upgrade (mitmproxy's test), mitm_ws_check_request/_response (RFC 6455
 *               §4), mitm_ws_accept_key, mitm_ws_negotiate (Sec-WebSocket-Extensions, deflate.h)
 *   receiving   struct mitm_ws_parser: bytes in, events out (payload unmasked and, with
 *               permessage-deflate, inflated; every rejection carries the close code to send)
 *   messages    struct mitm_ws_assembler: a message's bytes plus the length of each frame, and
 *               struct mitm_ws_fragments to send a (possibly modified) message with the same
 *               frame boundaries, as mitmproxy's Fragmentizer does
 *   sending     struct mitm_ws_writer (data messages, compressed when negotiated),
 *               mitm_ws_write_frame / _control / _close
 *
 * Decisions (docs/internals/websocket.md has the reasons):
 *   - Rejections follow wsproto (what mitmproxy runs), so a peer mitmproxy tolerates is tolerated
 *     here and one it drops is dropped: non-minimal length encodings are refused (§5.2 says the
 *     minimal number of bytes MUST be used), as are 64-bit lengths with the top bit set.
 *   - Close codes accepted from a peer: 1000-1003, 1007-1014 and 3000-4999 (wsproto's set plus
 *     1014, "Bad Gateway", which IANA registered after it); everything else is a protocol error.
 *   - Caps: one on a frame's announced payload length and one on a message's decoded size; both
 *     are parameters (the layer exposes them as options). A large frame never needs its size in
 *     memory: payload is delivered in pieces as it arrives.
 *   - After a Close frame the parser ignores everything the peer sends (§1.4, as wsproto). */
#ifndef MITM_PROTO_WS_WS_H
#define MITM_PROTO_WS_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/slice.h"
#include "proto/http/http-t.h"
#include "proto/ws/deflate.h"

/* ---------------------------------------------------------------- constants */

/* RFC 6455 §5.2 opcodes (all others are reserved and refused). */
enum mitm_ws_opcode {
    MITM_WS_CONTINUATION = 0x0,
    MITM_WS_TEXT = 0x1,
    MITM_WS_BINARY = 0x2,
    MITM_WS_CLOSE = 0x8,
    MITM_WS_PING = 0x9,
    MITM_WS_PONG = 0xa,
};

/* RFC 6455 §7.4.1 status codes (plus the IANA registry's 1012-1014). */
enum mitm_ws_close_code {
    MITM_WS_NORMAL_CLOSURE = 1000,
    MITM_WS_GOING_AWAY = 1001,
    MITM_WS_PROTOCOL_ERROR = 1002,
    MITM_WS_UNSUPPORTED_DATA = 1003,
    MITM_WS_NO_STATUS_RCVD = 1005,   /* local only: the Close frame had no payload */
    MITM_WS_ABNORMAL_CLOSURE = 1006, /* local only: the connection ended without a Close frame */
    MITM_WS_INVALID_FRAME_PAYLOAD_DATA = 1007,
    MITM_WS_POLICY_VIOLATION = 1008,
    MITM_WS_MESSAGE_TOO_BIG = 1009,
    MITM_WS_MANDATORY_EXT = 1010,
    MITM_WS_INTERNAL_ERROR = 1011,
    MITM_WS_SERVICE_RESTART = 1012,
    MITM_WS_TRY_AGAIN_LATER = 1013,
    MITM_WS_BAD_GATEWAY = 1014,
    MITM_WS_TLS_HANDSHAKE_FAILED = 1015, /* local only */
};

#define MITM_WS_MAX_CONTROL 125 /* §5.5: control frame payload limit */
#define MITM_WS_MAX_HEADER  14  /* 2 + 8 (64-bit length) + 4 (masking key) */
#define MITM_WS_CHUNK                                                                                        \
    16384 /* most payload bytes one parser event carries when it                                             \
             had to copy them (unmasking, inflating) */
#define MITM_WS_FRAGMENT_SIZE                                                                                \
    4000                                     /* mitmproxy's Fragmentizer: frame size for a message           \
                                                whose length changed */
#define MITM_WS_MAX_LENGTH (UINT64_MAX >> 1) /* §5.2: the 64-bit length's top bit must be 0 */
#define MITM_WS_GUID       "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* §1.3 */

/* The name mitmdump prints for a close code (wsproto's CloseReason member names:
 * "NORMAL_CLOSURE", "MESSAGE_TOO_BIG", ...), or NULL for a code wsproto has no name for
 * (mitmdump then prints "UNKNOWN_ERROR=<code>"). 1014 has none: wsproto does not know it. */
const char *mitm_ws_close_code_name(int code);

/* May a peer send this code in a Close frame (§7.4)? 1000-1003, 1007-1014, 3000-4999. */
bool mitm_ws_close_code_valid(int code);

/* ---------------------------------------------------------------- handshake */

/* mitmproxy's decision that a response upgrades to WebSocket (layers/http: send_response): status
 * 101, the response's Upgrade is "websocket" (ASCII case-insensitive) and the request's
 * Sec-WebSocket-Version is exactly "13". No other check: a 101 that fails the strict checks below
 * is still relayed as WebSocket, as mitmproxy does. */
bool mitm_ws_is_upgrade(int status, const struct mitm_headers *req, const struct mitm_headers *resp);

/* The server's checks of an opening handshake (RFC 6455 §4.2.1). Returns 0, or -1 with *reason
 * (static text) when: no Upgrade field holding the token "websocket" (case-insensitive); no
 * Connection field holding the token "upgrade"; Sec-WebSocket-Key absent, repeated, or not the
 * base64 of exactly 16 bytes (24 characters ending in "=="); Sec-WebSocket-Version absent,
 * repeated, or not "13" (§4.4: the server answers 426 with "Sec-WebSocket-Version: 13"). The
 * method (GET) and version (HTTP/1.1 or later) are the caller's to check. */
int mitm_ws_check_request(const struct mitm_headers *h, const char **reason);

/* The client's checks of the server's answer against the request (RFC 6455 §4.1, items 1-6 of
 * the response checks). Returns 0, or -1 with *reason when: status is not 101; Upgrade is not
 * "websocket"; Connection has no "upgrade" token; Sec-WebSocket-Accept is absent, repeated or
 * not mitm_ws_accept_key(request's Sec-WebSocket-Key); Sec-WebSocket-Protocol names a protocol
 * the request did not offer (or appears without any offer). Extensions are checked by
 * mitm_ws_negotiate. */
int mitm_ws_check_response(int status, const struct mitm_headers *req, const struct mitm_headers *resp,
                           const char **reason);

/* Sec-WebSocket-Accept for a key (key, len bytes, as sent): base64(SHA-1(key GUID)), §4.2.2.
 * Writes 28 characters and a NUL to out. */
void mitm_ws_accept_key(const char *key, size_t len, char out[29]);

/* ---------------------------------------------------------------- frames in */

/* Caps on what a peer may send. A zero field means the default. UINT64_MAX means no cap. */
struct mitm_ws_limits {
    uint64_t max_frame;   /* largest payload length a frame may announce (wire bytes); larger ->
                             1009 at the header, before any payload is read */
    uint64_t max_message; /* largest message: its frames' payloads summed after inflating; larger
                             -> 1009 (for uncompressed frames at the header already). Also the
                             bound on inflation: a deflate bomb stops at this many bytes. */
};

#define MITM_WS_DEFAULT_MAX_FRAME   UINT64_MAX            /* the message cap bounds frames */
#define MITM_WS_DEFAULT_MAX_MESSAGE ((uint64_t)256 << 20) /* 256 MiB */

/* One frame header (§5.2). */
struct mitm_ws_frame {
    bool fin;
    uint8_t rsv;     /* RSV1 | RSV2 | RSV3 as bits 0x40 | 0x20 | 0x10 of the first byte */
    uint8_t opcode;  /* enum mitm_ws_opcode; CONTINUATION for a message's later frames */
    bool masked;     /* the MASK bit (frames from a client are masked, §5.1) */
    uint8_t mask[4]; /* masking key when masked */
    uint64_t length; /* payload length on the wire */
};

enum mitm_ws_event_type {
    MITM_WS_EV_NONE = 0,  /* nothing more: all input was consumed (more bytes are needed) */
    MITM_WS_EV_DATA,      /* a piece of a data frame's payload (data.len > 0) */
    MITM_WS_EV_FRAME_END, /* a data frame ended (after its DATA events, or alone when it was empty) */
    MITM_WS_EV_CONTROL,   /* a whole control frame: PING, PONG or CLOSE */
};

/* What one mitm_ws_parse call reports. Pointers stay valid until the next call on the parser
 * (data may point into the input or into the parser's own buffers). */
struct mitm_ws_event {
    enum mitm_ws_event_type type;
    const struct mitm_ws_frame *frame; /* DATA, FRAME_END, CONTROL: the current frame's header */
    uint8_t opcode;                    /* DATA, FRAME_END: the message's type (TEXT or BINARY,
                                          also on its continuation frames); CONTROL: the opcode */
    bool compressed;                   /* DATA, FRAME_END: the message had RSV1 (permessage-deflate)
                                          and data is already inflated */
    struct mitm_slice data;            /* DATA: payload bytes, unmasked and inflated; a text
                                          message's pieces may split a UTF-8 sequence (the whole
                                          message is valid). CONTROL: the whole payload, unmasked */
    bool message_end;                  /* FRAME_END: the frame had FIN: the message is complete */
    uint16_t close_code;               /* CONTROL CLOSE: the code, 1005 when the payload is empty */
    struct mitm_slice close_reason;    /* CONTROL CLOSE: the reason (valid UTF-8, maybe empty) */
    uint16_t error_code;               /* MITM_PARSE_ERROR: the close code to send the peer */
    const char *error;                 /* MITM_PARSE_ERROR: why (static text) */
};

/* Incremental frame parser for one direction. A value type with private fields: initialise with
 * mitm_ws_parser_init, release with mitm_ws_parser_free. */
struct mitm_ws_parser {
    /* private */
    bool from_client;
    struct mitm_ws_limits lim;
    struct mitm_ws_inflater *inf; /* permessage-deflate negotiated: the sender's context */
    uint8_t state;
    uint8_t hdr[MITM_WS_MAX_HEADER];
    uint8_t hlen;
    struct mitm_ws_frame frame;
    uint64_t pos; /* payload bytes of the current frame consumed */
    bool in_message, msg_compressed;
    bool inf_pending; /* the last inflate filled its output: more may follow */
    uint8_t msg_opcode;
    uint64_t msg_len; /* decoded bytes of the current message so far */
    uint32_t utf8;    /* UTF-8 validator state of the current text message */
    uint8_t ctl[MITM_WS_MAX_CONTROL];
    uint8_t *scratch; /* MITM_WS_CHUNK bytes, allocated at the first masked data frame */
    uint16_t err_code;
    const char *err;
};

/* Prepare a parser for frames sent by the client (from_client: they must be masked) or by the
 * server (they must not be), §5.1. lim NULL = defaults. pmd = the negotiated permessage-deflate
 * parameters (from mitm_ws_negotiate) or NULL when it is not in use: with it, RSV1 on the first
 * frame of a data message means compressed, and the parser inflates with the sender's window
 * size and context takeover setting. No allocation happens here that can fail. */
void mitm_ws_parser_init(struct mitm_ws_parser *p, bool from_client, const struct mitm_ws_limits *lim,
                         const struct mitm_ws_pmd *pmd);

/* Free the parser's buffers and inflater. The parser may be initialised again. */
void mitm_ws_parser_free(struct mitm_ws_parser *p);

/* Parse bytes in[0..len) (any split of the stream across calls gives the same events; the parser
 * keeps partial headers and control frames itself, so consumed bytes are never fed again).
 *
 * Returns the bytes consumed (0 <= n <= len) with *ev set; ev->type is MITM_WS_EV_NONE only when
 * n == len (everything consumed, no event: feed more bytes later). Otherwise the caller handles
 * the event and calls again with the rest (in + n, len - n), also when that rest is empty: an
 * event may be followed by more output for the same input (inflated data, a FRAME_END).
 *
 * Returns MITM_PARSE_ERROR with ev->error_code (the close code to send) and ev->error, sticky:
 *   1002 PROTOCOL_ERROR  reserved opcode (§5.2); RSV1 without permessage-deflate, RSV1 on a
 *                        continuation or control frame, RSV2 or RSV3 (§5.2, RFC 7692 §6); control
 *                        frame with FIN clear or payload over 125 bytes (§5.5); continuation
 *                        without a message to continue, or a TEXT/BINARY frame while a message is
 *                        unfinished (§5.4); a 16-bit length under 126 or a 64-bit length under
 *                        65536 (§5.2 "minimal number of bytes", as wsproto); a 64-bit length with
 *                        the top bit set (§5.2); an unmasked frame from a client or a masked frame
 *                        from a server (§5.1); a Close payload of 1 byte, or a close code that
 *                        mitm_ws_close_code_valid refuses (§7.4, §5.5.1)
 *   1007 INVALID_FRAME_PAYLOAD_DATA  a text message that is not UTF-8, detected at the first
 *                        invalid byte, or at the message end for a truncated sequence (§8.1); a
 *                        Close reason that is not UTF-8 (§5.5.1); compressed data that does not
 *                        inflate (RFC 7692 §7.2.2, as wsproto)
 *   1009 MESSAGE_TOO_BIG a frame announcing more than lim->max_frame, or a message exceeding
 *                        lim->max_message (checked at the header when the frame is not
 *                        compressed, else while inflating)
 *   1011 INTERNAL_ERROR  zlib could not allocate its state
 * Once a Close frame was reported, every later byte is consumed and ignored (ev NONE). */
ssize_t mitm_ws_parse(struct mitm_ws_parser *p, const uint8_t *in, size_t len, struct mitm_ws_event *ev);

/* True once the parser reported a Close frame. */
bool mitm_ws_parser_closed(const struct mitm_ws_parser *p);

/* Incremental UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF). *state starts at 0; feed pieces in order; returns false as soon as the bytes seen
 * cannot be the start of valid UTF-8. The text is complete and valid when it returned true for
 * every piece and *state is 0 again. */
bool mitm_ws_utf8_feed(uint32_t *state, const uint8_t *p, size_t n);

/* Whole-buffer form of mitm_ws_utf8_feed. */
bool mitm_ws_utf8_valid(const uint8_t *p, size_t n);

/* ---------------------------------------------------------------- messages */

/* A message being assembled from parser events, with the length of each of its frames' decoded
 * payloads: mitmproxy forwards a message with the frame boundaries it arrived with (unless an
 * addon changed its length). */
struct mitm_ws_assembler {
    uint8_t opcode;          /* TEXT or BINARY once a message is complete */
    struct mitm_buf content; /* the message (capped by the cap given at init) */
    uint64_t *frames;        /* decoded payload length of each frame, in order */
    size_t nframes, cap_frames;
    /* private */
    uint64_t cur;  /* bytes of the frame being received */
    bool complete; /* a message was returned: the next feed starts another */
};

/* cap = most bytes content may hold (0 = no cap: the parser's max_message already bounds it). */
void mitm_ws_assembler_init(struct mitm_ws_assembler *a, size_t cap);
void mitm_ws_assembler_free(struct mitm_ws_assembler *a);

/* Take one parser event (others than DATA and FRAME_END are ignored, so any event may be passed).
 * Returns 1 when the event completed a message: opcode, content and frames describe it until
 * the next call, which starts a new message. Returns 0 otherwise, or -1 if content would exceed
 * the cap (the caller closes with 1009; the assembler then holds a partial message: call
 * mitm_ws_assembler_reset before reusing it). */
int mitm_ws_assembler_feed(struct mitm_ws_assembler *a, const struct mitm_ws_event *ev);

/* Forget the message in progress (keeps the allocations). */
void mitm_ws_assembler_reset(struct mitm_ws_assembler *a);

/* How to cut a message of len bytes into frames (mitmproxy's Fragmentizer): when len equals the
 * sum of the original frame lengths, the same lengths (the last one takes the rest); otherwise
 * frames of MITM_WS_FRAGMENT_SIZE bytes and a last one with the remainder (at most that size,
 * possibly empty). A message always has at least one frame. Text is cut at byte offsets, not
 * characters: a frame may end inside a UTF-8 sequence, which §5.4 allows. */
struct mitm_ws_fragments {
    /* private */
    const uint64_t *frames;
    size_t nframes, i;
    uint64_t len, off;
    bool same, done;
};

/* frames/nframes: the original lengths (borrowed until the iteration ends; NULL/0 = none). */
void mitm_ws_fragments_init(struct mitm_ws_fragments *it, const uint64_t *frames, size_t nframes,
                            uint64_t len);

/* The next frame: bytes [*off, *off + *n) of the message, *fin on the last. Returns false when
 * every frame was given. */
bool mitm_ws_fragments_next(struct mitm_ws_fragments *it, uint64_t *off, uint64_t *n, bool *fin);

/* ---------------------------------------------------------------- frames out */

/* Write a frame header (minimal length encoding, §5.2) into out: returns its size (2 to 14).
 * rsv holds the RSV bits in place (0x40 | 0x20 | 0x10); mask NULL = unmasked (server role). */
size_t mitm_ws_frame_header(uint8_t out[MITM_WS_MAX_HEADER], bool fin, uint8_t rsv, uint8_t opcode,
                            uint64_t len, const uint8_t *mask);

/* Append one whole frame: header and payload, masked with mask when mask is not NULL (client
 * role, §5.3: the caller provides a fresh random key per frame). Does not check the opcode or
 * the control frame rules (see mitm_ws_write_control). Returns 0, or -1 if out's cap was hit
 * (out may then hold a partial frame: the caller drops the buffer). */
int mitm_ws_write_frame(struct mitm_buf *out, bool fin, uint8_t rsv, uint8_t opcode, const uint8_t *payload,
                        size_t len, const uint8_t *mask);

/* A PING, PONG or CLOSE frame. Returns -1 (nothing written) for another opcode or a payload over
 * 125 bytes (§5.5), else as mitm_ws_write_frame. */
int mitm_ws_write_control(struct mitm_buf *out, uint8_t opcode, const uint8_t *payload, size_t len,
                          const uint8_t *mask);

/* A Close frame as wsproto writes one: code 0 or 1005 -> empty payload (the reason is dropped);
 * the local-only codes 1006 and 1015 become 1000; otherwise the 2-byte code and the reason cut to
 * 123 bytes at a UTF-8 character boundary. Returns as mitm_ws_write_frame. */
int mitm_ws_write_close(struct mitm_buf *out, uint16_t code, const char *reason, size_t reason_len,
                        const uint8_t *mask);

/* Sends data messages for one direction, compressing them when permessage-deflate is in use. */
struct mitm_ws_writer {
    /* private */
    bool client; /* frames are masked */
    struct mitm_ws_deflater *def;
    bool in_message;
};

/* client: we write as the client (frames masked). pmd: the negotiated parameters or NULL. */
void mitm_ws_writer_init(struct mitm_ws_writer *w, bool client, const struct mitm_ws_pmd *pmd);
void mitm_ws_writer_free(struct mitm_ws_writer *w);

/* Append one frame of a data message: opcode (TEXT or BINARY) is written on the message's first
 * frame and CONTINUATION on the following ones; fin ends the message. With permessage-deflate the
 * payload is compressed (RSV1 on the first frame, RFC 7692 §6). mask: the frame's masking key,
 * required in the client role, ignored in the server role. Returns 0, or -1 if out's cap was hit
 * or zlib failed (the stream is then unusable: close with 1011). */
int mitm_ws_writer_data(struct mitm_ws_writer *w, struct mitm_buf *out, uint8_t opcode,
                        const uint8_t *payload, size_t len, bool fin, const uint8_t *mask);

#endif
