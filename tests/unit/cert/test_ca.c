#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include "cert/ca.h"
#include "helpers.h"

extern char **environ;

static char err[512];

static struct mitm_ca *create_in(const char *dir)
{
    struct mitm_ca *ca = mitm_ca_load_or_create(dir, 2048, NULL, err, sizeof(err));
    cr_assert_not_null(ca, "load_or_create(%s): %s", dir, err);
    return ca;
}

static X509 *read_cert_file(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(x, "%s holds no PEM certificate", path);
    return x;
}

static long days_between(const ASN1_TIME *from, const ASN1_TIME *to, int *secs)
{
    int d, s;
    cr_assert(ASN1_TIME_diff(&d, &s, from, to));
    *secs = s;
    return d;
}

Test(ca, fresh_confdir_files_and_modes)
{
    char *tmp = th_tmpdir();
    char conf[4200];
    snprintf(conf, sizeof(conf), "%s/nested/conf", tmp);
    struct mitm_ca *ca = create_in(conf);
    cr_assert(mitm_ca_was_created(ca));
    cr_assert_eq(th_mode(conf), 0700);
    cr_assert_eq(th_mode(th_join(tmp, "nested")), 0700);

    static const struct {
        enum mitm_ca_file f;
        const char *name;
        int mode;
    } files[] = {
        {MITM_CA_FILE_PEM, "mitmproxy-ca.pem", 0600},
        {MITM_CA_FILE_P12, "mitmproxy-ca.p12", 0600},
        {MITM_CA_FILE_CERT_PEM, "mitmproxy-ca-cert.pem", 0644},
        {MITM_CA_FILE_CERT_CER, "mitmproxy-ca-cert.cer", 0644},
        {MITM_CA_FILE_CERT_P12, "mitmproxy-ca-cert.p12", 0644},
        {MITM_CA_FILE_DHPARAM, "mitmproxy-dhparam.pem", 0644},
    };
    for (size_t i = 0; i < 6; i++) {
        cr_assert_str_eq(mitm_ca_path(ca, files[i].f), th_join(conf, files[i].name));
        cr_assert_eq(th_mode(th_join(conf, files[i].name)), files[i].mode, "%s mode %o", files[i].name,
                     th_mode(th_join(conf, files[i].name)));
    }

    /* mitmproxy-ca.pem: PKCS#1 key first, then the cert. */
    size_t n;
    uint8_t *pem = th_slurp(mitm_ca_path(ca, MITM_CA_FILE_PEM), &n);
    cr_assert_eq(strncmp((char *)pem, "-----BEGIN RSA PRIVATE KEY-----\n", 32), 0);
    cr_assert_not_null(strstr((char *)pem, "-----END RSA PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\n"));
    free(pem);

    /* .pem and .cer: identical bytes, the CA cert in PEM. */
    size_t n1, n2;
    uint8_t *a = th_slurp(mitm_ca_path(ca, MITM_CA_FILE_CERT_PEM), &n1);
    uint8_t *b = th_slurp(mitm_ca_path(ca, MITM_CA_FILE_CERT_CER), &n2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(a, b, n1), 0);
    cr_assert_eq(strncmp((char *)a, "-----BEGIN CERTIFICATE-----\n", 28), 0);
    free(a);
    free(b);
    X509 *x = read_cert_file(mitm_ca_path(ca, MITM_CA_FILE_CERT_PEM));
    cr_assert_eq(X509_cmp(x, mitm_ca_cert(ca)), 0);
    X509_free(x);

    /* PKCS#12 files open with the empty password; friendly name "mitmproxy". */
    for (int withkey = 1; withkey >= 0; withkey--) {
        FILE *f = fopen(mitm_ca_path(ca, withkey ? MITM_CA_FILE_P12 : MITM_CA_FILE_CERT_P12), "rb");
        PKCS12 *p12 = d2i_PKCS12_fp(f, NULL);
        fclose(f);
        cr_assert_not_null(p12);
        cr_assert(PKCS12_mac_present(p12));
        cr_assert(PKCS12_verify_mac(p12, "", 0) || PKCS12_verify_mac(p12, NULL, 0));
        EVP_PKEY *k = NULL;
        X509 *c = NULL;
        STACK_OF(X509) *more = NULL;
        cr_assert(PKCS12_parse(p12, "", &k, &c, &more));
        if (withkey) {
            cr_assert_eq(EVP_PKEY_eq(k, mitm_ca_key(ca)), 1);
        } else {
            /* No key: OpenSSL hands the lone certificate back among the "other" certs. */
            cr_assert_null(k);
            cr_assert_null(c);
            cr_assert_eq(sk_X509_num(more), 1);
            c = sk_X509_shift(more);
        }
        cr_assert_eq(X509_cmp(c, mitm_ca_cert(ca)), 0);
        cr_assert_str_eq((const char *)X509_alias_get0(c, NULL), "mitmproxy");
        sk_X509_pop_free(more, X509_free);
        EVP_PKEY_free(k);
        X509_free(c);
        PKCS12_free(p12);
    }

    /* DH parameters: 4096 bits, generator 2. */
    FILE *f = fopen(mitm_ca_path(ca, MITM_CA_FILE_DHPARAM), "r");
    char first[64] = "";
    cr_assert_not_null(fgets(first, sizeof(first), f));
    cr_assert_str_eq(first, "-----BEGIN DH PARAMETERS-----\n");
    fclose(f);
    BIO *bio = BIO_new_file(mitm_ca_path(ca, MITM_CA_FILE_DHPARAM), "r");
    EVP_PKEY *dh = PEM_read_bio_Parameters(bio, NULL);
    BIO_free(bio);
    cr_assert_not_null(dh);
    cr_assert_eq(EVP_PKEY_get_bits(dh), 4096);
    BIGNUM *g = NULL;
    cr_assert(EVP_PKEY_get_bn_param(dh, OSSL_PKEY_PARAM_FFC_G, &g));
    cr_assert(BN_is_word(g, 2));
    BN_free(g);
    EVP_PKEY_free(dh);

    mitm_ca_free(ca);
    th_rmtree(tmp);
    free(tmp);
}

