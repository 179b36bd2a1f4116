/* SOCKSv5 server side (RFC 1928) with username/password authentication (RFC 1929). Sans-io:
 * pure functions over the bytes a client sent; nothing here reads a socket or a clock. The
 * socks5 mode layer calls them in order on its receive buffer:
 *
 *   greeting  VER=5 NMETHODS METHODS...       -> method selection  05 M
 *   [auth]    VER=1 ULEN UNAME PLEN PASSWD    -> status            01 00 | 01 01
 *   request   VER=5 CMD RSV ATYP ADDR PORT    -> reply             05 REP 00 01 0.0.0.0 0
 *
 * Each parser looks at buf[0..len) from the start of its message; it may be called again with
 * the grown buffer (the scan restarts; messages are at most a few hundred bytes). Every result
 * is decided from the bytes of the message alone, so any split of the input across calls gives
 * the same result, except where a comment says the log text shows the caller's whole buffer.
 *
 * Log texts (err) are mitmproxy's (proxy/layers/modes.py Socks5Proxy) where mitmproxy has one,
 * so `mitmc dump` prints the same lines; texts for checks mitmproxy does not make are ours.
 * err is NUL-terminated and truncated to errlen (MITM_SOCKS5_ERR_LEN is always enough except
 * for the Python-style repr of a long buffer, which is then cut). err may be NULL. */
#ifndef MITM_PROTO_SOCKS5_SOCKS5_H
#define MITM_PROTO_SOCKS5_SOCKS5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/slice.h"

#define MITM_SOCKS5_VERSION      0x05
#define MITM_SOCKS5_AUTH_VERSION 0x01 /* RFC 1929 §2: version of the sub-negotiation */

/* RFC 1928 §3 methods (the ones we speak; others are ignored in a greeting). */
#define MITM_SOCKS5_METHOD_NO_AUTH       0x00
#define MITM_SOCKS5_METHOD_USERPASS      0x02
#define MITM_SOCKS5_METHOD_NO_ACCEPTABLE 0xff

/* RFC 1928 §4 commands. */
#define MITM_SOCKS5_CMD_CONNECT       0x01
#define MITM_SOCKS5_CMD_BIND          0x02
#define MITM_SOCKS5_CMD_UDP_ASSOCIATE 0x03

/* RFC 1928 §4 address types. */
#define MITM_SOCKS5_ATYP_IPV4   0x01
#define MITM_SOCKS5_ATYP_DOMAIN 0x03
#define MITM_SOCKS5_ATYP_IPV6   0x04

/* RFC 1928 §6 reply codes. */
enum mitm_socks5_rep {
    MITM_SOCKS5_REP_SUCCEEDED = 0x00,
    MITM_SOCKS5_REP_GENERAL_FAILURE = 0x01,
    MITM_SOCKS5_REP_NOT_ALLOWED = 0x02, /* connection not allowed by ruleset */
    MITM_SOCKS5_REP_NETWORK_UNREACHABLE = 0x03,
    MITM_SOCKS5_REP_HOST_UNREACHABLE = 0x04, /* what mitmproxy sends when the upstream connect fails */
    MITM_SOCKS5_REP_CONNECTION_REFUSED = 0x05,
    MITM_SOCKS5_REP_TTL_EXPIRED = 0x06,
    MITM_SOCKS5_REP_COMMAND_NOT_SUPPORTED = 0x07,
    MITM_SOCKS5_REP_ADDRESS_TYPE_NOT_SUPPORTED = 0x08,
};

/* Largest messages a client can send (RFC 1928 §3/§4, RFC 1929 §2): a handshake never needs
 * more buffered than their sum, so the mode layer caps its buffer there. */
#define MITM_SOCKS5_GREETING_MAX (2 + 255)
#define MITM_SOCKS5_AUTH_MAX     (3 + 255 + 255)
#define MITM_SOCKS5_REQUEST_MAX  (4 + 1 + 255 + 2)
#define MITM_SOCKS5_REPLY_LEN    10 /* 05 REP 00 01 + 4 address bytes + 2 port bytes */

/* An err buffer of this size holds every message except a long buffer repr (cut to fit). */
#define MITM_SOCKS5_ERR_LEN 512

