/* The helpers every modify/map/block addon stands on: mitmproxy's spec syntax, Python's
 * escapes, repr and re (sub, templates), and the Request helpers (pretty_url, url setter,
 * Basic credentials), each against what CPython / mitmproxy 12 give for the same input. */
#include "helpers.h"

#include "addon/httputil.h"
#include "addon/lru.h"
#include "addon/mimetypes.h"
#include "addon/pyre.h"
#include "addon/spec.h"
#include "filter/filter.h"

static char err[1024];

static const char *sl(struct mitm_slice s)
{
    static char out[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(out[k], sizeof(out[k]), "%.*s", (int)s.len, (const char *)s.base);
    return out[k];
}

Test(spec, split_like_python_rem_split_sep_2)
{
    struct mitm_slice p[3];
    cr_assert_eq(mitm_spec_split("|a|b", p), 2);
    cr_assert_str_eq(sl(p[0]), "a");
    cr_assert_str_eq(sl(p[1]), "b");
    cr_assert_eq(mitm_spec_split("|~q|a|b|c", p), 3, "a third separator stays in the replacement");
    cr_assert_str_eq(sl(p[0]), "~q");
    cr_assert_str_eq(sl(p[2]), "b|c");
    cr_assert_eq(mitm_spec_split("/x", p), 1);
    cr_assert_eq(mitm_spec_split("", p), 0);
    cr_assert_eq(mitm_spec_split("||", p), 2);
    cr_assert_str_eq(sl(p[0]), "");
    cr_assert_eq(mitm_spec_split("\xc2\xa7"
                                 "a\xc2\xa7"
                                 "b",
                                 p),
                 2, "a non-ASCII separator is one character");
    cr_assert_str_eq(sl(p[1]), "b");
}

Test(spec, parse_counts_and_filters)
{
    struct mitm_filter *f;
    struct mitm_slice s, r;
    cr_assert_eq(mitm_spec_parse("|a", &f, &s, &r, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "Invalid number of parameters (2 or 3 are expected)");
    cr_assert_eq(mitm_spec_parse("", &f, &s, &r, err, sizeof(err)), -1);
    cr_assert_eq(mitm_spec_parse("|a|b", &f, &s, &r, err, sizeof(err)), 0);
    cr_assert_null(f);
    cr_assert_eq(mitm_spec_parse("|~zz|a|b", &f, &s, &r, err, sizeof(err)), -1);
    cr_assert(strncmp(err, "Invalid filter expression: '~zz' (", 34) == 0, "%s", err);
    cr_assert_eq(mitm_spec_parse("||a|b", &f, &s, &r, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "Empty filter expression");
    cr_assert_eq(mitm_spec_parse("|~q|a|b", &f, &s, &r, err, sizeof(err)), 0);
    cr_assert_not_null(f);
    mitm_filter_free(f);
}

static const char *unesc(const char *in, int *rc)
{
    static char out[256];
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    *rc = mitm_py_unescape(in, strlen(in), &b, err, sizeof(err));
    snprintf(out, sizeof(out), "%.*s", (int)b.len, (const char *)mitm_buf_data(&b));
    mitm_buf_free(&b);
    return out;
}

Test(spec, unescape_is_codecs_escape_decode)
{
    int rc;
    cr_assert_str_eq(unesc("a\\nb\\tc\\\\d\\'\\\"", &rc), "a\nb\tc\\d'\"");
    cr_assert_str_eq(unesc("\\x41\\101\\0", &rc), "AA");
    cr_assert_str_eq(unesc("\\q\\-", &rc), "\\q\\-", "unknown escapes stay as written");
    cr_assert_str_eq(unesc("a\\\nb", &rc), "ab", "backslash-newline continues the line");
    cr_assert_str_eq(unesc("\\777", &rc), "\xff", "octal is taken modulo 256");
    unesc("ab\\x4", &rc);
    cr_assert_eq(rc, -1);
    cr_assert_str_eq(err, "invalid \\x escape at position 2");
    unesc("ab\\", &rc);
    cr_assert_eq(rc, -1);
    cr_assert_str_eq(err, "Trailing \\ in string");
}

static const char *repr(const char *s, size_t n, bool bytes)
{
    static char out[256];
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mitm_py_repr(s, n, bytes, &b);
    snprintf(out, sizeof(out), "%.*s", (int)b.len, (const char *)mitm_buf_data(&b));
    mitm_buf_free(&b);
    return out;
}

Test(spec, repr_like_python)
{
    cr_assert_str_eq(repr("a(", 2, false), "'a('");
    cr_assert_str_eq(repr("a(", 2, true), "b'a('");
    cr_assert_str_eq(repr("it's", 4, false), "\"it's\"");
    cr_assert_str_eq(repr("'\"", 2, false), "'\\'\"'");
    cr_assert_str_eq(repr("\\\n\x01", 3, false), "'\\\\\\n\\x01'");
    cr_assert_str_eq(repr("\xc3\xa9", 2, false), "'\xc3\xa9'");
    cr_assert_str_eq(repr("\xc3\xa9", 2, true), "b'\\xc3\\xa9'");
    cr_assert_str_eq(repr("\xff", 1, false), "'\\udcff'", "surrogateescape");
}

Test(spec, python_int)
{
    long v;
    cr_assert(mitm_py_int(mitm_slice_str(" 404 "), &v) && v == 404);
    cr_assert(mitm_py_int(mitm_slice_str("+4_04"), &v) && v == 404);
    cr_assert(mitm_py_int(mitm_slice_str("-1"), &v) && v == -1);
    cr_assert(!mitm_py_int(mitm_slice_str("4__04"), &v));
    cr_assert(!mitm_py_int(mitm_slice_str("_404"), &v));
    cr_assert(!mitm_py_int(mitm_slice_str("40x"), &v));
    cr_assert(!mitm_py_int(mitm_slice_str(""), &v));
}

Test(spec, read_file_errors_are_oserror_texts)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    cr_assert_eq(mitm_spec_read_file("/nonexistent/x", 100, &b, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "[Errno 2] No such file or directory: '/nonexistent/x'");
    cr_assert_eq(mitm_spec_read_file("/", 100, &b, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "[Errno 21] Is a directory: '/'");
    char path[] = "/tmp/mitmc-spec-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(write(fd, "0123456789", 10) == 10);
    close(fd);
    cr_assert_eq(mitm_spec_read_file(path, 10, &b, err, sizeof(err)), 0);
    cr_assert_eq(b.len, 10);
    cr_assert_eq(mitm_spec_read_file(path, 9, &b, err, sizeof(err)), -1);
    cr_assert(strstr(err, "file larger than 9 bytes"), "%s", err);
    cr_assert_eq(b.len, 10, "a failed read leaves out as it was");
    unlink(path);
    mitm_buf_free(&b);
}

/* ---- Python re ---- */

static const char *sub(const char *pat, const char *tpl, const char *s, bool literal, long *n)
{
    static char out[512];
    struct mitm_pyre *re = mitm_pyre_compile(pat, strlen(pat), 0, err, sizeof(err));
    cr_assert_not_null(re, "%s", err);
    struct mitm_pytemplate *t = literal ? mitm_pytemplate_literal(tpl, strlen(tpl))
                                        : mitm_pytemplate_compile(tpl, strlen(tpl), re, err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    *n = mitm_pyre_sub(re, t, s, strlen(s), &b);
    snprintf(out, sizeof(out), "%.*s", (int)b.len, (const char *)mitm_buf_data(&b));
    mitm_buf_free(&b);
    mitm_pytemplate_free(t);
    mitm_pyre_free(re);
    return out;
}

Test(pyre, sub_empty_matches_like_python_37)
{
    long n;
    /* re.sub('x*', '-', 'abxd') == '-a-b--d-' */
    cr_assert_str_eq(sub("x*", "-", "abxd", false, &n), "-a-b--d-");
    cr_assert_eq(n, 5);
    cr_assert_str_eq(sub("", "-", "", false, &n), "-");
    cr_assert_str_eq(sub("q", "-", "abc", false, &n), "abc");
    cr_assert_eq(n, 0);
    cr_assert_str_eq(sub("\xc3\xa9|", "-", "\xc3\xa9t\xc3\xa9", false, &n), "--t--",
                     "text patterns step over whole UTF-8 characters");
}

Test(pyre, templates)
{
    long n;
    cr_assert_str_eq(sub("(a)(b)?", "[\\1\\2]", "ac", false, &n), "[a]c", "an unmatched group is empty");
    cr_assert_str_eq(sub("(?P<x>a)", "\\g<x>\\g<1>\\g<0>", "a", false, &n), "aaa");
    cr_assert_str_eq(sub("a", "\\n\\t\\\\", "a", false, &n), "\n\t\\");
    cr_assert_str_eq(sub("a", "\\-\\&", "a", false, &n), "\\-\\&");
    cr_assert_str_eq(sub("a", "\\101\\0", "a", false, &n), "A");
    cr_assert_str_eq(sub("a", "\\1", "a", true, &n), "\\1", "a literal replacement is never a template");
    struct mitm_pyre *re = mitm_pyre_compile("(a)", 3, 0, err, sizeof(err));
    static const struct {
        const char *tpl, *msg;
    } bad[] = {
        {"\\q", "bad escape \\q at position 0"},
        {"x\\2", "invalid group reference 2 at position 2"},
        {"\\g<y>", "unknown group name 'y'"},
        {"\\g<1x>", "bad character in group name '1x' at position 3"},
        {"\\g<5>", "invalid group reference 5 at position 3"},
        {"\\gx", "missing < at position 2"},
        {"\\g<ab", "missing >, unterminated name at position 3"},
        {"\\g<>", "missing group name at position 3"},
        {"\\", "bad escape (end of pattern) at position 0"},
        {"\\477", "octal escape value \\477 outside of range 0-0o377 at position 0"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_null(mitm_pytemplate_compile(bad[i].tpl, strlen(bad[i].tpl), re, err, sizeof(err)), "%s",
                       bad[i].tpl);
        cr_assert_str_eq(err, bad[i].msg, "%s", bad[i].tpl);
    }
    mitm_pyre_free(re);
}

Test(pyre, compile_errors_and_search)
{
    cr_assert_null(mitm_pyre_compile("a(", 2, 0, err, sizeof(err)));
    cr_assert_str_eq(err, "missing closing parenthesis at position 2");
    struct mitm_pyre *re = mitm_pyre_compile("b(c)?", 5, MITM_PYRE_BYTES, err, sizeof(err));
    size_t ov[4];
    cr_assert_eq(mitm_pyre_search(re, "abd", 3, ov, 1), 1);
    cr_assert_eq(ov[0], 1);
    cr_assert_eq(ov[1], 2);
    cr_assert_eq(ov[2], SIZE_MAX, "a group that did not take part");
    cr_assert_eq(mitm_pyre_search(re, "xyz", 3, ov, 1), 0);
    cr_assert_eq(mitm_pyre_groups(re), 1);
    mitm_pyre_free(re);
    /* catastrophic backtracking is cut off, not run to the end */
    re = mitm_pyre_compile("(a+)+$", 6, 0, err, sizeof(err));
    char s[64];
    memset(s, 'a', 40);
    s[40] = 'b';
    s[41] = 0;
    cr_assert_eq(mitm_pyre_search(re, s, 41, NULL, 0), -1);
    mitm_pyre_free(re);
}

/* ---- Request helpers ---- */

static const char *pretty(struct mitm_flow *f)
{
    static char out[512];
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mitm_addon_pretty_url(f->request, &b);
    snprintf(out, sizeof(out), "%.*s", (int)b.len, (const char *)mitm_buf_data(&b));
    mitm_buf_free(&b);
    return out;
}

Test(httputil, pretty_url)
{
    struct mitm_flow *f = mkflow("GET", "http", "10.1.1.1", 80, "/a?b", HDRS("Host", "example.com:80"), NULL);
    cr_assert_str_eq(pretty(f), "http://example.com/a?b", "the Host header, default port left out");
    mitm_headers_set(&f->request->headers, "Host", "example.com:8080", 16);
    cr_assert_str_eq(pretty(f), "http://example.com:8080/a?b");
    mitm_headers_set(&f->request->headers, "Host", "[::1]:8080", 10);
    cr_assert_str_eq(pretty(f), "http://[::1]:8080/a?b");
    mitm_headers_set(&f->request->headers, "Host", "bad host", 8);
    cr_assert_str_eq(pretty(f), "http://bad host/a?b",
                     "parse_authority(check=False) keeps what it cannot parse");
    mitm_headers_remove(&f->request->headers, "host");
    cr_assert_str_eq(pretty(f), "http://10.1.1.1/a?b");
    mitm_str_set(&f->request->scheme, "https", 5);
    f->request->port = 8443;
    cr_assert_str_eq(pretty(f), "https://10.1.1.1:8443/a?b");
    mitm_flow_unref(f);
}

static int seturl(struct mitm_flow *f, const char *url)
{
    return mitm_addon_set_url(f->request, url, strlen(url), err, sizeof(err));
}

Test(httputil, set_url_like_mitmproxy)
{
    struct mitm_flow *f =
        mkflow("GET", "http", "example.com", 80, "/a", HDRS("Host", "example.com", "X", "y"), NULL);
    cr_assert_eq(seturl(f, "HTTPS://Other.Example:8443/p;q?x=1#frag"), 0, "%s", err);
    cr_assert_str_eq(f->request->scheme, "https");
    cr_assert_str_eq(f->request->host, "other.example");
    cr_assert_eq(f->request->port, 8443);
    cr_assert_str_eq(f->request->path, "/p;q?x=1#frag");
    cr_assert_str_eq(hdrtext(&f->request->headers), "Host: other.example:8443\nX: y\n", "Host kept in place");
    cr_assert_eq(seturl(f, "http://h"), 0);
    cr_assert_str_eq(f->request->path, "/");
    cr_assert_eq(f->request->port, 80);
    cr_assert_str_eq(hdrtext(&f->request->headers), "Host: h\nX: y\n");
    cr_assert_eq(seturl(f, "http://h:0/x?"), 0);
    cr_assert_eq(f->request->port, 80, "port 0 is the default, as mitmproxy's `if not port`");
    cr_assert_str_eq(f->request->path, "/x", "an empty query is dropped as urlunparse does");
    cr_assert_eq(seturl(f, "http://user:pw@[::1]:81/"), 0);
    cr_assert_str_eq(f->request->host, "::1");
    cr_assert_str_eq(hdrtext(&f->request->headers), "Host: [::1]:81\nX: y\n");
    static const struct {
        const char *url, *msg;
    } bad[] = {
        {"example.com/x", "No hostname given"},
        {"http:///x", "No hostname given"},
        {"http://h:99999/", "Port out of range 0-65535"},
        {"http://h:8x/", "Port could not be cast to integer value as '8x'"},
        {"http://[::1/", "Invalid IPv6 URL"},
        {"http://a..b/", "Invalid Host"},
        {"http://h/a b", "the URL holds a byte that cannot be sent (0x20)"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(seturl(f, bad[i].url), -1, "%s", bad[i].url);
        cr_assert_str_eq(err, bad[i].msg, "%s", bad[i].url);
    }
    cr_assert_str_eq(f->request->host, "::1", "a refused URL changes nothing");
    mitm_flow_unref(f);
    f = mkflow("GET", "http", "a", 80, "/", NOHDRS, NULL);
    mitm_str_set(&f->request->authority, "a", 1);
    cr_assert_eq(seturl(f, "http://b:81/\t\n"), 0);
    cr_assert_str_eq(f->request->authority, "b:81", "a non-empty authority follows");
    cr_assert_str_eq(hdrtext(&f->request->headers), "", "no Host header is added");
    mitm_flow_unref(f);
}

static bool basic(const char *v, const char *u, const char *p)
{
    struct mitm_buf user, pass;
    mitm_buf_init(&user, 0);
    mitm_buf_init(&pass, 0);
    bool ok = mitm_addon_parse_basic(v, strlen(v), &user, &pass);
    if (ok) {
        cr_assert_str_eq(bodytext(&user), u);
        cr_assert_str_eq(bodytext(&pass), p);
    }
    mitm_buf_free(&user);
    mitm_buf_free(&pass);
    return ok;
}

Test(httputil, basic_credentials)
{
    cr_assert(basic("Basic dXNlcjpwYXNz", "user", "pass"));
    cr_assert(basic("bAsIc   dXNlcjpwYXNz  ", "user", "pass"));
    cr_assert(basic("Basic dXNlcjpwYTpzcw==", "user", "pa:ss"), "RFC 7617: the password may hold ':'");
    cr_assert(basic("Basic dXNl!cjpwYXNz", "user", "pass"), "a2b_base64 skips what is not base64");
    cr_assert(!basic("Basic dXNlcjpwYXM", "", ""), "Incorrect padding");
    cr_assert(!basic("Bearer dXNlcjpwYXNz", "", ""));
    cr_assert(!basic("Basic", "", ""));
    cr_assert(!basic("Basic dXNlcjpwYXNz x", "", ""));
    cr_assert(!basic("Basic dXNlcnBhc3M=", "", ""), "no ':'");
    cr_assert(!basic("", "", ""));
}

Test(httputil, make_response_and_reasons)
{
    const char *h[] = {"Server", "s"};
    struct mitm_http_response *r = mitm_addon_make_response(504, h, 1, "ab", 2, 5.0);
    cr_assert_str_eq(r->reason, "Gateway Time-out", "mitmproxy's spelling");
    cr_assert_str_eq(hdrtext(&r->headers), "Server: s\ncontent-length: 2\n");
    cr_assert_eq(r->timestamp_start, 5.0);
    mitm_http_response_free(r);
    cr_assert_str_eq(mitm_addon_reason(444), "No Response");
    cr_assert_str_eq(mitm_addon_reason(599), "");
}

Test(httputil, mode_and_metadata)
{
    struct mitm_flow *f = mkflow("GET", "http", "a", 80, "/", NOHDRS, NULL);
    cr_assert(mitm_addon_mode_is(f, "regular"));
    set_mode(f, "reverse:https://example.com@8080");
    cr_assert(mitm_addon_mode_is(f, "reverse"));
    cr_assert(!mitm_addon_mode_is(f, "regular"));
    set_mode(f, "regular@8080");
    cr_assert(mitm_addon_mode_is(f, "regular"));
    mitm_addon_meta_true(f, "k");
    cr_assert_str_eq(meta(f, "k"), "4:true!");
    mitm_addon_meta_pair(f, "k", "ab", 2, "", 0);
    cr_assert_str_eq(meta(f, "k"), "8:2:ab;0:;]", "replaced in place, a list of two str");
    cr_assert_eq(f->n_metadata, 1);
    mitm_flow_unref(f);
}

/* ---- the bounded map ---- */

Test(lru, evicts_least_recently_used)
{
    struct mitm_lru *m = mitm_lru_new(2, 0);
    struct mitm_slice v;
    mitm_lru_put(m, mitm_slice_str("a"), mitm_slice_str("1"));
    mitm_lru_put(m, mitm_slice_str("b"), mitm_slice_str("2"));
    cr_assert(mitm_lru_get(m, mitm_slice_str("a"), &v));
    mitm_lru_put(m, mitm_slice_str("c"), mitm_slice_str("3"));
    cr_assert(!mitm_lru_get(m, mitm_slice_str("b"), &v), "b was the least recently used");
    cr_assert(mitm_lru_get(m, mitm_slice_str("a"), &v) && v.len == 1 && v.base[0] == '1');
    mitm_lru_put(m, mitm_slice_str("a"), mitm_slice_str("11"));
    cr_assert(mitm_lru_get(m, mitm_slice_str("a"), &v) && v.len == 2);
    cr_assert_eq(mitm_lru_count(m), 2);
    cr_assert(mitm_lru_del(m, mitm_slice_str("a")));
    cr_assert(!mitm_lru_del(m, mitm_slice_str("a")));
    mitm_lru_free(m);
    m = mitm_lru_new(100, 9);
    mitm_lru_put(m, mitm_slice_str("k1"), mitm_slice_str("vvv"));
    mitm_lru_put(m, mitm_slice_str("k2"), mitm_slice_str("vvv"));
    cr_assert_eq(mitm_lru_count(m), 1, "the byte cap holds");
    cr_assert_leq(mitm_lru_bytes(m), 9);
    mitm_lru_put(m, mitm_slice_str("huge"), mitm_slice_str("012345678"));
    cr_assert(!mitm_lru_get(m, mitm_slice_str("huge"), &v), "larger than the cap on its own: not kept");
    for (int i = 0; i < 10000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "%d", i);
        mitm_lru_put(m, mitm_slice_str(k), mitm_slice_str("x"));
    }
    cr_assert_leq(mitm_lru_bytes(m), 9);
    mitm_lru_free(m);
}

/* ---- mimetypes ---- */

Test(mimetypes, like_python_guess_type)
{
    struct mitm_mimetypes *m = mitm_mimetypes_new(false); /* Python's own table only */
    cr_assert_str_eq(mitm_mimetypes_guess(m, "/srv/a.html"), "text/html");
    cr_assert_str_eq(mitm_mimetypes_guess(m, "/srv/A.PNG"), "image/png", "extensions are case-insensitive");
    cr_assert_str_eq(mitm_mimetypes_guess(m, "/srv/x.tar.gz"), "application/x-tar",
                     "compression suffix dropped");
    cr_assert_str_eq(mitm_mimetypes_guess(m, "/srv/x.tgz"), "application/x-tar", "suffix_map");
    cr_assert_str_eq(mitm_mimetypes_guess(m, "/srv/x.svgz"), "image/svg+xml");
    cr_assert_null(mitm_mimetypes_guess(m, "/srv/x.gz"));
    cr_assert_null(mitm_mimetypes_guess(m, "/srv/x.GZ"),
                   "encodings_map is case-sensitive: .GZ is an extension");
    cr_assert_null(mitm_mimetypes_guess(m, "/srv/.bashrc"));
    cr_assert_null(mitm_mimetypes_guess(m, "/srv.d/noext"));
    cr_assert_null(mitm_mimetypes_guess(m, "/srv/x.unknownext"));
    mitm_mimetypes_add_line(m, "text/x-mine mine MINE2 # comment ignored");
    mitm_mimetypes_add_line(m, "text/x-html2 html");
    cr_assert_str_eq(mitm_mimetypes_guess(m, "/a.mine"), "text/x-mine");
    cr_assert_str_eq(mitm_mimetypes_guess(m, "/a.html"), "text/x-html2", "a later mime.types line wins");
    cr_assert_null(mitm_mimetypes_guess(m, "/a.comment"));
    mitm_mimetypes_free(m);
}
