#include "cert/leaf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/alloc.h"
#include "cert/util.h"

/* ---- names ---- */

/* Canonical text of an IP literal ("[::1]" and "::0001" -> "::1"), or 0 if not one. */
static int canonical_ip(const char *s, size_t len, char *out, size_t outlen)
{
    char tmp[INET6_ADDRSTRLEN + 2];
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(tmp))
        return 0;
    memcpy(tmp, s, len);
    tmp[len] = 0;
    unsigned char bin[16];
    if (inet_pton(AF_INET, tmp, bin) == 1)
        return inet_ntop(AF_INET, bin, out, (socklen_t)outlen) != NULL;
    if (inet_pton(AF_INET6, tmp, bin) == 1)
        return inet_ntop(AF_INET6, bin, out, (socklen_t)outlen) != NULL;
    return 0;
}

static int push(struct mitm_cert_names *n, const char *value, bool ip)
{
    for (size_t i = 0; i < n->count; i++) {
        if (n->v[i].ip == ip && strcmp(n->v[i].value, value) == 0)
            return 0;
    }
    if (n->count == MITM_CERT_NAMES_MAX) {
        n->truncated = true;
        return 0;
    }
    if ((n->count & (n->count - 1)) == 0) /* grow at powers of two */
        n->v = mitm_realloc(n->v, (n->count ? n->count * 2 : 4) * sizeof(*n->v));
    n->v[n->count].value = mitm_strdup(value);
    n->v[n->count].ip = ip;
    n->count++;
    return 1;
}

int mitm_cert_names_add(struct mitm_cert_names *n, const char *name, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    if (!name || len == 0 || len > MITM_CERT_NAME_MAX)
        return 0;
    if (canonical_ip(name, len, ip, sizeof(ip)))
        return push(n, ip, true);
    char dns[MITM_CERT_NAME_MAX + 1];
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x21 || c > 0x7e)
            return 0;
        dns[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    dns[len] = 0;
    return push(n, dns, false);
}

static void add_cstr(struct mitm_cert_names *n, const char *s)
{
    if (s && *s)
        mitm_cert_names_add(n, s, strnlen(s, MITM_CERT_NAME_MAX + 1));
}

/* First entry of nid in the subject as UTF-8 (malloc'd by OpenSSL), or NULL. */
static char *subject_entry(X509 *x, int nid, int *len)
{
    X509_NAME *name = X509_get_subject_name(x);
    int idx = X509_NAME_get_index_by_NID(name, nid, -1);
    if (idx < 0)
        return NULL;
    unsigned char *utf8 = NULL;
    *len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
    if (*len < 0) {
        ERR_clear_error();
        return NULL;
    }
    return (char *)utf8;
}

/* "scheme://host[:port]" of an absolute URI (scheme lowercased, as Python's urlsplit),
 * or NULL when it has no host or holds anything but printable ASCII. */
static char *uri_origin(const unsigned char *u, size_t len)
{
    size_t i = 0;
    while (i < len && (isalnum(u[i]) || (i > 0 && (u[i] == '+' || u[i] == '-' || u[i] == '.'))))
        i++;
    if (i == 0 || i > 32 || len - i < 3 || memcmp(u + i, "://", 3) != 0 || !isalpha(u[0]))
        return NULL;
    size_t host = i + 3, end = host;
    while (end < len && u[end] != '/' && u[end] != '?' && u[end] != '#') {
        if (u[end] < 0x21 || u[end] > 0x7e)
            return NULL;
        end++;
    }
    if (end == host || end - host > MITM_CERT_NAME_MAX + 6)
        return NULL;
    for (size_t k = end; k < len; k++)
        if (u[k] < 0x21 || u[k] > 0x7e)
            return NULL;
    char *o = mitm_strndup((const char *)u, end);
    for (size_t k = 0; k < i; k++)
        o[k] = (char)tolower((unsigned char)o[k]);
    return o;
}

/* The origin of the first CRL distribution point whose first full name is a URI
 * (mitmproxy's Cert.crl_distribution_points[0]), or NULL. */