/* mitmproxy's log line when a username/password is refused (the caller has sent 01 01). */
#define MITM_SOCKS5_AUTH_FAILED_MSG "authentication failed"

struct mitm_socks5_greeting {
    uint8_t nmethods;
    const uint8_t *methods; /* view into buf: the nmethods method bytes offered */
    uint8_t method;         /* chosen: NO_AUTH, USERPASS, or NO_ACCEPTABLE */
};

/* Parse the client's greeting (RFC 1928 §3) and choose a method: USERPASS when auth_required
 * (mitmproxy's proxyauth option is set), else NO_AUTH; NO_ACCEPTABLE when the client did not
 * offer that one method (mitmproxy offers no fallback either way).
 *
 * Returns the bytes consumed (2 + NMETHODS) with *g filled (g->methods points into buf); when
 * g->method is NO_ACCEPTABLE, err holds mitmproxy's line ("Client does not support SOCKS5 with
 * user/password authentication." or "... with no authentication.") and the caller sends
 * mitm_socks5_write_method(NO_ACCEPTABLE) and closes (RFC 1928 §3: the client must close).
 * MITM_INCOMPLETE while the greeting is not complete.
 * MITM_PARSE_ERROR when VER is not 5: err = mitm_socks5_guess_text() of the first bytes +
 * "Invalid SOCKS version. Expected 0x05, got 0x%x" (mitmproxy's wording); the caller sends
 * nothing and closes. A first byte other than 5 is judged once 3 bytes are in (mitmproxy judges
 * at 2), so the guess always sees the same 3 bytes whatever the split; a shorter non-SOCKS input
 * stays MITM_INCOMPLETE until the caller sees the close (mitm_socks5_eof_text). */
ssize_t mitm_socks5_parse_greeting(const uint8_t *buf, size_t len, bool auth_required,
                                   struct mitm_socks5_greeting *g, char *err, size_t errlen);

struct mitm_socks5_auth {
    struct mitm_slice username; /* view into buf, 0..255 bytes, any bytes (not NUL-terminated) */
    struct mitm_slice password; /* view into buf, 0..255 bytes, any bytes */
};

/* Parse the RFC 1929 §2 username/password request (sent after the server chose USERPASS).
 * Returns the bytes consumed (3 + ULEN + PLEN) with *a filled (views into buf; the caller copies
 * them before consuming: mitmproxy decodes them as UTF-8 with backslashreplace for socks5_auth);
 * MITM_INCOMPLETE; or MITM_PARSE_ERROR when VER is not 1, with err "Invalid SOCKS5
 * username/password version. Expected 0x01, got 0x%x" (our check: mitmproxy reads any VER);
 * the caller then answers mitm_socks5_write_auth_reply(false) and closes. Empty usernames and
 * passwords are accepted: whether they are valid is the socks5_auth hook's decision. */
ssize_t mitm_socks5_parse_auth(const uint8_t *buf, size_t len, struct mitm_socks5_auth *a, char *err,
                               size_t errlen);

struct mitm_socks5_request {
    uint8_t cmd;    /* CONNECT, BIND, UDP_ASSOCIATE or any other value the client sent */
    uint8_t atyp;   /* IPV4, DOMAIN or IPV6 (0 until a valid one arrived) */
    char host[256]; /* NUL-terminated: dotted IPv4, IPv6 text without brackets (inet_ntop form,
                       "::ffff:1.2.3.4" for a mapped address, as mitmproxy shows it), or the domain
                       name exactly as sent */
    uint16_t port;  /* DST.PORT in host order (0 is passed on: connecting to it fails) */
};

/* Parse the client's request (RFC 1928 §4). Only CONNECT is accepted (mitmproxy has no BIND or
 * UDP ASSOCIATE). Returns the bytes consumed (the request only: application data the client
 * sent after it stays in the caller's buffer for the next layer) with *r filled; the caller
 * connects and answers mitm_socks5_write_reply(SUCCEEDED or HOST_UNREACHABLE).
 * MITM_INCOMPLETE while more bytes are needed. MITM_PARSE_ERROR with *rep set to the reply code
 * to send before closing (mitm_socks5_write_reply(*rep)) and err set, checked in this order as
 * each field arrives:
 *   VER not 5, CMD not CONNECT (r->cmd holds the command, set whenever VER was 5: BIND and UDP
 *   ASSOCIATE are reported this way), RSV not 0 -> 0x07 command not supported, err "Unsupported SOCKS5
 * request: %r" (mitmproxy's check and wording; %r is Python's repr of the caller's whole buffer); ATYP not 1,
 * 3 or 4 -> 0x08 address type not supported, err "Unknown address type: %u"; a domain name that is empty or
 * holds a byte outside 0x21..0x7e (NUL, controls, space, non-ASCII: no resolver takes them and they would
 * reach logs and flows) -> 0x04 host unreachable (what mitmproxy answers when connecting to it fails), err
 * "Invalid domain name in SOCKS5 request: %r" (repr of the name; our check: mitmproxy tries to connect). */
