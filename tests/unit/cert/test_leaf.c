#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cert/leaf.h"
#include "cert/store.h"
#include "helpers.h"

static char err[512];
static char *tmp;
static struct mitm_ca *ca;

static void setup(void)
{
    tmp = th_tmpdir();
    ca = mitm_ca_load_or_create(tmp, 2048, NULL, err, sizeof(err));
    cr_assert_not_null(ca, "%s", err);
}

static void teardown(void)
{
    mitm_ca_free(ca);
    th_rmtree(tmp);
    free(tmp);
}

TestSuite(leaf, .init = setup, .fini = teardown);

static void expect_names(const struct mitm_cert_names *n, const char *const *want, const bool *ip,
                         size_t count)
{
    cr_assert_eq(n->count, count, "got %zu names, want %zu", n->count, count);
    for (size_t i = 0; i < count; i++) {
        cr_assert_str_eq(n->v[i].value, want[i], "name %zu", i);
        cr_assert_eq(n->v[i].ip, ip[i], "name %zu (%s) ip flag", i, want[i]);
    }
}

/* The upstream certificate of the brief: CN alpha.test, SANs alpha/beta/127.0.0.1. */
static X509 *upstream_cert(EVP_PKEY **key)
{
    *key = th_ec_key();
    return th_make_cert(*key, NULL, NULL, "alpha.test", "Upstream Org",
                        "DNS:alpha.test,DNS:beta.test,IP:127.0.0.1", 0);
}

Test(leaf, names_in_mitmproxy_order_deduplicated)
{
    EVP_PKEY *uk;
    X509 *up = upstream_cert(&uk);
    struct mitm_cert_names n;
    cr_assert_eq(mitm_cert_names_build(&n, up, "beta.test", "10.0.0.1", "127.0.0.1"), 3);
    static const char *const want[] = {"alpha.test", "beta.test", "127.0.0.1"};
    static const bool ip[] = {false, false, true};
    expect_names(&n, want, ip, 3);
    cr_assert_str_eq(n.organization, "Upstream Org");
    cr_assert_not(n.truncated);
    mitm_cert_names_free(&n);

    /* Without SNI the local address stands in (mitmproxy: client sockname). */
    mitm_cert_names_build(&n, NULL, NULL, "10.0.0.1", "Example.COM");
    static const char *const want2[] = {"10.0.0.1", "example.com"};
    static const bool ip2[] = {true, false};
    expect_names(&n, want2, ip2, 2);
    cr_assert_null(n.organization);
    mitm_cert_names_free(&n);

    /* IP literals are canonicalised (brackets, leading zeros) and deduplicated. */
    mitm_cert_names_build(&n, NULL, "x.test", NULL, "[2001:DB8:0::0001]");
    cr_assert(mitm_cert_names_add(&n, "2001:db8::1", 11) == 0);
    cr_assert(mitm_cert_names_add(&n, "X.TEST", 6) == 0);
    cr_assert(mitm_cert_names_add(&n, "bad name", 8) == 0, "spaces are not a DNS name");
    cr_assert(mitm_cert_names_add(&n, "nul\0x", 5) == 0);
    cr_assert(mitm_cert_names_add(&n, "", 0) == 0);
    static const char *const want3[] = {"x.test", "2001:db8::1"};
    static const bool ip3[] = {false, true};
    expect_names(&n, want3, ip3, 2);
    mitm_cert_names_free(&n);

    /* A display-name CN with spaces is skipped; the SANs remain. */
    X509 *odd = th_make_cert(uk, NULL, NULL, "Some Server", NULL, "DNS:odd.test,IP:::1", 0);
    mitm_cert_names_build(&n, odd, NULL, NULL, NULL);
    static const char *const want4[] = {"odd.test", "::1"};
    static const bool ip4[] = {false, true};
    expect_names(&n, want4, ip4, 2);
    mitm_cert_names_free(&n);
    cr_assert_eq(mitm_cert_names_build(&n, NULL, NULL, NULL, NULL), 0);
    mitm_cert_names_free(&n);

    X509_free(odd);
    X509_free(up);
    EVP_PKEY_free(uk);
}

