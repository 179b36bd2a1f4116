#include "cert/ca.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include "base/alloc.h"
#include "base/log.h"
#include "cert/util.h"

#define SECRET_MODE  0600
#define PUBLIC_MODE  0644
#define P12_MAC_ITER 2048 /* what pyca/cryptography (mitmproxy) writes: MAC sha256, 2048 rounds */

static const char *const file_names[MITM_CA_FILE_COUNT] = {
    [MITM_CA_FILE_PEM] = MITM_CA_BASENAME "-ca.pem",
    [MITM_CA_FILE_P12] = MITM_CA_BASENAME "-ca.p12",
    [MITM_CA_FILE_CERT_PEM] = MITM_CA_BASENAME "-ca-cert.pem",
    [MITM_CA_FILE_CERT_CER] = MITM_CA_BASENAME "-ca-cert.cer",
    [MITM_CA_FILE_CERT_P12] = MITM_CA_BASENAME "-ca-cert.p12",
    [MITM_CA_FILE_DHPARAM] = MITM_CA_BASENAME "-dhparam.pem",
};

struct mitm_ca {
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) * chain;
    unsigned char key_id[EVP_MAX_MD_SIZE];
    size_t key_id_len;
    bool created;
    char *paths[MITM_CA_FILE_COUNT];
};

/* ---- generation ---- */

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = ext && X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

static X509 *make_ca_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    int ok = x && name && X509_set_version(x, X509_VERSION_3) && mitm_cert_random_serial(x);
    /* Order matters for byte-compatibility with mitmproxy: CN first, then O. */
    ok = ok && X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                          (const unsigned char *)MITM_CA_BASENAME, -1, -1, 0);
    ok = ok && X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                                          (const unsigned char *)MITM_CA_BASENAME, -1, -1, 0);
    ok = ok && X509_set_subject_name(x, name) && X509_set_issuer_name(x, name);
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -MITM_CA_BACKDATE_SEC);
    ok = ok && X509_time_adj_ex(X509_getm_notAfter(x), MITM_CA_VALID_DAYS, 0, NULL);
    ok = ok && X509_set_pubkey(x, key);
    if (ok) {
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        /* Reference §9.2: the exact extension set and criticality mitmproxy writes. */
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") &&
             add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             add_ext(x, &ctx, NID_subject_key_identifier, "hash");
    }
    ok = ok && X509_sign(x, key, EVP_sha256()) > 0;
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* ---- serialisation ---- */

typedef int (*bio_writer)(BIO *bio, const struct mitm_ca *ca);

static int write_key_and_cert(BIO *bio, const struct mitm_ca *ca)
{
    /* "Traditional" = PKCS#1 "BEGIN RSA PRIVATE KEY" for RSA, as mitmproxy writes it. */
    if (!PEM_write_bio_PrivateKey_traditional(bio, ca->key, NULL, NULL, 0, NULL, NULL))
        return 0;
    if (!PEM_write_bio_X509(bio, ca->cert))
        return 0;
    for (int i = 0; i < sk_X509_num(ca->chain); i++) {
        if (!PEM_write_bio_X509(bio, sk_X509_value(ca->chain, i)))
            return 0;
    }
    return 1;
}

static int write_cert(BIO *bio, const struct mitm_ca *ca)
{
    return PEM_write_bio_X509(bio, ca->cert);
}

/* PKCS#12 like pyca's serialize_key_and_certificates(NoEncryption): plain (unencrypted)
 * bags, friendly name "mitmproxy", a sha256 MAC over the empty password. */
static int write_p12(BIO *bio, const struct mitm_ca *ca, EVP_PKEY *key)
{
    PKCS12 *p12 = PKCS12_create("", MITM_CA_BASENAME, key, ca->cert, NULL, -1, -1, 0, -1, 0);
    int ok =
        p12 && PKCS12_set_mac(p12, "", -1, NULL, 0, P12_MAC_ITER, EVP_sha256()) && i2d_PKCS12_bio(bio, p12);
    PKCS12_free(p12);
    return ok;
}

static int write_p12_key(BIO *bio, const struct mitm_ca *ca)
{
    return write_p12(bio, ca, ca->key);
}

static int write_p12_cert(BIO *bio, const struct mitm_ca *ca)
{
    return write_p12(bio, ca, NULL);
}

/* mitmproxy ships a fixed 4096-bit DH group with generator 2 (DEFAULT_DHPARAM). We write
 * OpenSSL's built-in RFC 7919 ffdhe4096 group instead (also 4096 bits, g = 2, and a
 * vetted safe prime), encoded as PKCS#3 "BEGIN DH PARAMETERS". */
