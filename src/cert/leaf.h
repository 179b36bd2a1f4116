/* Leaf ("dummy") certificates: which names a forged certificate carries, and minting it
 * (reference §9.3).
 *
 * One deliberate difference from mitmproxy: the leaf key is not the CA key. A signer
 * holds one leaf key for the whole process, generated once when the signer is created
 * (on the main thread, at startup): ECDSA P-256 by default, which makes every client
 * handshake cheap, or RSA of a chosen size on request. Minting never generates a key,
 * so it is cheap enough to run on a worker thread: one CA signature per new host set. */
#ifndef MITM_CERT_LEAF_H
#define MITM_CERT_LEAF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cert/ca.h"

#define MITM_CERT_NAMES_MAX  1024 /* names kept per certificate; CDN certs carry a few hundred */
#define MITM_CERT_NAME_MAX   253  /* RFC 1035 §2.3.4: longest DNS name in text form */
#define MITM_CERT_ORG_MAX    256  /* bytes of the organization name we copy */
#define MITM_CERT_CN_MAX     63   /* RFC 5280 ub-common-name is 64; mitmproxy keeps CN < 64 */
#define MITM_CERT_BACKDATE   (2 * 86400)
#define MITM_CERT_VALID_DAYS 197 /* now+197d: 199 days in total with the backdate (Chrome's limit) */

struct mitm_cert_name {
    char *value; /* owned, NUL-terminated: a lowercased DNS name, or a canonical IP text */
    bool ip;     /* true: becomes an iPAddress SAN; false: a dNSName SAN */
};

/* The names a leaf is minted for, in order, deduplicated. names[0] is the CN. */
struct mitm_cert_names {
    size_t count;
    struct mitm_cert_name *v; /* owned array of count names */
    char *organization;       /* owned UTF-8, or NULL: subject O */
    char *crl_origin;         /* owned "scheme://host[:port]" of the upstream's first CRL
                                 distribution point, or NULL: the leaf gets a magic CRL URL */
    bool truncated;           /* more than MITM_CERT_NAMES_MAX names were offered */
};

/* Build the name list as mitmproxy's tlsconfig.get_cert does:
 *   1. from upstream (the server's leaf cert, may be NULL): its first subject CN, then
 *      every DNS and IP subjectAltName, in order; its subject O becomes organization;
 *      the scheme and host of its first CRL distribution point URI become crl_origin;
 *   2. the client's SNI, or when there is none, local_ip (the proxy's own address the
 *      client connected to: a client that addresses the proxy by IP sees that IP);
 *   3. address, the destination host (CONNECT target, transparent destination).
 * sni, local_ip and address may be NULL or "". An IPv4/IPv6 literal (brackets allowed)
 * becomes an IP name in canonical text form; anything else a DNS name, ASCII-lowercased.
 * Duplicates are dropped (first one kept). Rejected silently, because they cannot be a
 * valid SAN: empty names, names longer than MITM_CERT_NAME_MAX, names with bytes outside
 * 0x21..0x7e (e.g. a CN that is a display name with spaces), and non-DNS/IP SAN types.
 * *out is overwritten (not freed first); release it with mitm_cert_names_free.
 * Returns the number of names (0 if nothing usable was given). */
size_t mitm_cert_names_build(struct mitm_cert_names *out, X509 *upstream, const char *sni,
                             const char *local_ip, const char *address);

/* Append one name with the rules above. Returns 1 if added, 0 if a duplicate, rejected
 * or over the cap. */
int mitm_cert_names_add(struct mitm_cert_names *n, const char *name, size_t len);

/* Free the names and zero *n. Safe on a zeroed struct. */
void mitm_cert_names_free(struct mitm_cert_names *n);

enum mitm_leaf_key_type {
    MITM_LEAF_KEY_EC_P256 = 0, /* default */
    MITM_LEAF_KEY_RSA,
};

struct mitm_cert_signer;

/* Create a signer for ca: takes its own references to the CA cert and key (the CA may
 * be freed afterwards), generates the process's leaf key (rsa_bits 1024..16384 when
 * type is RSA; ignored for EC). Slow for RSA: call it on the main thread at startup.
 * Returns the signer, or NULL with err set. */
struct mitm_cert_signer *mitm_cert_signer_new(const struct mitm_ca *ca, enum mitm_leaf_key_type type,
                                              int rsa_bits, char *err, size_t errlen);

void mitm_cert_signer_free(struct mitm_cert_signer *s);

/* The leaf private key (borrowed; shared by every minted leaf). */
EVP_PKEY *mitm_cert_signer_key(const struct mitm_cert_signer *s);

/* The CA certificate and CA chain the signer signs with (borrowed). */
X509 *mitm_cert_signer_ca(const struct mitm_cert_signer *s);
EVP_PKEY *mitm_cert_signer_ca_key(const struct mitm_cert_signer *s);
STACK_OF(X509) * mitm_cert_signer_ca_chain(const struct mitm_cert_signer *s);

/* The magic CRL (mitmproxy's): a leaf minted for an upstream certificate that names a CRL
 * distribution point gets one at the same origin with this path, "/mitmproxy-<CA serial
 * in decimal>.crl"; a request whose path ends with it is answered with
 * mitm_cert_signer_crl_der() instead of going upstream (clients such as Windows
 * Schannel refuse a certificate whose CRL they cannot fetch). Borrowed string. */
const char *mitm_cert_signer_crl_path(const struct mitm_cert_signer *s);

/* An empty CRL signed by the CA (SHA-256): issuer = the CA's subject, thisUpdate =
 * now - 2 days, nextUpdate = thisUpdate + 7 days, CRLNumber 1000, as mitmproxy's. DER
 * bytes the caller frees with free(), length in *len; NULL with err set on failure.
 * Thread-safe. */
uint8_t *mitm_cert_signer_crl_der(const struct mitm_cert_signer *s, time_t now, size_t *len, char *err,
                                  size_t errlen);

/* Mint a leaf for names: issuer = CA subject, random 159-bit serial, now-2d .. now+197d,
 * subject "CN=<names[0]>" when shorter than 64 chars, plus "O=<organization>" if set;
 * extensions: EKU serverAuth, SAN (critical when the subject is empty, RFC 5280
 * §4.2.1.6), AKI = the CA key id, and with names->crl_origin a CRL distribution point
 * "<crl_origin><crl path>" (mitmproxy's order); no SKI (Windows Schannel picks the wrong chain with
 * one), no KeyUsage, no BasicConstraints; signed SHA-256. Thread-safe (the signer is
 * read-only). Returns a new X509 the caller frees, or NULL with err set (no names,
 * OpenSSL failure). */
X509 *mitm_cert_mint(const struct mitm_cert_signer *s, const struct mitm_cert_names *names, char *err,
                     size_t errlen);

#endif