Test(leaf, names_cap)
{
    struct mitm_cert_names n;
    mitm_cert_names_build(&n, NULL, NULL, NULL, NULL);
    char name[32];
    for (int i = 0; i < MITM_CERT_NAMES_MAX + 10; i++) {
        int len = snprintf(name, sizeof(name), "h%d.test", i);
        mitm_cert_names_add(&n, name, (size_t)len);
    }
    cr_assert_eq(n.count, MITM_CERT_NAMES_MAX);
    cr_assert(n.truncated);
    cr_assert_str_eq(n.v[MITM_CERT_NAMES_MAX - 1].value, "h1023.test");
    mitm_cert_names_free(&n);
}

static int count_ext(X509 *x, int nid)
{
    int c = 0;
    for (int i = 0; i < X509_get_ext_count(x); i++)
        c += OBJ_obj2nid(X509_EXTENSION_get_object(X509_get_ext(x, i))) == nid;
    return c;
}

static int verify_with_ca(X509 *leaf)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, mitm_ca_cert(ca));
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, leaf, NULL);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    int ok = X509_verify_cert(ctx);
    if (ok != 1)
        cr_log_error("verify: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok;
}

Test(leaf, minted_leaf_as_specified)
{
    EVP_PKEY *uk;
    X509 *up = upstream_cert(&uk);
    struct mitm_cert_names n;
    mitm_cert_names_build(&n, up, "beta.test", NULL, "127.0.0.1");
    struct mitm_cert_signer *s = mitm_cert_signer_new(ca, MITM_LEAF_KEY_EC_P256, 0, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    X509 *x = mitm_cert_mint(s, &n, err, sizeof(err));
    cr_assert_not_null(x, "%s", err);
    time_t now = time(NULL);

    cr_assert_eq(verify_with_ca(x), 1);
    cr_assert_eq(X509_check_host(x, "alpha.test", 0, 0, NULL), 1);
    cr_assert_eq(X509_check_host(x, "beta.test", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL), 1);
    cr_assert_eq(X509_check_host(x, "gamma.test", 0, 0, NULL), 0);
    cr_assert_eq(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    cr_assert_eq(X509_check_ip_asc(x, "127.0.0.2", 0), 0);

    /* SAN: exactly the three names, in order, not critical (the subject has a CN). */
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    cr_assert_eq(sk_GENERAL_NAME_num(sans), 3);
    int type;
    ASN1_STRING *v = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(sans, 0), &type);
    cr_assert_eq(type, GEN_DNS);
    cr_assert_str_eq((const char *)ASN1_STRING_get0_data(v), "alpha.test");
    v = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(sans, 1), &type);
    cr_assert_eq(type, GEN_DNS);
    cr_assert_str_eq((const char *)ASN1_STRING_get0_data(v), "beta.test");
    v = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(sans, 2), &type);
    cr_assert_eq(type, GEN_IPADD);
    cr_assert_eq(ASN1_STRING_length(v), 4);
    cr_assert_eq(memcmp(ASN1_STRING_get0_data(v), "\x7f\x00\x00\x01", 4), 0);
    GENERAL_NAMES_free(sans);
    int idx = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
    cr_assert_eq(X509_EXTENSION_get_critical(X509_get_ext(x, idx)), 0);

    char buf[256];
    X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof(buf));
    cr_assert_str_eq(buf, "/CN=alpha.test/O=Upstream Org");
    X509_NAME_oneline(X509_get_issuer_name(x), buf, sizeof(buf));
    cr_assert_str_eq(buf, "/CN=mitmproxy/O=mitmproxy");

    /* Extensions: EKU serverAuth, SAN, AKI = CA SKI; nothing else. */
    cr_assert_eq(X509_get_ext_count(x), 3);
    cr_assert_eq(count_ext(x, NID_ext_key_usage), 1);
    cr_assert_eq(count_ext(x, NID_subject_key_identifier), 0);
    cr_assert_eq(count_ext(x, NID_key_usage), 0);
    cr_assert_eq(count_ext(x, NID_basic_constraints), 0);
    cr_assert_eq(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(mitm_ca_cert(ca));
    cr_assert_not_null(aki);
    cr_assert_eq(ASN1_OCTET_STRING_cmp(aki, ski), 0);

    /* Key: the signer's P-256 key, not the CA key. */
    EVP_PKEY *pub = X509_get0_pubkey(x);
    cr_assert_eq(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
    cr_assert_eq(EVP_PKEY_get_bits(pub), 256);
    cr_assert_eq(EVP_PKEY_eq(pub, mitm_cert_signer_key(s)), 1);
    cr_assert_neq(EVP_PKEY_eq(pub, mitm_ca_key(ca)), 1);
    cr_assert_eq(X509_get_signature_nid(x), NID_sha256WithRSAEncryption);

    /* Validity: now-2d .. now+197d. */
    int days, secs;
    ASN1_TIME *t = ASN1_TIME_set(NULL, now);
    cr_assert(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), t));
    cr_assert(days * 86400 + secs >= 2 * 86400 && days * 86400 + secs <= 2 * 86400 + 60);
    cr_assert(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)));
    cr_assert_eq(days, 199);
    cr_assert_eq(secs, 0);
    ASN1_TIME_free(t);
    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    cr_assert_leq(BN_num_bits(serial), 159);
    cr_assert_not(BN_is_negative(serial));
    BN_free(serial);

    /* Two mints: different serials. */
    X509 *y = mitm_cert_mint(s, &n, err, sizeof(err));
    cr_assert_neq(ASN1_INTEGER_cmp(X509_get0_serialNumber(x), X509_get0_serialNumber(y)), 0);

    X509_free(y);
    X509_free(x);
    mitm_cert_names_free(&n);
    mitm_cert_signer_free(s);
    X509_free(up);
    EVP_PKEY_free(uk);
}