static int write_dhparam(BIO *bio, const struct mitm_ca *ca)
{
    (void)ca;
    EVP_PKEY *params = NULL;
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
    int ok = pctx && EVP_PKEY_paramgen_init(pctx) > 0 && EVP_PKEY_CTX_set_group_name(pctx, "ffdhe4096") > 0 &&
             EVP_PKEY_paramgen(pctx, &params) > 0 && PEM_write_bio_Parameters(bio, params);
    EVP_PKEY_free(params);
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

/* Serialise with fn and write atomically to the CA file `which`. Returns like
 * mitm_cert_write_file. */
static int save(const struct mitm_ca *ca, enum mitm_ca_file which, bio_writer fn, int mode, int exclusive,
                char *err, size_t errlen)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || !fn(bio, ca)) {
        BIO_free(bio);
        mitm_cert_err(err, errlen, "cannot encode %s", ca->paths[which]);
        return -1;
    }
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    int rc = mitm_cert_write_file(ca->paths[which], data, (size_t)len, mode, exclusive, err, errlen);
    BIO_free(bio);
    return rc;
}

/* Write each public/derived file that does not exist yet. */
static int fill_missing(const struct mitm_ca *ca, char *err, size_t errlen)
{
    static const struct {
        enum mitm_ca_file which;
        bio_writer fn;
        int mode;
    } files[] = {
        {MITM_CA_FILE_P12, write_p12_key, SECRET_MODE},
        {MITM_CA_FILE_CERT_PEM, write_cert, PUBLIC_MODE},
        {MITM_CA_FILE_CERT_CER, write_cert, PUBLIC_MODE},
        {MITM_CA_FILE_CERT_P12, write_p12_cert, PUBLIC_MODE},
        {MITM_CA_FILE_DHPARAM, write_dhparam, PUBLIC_MODE},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (access(ca->paths[files[i].which], F_OK) == 0)
            continue;
        /* exclusive: a concurrent starter may be writing the same file; first one wins. */
        if (save(ca, files[i].which, files[i].fn, files[i].mode, 1, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* mkdir -p; directories we create get 0700 (the confdir holds the CA key). */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
    char *p = mitm_strdup(dir);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != 0)
            continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0700) == 0) {
            chmod(p, 0700); /* independent of the umask */
        } else if (errno != EEXIST) {
            mitm_cert_err(err, errlen, "cannot create directory %s: %s", p, strerror(errno));
            rc = -1;
            break;
        }
        *s = c;
        if (c == 0)
            break;
    }
    free(p);
    return rc;
}

/* ---- loading ---- */

static int compute_key_id(struct mitm_ca *ca)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca->cert);
    if (ski && ski->length > 0 && (size_t)ski->length <= sizeof(ca->key_id)) {
        memcpy(ca->key_id, ski->data, (size_t)ski->length);
        ca->key_id_len = (size_t)ski->length;
        return 1;
    }
    /* No SKI: RFC 5280 §4.2.1.2 (1), SHA-1 of the subjectPublicKey BIT STRING. */
    unsigned int n = 0;
    int ok = X509_pubkey_digest(ca->cert, EVP_sha1(), ca->key_id, &n);
    ca->key_id_len = n;
    return ok;
}

static struct mitm_ca *load(struct mitm_ca *ca, const char *passphrase, char *err, size_t errlen)
{
    const char *path = ca->paths[MITM_CA_FILE_PEM];
    size_t len;
    uint8_t *raw = mitm_cert_read_file(path, MITM_CA_FILE_MAX, &len, err, errlen);
    if (!raw)
        return NULL;
    BIO *bio = BIO_new_mem_buf(raw, (int)len);
    ca->key = PEM_read_bio_PrivateKey(bio, NULL, mitm_cert_pem_password_cb, (void *)passphrase);
    BIO_free(bio);
    if (!ca->key) {
        free(raw);
        return mitm_cert_err(err, errlen, "%s: no usable private key%s", path,
                             passphrase ? "" : " (if it is encrypted, set cert_passphrase)");
    }
    bio = BIO_new_mem_buf(raw, (int)len);
    ca->cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    for (int i = 0; ca->cert && i < MITM_CA_CHAIN_MAX; i++) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x)
            break;
        sk_X509_push(ca->chain, x);
    }
    ERR_clear_error(); /* the end of the file reads as "no start line" */
    BIO_free(bio);
    free(raw);
    if (!ca->cert)
        return mitm_cert_err(err, errlen, "%s: no certificate", path);
    if (!X509_check_private_key(ca->cert, ca->key))
        return mitm_cert_err(err, errlen, "%s: the private key does not match the certificate", path);
    if (!compute_key_id(ca))
        return mitm_cert_err(err, errlen, "%s: cannot compute the key identifier", path);
    if (X509_cmp_current_time(X509_get0_notAfter(ca->cert)) < 0)
        mitm_log(MITM_LOG_WARN, NULL,
                 "The mitmproxy certificate authority has expired! Delete the CA files in %s; "
                 "they are regenerated on the next start.",
                 path);
    return ca;
}

