/* TLS ClientHello parser (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) over raw record bytes.
 *
 * The proxy peeks at the first flight of a client connection before any TLS library
 * sees it: the next-layer decision needs to know "is this TLS?", and the TLS layer needs
 * the SNI and ALPN offers to open the upstream connection (certificate sniffing) before
 * it answers the client. This parser is pure: no allocation survives a non-complete
 * result, no global state, safe to call from any thread. */
#ifndef MITM_PROTO_TLS_CLIENTHELLO_H
#define MITM_PROTO_TLS_CLIENTHELLO_H

#include <stdbool.h>

#include "base/slice.h"

/* Caps. A ClientHello larger than this is rejected (a post-quantum hybrid key share
 * makes them ~1.8 KB; 64 KiB leaves room for any real client). */
#define MITM_TLS_CLIENTHELLO_MAX 65536
#define MITM_TLS_RECORD_MAX                                                                                  \
    (16384 + 2048)            /* RFC 8446 §5.2: TLSCiphertext cap; we accept                                \
                               * plaintext fragments up to that too */
#define MITM_TLS_SNI_MAX  255 /* RFC 1035 §2.3.4 name length, plus a dot */
#define MITM_TLS_ALPN_MAX 64  /* protocols kept from the ALPN list */

/* Extension code points we look at (IANA TLS ExtensionType registry). */
#define MITM_TLS_EXT_SERVER_NAME        0
#define MITM_TLS_EXT_ALPN               16
#define MITM_TLS_EXT_SUPPORTED_VERSIONS 43

struct mitm_clienthello {
    uint16_t record_version; /* version field of the first record header (0x0301 in practice) */
    uint16_t legacy_version; /* ClientHello.legacy_version (0x0303 for TLS 1.2 and 1.3) */
    uint8_t random[32];
    uint8_t session_id_len;
    uint8_t session_id[32];

    char *sni; /* server_name host_name, NUL-terminated; NULL if the client sent none */

    /* ALPN offers in the client's order. alpn[i] points into alpn_raw (owned); the bytes
     * are not NUL-terminated (a protocol name is an opaque byte string). */
    size_t alpn_count;
    struct mitm_slice alpn[MITM_TLS_ALPN_MAX];
    uint8_t *alpn_raw;

    uint16_t *cipher_suites; /* owned, in the client's order */
    size_t cipher_suite_count;
    uint16_t *extensions; /* owned: extension types in wire order */
    size_t extension_count;
    uint16_t *supported_versions; /* owned: from extension 43; none if absent */
    size_t supported_version_count;

    size_t hello_len; /* length of the ClientHello handshake body (without its 4-byte header) */

    const char *error; /* static reason when the parser returned MITM_PARSE_ERROR, else NULL */
};

/* Does buf start like a TLS handshake record, as mitmproxy's next_layer decides it:
 * content type 22 (handshake), record version major 3, minor 0..3 (RFC 8446 §5.1).
 * Returns false when fewer than 3 bytes are available; callers that must tell "not TLS"
 * from "too early to say" wait for 3 bytes first. */
bool mitm_tls_is_clienthello_start(const uint8_t *buf, size_t len);

/* Parse a ClientHello from the start of a client byte stream. buf holds TLS records
 * (content type 22), the ClientHello possibly fragmented over several of them.
 * Returns:
 *   > 0               complete: the number of bytes of the records that carry the
 *                     ClientHello (up to the end of the record holding its last byte);
 *                     *out is filled and owns memory: release it with
 *                     mitm_tls_clienthello_free.
 *   MITM_INCOMPLETE   more bytes needed; *out is zeroed, owns nothing.
 *   MITM_PARSE_ERROR  not a valid ClientHello; *out is zeroed except out->error, a
 *                     static string naming the reason.
 * Rejects: non-handshake records before the hello ends, record versions other than
 * 3.x, empty or oversized records, a first handshake message that is not client_hello,
 * a hello above MITM_TLS_CLIENTHELLO_MAX, any length field that overruns its container,
 * duplicate extensions (RFC 8446 §4.2), an SNI host_name that is empty, longer than
 * MITM_TLS_SNI_MAX or holds a byte outside 0x21..0x7e, two host_names (RFC 6066 §3), an
 * empty ALPN protocol (RFC 7301 §3.1), more than MITM_TLS_ALPN_MAX ALPN protocols. */
ssize_t mitm_tls_parse_clienthello(const uint8_t *buf, size_t len, struct mitm_clienthello *out);

/* Release what a complete parse allocated, and zero *ch. Safe on a zeroed struct. */
void mitm_tls_clienthello_free(struct mitm_clienthello *ch);

/* Is protocol name (len bytes) among the ALPN offers? */
bool mitm_tls_clienthello_has_alpn(const struct mitm_clienthello *ch, const char *proto, size_t len);

#endif