Test(leaf, long_cn_gives_empty_subject_and_critical_san)
{
    struct mitm_cert_names n;
    char longname[80];
    memset(longname, 'a', 64);
    strcpy(longname + 64, ".test");
    mitm_cert_names_build(&n, NULL, longname, NULL, NULL);
    struct mitm_cert_signer *s = mitm_cert_signer_new(ca, MITM_LEAF_KEY_EC_P256, 0, err, sizeof(err));
    X509 *x = mitm_cert_mint(s, &n, err, sizeof(err));
    cr_assert_not_null(x, "%s", err);
    cr_assert_eq(X509_NAME_entry_count(X509_get_subject_name(x)), 0);
    int idx = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
    cr_assert_eq(X509_EXTENSION_get_critical(X509_get_ext(x, idx)), 1);
    cr_assert_eq(X509_check_host(x, longname, 0, 0, NULL), 1);
    cr_assert_eq(verify_with_ca(x), 1);
    X509_free(x);

    /* 63 characters still make a CN. */
    mitm_cert_names_free(&n);
    longname[58] = 0; /* 58 + ".test" = 63 */
    strcat(longname, ".test");
    mitm_cert_names_build(&n, NULL, longname, NULL, NULL);
    x = mitm_cert_mint(s, &n, err, sizeof(err));
    cr_assert_eq(X509_NAME_entry_count(X509_get_subject_name(x)), 1);
    X509_free(x);

    /* No names: refused with a reason. */
    mitm_cert_names_free(&n);
    cr_assert_null(mitm_cert_mint(s, &n, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "no names"));
    mitm_cert_signer_free(s);
}

