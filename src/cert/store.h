/* The certificate store: forged leaves cached by name set, plus user certificates from
 * --certs (reference §9.3). One store serves every worker thread; all calls are
 * thread-safe.
 *
 * What a lookup returns: an entry with the leaf X509, its private key and the chain to
 * send after it, ready for SSL_use_certificate/SSL_use_PrivateKey/SSL_set1_chain (see
 * mitm_cert_entry_apply). We return objects, not a per-entry SSL_CTX: the TLS layer owns
 * one SSL_CTX per configuration (versions, ciphers, ALPN callback, keylog), and putting
 * a certificate on an SSL is a few reference-count increments, while an SSL_CTX per host
 * set would cost an allocation-heavy SSL_CTX_new and duplicate that configuration. */
#ifndef MITM_CERT_STORE_H
#define MITM_CERT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "cert/ca.h"
#include "cert/leaf.h"

#define MITM_CERT_CACHE_DEFAULT  1000 /* generated leaves kept (LRU); mitmproxy keeps 100 */
#define MITM_CERT_CUSTOM_MAX     4096 /* names registered by --certs files */
#define MITM_CERT_FILE_MAX       1048576
#define MITM_CERT_FILE_CHAIN_MAX 16

struct mitm_cert_store;
struct mitm_cert_entry;

struct mitm_cert_store_opts {
    size_t capacity;                  /* cached generated leaves; 0 = MITM_CERT_CACHE_DEFAULT */
    enum mitm_leaf_key_type key_type; /* leaf key: EC P-256 (default) or RSA */
    int rsa_bits;                     /* leaf RSA size when key_type is RSA; 0 = 2048 */
};

/* Create a store minting with ca (references are taken: ca may be freed afterwards).
 * opts may be NULL (defaults). Generates the leaf key: call on the main thread.
 * Returns the store or NULL with err set. */
struct mitm_cert_store *mitm_cert_store_new(const struct mitm_ca *ca, const struct mitm_cert_store_opts *opts,
                                            char *err, size_t errlen);

/* Free the store. Entries still held by callers stay valid until released. */
void mitm_cert_store_free(struct mitm_cert_store *st);

/* Register a custom certificate as --certs does: spec is "[domain=]path" (domain
 * defaults to "*", may be a wildcard such as "*.example.com"). The PEM file holds the
 * leaf certificate first, then its chain (at most MITM_CERT_FILE_CHAIN_MAX), and a
 * private key anywhere in it (PKCS#1 or PKCS#8, optionally encrypted with passphrase).
 * Without a key in the file, the CA key is used if the certificate's public key is the
 * CA's (as mitmproxy does); otherwise this is an error. The entry is registered under
 * the domain, the certificate's first CN and each of its DNS/IP SANs (lowercased),
 * replacing earlier registrations of those names. A CA certificate is accepted with a
 * warning in the log (clients will reject it as a leaf).
 * Returns 0, or -1 with err set (unreadable file, no certificate, key missing or not
 * matching the certificate, wrong passphrase, too many names). */
int mitm_cert_store_add_file(struct mitm_cert_store *st, const char *spec, const char *passphrase, char *err,
                             size_t errlen);

/* Find or mint the certificate for names (see mitm_cert_names_build). Order, as
 * mitmproxy's CertStore.get_cert: for names[0] (the CN) and then every name, the custom
 * certificates registered under the name or its wildcard forms (www.a.com, *.a.com,
 * *.com); then a custom certificate registered as "*"; then the cache of generated
 * leaves (key: the names in order plus the organization); else a new leaf is minted
 * (outside the lock) and cached, evicting the least recently used one past capacity.
 * Returns a new reference the caller releases with mitm_cert_entry_release, or NULL
 * with err set (no names, minting failed). */
struct mitm_cert_entry *mitm_cert_store_get(struct mitm_cert_store *st, const struct mitm_cert_names *names,
                                            char *err, size_t errlen);

/* The signer (leaf key, CA) the store mints with. Borrowed. */
const struct mitm_cert_signer *mitm_cert_store_signer(const struct mitm_cert_store *st);

struct mitm_cert_store_stats {
    uint64_t hits;    /* lookups answered from the generated cache */
    uint64_t custom;  /* lookups answered by a --certs certificate */
    uint64_t minted;  /* leaves minted */
    uint64_t evicted; /* leaves dropped from the cache */
    size_t cached;    /* generated leaves in the cache now */
};

void mitm_cert_store_stats(struct mitm_cert_store *st, struct mitm_cert_store_stats *out);

/* Entries are immutable and refcounted; any thread may use and release them. */
struct mitm_cert_entry *mitm_cert_entry_ref(struct mitm_cert_entry *e);
void mitm_cert_entry_release(struct mitm_cert_entry *e); /* NULL is a no-op */

X509 *mitm_cert_entry_cert(const struct mitm_cert_entry *e);             /* borrowed */
EVP_PKEY *mitm_cert_entry_key(const struct mitm_cert_entry *e);          /* borrowed */
STACK_OF(X509) * mitm_cert_entry_chain(const struct mitm_cert_entry *e); /* borrowed; maybe empty */
bool mitm_cert_entry_is_custom(const struct mitm_cert_entry *e);

/* Put the entry's certificate, key and chain on ssl (each with its own reference, so the
 * entry may be released right after). Returns 1, or 0 on an OpenSSL failure. */
int mitm_cert_entry_apply(const struct mitm_cert_entry *e, SSL *ssl);

#endif