static char *crl_origin(X509 *up)
{
    CRL_DIST_POINTS *dps = X509_get_ext_d2i(up, NID_crl_distribution_points, NULL, NULL);
    char *origin = NULL;
    for (int i = 0; i < sk_DIST_POINT_num(dps); i++) {
        const DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
        if (!dp->distpoint || dp->distpoint->type != 0 ||
            sk_GENERAL_NAME_num(dp->distpoint->name.fullname) < 1)
            continue;
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0);
        if (g->type != GEN_URI)
            continue;
        const ASN1_STRING *uri = g->d.uniformResourceIdentifier;
        origin = uri_origin(ASN1_STRING_get0_data(uri), (size_t)ASN1_STRING_length(uri));
        break;
    }
    CRL_DIST_POINTS_free(dps);
    return origin;
}

static void add_upstream(struct mitm_cert_names *n, X509 *up)
{
    int len;
    char *cn = subject_entry(up, NID_commonName, &len);
    if (cn)
        mitm_cert_names_add(n, cn, (size_t)len);
    OPENSSL_free(cn);

    GENERAL_NAMES *sans = X509_get_ext_d2i(up, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        int type;
        const ASN1_STRING *s = GENERAL_NAME_get0_value(g, &type);
        if (type == GEN_DNS) {
            mitm_cert_names_add(n, (const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
        } else if (type == GEN_IPADD) {
            char ip[INET6_ADDRSTRLEN];
            int l = ASN1_STRING_length(s);
            int af = l == 4 ? AF_INET : l == 16 ? AF_INET6 : 0;
            if (af && inet_ntop(af, ASN1_STRING_get0_data(s), ip, sizeof(ip)))
                push(n, ip, true);
        }
    }
    GENERAL_NAMES_free(sans);

    char *org = subject_entry(up, NID_organizationName, &len);
    if (org && len > 0 && len <= MITM_CERT_ORG_MAX && memchr(org, 0, (size_t)len) == NULL)
        n->organization = mitm_strndup(org, (size_t)len);
    OPENSSL_free(org);
    n->crl_origin = crl_origin(up);
    ERR_clear_error();
}

size_t mitm_cert_names_build(struct mitm_cert_names *out, X509 *upstream, const char *sni,
                             const char *local_ip, const char *address)
{
    memset(out, 0, sizeof(*out));
    if (upstream)
        add_upstream(out, upstream);
    if (sni && *sni)
        add_cstr(out, sni);
    else
        add_cstr(out, local_ip);
    add_cstr(out, address);
    return out->count;
}

void mitm_cert_names_free(struct mitm_cert_names *n)
{
    for (size_t i = 0; i < n->count; i++)
        free(n->v[i].value);
    free(n->v);
    free(n->organization);
    free(n->crl_origin);
    memset(n, 0, sizeof(*n));
}

/* ---- signer ---- */

struct mitm_cert_signer {
    X509 *ca;
    EVP_PKEY *ca_key;
    STACK_OF(X509) * ca_chain;
    EVP_PKEY *leaf_key;
    /* Built once, copied into every leaf: the extensions that never change. */
    X509_EXTENSION *eku;
    X509_EXTENSION *aki;
    char crl_path[80]; /* "/mitmproxy-<CA serial>.crl" */
};

static X509_EXTENSION *make_aki(const unsigned char *id, size_t len)
{
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    X509_EXTENSION *ext = NULL;
    if (akid && (akid->keyid = ASN1_OCTET_STRING_new()) && ASN1_OCTET_STRING_set(akid->keyid, id, (int)len))
        ext = X509V3_EXT_i2d(NID_authority_key_identifier, 0, akid);
    AUTHORITY_KEYID_free(akid);
    return ext;
}

struct mitm_cert_signer *mitm_cert_signer_new(const struct mitm_ca *ca, enum mitm_leaf_key_type type,
                                              int rsa_bits, char *err, size_t errlen)
{
    struct mitm_cert_signer *s = mitm_calloc(1, sizeof(*s));
    s->ca = mitm_ca_cert(ca);
    s->ca_key = mitm_ca_key(ca);
    X509_up_ref(s->ca);
    EVP_PKEY_up_ref(s->ca_key);
    s->ca_chain = X509_chain_up_ref(mitm_ca_chain(ca));
    if (type == MITM_LEAF_KEY_RSA) {
        if (rsa_bits < 1024 || rsa_bits > 16384) {
            mitm_cert_err(err, errlen, "leaf RSA key size %d out of range (1024..16384)", rsa_bits);
            goto Fail;
        }
        s->leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
    } else {
        s->leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    }
    if (!s->leaf_key) {
        mitm_cert_err(err, errlen, "cannot generate the leaf key");
        goto Fail;
    }
    size_t idlen;
    const unsigned char *id = mitm_ca_key_id(ca, &idlen);
    s->aki = make_aki(id, idlen);
    s->eku = X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage, "serverAuth");
    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(s->ca), NULL);
    char *dec = serial ? BN_bn2dec(serial) : NULL;
    if (dec) /* a 20-byte serial has at most 49 digits */
        snprintf(s->crl_path, sizeof(s->crl_path), "/mitmproxy-%s.crl", dec);
    OPENSSL_free(dec);
    BN_free(serial);
    if (!s->ca_chain || !s->aki || !s->eku || !s->crl_path[0]) {
        mitm_cert_err(err, errlen, "cannot prepare leaf extensions");
        goto Fail;
    }
    return s;
Fail:
    mitm_cert_signer_free(s);
    return NULL;
}