Test(leaf, rsa_leaf_key_on_request)
{
    struct mitm_cert_signer *s = mitm_cert_signer_new(ca, MITM_LEAF_KEY_RSA, 2048, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    cr_assert_eq(EVP_PKEY_get_base_id(mitm_cert_signer_key(s)), EVP_PKEY_RSA);
    cr_assert_eq(EVP_PKEY_get_bits(mitm_cert_signer_key(s)), 2048);
    cr_assert_neq(EVP_PKEY_eq(mitm_cert_signer_key(s), mitm_ca_key(ca)), 1);
    mitm_cert_signer_free(s);
    cr_assert_null(mitm_cert_signer_new(ca, MITM_LEAF_KEY_RSA, 100, err, sizeof(err)));
}

/* ---- store ---- */

static struct mitm_cert_names names1(const char *n)
{
    struct mitm_cert_names out;
    mitm_cert_names_build(&out, NULL, n, NULL, NULL);
    return out;
}

Test(leaf, store_cache_hit_and_lru_eviction)
{
    struct mitm_cert_store_opts o = {.capacity = 2};
    struct mitm_cert_store *st = mitm_cert_store_new(ca, &o, err, sizeof(err));
    cr_assert_not_null(st, "%s", err);
    struct mitm_cert_names a = names1("a.test"), b = names1("b.test"), c = names1("c.test");

    struct mitm_cert_entry *ea = mitm_cert_store_get(st, &a, err, sizeof(err));
    struct mitm_cert_entry *ea2 = mitm_cert_store_get(st, &a, err, sizeof(err));
    cr_assert_not_null(ea);
    cr_assert_eq(ea, ea2, "a cache hit returns the same entry");
    cr_assert_not(mitm_cert_entry_is_custom(ea));
    cr_assert_eq(X509_check_host(mitm_cert_entry_cert(ea), "a.test", 0, 0, NULL), 1);
    cr_assert_eq(EVP_PKEY_eq(mitm_cert_entry_key(ea), mitm_cert_signer_key(mitm_cert_store_signer(st))), 1);
    cr_assert_eq(sk_X509_num(mitm_cert_entry_chain(ea)), 0, "default CA: the leaf goes alone");

    /* Organization is part of the key. */
    struct mitm_cert_names ao = names1("a.test");
    ao.organization = strdup("Org");
    struct mitm_cert_entry *eao = mitm_cert_store_get(st, &ao, err, sizeof(err));
    cr_assert_neq(eao, ea);
    /* Cache now: [ao, a]; touch a, add b: ao is evicted (LRU), a stays. */
    struct mitm_cert_entry *t = mitm_cert_store_get(st, &a, err, sizeof(err));
    cr_assert_eq(t, ea);
    struct mitm_cert_entry *eb = mitm_cert_store_get(st, &b, err, sizeof(err));
    struct mitm_cert_store_stats stats;
    mitm_cert_store_stats(st, &stats);
    cr_assert_eq(stats.minted, 3);
    cr_assert_eq(stats.hits, 2);
    cr_assert_eq(stats.evicted, 1);
    cr_assert_eq(stats.cached, 2);
    struct mitm_cert_entry *ea3 = mitm_cert_store_get(st, &a, err, sizeof(err));
    cr_assert_eq(ea3, ea, "recently used entry survived eviction");
    struct mitm_cert_entry *eao2 = mitm_cert_store_get(st, &ao, err, sizeof(err));
    cr_assert_neq(eao2, eao, "evicted entry is minted again");
    /* The evicted entry we still hold stays usable. */
    cr_assert_eq(X509_check_host(mitm_cert_entry_cert(eao), "a.test", 0, 0, NULL), 1);
    struct mitm_cert_entry *ec = mitm_cert_store_get(st, &c, err, sizeof(err));
    mitm_cert_store_stats(st, &stats);
    cr_assert_eq(stats.cached, 2);
    cr_assert_eq(stats.minted, 5);

    struct mitm_cert_names none = {0};
    cr_assert_null(mitm_cert_store_get(st, &none, err, sizeof(err)));

    struct mitm_cert_entry *all[] = {ea, ea2, eao, t, eb, ea3, eao2, ec};
    mitm_cert_store_free(st); /* entries outlive the store */
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        mitm_cert_entry_release(all[i]);
    mitm_cert_names_free(&a);
    mitm_cert_names_free(&ao);
    mitm_cert_names_free(&b);
    mitm_cert_names_free(&c);
}

Test(leaf, handshake_with_minted_leaf)
{
    struct mitm_cert_store *st = mitm_cert_store_new(ca, NULL, err, sizeof(err));
    struct mitm_cert_names n;
    mitm_cert_names_build(&n, NULL, "shop.test", NULL, "127.0.0.1");
    struct mitm_cert_entry *e = mitm_cert_store_get(st, &n, err, sizeof(err));
    cr_assert_not_null(e, "%s", err);
    long vr;
    cr_assert(th_handshake(mitm_ca_cert(ca), e, "shop.test", 0, &vr));
    cr_assert_eq(vr, X509_V_OK);
    cr_assert(th_handshake(mitm_ca_cert(ca), e, "127.0.0.1", 0, &vr));
    cr_assert_eq(vr, X509_V_OK);
    cr_assert_not(th_handshake(mitm_ca_cert(ca), e, "other.test", 0, &vr));
    cr_assert_eq(vr, X509_V_ERR_HOSTNAME_MISMATCH);
    mitm_cert_entry_release(e);
    mitm_cert_names_free(&n);
    mitm_cert_store_free(st);
}

/* ---- --certs ---- */

static void write_pem(const char *path, EVP_PKEY *key, X509 *cert, X509 *chain)
{
    FILE *f = fopen(path, "w");
    if (key)
        PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    PEM_write_X509(f, cert);
    if (chain)
        PEM_write_X509(f, chain);
    fclose(f);
}

static struct mitm_cert_entry *get1(struct mitm_cert_store *st, const char *name)
{
    struct mitm_cert_names n = names1(name);
    struct mitm_cert_entry *e = mitm_cert_store_get(st, &n, err, sizeof(err));
    cr_assert_not_null(e, "%s", err);
    mitm_cert_names_free(&n);
    return e;
}

Test(leaf, custom_certs_wildcard_lookup)
{
    struct mitm_cert_store *st = mitm_cert_store_new(ca, NULL, err, sizeof(err));
    EVP_PKEY *k = th_ec_key();
    X509 *wild =
        th_make_cert(k, mitm_ca_cert(ca), mitm_ca_key(ca), "*.wild.test", NULL, "DNS:*.wild.test", 0);
    X509 *exact = th_make_cert(k, mitm_ca_cert(ca), mitm_ca_key(ca), "exact.test", NULL, NULL, 0);
    const char *pw = th_join(tmp, "wild.pem");
    write_pem(pw, k, wild, mitm_ca_cert(ca));
    const char *pe = th_join(tmp, "exact.pem");
    write_pem(pe, k, exact, NULL);
    char spec[4200];
    snprintf(spec, sizeof(spec), "*.com=%s", pw); /* the spec domain is registered too */
    cr_assert_eq(mitm_cert_store_add_file(st, spec, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(mitm_cert_store_add_file(st, pe, NULL, err, sizeof(err)), 0, "%s", err); /* domain "*" */

    struct mitm_cert_entry *e = get1(st, "www.wild.test");
    cr_assert(mitm_cert_entry_is_custom(e));
    cr_assert_eq(X509_cmp(mitm_cert_entry_cert(e), wild), 0);
    cr_assert_eq(sk_X509_num(mitm_cert_entry_chain(e)), 1);
    cr_assert_eq(EVP_PKEY_eq(mitm_cert_entry_key(e), k), 1);
    mitm_cert_entry_release(e);
    e = get1(st, "a.b.wild.test"); /* *.b.wild.test, then *.wild.test */
    cr_assert_eq(X509_cmp(mitm_cert_entry_cert(e), wild), 0);
    mitm_cert_entry_release(e);
    e = get1(st, "shop.example.com"); /* *.example.com, then *.com */
    cr_assert_eq(X509_cmp(mitm_cert_entry_cert(e), wild), 0);
    mitm_cert_entry_release(e);
    e = get1(st, "EXACT.test");
    cr_assert_eq(X509_cmp(mitm_cert_entry_cert(e), exact), 0);
    mitm_cert_entry_release(e);
    e = get1(st, "anything.else"); /* "*" */
    cr_assert_eq(X509_cmp(mitm_cert_entry_cert(e), exact), 0);
    mitm_cert_entry_release(e);
    struct mitm_cert_store_stats stats;
    mitm_cert_store_stats(st, &stats);
    cr_assert_eq(stats.custom, 5);
    cr_assert_eq(stats.minted, 0);

    mitm_cert_store_free(st);
    X509_free(wild);
    X509_free(exact);
    EVP_PKEY_free(k);
}

Test(leaf, custom_cert_without_key)
{
    struct mitm_cert_store *st = mitm_cert_store_new(ca, NULL, err, sizeof(err));
    /* Certificate for the CA's own key: the CA key is used (as mitmproxy). */
    X509 *same = th_make_cert(mitm_ca_key(ca), mitm_ca_cert(ca), mitm_ca_key(ca), "same.test", NULL,
                              "DNS:same.test", 0);
    const char *p = th_join(tmp, "same.pem");
    write_pem(p, NULL, same, NULL);
    char spec[4200];
    snprintf(spec, sizeof(spec), "same.test=%s", p);
    cr_assert_eq(mitm_cert_store_add_file(st, spec, NULL, err, sizeof(err)), 0, "%s", err);
    struct mitm_cert_entry *e = get1(st, "same.test");
    cr_assert(mitm_cert_entry_is_custom(e));
    cr_assert_eq(EVP_PKEY_eq(mitm_cert_entry_key(e), mitm_ca_key(ca)), 1);
    long vr;
    cr_assert(th_handshake(mitm_ca_cert(ca), e, "same.test", 0, &vr));
    mitm_cert_entry_release(e);
    /* Not registered: generated as usual. */
    e = get1(st, "other.test");
    cr_assert_not(mitm_cert_entry_is_custom(e));
    mitm_cert_entry_release(e);

    /* Another key, not in the file: refused. */
    EVP_PKEY *k = th_ec_key(), *k2 = th_ec_key();
    X509 *other = th_make_cert(k, mitm_ca_cert(ca), mitm_ca_key(ca), "x.test", NULL, NULL, 0);
    write_pem(p, NULL, other, NULL);
    cr_assert_eq(mitm_cert_store_add_file(st, p, NULL, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "no private key"), "%s", err);
    /* A key that does not match. */
    write_pem(p, k2, other, NULL);
    cr_assert_eq(mitm_cert_store_add_file(st, p, NULL, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "does not match"), "%s", err);
    /* Missing file, and a file without a certificate. */
    cr_assert_eq(mitm_cert_store_add_file(st, th_join(tmp, "nope.pem"), NULL, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "nope.pem"), "%s", err);
    th_spit(p, "nothing here\n", 13);
    cr_assert_eq(mitm_cert_store_add_file(st, p, NULL, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "no certificate"), "%s", err);

    mitm_cert_store_free(st);
    X509_free(same);
    X509_free(other);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
}

/* ---- threads ---- */

struct worker {
    struct mitm_cert_store *st;
    int id;
    int bad;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    char name[64], e2[256];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "h%d.test", (i * 7 + w->id * 13) % 40);
        struct mitm_cert_names n;
        mitm_cert_names_build(&n, NULL, name, NULL, NULL);
        struct mitm_cert_entry *e = mitm_cert_store_get(w->st, &n, e2, sizeof(e2));
        if (!e || X509_check_host(mitm_cert_entry_cert(e), name, 0, 0, NULL) != 1)
            w->bad++;
        mitm_cert_entry_release(e);
        mitm_cert_names_free(&n);
    }
    return NULL;
}

Test(leaf, store_shared_by_threads, .timeout = 120)
{
    struct mitm_cert_store_opts o = {.capacity = 16};
    struct mitm_cert_store *st = mitm_cert_store_new(ca, &o, err, sizeof(err));
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){st, i, 0};
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(w[i].bad, 0, "worker %d got %d wrong entries", i, w[i].bad);
    }
    struct mitm_cert_store_stats stats;
    mitm_cert_store_stats(st, &stats);
    cr_assert_eq(stats.cached, 16);
    cr_assert_eq(stats.hits + stats.minted, 1200, "every lookup is a hit or a mint");
    cr_assert_geq(stats.minted, stats.evicted + stats.cached, "racing mints of one name are cached once");
    mitm_cert_store_free(st);
}

