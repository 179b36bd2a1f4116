/* proxyauth with the htpasswd reader: the specs and their errors, the 407 / 401 answers per
 * mode, what valid credentials change, the once-per-connection rule of CONNECT tunnels and
 * SOCKS5's entry point. */
#include "helpers.h"

#include "addon/htpasswd.h"
#include "addon/proxyauth.h"

#include <crypt.h>

static char err[1024];

static struct mitm_proxyauth *conf(struct mitm_options *o, const char *spec)
{
    char set[512];
    snprintf(set, sizeof(set), "proxyauth=%s", spec);
    opts_with(o, HDRS(set));
    struct mitm_proxyauth *pa = NULL;
    cr_assert_eq(mitm_proxyauth_configure(o, &pa, err, sizeof(err)), 0, "%s", err);
    return pa;
}

static void run(struct mitm_proxyauth *pa, const struct mitm_options *o, enum mitm_hook h,
                struct mitm_flow *f)
{
    struct mitm_hook_env env = env_for(o, 5.0);
    mitm_addon_proxyauth.hook(pa, h, f, &env);
}

#define PROXY_407                                                                                            \
    "<html><head><title>407 Proxy Authentication Required</title></head><body><h1>407 Proxy Authentication " \
    "Required</h1></body></html>"

Test(proxyauth, single_user_regular_mode)
{
    struct mitm_options o;
    struct mitm_proxyauth *pa = conf(&o, "user:pass");
    struct mitm_flow *f = mkflow("GET", "http", "h", 80, "/", HDRS("Accept", "*/*"), NULL);
    run(pa, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_not_null(f->response);
    cr_assert_eq(f->response->status_code, 407);
    cr_assert_str_eq(f->response->reason, "Proxy Authentication Required");
    cr_assert_str_eq(bodytext(&f->response->content), PROXY_407);
    char want[256];
    snprintf(want, sizeof(want), "Proxy-Authenticate: Basic realm=\"mitmproxy\"\ncontent-length: %zu\n",
             strlen(PROXY_407));
    cr_assert_str_eq(hdrtext(&f->response->headers), want);
    cr_assert_null(meta(f, "proxyauth"));
    mitm_flow_unref(f);

    f = mkflow("GET", "http", "h", 80, "/",
               HDRS("Proxy-Authorization", "Basic dXNlcjpwYXNz", "Accept", "*/*"), NULL);
    run(pa, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_null(f->response);
    cr_assert_str_eq(hdrtext(&f->request->headers), "Accept: */*\n", "valid credentials are taken off");
    cr_assert_str_eq(meta(f, "proxyauth"), "14:4:user;4:pass;]");
    mitm_flow_unref(f);

    static const char *const wrong[] = {"Basic dXNlcjp3cm9uZw==", "Digest dXNlcjpwYXNz", "Basic", "garbage",
                                        ""};
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        f = mkflow("GET", "http", "h", 80, "/", HDRS("Proxy-Authorization", wrong[i]), NULL);
        run(pa, &o, MITM_HOOK_REQUESTHEADERS, f);
        cr_assert_eq(f->response->status_code, 407, "%s", wrong[i]);
        cr_assert_eq(mitm_headers_count(&f->request->headers, "proxy-authorization"), 1, "kept when refused");
        mitm_flow_unref(f);
    }
    f = mkflow("GET", "http", "h", 80, "/", HDRS("Authorization", "Basic dXNlcjpwYXNz"), NULL);
    run(pa, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_eq(f->response->status_code, 407, "a proxy reads Proxy-Authorization, not Authorization");
    mitm_flow_unref(f);
    f = mkflow("GET", "http", "h", 80, "/", NOHDRS, NULL);
    run(pa, &o, MITM_HOOK_REQUEST, f);
    run(pa, &o, MITM_HOOK_RESPONSE, f);
    cr_assert_null(f->response, "only requestheaders and http_connect");
    mitm_flow_unref(f);
    mitm_proxyauth_free(pa);
    mitm_options_free(&o);
}

Test(proxyauth, server_modes_use_401)
{
    struct mitm_options o;
    struct mitm_proxyauth *pa = conf(&o, "any");
    static const char *const modes[] = {"reverse:https://example.com", "transparent", "socks5", "wireguard"};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        struct mitm_flow *f =
            mkflow("GET", "http", "h", 80, "/", HDRS("Proxy-Authorization", "Basic dXNlcjpwYXNz"), NULL);
        set_mode(f, modes[i]);
        run(pa, &o, MITM_HOOK_REQUESTHEADERS, f);
        cr_assert_eq(f->response->status_code, 401, "%s", modes[i]);
        cr_assert_str_eq(f->response->reason, "Unauthorized");
        cr_assert(strstr(hdrtext(&f->response->headers), "WWW-Authenticate: Basic realm=\"mitmproxy\"\n"));
        cr_assert(strstr(bodytext(&f->response->content), "<h1>401 Unauthorized</h1>"));
        mitm_flow_unref(f);
        f = mkflow("GET", "http", "h", 80, "/", HDRS("Authorization", "Basic YWxpY2U6VSpV"), NULL);
        set_mode(f, modes[i]);
        run(pa, &o, MITM_HOOK_REQUESTHEADERS, f);
        cr_assert_null(f->response, "any accepts any credentials");
        cr_assert_str_eq(hdrtext(&f->request->headers), "");
        cr_assert_str_eq(meta(f, "proxyauth"), "14:5:alice;3:U*U;]");
        mitm_flow_unref(f);
    }
    struct mitm_flow *f =
        mkflow("GET", "http", "h", 80, "/", HDRS("Proxy-Authorization", "Basic dXNlcjpwYXNz"), NULL);
    set_mode(f, "upstream:http://proxy.test:3128");
    run(pa, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_null(f->response, "upstream mode is a proxy too");
    mitm_flow_unref(f);
    mitm_proxyauth_free(pa);
    mitm_options_free(&o);
}

Test(proxyauth, connect_authenticates_the_connection)
{
    struct mitm_options o;
    struct mitm_proxyauth *pa = conf(&o, "user:pass");
    struct mitm_flow *c = mkflow("CONNECT", "http", "h", 443, "", NOHDRS, NULL);
    run(pa, &o, MITM_HOOK_HTTP_CONNECT, c);
    cr_assert_eq(c->response->status_code, 407);
    mitm_flow_unref(c);
    struct mitm_flow *inner = mkflow("GET", "https", "h", 443, "/", NOHDRS, NULL);
    run(pa, &o, MITM_HOOK_REQUESTHEADERS, inner);
    cr_assert_eq(inner->response->status_code, 407, "a refused CONNECT does not authenticate the connection");
    mitm_flow_unref(inner);

    c = mkflow("CONNECT", "http", "h", 443, "", HDRS("Proxy-Authorization", "Basic dXNlcjpwYXNz"), NULL);
    run(pa, &o, MITM_HOOK_HTTP_CONNECT, c);
    cr_assert_null(c->response);
    cr_assert_str_eq(hdrtext(&c->request->headers), "");
    mitm_flow_unref(c);
    for (int i = 0; i < 3; i++) {
        inner = mkflow("GET", "https", "h", 443, "/", NOHDRS, NULL);
        run(pa, &o, MITM_HOOK_REQUESTHEADERS, inner);
        cr_assert_null(inner->response, "requests in the tunnel are not asked again");
        cr_assert_str_eq(meta(inner, "proxyauth"), "14:4:user;4:pass;]");
        mitm_flow_unref(inner);
    }
    /* the same peer address on a later connection is not the same connection */
    inner = mkflow("GET", "https", "h", 443, "/", NOHDRS, NULL);
    inner->client_conn.timestamp_start = 1234.5;
    run(pa, &o, MITM_HOOK_REQUESTHEADERS, inner);
    cr_assert_eq(inner->response->status_code, 407);
    mitm_flow_unref(inner);
    /* a plain request with valid credentials authenticates only itself */
    struct mitm_flow *plain =
        mkflow("GET", "http", "h", 80, "/", HDRS("Proxy-Authorization", "Basic dXNlcjpwYXNz"), NULL);
    plain->client_conn.peer_port = 6000;
    run(pa, &o, MITM_HOOK_REQUESTHEADERS, plain);
    cr_assert_null(plain->response);
    mitm_flow_unref(plain);
    plain = mkflow("GET", "http", "h", 80, "/", NOHDRS, NULL);
    plain->client_conn.peer_port = 6000;
    run(pa, &o, MITM_HOOK_REQUESTHEADERS, plain);
    cr_assert_eq(plain->response->status_code, 407);
    mitm_flow_unref(plain);
    /* client replays are not asked */
    struct mitm_flow *rep = mkflow("GET", "http", "h", 80, "/", NOHDRS, NULL);
    rep->client_conn.peer_port = 7000;
    rep->is_replay = mitm_strdup("request");
    run(pa, &o, MITM_HOOK_REQUESTHEADERS, rep);
    cr_assert_null(rep->response);
    mitm_flow_unref(rep);
    mitm_proxyauth_free(pa);
    mitm_options_free(&o);
}

Test(proxyauth, socks5_entry_point)
{
    struct mitm_options o;
    struct mitm_proxyauth *pa = conf(&o, "user:pass");
    cr_assert(mitm_proxyauth_check(pa, "user", 4, "pass", 4));
    cr_assert(!mitm_proxyauth_check(pa, "user", 4, "pas", 3));
    cr_assert(!mitm_proxyauth_check(pa, "use", 3, "pass", 4));
    cr_assert(!mitm_proxyauth_socks5(pa, "10.0.0.1", 5000, 999.0, "user", 4, "nope", 4));
    struct mitm_flow *f = mkflow("GET", "http", "h", 80, "/", NOHDRS, NULL);
    set_mode(f, "socks5");
    run(pa, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_eq(f->response->status_code, 401);
    mitm_flow_unref(f);
    cr_assert(mitm_proxyauth_socks5(pa, "10.0.0.1", 5000, 999.0, "user", 4, "pass", 4));
    f = mkflow("GET", "http", "h", 80, "/", NOHDRS, NULL);
    set_mode(f, "socks5");
    run(pa, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_null(f->response, "the SOCKS5 handshake authenticated the connection");
    cr_assert_str_eq(meta(f, "proxyauth"), "14:4:user;4:pass;]");
    mitm_flow_unref(f);
    /* client_disconnected forgets the connection's credentials */
    struct mitm_conn c = {.port = 0, .peer_port = 5000, .timestamp_start = 999.0};
    strcpy(c.peer_host, "10.0.0.1");
    struct mitm_hook_env env = env_for(&o, 6.0);
    mitm_addon_proxyauth.hook(pa, MITM_HOOK_CLIENT_DISCONNECTED, &c, &env);
    f = mkflow("GET", "http", "h", 80, "/", NOHDRS, NULL);
    set_mode(f, "socks5");
    run(pa, &o, MITM_HOOK_REQUESTHEADERS, f);
    cr_assert_eq(f->response->status_code, 401, "a new connection from the same address asks again");
    mitm_flow_unref(f);
    mitm_proxyauth_free(pa);
    mitm_options_free(&o);
}

static char tmp[64];

static const char *htfile(const char *content)
{
    strcpy(tmp, "/tmp/mitmc-htpasswd-XXXXXX");
    int fd = mkstemp(tmp);
    cr_assert(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
    close(fd);
    return tmp;
}

static char *bcrypt_of(const char *pass)
{
    struct crypt_data cd;
    memset(&cd, 0, sizeof(cd));
    char *salt = crypt_gensalt_rn("$2b$", 4, NULL, 0, cd.setting, sizeof(cd.setting));
    cr_assert_not_null(salt);
    return mitm_strdup(crypt_r(pass, salt, &cd));
}

Test(proxyauth, htpasswd_file)
{
    char *b = bcrypt_of("secret");
    char text[1024];
    snprintf(text, sizeof(text),
             "# users\n\n  bob:%s  \r\nsha:{SHA}nU4eI71bcnBGqeO0t9tXvY1u5oQ=\n"
             "alice:$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW\n"
             "yves:$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW:extra\n",
             b);
    char spec[128];
    snprintf(spec, sizeof(spec), "@%s", htfile(text));
    struct mitm_options o;
    struct mitm_proxyauth *pa = conf(&o, spec);
    unlink(tmp);
    cr_assert(mitm_proxyauth_check(pa, "bob", 3, "secret", 6));
    cr_assert(mitm_proxyauth_check(pa, "bob", 3, "secret", 6), "again (from the cache)");
    cr_assert(!mitm_proxyauth_check(pa, "bob", 3, "secreT", 6));
    cr_assert(!mitm_proxyauth_check(pa, "bob", 3, "secret\0x", 8), "a NUL never verifies");
    cr_assert(mitm_proxyauth_check(pa, "sha", 3, "pass", 4));
    cr_assert(!mitm_proxyauth_check(pa, "sha", 3, "pas", 3));
    cr_assert(mitm_proxyauth_check(pa, "alice", 5, "U*U", 3));
    cr_assert(mitm_proxyauth_check(pa, "yves", 4, "U*U", 3), "$2y$ and fields after the hash");
    cr_assert(!mitm_proxyauth_check(pa, "nobody", 6, "U*U", 3));
    cr_assert(!mitm_proxyauth_check(pa, "", 0, "", 0));
    mitm_proxyauth_free(pa);
    mitm_options_free(&o);
    free(b);
}

static void bad(const char *spec, const char *msg, bool prefix)
{
    struct mitm_options o;
    char set[600];
    snprintf(set, sizeof(set), "proxyauth=%s", spec);
    opts_with(&o, HDRS(set));
    struct mitm_proxyauth *pa = (void *)1;
    cr_assert_eq(mitm_proxyauth_configure(&o, &pa, err, sizeof(err)), -1, "%s", spec);
    cr_assert_null(pa);
    if (prefix)
        cr_assert(strncmp(err, msg, strlen(msg)) == 0, "%s", err);
    else
        cr_assert_str_eq(err, msg, "%s", spec);
    mitm_options_free(&o);
}

Test(proxyauth, configure_errors)
{
    bad("foo", "Invalid proxyauth specification.", false);
    bad("a:b:c", "Invalid single-user auth specification.", false);
    bad("ldap:localhost:cn=default,dc=cdhdt,dc=com:password:ou=application,dc=cdhdt,dc=com",
        "Invalid proxyauth specification: LDAP authentication is not supported by mitmc", false);
    bad("@/nonexistent/htpasswd",
        "Could not open htpasswd file: /nonexistent/htpasswd (Htpasswd file not found: "
        "/nonexistent/htpasswd)",
        false);
    char spec[128], msg[512];
    snprintf(spec, sizeof(spec), "@%s", htfile("nocolon\n"));
    snprintf(msg, sizeof(msg), "Could not open htpasswd file: %s (Malformed htpasswd line: 'nocolon')", tmp);
    bad(spec, msg, false);
    unlink(tmp);
    snprintf(spec, sizeof(spec), "@%s", htfile(":nouser\n"));
    snprintf(msg, sizeof(msg), "Could not open htpasswd file: %s (Malformed htpasswd line: ':nouser')", tmp);
    bad(spec, msg, false);
    unlink(tmp);
    snprintf(spec, sizeof(spec), "@%s", htfile("md5:$apr1$x$y\n"));
    snprintf(msg, sizeof(msg),
             "Could not open htpasswd file: %s (Unsupported htpasswd format for user 'md5')", tmp);
    bad(spec, msg, false);
    unlink(tmp);
    snprintf(spec, sizeof(spec), "@%s", htfile("u:{SHA}\xff\n"));
    snprintf(msg, sizeof(msg), "Could not open htpasswd file: %s (not UTF-8)", tmp);
    bad(spec, msg, false);
    unlink(tmp);
    struct mitm_options o;
    opts_with(&o, HDRS("proxyauth="));
    struct mitm_proxyauth *pa = (void *)1;
    cr_assert_eq(mitm_proxyauth_configure(&o, &pa, err, sizeof(err)), 0);
    cr_assert_null(pa, "empty: off");
    mitm_options_free(&o);
}
