/* block_list: mitmproxy's test_blocklist cases (spec errors, 444 kills, other codes answer
 * with an empty response) plus the rule that every matching spec acts. */
#include "helpers.h"

#include "addon/blocklist.h"

static char err[1024];

static struct mitm_blocklist *conf(struct mitm_options *o, const char *const *specs)
{
    char sets[8][256];
    const char *list[9] = {0};
    for (size_t i = 0; specs[i]; i++) {
        snprintf(sets[i], sizeof(sets[i]), "block_list=%s", specs[i]);
        list[i] = sets[i];
    }
    opts_with(o, list);
    struct mitm_blocklist *b = NULL;
    cr_assert_eq(mitm_blocklist_configure(o, &b, err, sizeof(err)), 0, "%s", err);
    return b;
}

static struct mitm_flow *run(struct mitm_blocklist *b, const struct mitm_options *o, const char *host)
{
    struct mitm_flow *f = mkflow("GET", "http", host, 80, "/", HDRS("Host", host), NULL);
    struct mitm_hook_env env = env_for(o, 7.0);
    mitm_addon_blocklist.hook(b, MITM_HOOK_REQUEST, f, &env);
    return f;
}

Test(blocklist, answers_and_kills)
{
    struct mitm_options o;
    struct mitm_blocklist *b =
        conf(&o, HDRS(":~d example.org:404", "!~d kill.test!444", "|~d teapot.test|418"));
    struct mitm_flow *f = run(b, &o, "example.org");
    cr_assert_not_null(f->response);
    cr_assert_eq(f->response->status_code, 404);
    cr_assert_str_eq(f->response->reason, "Not Found");
    cr_assert_str_eq(f->response->http_version, "HTTP/1.1");
    cr_assert_str_eq(hdrtext(&f->response->headers), "Server: mitmc/" MITM_VERSION "\ncontent-length: 0\n");
    cr_assert_eq(f->response->content.len, 0);
    cr_assert_eq(f->response->timestamp_start, 7.0);
    cr_assert_str_eq(meta(f, "blocklisted"), "4:true!");
    cr_assert(!f->killed);
    mitm_flow_unref(f);
    f = run(b, &o, "kill.test");
    cr_assert(f->killed, "444: the connection is closed without a response");
    cr_assert_null(f->response);
    cr_assert_str_eq(meta(f, "blocklisted"), "4:true!");
    mitm_flow_unref(f);
    f = run(b, &o, "teapot.test");
    cr_assert_str_eq(f->response->reason, "I'm a teapot");
    mitm_flow_unref(f);
    f = run(b, &o, "other.test");
    cr_assert_null(f->response);
    cr_assert(!f->killed);
    cr_assert_null(meta(f, "blocklisted"));
    mitm_flow_unref(f);
    mitm_blocklist_free(b);
    mitm_options_free(&o);
}

Test(blocklist, every_matching_spec_acts)
{
    struct mitm_options o;
    struct mitm_blocklist *b = conf(&o, HDRS("|~d a.test|403", "|~d a|451", "|~d b.test|444", "|~d b|403"));
    struct mitm_flow *f = run(b, &o, "a.test");
    cr_assert_eq(f->response->status_code, 451, "the last matching status wins (mitmproxy loops over all)");
    cr_assert_str_eq(f->response->reason, "Unavailable For Legal Reasons");
    mitm_flow_unref(f);
    f = run(b, &o, "b.test");
    cr_assert(f->killed, "a kill wins whatever comes after");
    mitm_flow_unref(f);
    mitm_blocklist_free(b);
    mitm_options_free(&o);
}

Test(blocklist, left_alone)
{
    struct mitm_options o;
    struct mitm_blocklist *b = conf(&o, HDRS("|.|403"));
    struct mitm_flow *f = mkflow("GET", "http", "h", 80, "/", NOHDRS, NULL);
    server_response(f, 200, NOHDRS, NULL);
    struct mitm_hook_env env = env_for(&o, 7.0);
    mitm_addon_blocklist.hook(b, MITM_HOOK_REQUEST, f, &env);
    cr_assert_eq(f->response->status_code, 200, "already answered");
    mitm_http_response_free(f->response);
    f->response = NULL;
    mitm_flow_set_error(f, "x", 1.0);
    mitm_addon_blocklist.hook(b, MITM_HOOK_REQUEST, f, &env);
    cr_assert_null(f->response, "failed");
    mitm_flow_unref(f);
    f = mkflow("GET", "http", "h", 80, "/", NOHDRS, NULL);
    mitm_addon_blocklist.hook(b, MITM_HOOK_REQUESTHEADERS, f, &env);
    cr_assert_null(f->response, "the request hook only");
    mitm_flow_unref(f);
    mitm_blocklist_free(b);
    mitm_options_free(&o);
}

static void bad(const char *spec, const char *msg, bool prefix)
{
    struct mitm_options o;
    char set[600];
    snprintf(set, sizeof(set), "block_list=%s", spec);
    opts_with(&o, HDRS(set));
    struct mitm_blocklist *b = (void *)1;
    cr_assert_eq(mitm_blocklist_configure(&o, &b, err, sizeof(err)), -1, "%s", spec);
    cr_assert_null(b);
    if (prefix)
        cr_assert(strncmp(err, msg, strlen(msg)) == 0, "%s", err);
    else
        cr_assert_str_eq(err, msg, "%s", spec);
    mitm_options_free(&o);
}

Test(blocklist, configure_errors)
{
    bad("/~u index.html/TOOMANY/300",
        "Cannot parse block_list option /~u index.html/TOOMANY/300: Invalid number of parameters (2 are "
        "expected)",
        false);
    bad("/~u index.html",
        "Cannot parse block_list option /~u index.html: Invalid number of parameters (2 are expected)",
        false);
    bad(":~d example.org:NOTANUMBER",
        "Cannot parse block_list option :~d example.org:NOTANUMBER: Invalid HTTP status code: NOTANUMBER",
        false);
    bad(":~d example.org:42",
        "Cannot parse block_list option :~d example.org:42: Invalid HTTP status code: 42", false);
    bad(":~d example.org:1000",
        "Cannot parse block_list option :~d example.org:1000: Invalid HTTP status code: 1000", false);
    bad("::200", "Cannot parse block_list option ::200: Empty filter expression", false);
    bad(":~zz:200", "Cannot parse block_list option :~zz:200: Invalid filter expression: '~zz' (", true);
    bad("", "Cannot parse block_list option : Invalid number of parameters (2 are expected)", false);
    struct mitm_options o;
    struct mitm_blocklist *b = conf(&o, HDRS(":~q: 4_04 "));
    mitm_blocklist_free(b);
    mitm_options_free(&o);
}
