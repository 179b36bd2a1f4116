/* The upstream TLS session cache: sessions (TLS 1.3 tickets, TLS 1.2 tickets or IDs)
 * that servers gave mitmc, so the next connection to the same server resumes instead of
 * running a full handshake (no certificate sent, decoded and verified again: about a
 * quarter of an intercepted connection's CPU, and the server saves its signature).
 *
 * Shared by all workers (a mutex), bounded: a direct-mapped table of slots, each holding
 * the newest few sessions of one key. A key names everything a session was made under:
 * the address connected to, the SNI sent, the name verified and the ALPN offered; a
 * session is only ever
 * stored after a handshake that passed the process's verification settings, which are
 * fixed for its lifetime. A TLS 1.3 session is handed out once (RFC 8446 C.4: a client
 * should not reuse a ticket; every connection brings new ones); a TLS 1.2 session stays
 * until it expires or is displaced, as resuming one does not bring a new one. */
#ifndef MITM_PROTO_TLS_SESSIONS_H
#define MITM_PROTO_TLS_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

struct mitm_tls_sessions;

/* A cache of `slots` keys (rounded up to a power of two, at least 1) holding at most
 * MITM_TLS_SESSIONS_PER_KEY sessions each. */
#define MITM_TLS_SESSIONS_PER_KEY 4
struct mitm_tls_sessions *mitm_tls_sessions_new(size_t slots);
void mitm_tls_sessions_free(struct mitm_tls_sessions *c); /* NULL is a no-op */

/* The key for a connection to host:port sending sni (NULL: none), whose certificate is
 * checked for name (the SNI, or the destination when no SNI can be sent, e.g. an IP;
 * OpenSSL does not check it again on resumption, so the key must hold it), offering the
 * ALPN list alpn/alpn_len (RFC 7301 wire format; empty: none). Written to out (cap bytes,
 * NUL-terminated) with every text field length-prefixed, so no two inputs share a key.
 * Returns false when it does not fit (then nothing is cached). */
bool mitm_tls_sessions_key(char *out, size_t cap, const char *host, uint16_t port, const char *sni,
                           const char *name, const uint8_t *alpn, size_t alpn_len);

/* Keep sess under key (takes the caller's reference). A slot that held another key is
 * emptied first; a full slot drops its oldest session. Sessions that cannot be resumed
 * are freed at once. */
void mitm_tls_sessions_put(struct mitm_tls_sessions *c, const char *key, SSL_SESSION *sess);

/* The newest unexpired, resumable session under key (the caller owns the reference; a
 * TLS 1.3 session is removed from the cache), or NULL. Sessions that expired or that
 * OpenSSL marked not resumable (a connection that ended in an error) are dropped. now: wall-clock seconds, as
 * SSL_SESSION_get_time. */
SSL_SESSION *mitm_tls_sessions_take(struct mitm_tls_sessions *c, const char *key, time_t now);

/* Sessions held (tests and statistics). */
size_t mitm_tls_sessions_count(struct mitm_tls_sessions *c);

#endif