Test(ca, certificate_contents_match_mitmproxy)
{
    char *tmp = th_tmpdir();
    struct mitm_ca *ca = create_in(tmp);
    time_t after = time(NULL);
    X509 *x = mitm_ca_cert(ca);
    char buf[256];
    X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof(buf));
    cr_assert_str_eq(buf, "/CN=mitmproxy/O=mitmproxy");
    X509_NAME_oneline(X509_get_issuer_name(x), buf, sizeof(buf));
    cr_assert_str_eq(buf, "/CN=mitmproxy/O=mitmproxy");
    cr_assert_eq(X509_get_version(x), X509_VERSION_3);
    cr_assert_eq(X509_get_signature_nid(x), NID_sha256WithRSAEncryption);

    EVP_PKEY *k = mitm_ca_key(ca);
    cr_assert_eq(EVP_PKEY_get_base_id(k), EVP_PKEY_RSA);
    cr_assert_eq(EVP_PKEY_get_bits(k), 2048);
    BIGNUM *e = NULL;
    cr_assert(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e));
    cr_assert(BN_is_word(e, 65537));
    BN_free(e);

    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    cr_assert_not(BN_is_negative(serial));
    cr_assert_leq(BN_num_bits(serial), 159);
    cr_assert_gt(BN_num_bits(serial), 100, "a random 159-bit serial, not a counter");
    BN_free(serial);

    /* notBefore = now - 2 days; notAfter = now + 3650 days. */
    ASN1_TIME *start = ASN1_TIME_set(NULL, after);
    int secs;
    long d = days_between(X509_get0_notBefore(x), start, &secs);
    cr_assert(d * 86400 + secs >= 2 * 86400 && d * 86400 + secs <= 2 * 86400 + 120, "backdate %ld d %d s", d,
              secs);
    d = days_between(X509_get0_notBefore(x), X509_get0_notAfter(x), &secs);
    cr_assert_eq(d, 3652);
    cr_assert_eq(secs, 0);
    ASN1_TIME_free(start);

    /* Extensions: exactly BC, EKU, KU, SKI in that order with these criticalities. */
    cr_assert_eq(X509_get_ext_count(x), 4);
    static const int nids[] = {NID_basic_constraints, NID_ext_key_usage, NID_key_usage,
                               NID_subject_key_identifier};
    static const int crit[] = {1, 0, 1, 0};
    for (int i = 0; i < 4; i++) {
        X509_EXTENSION *ex = X509_get_ext(x, i);
        cr_assert_eq(OBJ_obj2nid(X509_EXTENSION_get_object(ex)), nids[i], "extension %d", i);
        cr_assert_eq(X509_EXTENSION_get_critical(ex), crit[i], "extension %d criticality", i);
    }
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
    cr_assert(bc->ca);
    cr_assert_null(bc->pathlen);
    BASIC_CONSTRAINTS_free(bc);
    cr_assert_eq(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    cr_assert_eq(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
    /* SKI = SHA-1 of the public key, and it is what leaves will name. */
    unsigned char md[20];
    unsigned int mdlen;
    X509_pubkey_digest(x, EVP_sha1(), md, &mdlen);
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
    cr_assert_eq(ski->length, 20);
    cr_assert_eq(memcmp(ski->data, md, 20), 0);
    size_t idlen;
    const unsigned char *id = mitm_ca_key_id(ca, &idlen);
    cr_assert_eq(idlen, 20);
    cr_assert_eq(memcmp(id, md, 20), 0);
    /* Self-signed and valid as a trust anchor. */
    cr_assert_eq(X509_verify(x, k), 1);
    cr_assert_eq(X509_check_ca(x), 1);

    mitm_ca_free(ca);
    th_rmtree(tmp);
    free(tmp);
}

Test(ca, two_confdirs_two_cas_and_reload_is_stable)
{
    char *t1 = th_tmpdir(), *t2 = th_tmpdir();
    struct mitm_ca *a = create_in(t1);
    struct mitm_ca *b = create_in(t2);
    cr_assert_neq(X509_cmp(mitm_ca_cert(a), mitm_ca_cert(b)), 0);
    cr_assert_neq(EVP_PKEY_eq(mitm_ca_key(a), mitm_ca_key(b)), 1);
    cr_assert_neq(
        ASN1_INTEGER_cmp(X509_get0_serialNumber(mitm_ca_cert(a)), X509_get0_serialNumber(mitm_ca_cert(b))),
        0);

    size_t n0, n1;
    uint8_t *before = th_slurp(th_join(t1, "mitmproxy-ca.pem"), &n0);
    struct mitm_ca *a2 = mitm_ca_load_or_create(t1, 2048, NULL, err, sizeof(err));
    cr_assert_not_null(a2, "%s", err);
    cr_assert_not(mitm_ca_was_created(a2));
    cr_assert_eq(X509_cmp(mitm_ca_cert(a), mitm_ca_cert(a2)), 0);
    cr_assert_eq(EVP_PKEY_eq(mitm_ca_key(a), mitm_ca_key(a2)), 1);
    uint8_t *after = th_slurp(th_join(t1, "mitmproxy-ca.pem"), &n1);
    cr_assert_eq(n0, n1);
    cr_assert_eq(memcmp(before, after, n0), 0, "loading never rewrites the CA");
    free(before);
    free(after);

    mitm_ca_free(a);
    mitm_ca_free(a2);
    mitm_ca_free(b);
    th_rmtree(t1);
    th_rmtree(t2);
    free(t1);
    free(t2);
}

Test(ca, missing_public_files_are_regenerated_existing_kept)
{
    char *tmp = th_tmpdir();
    struct mitm_ca *ca = create_in(tmp);
    mitm_ca_free(ca);
    cr_assert_eq(unlink(th_join(tmp, "mitmproxy-ca-cert.cer")), 0);
    cr_assert_eq(unlink(th_join(tmp, "mitmproxy-dhparam.pem")), 0);
    th_spit(th_join(tmp, "mitmproxy-ca-cert.p12"), "keep me", 7);
    ca = mitm_ca_load_or_create(tmp, 2048, NULL, err, sizeof(err));
    cr_assert_not_null(ca, "%s", err);
    X509 *x = read_cert_file(th_join(tmp, "mitmproxy-ca-cert.cer"));
    cr_assert_eq(X509_cmp(x, mitm_ca_cert(ca)), 0);
    X509_free(x);
    cr_assert_eq(th_mode(th_join(tmp, "mitmproxy-dhparam.pem")), 0644);
    size_t n;
    uint8_t *p = th_slurp(th_join(tmp, "mitmproxy-ca-cert.p12"), &n);
    cr_assert_eq(n, 7);
    free(p);
    mitm_ca_free(ca);
    th_rmtree(tmp);
    free(tmp);
}

/* Write key (PKCS#8, optionally encrypted) + cert + extra certs as a user-made CA file. */
static void write_custom_ca(const char *path, EVP_PKEY *key, X509 *cert, X509 *extra, const char *pass)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    if (pass)
        cr_assert(PEM_write_PKCS8PrivateKey(f, key, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)pass));
    else
        cr_assert(PEM_write_PKCS8PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
    PEM_write_X509(f, cert);
    if (extra)
        PEM_write_X509(f, extra);
    fclose(f);
}