void mitm_cert_signer_free(struct mitm_cert_signer *s)
{
    if (!s)
        return;
    X509_free(s->ca);
    EVP_PKEY_free(s->ca_key);
    sk_X509_pop_free(s->ca_chain, X509_free);
    EVP_PKEY_free(s->leaf_key);
    X509_EXTENSION_free(s->eku);
    X509_EXTENSION_free(s->aki);
    free(s);
}

EVP_PKEY *mitm_cert_signer_key(const struct mitm_cert_signer *s)
{
    return s->leaf_key;
}

X509 *mitm_cert_signer_ca(const struct mitm_cert_signer *s)
{
    return s->ca;
}

EVP_PKEY *mitm_cert_signer_ca_key(const struct mitm_cert_signer *s)
{
    return s->ca_key;
}

STACK_OF(X509) * mitm_cert_signer_ca_chain(const struct mitm_cert_signer *s)
{
    return s->ca_chain;
}

const char *mitm_cert_signer_crl_path(const struct mitm_cert_signer *s)
{
    return s->crl_path;
}

uint8_t *mitm_cert_signer_crl_der(const struct mitm_cert_signer *s, time_t now, size_t *len, char *err,
                                  size_t errlen)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *last = ASN1_TIME_adj(NULL, now, -2, 0), *next = ASN1_TIME_adj(NULL, now, 5, 0);
    ASN1_INTEGER *number = ASN1_INTEGER_new();
    unsigned char *der = NULL;
    int n = -1;
    if (crl && last && next && number && X509_CRL_set_version(crl, X509_CRL_VERSION_2) &&
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(s->ca)) && X509_CRL_set1_lastUpdate(crl, last) &&
        X509_CRL_set1_nextUpdate(crl, next) && ASN1_INTEGER_set(number, 1000) &&
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, X509V3_ADD_DEFAULT) == 1 &&
        X509_CRL_sign(crl, s->ca_key, EVP_sha256()) > 0)
        n = i2d_X509_CRL(crl, &der);
    X509_CRL_free(crl);
    ASN1_TIME_free(last);
    ASN1_TIME_free(next);
    ASN1_INTEGER_free(number);
    if (n <= 0) {
        OPENSSL_free(der);
        return mitm_cert_err(err, errlen, "cannot sign the CRL");
    }
    uint8_t *out = mitm_alloc((size_t)n);
    memcpy(out, der, (size_t)n);
    OPENSSL_free(der);
    *len = (size_t)n;
    return out;
}

/* ---- minting ---- */