/* ---- the magic CRL ---- */

/* A self-signed upstream certificate for crl.test whose CRL distribution points extension
 * is the config string dps (e.g. "URI:http://a/b.crl"); NULL: none. */
static X509 *cert_with_crl_dps(EVP_PKEY *key, const char *dps)
{
    X509 *x = th_make_cert(key, NULL, NULL, "crl.test", NULL, "DNS:crl.test", 0);
    if (dps) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, NID_crl_distribution_points, dps);
        cr_assert_not_null(ext, "bad test extension %s", dps);
        cr_assert(X509_add_ext(x, ext, -1));
        X509_EXTENSION_free(ext);
        cr_assert(X509_sign(x, key, EVP_sha256()) > 0);
    }
    return x;
}

static char *origin_for(EVP_PKEY *key, const char *dps)
{
    X509 *x = cert_with_crl_dps(key, dps);
    struct mitm_cert_names n;
    mitm_cert_names_build(&n, x, NULL, NULL, NULL);
    char *o = n.crl_origin ? strdup(n.crl_origin) : NULL;
    mitm_cert_names_free(&n);
    X509_free(x);
    return o;
}

Test(leaf, crl_origin_from_the_first_uri_distribution_point)
{
    EVP_PKEY *k = th_ec_key();
    static const struct {
        const char *dps, *want;
    } cases[] = {
        {"URI:http://crl.example.com/ca/root.crl", "http://crl.example.com"},
        {"URI:HTTP://Crl.Example.com:8080/a.crl?x=1", "http://Crl.Example.com:8080"}, /* scheme lowercased */
        {"URI:http://first.test/a.crl,URI:http://second.test/b.crl", "http://first.test"},
        {"URI:ldap:///CN=CRL", NULL}, /* no host: nothing a client can fetch */
        {"URI:relative/path.crl", NULL},
        {"URI:http://sp ace.test/x", NULL},
        {NULL, NULL}, /* no extension */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *o = origin_for(k, cases[i].dps);
        if (cases[i].want)
            cr_assert(o && strcmp(o, cases[i].want) == 0, "%s: got %s", cases[i].dps, o ? o : "(null)");
        else
            cr_assert_null(o, "%s: got %s", cases[i].dps ? cases[i].dps : "(none)", o);
        free(o);
    }
    EVP_PKEY_free(k);
}