ssize_t mitm_socks5_parse_request(const uint8_t *buf, size_t len, struct mitm_socks5_request *r, uint8_t *rep,
                                  char *err, size_t errlen);

/* What bytes that are not SOCKS5 probably are, from their first (up to 3) bytes. */
enum mitm_socks5_guess {
    MITM_SOCKS5_GUESS_NONE,   /* no idea */
    MITM_SOCKS5_GUESS_SOCKS4, /* 04 01|02: a SOCKS4/4a request (client configured for socks4) */
    MITM_SOCKS5_GUESS_TLS,    /* 16 03 00..03: a TLS handshake (client thinks we are the server) */
    MITM_SOCKS5_GUESS_HTTP,   /* mitmproxy's test: the first 3 bytes hold an upper-case ASCII letter and
                                 no lower-case one (Python's bytes.isupper): "GET", "CONNECT", "PRI" */
};

/* Classify buf[0..min(len, 3)). SOCKS4 and TLS are tested first (a SOCKS4 port may look like
 * upper case). Pure; any len. */
enum mitm_socks5_guess mitm_socks5_guess(const uint8_t *buf, size_t len);

/* The log prefix for a guess, ending in ". " (so it is prepended to the reason), or "" for NONE.
 * HTTP is mitmproxy's text ("Probably not a SOCKS request but a regular HTTP request. "); the
 * SOCKS4 and TLS texts are ours in the same style. Static. */
const char *mitm_socks5_guess_text(enum mitm_socks5_guess g);

/* mitmproxy's line when the client closes mid-handshake with bytes pending: "Client closed
 * connection before completing SOCKS5 handshake: %r" (repr of buf[0..len)). With len == 0
 * mitmproxy logs nothing: err is set to "" then. */
void mitm_socks5_eof_text(const uint8_t *buf, size_t len, char *err, size_t errlen);

/* Append Python's repr() of bytes to out: b'...' with \\, \t, \n, \r, \xNN for bytes outside
 * 0x20..0x7e, and the quote rule of CPython (double quotes when the data holds ' but no ").
 * Used for mitmproxy's "%r" log texts. Returns 0, or -1 if out's cap refused it. */
int mitm_socks5_repr(struct mitm_buf *out, const uint8_t *p, size_t n);

/* Serialisers: append one message to out. Return 0, or -1 if out's cap refused it. */
/* Method selection (RFC 1928 §3): 05 method. For NO_ACCEPTABLE this is the RFC's 2 bytes
 * (mitmproxy sends its 10-byte request reply there; clients read 2 bytes and close either way). */
int mitm_socks5_write_method(struct mitm_buf *out, uint8_t method);
/* RFC 1929 §2 status: 01 00 (success) or 01 01 (failure: the caller then closes). */
int mitm_socks5_write_auth_reply(struct mitm_buf *out, bool ok);
/* Reply (RFC 1928 §6): 05 rep 00 01 00 00 00 00 00 00. BND.ADDR/BND.PORT are 0.0.0.0:0 as
 * mitmproxy sends them: a CONNECT client does not use them, and the proxy's own address is
 * not worth revealing. */
int mitm_socks5_write_reply(struct mitm_buf *out, uint8_t rep);

/* Format host and port as an authority: "[v6]:port" when host holds a ':' (an IPv6 literal
 * without brackets, as requests and mitm_orig_dst give them), else "host:port". Returns what
 * snprintf returns (the length it needed; out is truncated to outlen, NUL-terminated). */
int mitm_socks5_hostport(char *out, size_t outlen, const char *host, uint16_t port);

#endif
