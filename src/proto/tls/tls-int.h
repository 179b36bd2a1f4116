/* Private to src/proto/tls (the configuration and the layer). */
#ifndef MITM_PROTO_TLS_TLS_INT_H
#define MITM_PROTO_TLS_TLS_INT_H

#include <openssl/ssl.h>

/* ALPN selection toward the client (SSL_CTX_set_alpn_select_cb; SSL app data is the TLS
 * layer): the protocol the server chose; NOACK (no ALPN) when the server chose none; with
 * no server handshake, the client's first HTTP/1 protocol. h2 is never selected. */
int mitm_tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                         unsigned int inlen, void *arg);

/* SSL_CTX_sess_set_new_cb of the server-facing context (SSL app data is the layer's
 * server record): a session the server gave us goes to the upstream session cache. */
int mitm_tls_new_session(SSL *ssl, SSL_SESSION *sess);

/* The reason OpenSSL gives for the last failure on this thread (its queue is cleared). */
void mitm_tls_ssl_reason(char *buf, size_t cap, const char *fallback);

struct mitm_conn;
/* TLS facts of a finished handshake on c (flows copy them): version, cipher, ALPN, SNI. */
void mitm_tls_record_facts(struct mitm_conn *c, SSL *ssl, const char *sni);

#endif