/* The decimal serial of the CA, as mitmproxy's crl_path formats it. */
static char *ca_serial_dec(void)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(mitm_ca_cert(ca)), NULL);
    char *dec = BN_bn2dec(bn);
    char *out = strdup(dec);
    OPENSSL_free(dec);
    BN_free(bn);
    return out;
}

Test(leaf, leaf_names_the_magic_crl_at_the_upstream_origin)
{
    struct mitm_cert_signer *s = mitm_cert_signer_new(ca, MITM_LEAF_KEY_EC_P256, 0, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    char *serial = ca_serial_dec(), want_path[96], want_url[160];
    snprintf(want_path, sizeof(want_path), "/mitmproxy-%s.crl", serial);
    cr_assert_str_eq(mitm_cert_signer_crl_path(s), want_path);

    EVP_PKEY *k = th_ec_key();
    X509 *up = cert_with_crl_dps(k, "URI:http://crl.example.com/ca/root.crl");
    struct mitm_cert_names n;
    mitm_cert_names_build(&n, up, "crl.test", NULL, NULL);
    X509 *leaf = mitm_cert_mint(s, &n, err, sizeof(err));
    cr_assert_not_null(leaf, "%s", err);
    CRL_DIST_POINTS *dps = X509_get_ext_d2i(leaf, NID_crl_distribution_points, NULL, NULL);
    cr_assert_eq(sk_DIST_POINT_num(dps), 1);
    const DIST_POINT *dp = sk_DIST_POINT_value(dps, 0);
    cr_assert(dp->distpoint && dp->distpoint->type == 0);
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0);
    cr_assert_eq(g->type, GEN_URI);
    snprintf(want_url, sizeof(want_url), "http://crl.example.com%s", want_path);
    cr_assert_str_eq((const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier), want_url);
    /* mitmproxy's extension order: EKU, SAN, AKI, CRL DP */
    cr_assert_eq(X509_get_ext_by_NID(leaf, NID_crl_distribution_points, -1), 3);
    CRL_DIST_POINTS_free(dps);
    X509_free(leaf);
    mitm_cert_names_free(&n);

    /* no distribution point upstream: none on the leaf */
    X509 *plain = cert_with_crl_dps(k, NULL);
    mitm_cert_names_build(&n, plain, "crl.test", NULL, NULL);
    leaf = mitm_cert_mint(s, &n, err, sizeof(err));
    cr_assert_eq(X509_get_ext_by_NID(leaf, NID_crl_distribution_points, -1), -1);
    X509_free(leaf);
    mitm_cert_names_free(&n);

    X509_free(plain);
    X509_free(up);
    EVP_PKEY_free(k);
    free(serial);
    mitm_cert_signer_free(s);
}

