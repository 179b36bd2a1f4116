/* Filters decided on store summaries (src/filter/facts.c through mitm_store_match) answer
 * exactly what the full matcher answers on the flow read back from the store: generated
 * flows (hosts, Host headers, ports, long paths, content types, flags) against generated
 * expressions, every answer compared, and the share decided without a load counted. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "filter/filter.h"
#include "flow/flow.h"
#include "flow/store.h"
#include "proto/http/http.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *pick(const char *const *v, size_t n)
{
    return v[rnd((unsigned)n)];
}
#define PICK(v) pick((v), sizeof(v) / sizeof((v)[0]))

static void hdr(struct mitm_headers *h, const char *name, const char *value)
{
    mitm_headers_add(h, name, strlen(name), value, strlen(value));
}

static char *repeat(char c, size_t n)
{
    char *s = mitm_alloc(n + 1);
    memset(s, c, n);
    s[n] = 0;
    return s;
}

/* clean: what a proxy sees most, Host equal to the URL's host, a short path */
static struct mitm_flow *gen_flow(bool clean)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "M-SEARCH", "get"};
    static const char *const hosts[] = {"example.com", "api.example.org", "::1", "10.0.0.1", "cdn.test"};
    static const char *const schemes[] = {"http", "https"};
    static const unsigned ports[] = {80, 443, 8080};
    static const char *const paths[] = {"/", "/a/b?x=1", "/api/v1/users", "/img/logo.png", "/JSON", "/x$"};
    static const char *const ctypes[] = {"text/html",        "application/json; charset=utf-8", "image/png",
                                         "text/css",         "application/javascript",          "",
                                         "text/plain;x=json"};
    static const int codes[] = {200, 204, 301, 404, 500};
    struct mitm_flow *f = mitm_flow_new(rnd(10) == 0 && !clean ? MITM_FLOW_TCP : MITM_FLOW_HTTP, 1.0);
    f->client_conn.peer_host = mitm_strdup("127.0.0.1");
    f->client_conn.peer_port = 40000;
    f->server_conn.address_host = mitm_strdup(PICK(hosts));
    f->server_conn.address_port = 443;
    if (f->type == MITM_FLOW_TCP) {
        f->messages = mitm_calloc(1, sizeof(*f->messages));
        f->n_messages = 1;
        f->messages[0].from_client = true;
        f->messages[0].content = (uint8_t *)mitm_strdup("hello json");
        f->messages[0].len = 10;
        return f;
    }
    struct mitm_http_request *r = f->request = mitm_http_request_new();
    r->method = rnd(40) == 0 && !clean ? repeat('M', 300) : mitm_strdup(PICK(methods));
    r->scheme = mitm_strdup(PICK(schemes));
    r->host = rnd(40) == 0 && !clean ? repeat('h', 300) : mitm_strdup(PICK(hosts));
    r->port = (uint16_t)ports[rnd(3)];
    r->path = rnd(8) == 0 && !clean ? repeat('p', 300) : mitm_strdup(PICK(paths));
    r->authority = mitm_strdup("");
    r->form = rnd(2) ? MITM_TARGET_ABSOLUTE : MITM_TARGET_ORIGIN;
    bool h2 = rnd(5) == 0;
    r->http_version = mitm_strdup(h2 ? "HTTP/2.0" : "HTTP/1.1");
    char hv[400];
    bool v6 = strchr(r->host, ':') != NULL;
    unsigned hk = clean ? 1 : rnd(7);
    if (h2 && hk == 0) { /* no Host: ~d and ~u read :authority */
        free(r->authority);
        r->authority = mitm_strdup(rnd(2) ? "other.example:8443" : r->host);
    } else if (hk == 1) { /* Host is the URL's authority */
        bool dflt =
            (r->port == 80 && !strcmp(r->scheme, "http")) || (r->port == 443 && !strcmp(r->scheme, "https"));
        if (dflt)
            snprintf(hv, sizeof(hv), "%s%s%s", v6 ? "[" : "", r->host, v6 ? "]" : "");
        else
            snprintf(hv, sizeof(hv), "%s%s%s:%u", v6 ? "[" : "", r->host, v6 ? "]" : "", r->port);
        hdr(&r->headers, "Host", hv);
    } else if (hk == 2) { /* host with an explicit default port */
        snprintf(hv, sizeof(hv), "%s:%u", r->host, r->port);
        hdr(&r->headers, "Host", hv);
    } else if (hk == 3) {
        hdr(&r->headers, "Host", "other.example");
    } else if (hk == 4) {
        hdr(&r->headers, "Host", r->host);
        hdr(&r->headers, "host", "second.example");
    } else if (hk == 5) {
        hdr(&r->headers, "Host", "[::1]:8080");
    }
    hdr(&r->headers, "User-Agent", "curl/8.0");
    unsigned qc = clean ? 0 : rnd(4);
    if (qc >= 1)
        hdr(&r->headers, "Content-Type", "application/x-www-form-urlencoded");
    if (qc == 3)
        hdr(&r->headers, "Content-Type", "text/json");
    if (rnd(4)) {
        struct mitm_http_response *rs = f->response = mitm_http_response_new();
        rs->http_version = mitm_strdup("HTTP/1.1");
        rs->status_code = codes[rnd(5)];
        rs->reason = mitm_strdup("R");
        unsigned rc = rnd(6);
        if (rc >= 1)
            hdr(&rs->headers, "Content-Type", PICK(ctypes));
        if (rc == 5 && !clean)
            hdr(&rs->headers, "Content-Type", PICK(ctypes));
        if (rc == 4 && !clean) {
            char *longct = repeat('j', 300);
            hdr(&rs->headers, "X-Pad", "1");
            mitm_headers_set(&rs->headers, "Content-Type", longct, 300);
            free(longct);
        }
        mitm_buf_append(&rs->content, "{\"json\": 1}", 11);
    }
    if (rnd(10) == 0)
        mitm_flow_set_error(f, "Connection killed.", 2.0);
    if (rnd(8) == 0) {
        const char *mk = rnd(2) ? ":default:" : "x";
        mitm_str_set(&f->marked, mk, strlen(mk));
    }
    if (rnd(10) == 0)
        f->is_replay = mitm_strdup(rnd(2) ? "request" : "response");
    if (rnd(20) == 0)
        f->websocket = mitm_websocket_new();
    if (rnd(10) == 0)
        mitm_str_set(&f->comment, "a json comment", 14);
    return f;
}