static struct mitm_ca *create(struct mitm_ca *ca, int key_size, const char *passphrase, char *err,
                              size_t errlen)
{
    if (key_size < 1024 || key_size > 16384)
        return mitm_cert_err(err, errlen, "key_size %d out of range (1024..16384)", key_size);
    ca->key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)key_size);
    if (!ca->key)
        return mitm_cert_err(err, errlen, "cannot generate a %d-bit RSA key", key_size);
    ca->cert = make_ca_cert(ca->key);
    if (!ca->cert)
        return mitm_cert_err(err, errlen, "cannot create the CA certificate");
    /* Claim mitmproxy-ca.pem first, atomically: it is what marks a CA as present. */
    int rc = save(ca, MITM_CA_FILE_PEM, write_key_and_cert, SECRET_MODE, 1, err, errlen);
    if (rc < 0)
        return NULL;
    if (rc == 1) { /* another process created it meanwhile: use theirs */
        X509_free(ca->cert);
        EVP_PKEY_free(ca->key);
        ca->cert = NULL;
        ca->key = NULL;
        return load(ca, passphrase, err, errlen);
    }
    ca->created = true;
    if (!compute_key_id(ca))
        return mitm_cert_err(err, errlen, "cannot compute the CA key identifier");
    return ca;
}

struct mitm_ca *mitm_ca_load_or_create(const char *confdir, int key_size, const char *passphrase, char *err,
                                       size_t errlen)
{
    if (!confdir || !*confdir)
        return mitm_cert_err(err, errlen, "no confdir given");
    struct mitm_ca *ca = mitm_calloc(1, sizeof(*ca));
    ca->chain = sk_X509_new_null();
    size_t dlen = strlen(confdir);
    while (dlen > 1 && confdir[dlen - 1] == '/')
        dlen--;
    for (int i = 0; i < MITM_CA_FILE_COUNT; i++) {
        size_t n = dlen + strlen(file_names[i]) + 2;
        ca->paths[i] = mitm_alloc(n);
        snprintf(ca->paths[i], n, "%.*s/%s", (int)dlen, confdir, file_names[i]);
    }
    struct mitm_ca *ok;
    if (access(ca->paths[MITM_CA_FILE_PEM], F_OK) == 0)
        ok = load(ca, passphrase, err, errlen);
    else if (make_dirs(confdir, err, errlen) == 0)
        ok = create(ca, key_size, passphrase, err, errlen);
    else
        ok = NULL;
    if (ok && fill_missing(ca, err, errlen) != 0)
        ok = NULL;
    if (!ok) {
        mitm_ca_free(ca);
        return NULL;
    }
    return ca;
}

void mitm_ca_free(struct mitm_ca *ca)
{
    if (!ca)
        return;
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    sk_X509_pop_free(ca->chain, X509_free);
    for (int i = 0; i < MITM_CA_FILE_COUNT; i++)
        free(ca->paths[i]);
    free(ca);
}

X509 *mitm_ca_cert(const struct mitm_ca *ca)
{
    return ca->cert;
}

EVP_PKEY *mitm_ca_key(const struct mitm_ca *ca)
{
    return ca->key;
}

STACK_OF(X509) * mitm_ca_chain(const struct mitm_ca *ca)
{
    return ca->chain;
}

const unsigned char *mitm_ca_key_id(const struct mitm_ca *ca, size_t *len)
{
    *len = ca->key_id_len;
    return ca->key_id;
}

const char *mitm_ca_path(const struct mitm_ca *ca, enum mitm_ca_file which)
{
    return which < MITM_CA_FILE_COUNT ? ca->paths[which] : NULL;
}

bool mitm_ca_was_created(const struct mitm_ca *ca)
{
    return ca->created;
}