Test(ca, user_ca_pkcs8_encrypted_with_chain)
{
    char *tmp = th_tmpdir();
    EVP_PKEY *root_key = th_ec_key();
    X509 *root = th_make_cert(root_key, NULL, NULL, "Root", NULL, NULL, 1);
    EVP_PKEY *key = th_ec_key();
    X509 *inter = th_make_cert(key, root, root_key, "Intermediate", "Org", NULL, 1);
    write_custom_ca(th_join(tmp, "mitmproxy-ca.pem"), key, inter, root, "s3cret");

    cr_assert_null(mitm_ca_load_or_create(tmp, 2048, NULL, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "no usable private key"), "%s", err);
    cr_assert_not_null(strstr(err, "cert_passphrase"), "%s", err);
    cr_assert_null(mitm_ca_load_or_create(tmp, 2048, "wrong", err, sizeof(err)));
    cr_assert_not_null(strstr(err, "mitmproxy-ca.pem"), "%s", err);

    struct mitm_ca *ca = mitm_ca_load_or_create(tmp, 2048, "s3cret", err, sizeof(err));
    cr_assert_not_null(ca, "%s", err);
    cr_assert_eq(X509_cmp(mitm_ca_cert(ca), inter), 0);
    cr_assert_eq(EVP_PKEY_eq(mitm_ca_key(ca), key), 1);
    cr_assert_eq(sk_X509_num(mitm_ca_chain(ca)), 1);
    cr_assert_eq(X509_cmp(sk_X509_value(mitm_ca_chain(ca), 0), root), 0);
    /* No SKI in this cert: the key id is derived from the public key. */
    unsigned char md[20];
    unsigned int mdlen;
    X509_pubkey_digest(inter, EVP_sha1(), md, &mdlen);
    size_t idlen;
    const unsigned char *id = mitm_ca_key_id(ca, &idlen);
    cr_assert_eq(idlen, 20);
    cr_assert_eq(memcmp(id, md, 20), 0);
    mitm_ca_free(ca);

    EVP_PKEY_free(root_key);
    EVP_PKEY_free(key);
    X509_free(root);
    X509_free(inter);
    th_rmtree(tmp);
    free(tmp);
}