/* CRLDistributionPoints: one point, one URI (mitmproxy's magic CRL). */
static int add_crl_dp(X509 *x, const char *url)
{
    CRL_DIST_POINTS *dps = sk_DIST_POINT_new_null();
    DIST_POINT *dp = DIST_POINT_new();
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *uri = ASN1_IA5STRING_new();
    int ok = dps && dp && g && uri && ASN1_STRING_set(uri, url, -1) &&
             (dp->distpoint = DIST_POINT_NAME_new()) != NULL &&
             (dp->distpoint->name.fullname = GENERAL_NAMES_new()) != NULL;
    if (ok) {
        dp->distpoint->type = 0;
        GENERAL_NAME_set0_value(g, GEN_URI, uri);
        uri = NULL;
        ok = sk_GENERAL_NAME_push(dp->distpoint->name.fullname, g) > 0;
        if (ok)
            g = NULL;
    }
    if (ok) {
        ok = sk_DIST_POINT_push(dps, dp) > 0;
        if (ok)
            dp = NULL;
    }
    ok = ok && X509_add1_ext_i2d(x, NID_crl_distribution_points, dps, 0, X509V3_ADD_DEFAULT) == 1;
    ASN1_IA5STRING_free(uri);
    GENERAL_NAME_free(g);
    DIST_POINT_free(dp);
    CRL_DIST_POINTS_free(dps);
    return ok;
}

static int add_san(X509 *x, const struct mitm_cert_names *names, int critical)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_reserve(NULL, (int)names->count);
    int ok = gens != NULL;
    for (size_t i = 0; ok && i < names->count; i++) {
        const struct mitm_cert_name *nm = &names->v[i];
        GENERAL_NAME *g = nm->ip ? a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_IPADD, nm->value, 0)
                                 : a2i_GENERAL_NAME(NULL, NULL, NULL, GEN_DNS, nm->value, 0);
        ok = g && sk_GENERAL_NAME_push(gens, g);
        if (!ok)
            GENERAL_NAME_free(g);
    }
    ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, critical, X509V3_ADD_DEFAULT) == 1;
    GENERAL_NAMES_free(gens);
    return ok;
}

static int set_subject(X509 *x, const struct mitm_cert_names *names, int *has_cn)
{
    X509_NAME *subj = X509_NAME_new();
    const char *cn = names->v[0].value;
    *has_cn = strlen(cn) <= MITM_CERT_CN_MAX;
    int ok = subj != NULL;
    if (ok && *has_cn)
        ok = X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                        -1, 0);
    if (ok && names->organization)
        ok = X509_NAME_add_entry_by_NID(subj, NID_organizationName, MBSTRING_UTF8,
                                        (const unsigned char *)names->organization, -1, -1, 0);
    ok = ok && X509_set_subject_name(x, subj);
    X509_NAME_free(subj);
    return ok;
}

X509 *mitm_cert_mint(const struct mitm_cert_signer *s, const struct mitm_cert_names *names, char *err,
                     size_t errlen)
{
    if (!names || names->count == 0)
        return mitm_cert_err(err, errlen, "no names to mint a certificate for");
    X509 *x = X509_new();
    int has_cn = 0;
    int ok = x && X509_set_version(x, X509_VERSION_3) && mitm_cert_random_serial(x);
    ok = ok && X509_set_issuer_name(x, X509_get_subject_name(s->ca));
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -MITM_CERT_BACKDATE);
    ok = ok && X509_time_adj_ex(X509_getm_notAfter(x), MITM_CERT_VALID_DAYS, 0, NULL);
    ok = ok && X509_set_pubkey(x, s->leaf_key);
    ok = ok && set_subject(x, names, &has_cn);
    /* Extension order as mitmproxy: EKU, SAN, then AKI. */
    ok = ok && X509_add_ext(x, s->eku, -1);
    ok = ok && add_san(x, names, !has_cn); /* RFC 5280 §4.2.1.6: critical if subject empty */
    ok = ok && X509_add_ext(x, s->aki, -1);
    if (ok && names->crl_origin) {
        char url[512];
        int n = snprintf(url, sizeof(url), "%s%s", names->crl_origin, s->crl_path);
        ok = n > 0 && (size_t)n < sizeof(url) && add_crl_dp(x, url);
    }
    ok = ok && X509_sign(x, s->ca_key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return mitm_cert_err(err, errlen, "cannot mint a certificate for %s", names->v[0].value);
    }
    return x;
}
