#include "cert/leaf.h"

#include <arpa/inet.h>
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
    if (!s->ca_chain || !s->aki || !s->eku) {
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

/* ---- minting ---- */

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
    ok = ok && X509_sign(x, s->ca_key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return mitm_cert_err(err, errlen, "cannot mint a certificate for %s", names->v[0].value);
    }
    return x;
}