Test(ca, load_errors_are_clear)
{
    char *tmp = th_tmpdir();
    th_spit(th_join(tmp, "mitmproxy-ca.pem"), "garbage\n", 8);
    cr_assert_null(mitm_ca_load_or_create(tmp, 2048, NULL, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "no usable private key"), "%s", err);

    /* A key that does not match the certificate. */
    EVP_PKEY *k1 = th_ec_key(), *k2 = th_ec_key();
    X509 *c2 = th_make_cert(k2, NULL, NULL, "other", NULL, NULL, 1);
    write_custom_ca(th_join(tmp, "mitmproxy-ca.pem"), k1, c2, NULL, NULL);
    cr_assert_null(mitm_ca_load_or_create(tmp, 2048, NULL, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "does not match"), "%s", err);

    /* A key without any certificate. */
    FILE *f = fopen(th_join(tmp, "mitmproxy-ca.pem"), "w");
    PEM_write_PrivateKey(f, k1, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    cr_assert_null(mitm_ca_load_or_create(tmp, 2048, NULL, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "no certificate"), "%s", err);

    /* Unreadable (a directory) and a bad key size for a new CA. */
    unlink(th_join(tmp, "mitmproxy-ca.pem"));
    mkdir(th_join(tmp, "mitmproxy-ca.pem"), 0700);
    cr_assert_null(mitm_ca_load_or_create(tmp, 2048, NULL, err, sizeof(err)));
    cr_assert_neq(err[0], 0);
    cr_assert_null(mitm_ca_load_or_create(th_join(tmp, "new"), 512, NULL, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "key_size 512"), "%s", err);
    cr_assert_null(mitm_ca_load_or_create("", 2048, NULL, err, sizeof(err)));

    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    X509_free(c2);
    th_rmtree(tmp);
    free(tmp);
}

/* A CA written by Debian's mitmproxy (/usr/bin/mitmdump) loads as is. */
Test(ca, loads_ca_written_by_mitmproxy, .timeout = 60)
{
    if (access("/usr/bin/mitmdump", X_OK) != 0) {
        cr_skip_test("/usr/bin/mitmdump is not installed (apt install mitmproxy)");
    }
    char *tmp = th_tmpdir();
    char conf[4200], set[4300];
    snprintf(conf, sizeof(conf), "%s/conf", tmp);
    snprintf(set, sizeof(set), "confdir=%s", conf);
    char *argv[] = {"/usr/bin/mitmdump", "--set", set, "-p", "0", "--listen-host", "127.0.0.1", "-q", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);

    /* Wait (at most 15 s) for the CA; mitmproxy writes mitmproxy-ca.pem first, and the
     * .pem cert file after it, so wait for the last file it writes. */
    const char *last = th_join(conf, "mitmproxy-dhparam.pem");
    for (int i = 0; i < 150 && access(last, F_OK) != 0; i++)
        usleep(100 * 1000);
    usleep(300 * 1000); /* let the final write complete */
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    cr_assert_eq(access(last, F_OK), 0, "mitmdump did not create its CA within 15 s");

    struct mitm_ca *ca = mitm_ca_load_or_create(conf, 2048, NULL, err, sizeof(err));
    cr_assert_not_null(ca, "%s", err);
    cr_assert_not(mitm_ca_was_created(ca));
    X509 *theirs = read_cert_file(th_join(conf, "mitmproxy-ca-cert.pem"));
    unsigned char *d1 = NULL, *d2 = NULL;
    int l1 = i2d_X509(theirs, &d1), l2 = i2d_X509(mitm_ca_cert(ca), &d2);
    cr_assert_eq(l1, l2);
    cr_assert_eq(memcmp(d1, d2, (size_t)l1), 0, "certificate bytes differ");
    OPENSSL_free(d1);
    OPENSSL_free(d2);
    X509_free(theirs);
    /* Same structure as ours: subject, extensions, key. */
    char buf[256];
    X509_NAME_oneline(X509_get_subject_name(mitm_ca_cert(ca)), buf, sizeof(buf));
    cr_assert_str_eq(buf, "/CN=mitmproxy/O=mitmproxy");
    cr_assert_eq(X509_get_key_usage(mitm_ca_cert(ca)), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    size_t idlen;
    mitm_ca_key_id(ca, &idlen);
    cr_assert_eq(idlen, 20);
    mitm_ca_free(ca);
    th_rmtree(tmp);
    free(tmp);
}
