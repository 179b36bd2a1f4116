#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cert/keylog.h"
#include "cert/store.h"
#include "helpers.h"

static char err[512];

static int count_prefix(const char *text, const char *prefix)
{
    int n = 0;
    size_t plen = strlen(prefix);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        n += strncmp(line, prefix, plen) == 0;
    return n;
}

static struct mitm_cert_entry *entry_for(struct mitm_ca *ca, struct mitm_cert_store **st)
{
    *st = mitm_cert_store_new(ca, NULL, err, sizeof(err));
    cr_assert_not_null(*st, "%s", err);
    struct mitm_cert_names n;
    mitm_cert_names_build(&n, NULL, "k.test", NULL, NULL);
    struct mitm_cert_entry *e = mitm_cert_store_get(*st, &n, err, sizeof(err));
    mitm_cert_names_free(&n);
    cr_assert_not_null(e, "%s", err);
    return e;
}

Test(keylog, writes_nss_lines_and_appends)
{
    char *tmp = th_tmpdir();
    struct mitm_ca *ca = mitm_ca_load_or_create(tmp, 2048, NULL, err, sizeof(err));
    cr_assert_not_null(ca, "%s", err);
    const char *path = strdup(th_join(tmp, "keys.log"));
    th_spit(path, "# existing\n", 11);
    chmod(path, 0640);
    unsetenv("SSLKEYLOGFILE");
    setenv("MITMPROXY_SSLKEYLOGFILE", path, 1);

    struct mitm_cert_store *st;
    struct mitm_cert_entry *e = entry_for(ca, &st);
    long vr;
    cr_assert(th_handshake(mitm_ca_cert(ca), e, "k.test", 1, &vr));
    cr_assert(th_handshake(mitm_ca_cert(ca), e, "k.test", 1, &vr));
    mitm_keylog_close();

    size_t n;
    char *text = (char *)th_slurp(path, &n);
    cr_assert_eq(strncmp(text, "# existing\n", 11), 0, "appends, never truncates");
    /* TLS 1.3 (RFC 8446 §7.1 secrets, NSS names): 5 lines per server handshake. */
    cr_assert_eq(count_prefix(text, "CLIENT_HANDSHAKE_TRAFFIC_SECRET "), 2);
    cr_assert_eq(count_prefix(text, "SERVER_HANDSHAKE_TRAFFIC_SECRET "), 2);
    cr_assert_eq(count_prefix(text, "CLIENT_TRAFFIC_SECRET_0 "), 2);
    cr_assert_eq(count_prefix(text, "SERVER_TRAFFIC_SECRET_0 "), 2);
    cr_assert_eq(count_prefix(text, "EXPORTER_SECRET "), 2);
    cr_assert_eq(text[n - 1], '\n');
    cr_assert_eq(th_mode(path), 0640, "a pre-existing file keeps its mode");
    free(text);

    /* A new file is created 0600. */
    unlink(path);
    cr_assert(th_handshake(mitm_ca_cert(ca), e, "k.test", 1, &vr));
    mitm_keylog_close();
    cr_assert_eq(th_mode(path), 0600);

    /* SSLKEYLOGFILE is the fallback; nothing set: no callback. */
    unsetenv("MITMPROXY_SSLKEYLOGFILE");
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    cr_assert_eq(mitm_keylog_attach(ctx), 0);
    cr_assert_null(SSL_CTX_get_keylog_callback(ctx));
    setenv("SSLKEYLOGFILE", path, 1);
    cr_assert_eq(mitm_keylog_attach(ctx), 1);
    cr_assert_not_null(SSL_CTX_get_keylog_callback(ctx));
    SSL_CTX_free(ctx);
    unsetenv("SSLKEYLOGFILE");

    mitm_cert_entry_release(e);
    mitm_cert_store_free(st);
    mitm_ca_free(ca);
    th_rmtree(tmp);
    free((char *)path);
    free(tmp);
}