static const char *const words[] = {"example", "com$",   "^http://", "api",   "GET",  "^P",         "json",
                                    "html",    "png",    "8080",     "::1",   "/a",   "x",          "^$",
                                    ".",       "\\.org", "charset",  "other", "^cdn", "https:.*443"};

/* atoms the summaries decide (on clean flows), then the others */
static const char *const decided[] = {"~d",   "~u",         "~m",   "~t",      "~ts",     "~c",
                                      "~a",   "~q",         "~s",   "~e",      "~marked", "~http",
                                      "~tcp", "~websocket", "~all", "~replay", "~dns",    "~udp"};
static const char *const undecided[] = {"~h",   "~hq",  "~hs",   "~b",      "~bq", "~bs",      "~comment",
                                        "~src", "~dst", "~meta", "~marker", "~tq", "~replayq", "~replays"};

static bool takes_regex(const char *op)
{
    static const char *const no_arg[] = {"~a",    "~q",   "~s",         "~e",      "~marked",
                                         "~http", "~tcp", "~websocket", "~all",    "~replay",
                                         "~dns",  "~udp", "~replayq",   "~replays"};
    for (size_t i = 0; i < sizeof(no_arg) / sizeof(no_arg[0]); i++)
        if (!strcmp(op, no_arg[i]))
            return false;
    return true;
}

static void gen_atom(char *out, size_t cap, bool only_decided)
{
    const char *op = only_decided || rnd(3) ? PICK(decided) : PICK(undecided);
    if (!strcmp(op, "~c"))
        snprintf(out, cap, "~c %d", (int[]){200, 404, 500, 204}[rnd(4)]);
    else if (takes_regex(op))
        snprintf(out, cap, "%s %s", op, PICK(words));
    else
        snprintf(out, cap, "%s", op);
}

static void gen_expr(char *out, size_t cap, int depth, bool only_decided)
{
    char a[512], b[512];
    unsigned k = depth > 2 ? 0 : rnd(5);
    if (k <= 1) {
        gen_atom(out, cap, only_decided);
        return;
    }
    gen_expr(a, sizeof(a), depth + 1, only_decided);
    if (k == 2) {
        snprintf(out, cap, "!(%s)", a);
        return;
    }
    gen_expr(b, sizeof(b), depth + 1, only_decided);
    snprintf(out, cap, k == 3 ? "(%s) & (%s)" : "(%s) | (%s)", a, b);
}

struct fixture {
    struct mitm_store *s;
    struct mitm_flow **back; /* each stored flow as read back: the full matcher's subject */
    size_t n;
};