Test(leaf, store_keeps_leaves_apart_by_crl_origin)
{
    struct mitm_cert_store *st = mitm_cert_store_new(ca, NULL, err, sizeof(err));
    cr_assert_not_null(st, "%s", err);
    EVP_PKEY *k = th_ec_key();
    X509 *a = cert_with_crl_dps(k, "URI:http://a.test/x.crl"),
         *b = cert_with_crl_dps(k, "URI:http://b.test/x.crl");
    struct mitm_cert_names na, nb;
    mitm_cert_names_build(&na, a, "crl.test", NULL, NULL);
    mitm_cert_names_build(&nb, b, "crl.test", NULL, NULL);
    struct mitm_cert_entry *ea = mitm_cert_store_get(st, &na, err, sizeof(err));
    struct mitm_cert_entry *eb = mitm_cert_store_get(st, &nb, err, sizeof(err));
    cr_assert(ea && eb && ea != eb, "same names, different CRL origins: two leaves");
    mitm_cert_entry_release(ea);
    mitm_cert_entry_release(eb);
    mitm_cert_names_free(&na);
    mitm_cert_names_free(&nb);
    X509_free(a);
    X509_free(b);
    EVP_PKEY_free(k);
    mitm_cert_store_free(st);
}

Test(leaf, crl_is_empty_signed_by_the_ca_and_valid_for_a_week)
{
    struct mitm_cert_signer *s = mitm_cert_signer_new(ca, MITM_LEAF_KEY_EC_P256, 0, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    time_t now = 1800000000;
    size_t len = 0;
    uint8_t *der = mitm_cert_signer_crl_der(s, now, &len, err, sizeof(err));
    cr_assert_not_null(der, "%s", err);
    const unsigned char *p = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
    cr_assert_not_null(crl);
    cr_assert_eq(p, der + len, "one DER object, nothing after it");
    cr_assert_eq(X509_CRL_verify(crl, X509_get0_pubkey(mitm_ca_cert(ca))), 1, "signed by the CA key");
    cr_assert_eq(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(mitm_ca_cert(ca))), 0);
    cr_assert_eq(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
    cr_assert(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) <= 0, "nothing revoked");
    int days, secs;
    ASN1_TIME *at = ASN1_TIME_new();
    ASN1_TIME_set(at, now);
    cr_assert(ASN1_TIME_diff(&days, &secs, at, X509_CRL_get0_lastUpdate(crl)));
    cr_assert(days == -2 && secs == 0, "lastUpdate now-2d, got %d d %d s", days, secs);
    cr_assert(ASN1_TIME_diff(&days, &secs, X509_CRL_get0_lastUpdate(crl), X509_CRL_get0_nextUpdate(crl)));
    cr_assert(days == 7 && secs == 0, "valid 7 days, got %d d %d s", days, secs);
    ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    cr_assert(num && ASN1_INTEGER_get(num) == 1000);
    ASN1_INTEGER_free(num);
    ASN1_TIME_free(at);
    X509_CRL_free(crl);
    free(der);
    mitm_cert_signer_free(s);
}
