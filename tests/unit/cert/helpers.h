/* Shared helpers for the cert tests: temporary directories, files, certificates, and a
 * TLS handshake over memory BIOs. */
#ifndef TEST_CERT_HELPERS_H
#define TEST_CERT_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cert/ca.h"
#include "cert/store.h"

/* mkdtemp under /tmp; caller frees the string after th_rmtree. */
char *th_tmpdir(void);
/* rm -r path (bounded: our test trees are small). */
void th_rmtree(const char *path);
/* Permission bits of path, or -1. */
int th_mode(const char *path);
/* Whole file (NUL-terminated), or NULL; *len set. */
uint8_t *th_slurp(const char *path, size_t *len);
void th_spit(const char *path, const void *data, size_t len);
/* path = dir + "/" + name in a static rotating buffer (4 slots). */
const char *th_join(const char *dir, const char *name);

/* A certificate signed by issuer/issuer_key (self-signed when NULL) for key, with the
 * given subject CN/O (NULL: absent) and SAN config string (e.g. "DNS:a.test,IP:1.2.3.4";
 * NULL: none). */
X509 *th_make_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, const char *cn, const char *o,
                   const char *san, int is_ca);
EVP_PKEY *th_ec_key(void);

/* Client (verifying against ca, hostname host or IP literal) <-> server (using entry)
 * handshake over memory BIOs. Returns 1 on success; verify_result gets the client's
 * verification result. The server SSL_CTX gets keylog attached when keylog != 0. */
int th_handshake(X509 *ca, const struct mitm_cert_entry *entry, const char *host, int keylog,
                 long *verify_result);

#endif