static struct fixture build(size_t n, bool clean)
{
    char err[256];
    struct fixture fx = {.n = n};
    fx.s = mitm_store_new(NULL, err, sizeof(err));
    cr_assert(fx.s, "%s", err);
    fx.back = mitm_calloc(n, sizeof(*fx.back));
    for (size_t i = 0; i < n; i++) {
        struct mitm_flow *f = gen_flow(clean);
        cr_assert_eq(mitm_store_add(fx.s, f, err, sizeof(err)), (ssize_t)i, "%s", err);
        mitm_flow_unref(f);
        fx.back[i] = mitm_store_get(fx.s, i, err, sizeof(err));
        cr_assert(fx.back[i], "%s", err);
    }
    return fx;
}

static void drop(struct fixture *fx)
{
    for (size_t i = 0; i < fx->n; i++)
        mitm_flow_unref(fx->back[i]);
    free(fx->back);
    mitm_store_free(fx->s);
}

/* every answer equal to the full matcher's; returns how many were decided without a load */
static size_t check(struct fixture *fx, const char *expr)
{
    char err[256];
    struct mitm_filter *flt = mitm_filter_parse(expr, err, sizeof(err));
    cr_assert(flt, "%s: %s", expr, err);
    size_t decided_n = 0;
    for (size_t i = 0; i < fx->n; i++) {
        uint64_t before = mitm_store_match_loads(fx->s);
        int got = mitm_store_match(fx->s, i, flt, err, sizeof(err));
        bool want = mitm_filter_match(flt, fx->back[i]);
        cr_assert_eq(got, want, "%s on flow %zu (%s %s://%s:%u%s): store says %d, the flow says %d", expr, i,
                     fx->back[i]->request ? fx->back[i]->request->method : "tcp",
                     fx->back[i]->request ? fx->back[i]->request->scheme : "",
                     fx->back[i]->request ? fx->back[i]->request->host : "",
                     fx->back[i]->request ? fx->back[i]->request->port : 0,
                     fx->back[i]->request ? fx->back[i]->request->path : "", got, want);
        decided_n += mitm_store_match_loads(fx->s) == before;
    }
    mitm_filter_free(flt);
    return decided_n;
}

Test(facts, generated_flows_and_expressions_agree_with_the_full_matcher)
{
    struct fixture fx = build(240, false);
    char expr[4096];
    size_t decided_n = 0, total = 0;
    for (int k = 0; k < 2500; k++) {
        gen_expr(expr, sizeof(expr), 0, false);
        decided_n += check(&fx, expr);
        total += fx.n;
    }
    /* the summaries must answer most of them, else the index is not doing its work */
    cr_assert_gt(decided_n * 2, total, "only %zu of %zu answers came from summaries", decided_n, total);
    drop(&fx);
}

Test(facts, common_filters_on_common_flows_read_nothing_back)
{
    struct fixture fx = build(300, true);
    char expr[4096];
    for (int k = 0; k < 400; k++) {
        gen_expr(expr, sizeof(expr), 0, true);
        size_t d = check(&fx, expr);
        cr_assert_eq(d, fx.n, "%s: %zu of %zu flows needed a load", expr, fx.n - d, fx.n);
    }
    static const char *const hand[] = {"~d example.com & ~c 200", "~u \"^https://api\\.example\\.org/api\"",
                                       "!~m GET | ~ts json",      "~a & !~e",
                                       "example.com/a",           "~q | ~s & ~c 404"};
    for (size_t k = 0; k < sizeof(hand) / sizeof(hand[0]); k++)
        cr_assert_eq(check(&fx, hand[k]), fx.n, "%s", hand[k]);
    drop(&fx);
}

Test(facts, a_body_filter_reads_the_flows_back)
{
    struct fixture fx = build(50, true);
    cr_assert_eq(check(&fx, "~b json"), 0);
    cr_assert_eq(check(&fx, "~h curl"), 0);
    /* an unmarked flow's marker is "": decided, and "^$" matches it */
    cr_assert_gt(check(&fx, "~marker ^$"), 0);
    cr_assert_gt(check(&fx, "!~marker ."), 0);
    drop(&fx);
}

Test(facts, a_view_filter_uses_the_summaries)
{
    struct fixture fx = build(200, true);
    char err[256];
    struct mitm_store_view *v = mitm_store_view_new(fx.s);
    uint64_t before = mitm_store_match_loads(fx.s);
    cr_assert_eq(mitm_store_view_set_filter(v, "~m POST & ~d example", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(mitm_store_match_loads(fx.s), before);
    size_t want = 0;
    struct mitm_filter *flt = mitm_filter_parse("~m POST & ~d example", err, sizeof(err));
    for (size_t i = 0; i < fx.n; i++)
        want += mitm_filter_match(flt, fx.back[i]);
    mitm_filter_free(flt);
    cr_assert_gt(want, 0);
    cr_assert_eq(mitm_store_view_count(v), want);
    mitm_store_view_free(v);
    drop(&fx);
}
