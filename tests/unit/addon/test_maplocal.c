/* map_local: spec errors, the candidate list of mitmproxy's test_file_candidates (read
 * from the 404 log line, with an empty directory as the root), no traversal, serving with
 * mitmproxy's headers, and the order of specs. */
#include "helpers.h"

#include "addon/maplocal.h"

#include <sys/stat.h>

static char root[64];
static char err[2048];

static void mkroot(void)
{
    strcpy(root, "/tmp/mitmc-maplocal-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
}

static void rmroot(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(maplocal, .init = mkroot, .fini = rmroot);

static void put(const char *rel, const char *content)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fputs(content, f);
    fclose(f);
}

/* Configure map_local with spec, where "R" in spec stands for the root directory. */
static struct mitm_maplocal *conf(struct mitm_options *o, const char *spec, const char *more)
{
    char s[512], *w = s;
    for (const char *p = spec; *p; p++)
        w += *p == 'R' && (p[1] == 0 || p[1] == '/') && (p == spec || p[-1] == ':' || p[-1] == '|')
                 ? sprintf(w, "%s", root)
                 : sprintf(w, "%c", *p);
    char set[600];
    snprintf(set, sizeof(set), "map_local=%s", s);
    opts_with(o, more ? HDRS(set, more) : HDRS(set));
    struct mitm_maplocal *m = NULL;
    cr_assert_eq(mitm_maplocal_configure(o, &m, err, sizeof(err)), 0, "%s", err);
    return m;
}

static struct mitm_flow *run(struct mitm_maplocal *m, const struct mitm_options *o, const char *scheme,
                             const char *host, const char *path)
{
    struct mitm_flow *f = mkflow("GET", scheme, host, strcmp(scheme, "https") ? 80 : 443, path, NOHDRS, NULL);
    struct mitm_hook_env env = env_for(o, 2000.0);
    test_log.len = 0;
    mitm_addon_maplocal.hook(m, MITM_HOOK_REQUEST, f, &env);
    return f;
}

/* The candidates the 404 names, with the root written as "R". */
static const char *candidates(struct mitm_maplocal *m, const struct mitm_options *o, const char *scheme,
                              const char *host, const char *path)
{
    static char out[2048];
    struct mitm_flow *f = run(m, o, scheme, host, path);
    const char *log = logged();
    const char *p = strstr(log, "None of the local file candidates exist: ");
    out[0] = 0;
    if (p) {
        cr_assert_not_null(f->response);
        cr_assert_eq(f->response->status_code, 404);
        cr_assert_str_eq(hdrtext(&f->response->headers), "content-length: 0\n");
        char *w = out;
        for (p += strlen("None of the local file candidates exist: "); *p && *p != '\n';) {
            if (strncmp(p, root, strlen(root)) == 0) {
                *w++ = 'R';
                p += strlen(root);
            } else {
                *w++ = *p++;
            }
        }
        *w = 0;
    } else {
        cr_assert_null(f->response, "no candidate: the request goes on");
    }
    mitm_flow_unref(f);
    return out;
}

Test(maplocal, candidates_like_mitmproxy)
{
    struct mitm_options o;
    struct mitm_maplocal *m = conf(&o, ":example.com/foo:R", NULL);
    cr_assert_str_eq(candidates(m, &o, "https", "example.com", "/foo"), "R/index.html");
    cr_assert_str_eq(candidates(m, &o, "https", "example.com", "/foo/"), "R/index.html");
    cr_assert_str_eq(candidates(m, &o, "http", "example.com", "/foo/bar.jpg"),
                     "R/bar.jpg, R/bar.jpg/index.html");
    cr_assert_str_eq(candidates(m, &o, "https", "example.com", "/foo/bar.jpg?query"),
                     "R/bar.jpg, R/bar.jpg/index.html");
    cr_assert_str_eq(candidates(m, &o, "https", "example.com", "/foo/bar/baz.jpg"),
                     "R/bar/baz.jpg, R/bar/baz.jpg/index.html");
    cr_assert_str_eq(candidates(m, &o, "https", "example.com", "/foo/bar/"), "R/bar, R/bar/index.html");
    mitm_maplocal_free(m);
    mitm_options_free(&o);

    m = conf(&o, ":/foo/bar.jpg:R/", NULL);
    cr_assert_str_eq(candidates(m, &o, "https", "example.com", "/foo/bar.jpg"), "R/index.html");
    mitm_maplocal_free(m);
    mitm_options_free(&o);

    m = conf(&o, ":example.com:R", NULL);
    cr_assert_str_eq(candidates(m, &o, "http", "example.com", "/foo%20bar.jpg"),
                     "R/foo bar.jpg, R/foo bar.jpg/index.html, R/foo_bar.jpg, R/foo_bar.jpg/index.html");
    cr_assert_str_eq(candidates(m, &o, "http", "example.com", "/f\xc3\xb3ob\xc3\xa5r.jpg"),
                     "R/f\xc3\xb3ob\xc3\xa5r.jpg, R/f\xc3\xb3ob\xc3\xa5r.jpg/index.html, R/f_ob_r.jpg, "
                     "R/f_ob_r.jpg/index.html");
    cr_assert_str_eq(candidates(m, &o, "http", "example.com", "/a%ffb"),
                     "R/a\xef\xbf\xbd"
                     "b, R/a\xef\xbf\xbd"
                     "b/index.html, R/a_b, R/a_b/index.html",
                     "an invalid %-sequence is U+FFFD, as urllib's unquote");
    cr_assert_str_eq(candidates(m, &o, "https", "example.com", "/C:\\foo.txt"),
                     "R/C:\\foo.txt, R/C:\\foo.txt/index.html, R/C__foo.txt, R/C__foo.txt/index.html");
    cr_assert_str_eq(candidates(m, &o, "https", "example.com", "//etc/passwd"),
                     "R/etc/passwd, R/etc/passwd/index.html", "leading slashes are stripped, not absolute");
    /* traversal: no candidate at all, so no 404 either */
    cr_assert_str_eq(candidates(m, &o, "https", "example.com", "/../../../../../../etc/passwd"), "");
    cr_assert_str_eq(candidates(m, &o, "https", "example.com", "/a/%2e%2e/%2e%2e/etc/passwd"), "");
    cr_assert_str_eq(candidates(m, &o, "https", "example.com", "/a/./b//c"), "R/a/b/c, R/a/b/c/index.html");
    mitm_maplocal_free(m);
    mitm_options_free(&o);

    m = conf(&o, ":example/view.php\\?f=(.+):R", NULL);
    cr_assert_str_eq(candidates(m, &o, "https", "example", "/view.php?f=foo.jpg"),
                     "R/foo.jpg, R/foo.jpg/index.html");
    mitm_maplocal_free(m);
    mitm_options_free(&o);
    m = conf(&o, ":example/(results\\?id=.+):R", NULL);
    cr_assert_str_eq(candidates(m, &o, "https", "example", "/results?id=1&foo=2"),
                     "R/results?id=1&foo=2, R/results?id=1&foo=2/index.html, R/results_id=1_foo=2, "
                     "R/results_id=1_foo=2/index.html",
                     "a group is taken as it is: no query cut, no slash strip");
    mitm_maplocal_free(m);
    mitm_options_free(&o);
    m = conf(&o, ":example/(x)?y:R", NULL);
    cr_assert_str_eq(candidates(m, &o, "https", "example", "/y/z"), "R/index.html",
                     "a group that did not take part: the directory's index");
    mitm_maplocal_free(m);
    mitm_options_free(&o);
}

Test(maplocal, serves_files_with_mitmproxys_headers)
{
    put("foo.jpg", "foo");
    put("images/bar.css", "bar");
    put("index.html", "<p>index</p>");
    put("sub/index.html", "sub");
    struct mitm_options o;
    struct mitm_maplocal *m = conf(&o, "|//example.org/images|R", NULL);
    struct mitm_flow *f = run(m, &o, "https", "example.org", "/images/foo.jpg");
    cr_assert_not_null(f->response);
    cr_assert_eq(f->response->status_code, 200);
    cr_assert_str_eq(f->response->reason, "OK");
    cr_assert_str_eq(bodytext(&f->response->content), "foo");
    cr_assert_str_eq(hdrtext(&f->response->headers),
                     "Server: mitmc/" MITM_VERSION "\nContent-Type: image/jpeg\ncontent-length: 3\n");
    cr_assert_eq(f->response->timestamp_start, 2000.0);
    mitm_flow_unref(f);
    f = run(m, &o, "https", "example.org", "/images/");
    cr_assert_str_eq(bodytext(&f->response->content), "<p>index</p>", "index.html fallback");
    cr_assert(strstr(hdrtext(&f->response->headers), "Content-Type: text/html\n"));
    mitm_flow_unref(f);
    f = run(m, &o, "https", "example.org", "/images/sub");
    cr_assert_str_eq(bodytext(&f->response->content), "sub", "a directory's index.html");
    mitm_flow_unref(f);
    f = run(m, &o, "https", "other.org", "/images/foo.jpg");
    cr_assert_null(f->response, "the regex is not found: the request goes on");
    mitm_flow_unref(f);
    mitm_maplocal_free(m);
    mitm_options_free(&o);

    char file[256];
    snprintf(file, sizeof(file), "|example.org/foo/foo/bar.jpg|%s/foo.jpg", root);
    opts_with(&o, HDRS("map_local=x"));
    mitm_options_set(&o, "map_local", NULL, err, sizeof(err));
    mitm_options_set(&o, "map_local", file, err, sizeof(err));
    cr_assert_eq(mitm_maplocal_configure(&o, &m, err, sizeof(err)), 0, "%s", err);
    f = run(m, &o, "https", "example.org", "/foo/foo/bar.jpg");
    cr_assert_str_eq(bodytext(&f->response->content), "foo", "a file spec serves that file");
    mitm_flow_unref(f);
    mitm_maplocal_free(m);
    mitm_options_free(&o);
}

Test(maplocal, filter_order_and_existing_response)
{
    put("a/x.txt", "from a");
    put("b/x.txt", "from b");
    put("b/y.txt", "y from b");
    struct mitm_options o;
    char s1[128], s2[128];
    snprintf(s1, sizeof(s1), "map_local=|~d nomatch|//h|%s/a", root);
    snprintf(s2, sizeof(s2), "map_local=|//h|%s/b", root);
    opts_with(&o, HDRS(s1, s2));
    struct mitm_maplocal *m;
    cr_assert_eq(mitm_maplocal_configure(&o, &m, err, sizeof(err)), 0, "%s", err);
    struct mitm_flow *f = run(m, &o, "http", "h", "/x.txt");
    cr_assert_str_eq(bodytext(&f->response->content), "from b", "the filter keeps the first spec out");
    mitm_flow_unref(f);
    mitm_maplocal_free(m);
    mitm_options_free(&o);

    snprintf(s1, sizeof(s1), "map_local=|//h|%s/a", root);
    snprintf(s2, sizeof(s2), "map_local=|//h|%s/b", root);
    opts_with(&o, HDRS(s1, s2));
    cr_assert_eq(mitm_maplocal_configure(&o, &m, err, sizeof(err)), 0, "%s", err);
    f = run(m, &o, "http", "h", "/x.txt");
    cr_assert_str_eq(bodytext(&f->response->content), "from a", "the first spec with a file answers");
    mitm_flow_unref(f);
    f = run(m, &o, "http", "h", "/y.txt");
    cr_assert_str_eq(bodytext(&f->response->content), "y from b",
                     "a spec without the file passes to the next");
    mitm_flow_unref(f);
    f = mkflow("GET", "http", "h", 80, "/x.txt", NOHDRS, NULL);
    server_response(f, 204, NOHDRS, NULL);
    struct mitm_hook_env env = env_for(&o, 1.0);
    mitm_addon_maplocal.hook(m, MITM_HOOK_REQUEST, f, &env);
    cr_assert_eq(f->response->status_code, 204, "a flow with a response is left alone");
    mitm_addon_maplocal.hook(m, MITM_HOOK_RESPONSE, f, &env);
    cr_assert_eq(f->response->status_code, 204);
    mitm_flow_unref(f);
    mitm_maplocal_free(m);
    mitm_options_free(&o);
}

Test(maplocal, unreadable_file_is_logged_then_404)
{
    put("big.bin", "0123456789");
    struct mitm_options o;
    struct mitm_maplocal *m = conf(&o, "|//h|R", "body_buffer_limit=4");
    struct mitm_flow *f = run(m, &o, "http", "h", "/big.bin");
    cr_assert(strstr(logged(), "1 Could not read file: file larger than 4 bytes"), "%s", logged());
    cr_assert_eq(f->response->status_code, 404);
    mitm_flow_unref(f);
    mitm_maplocal_free(m);
    mitm_options_free(&o);
}

static void bad(const char *spec, const char *msg)
{
    struct mitm_options o;
    char set[600];
    snprintf(set, sizeof(set), "map_local=%s", spec);
    opts_with(&o, HDRS(set));
    struct mitm_maplocal *m = (void *)1;
    cr_assert_eq(mitm_maplocal_configure(&o, &m, err, sizeof(err)), -1, "%s", spec);
    cr_assert_null(m);
    cr_assert_str_eq(err, msg, "%s", spec);
    mitm_options_free(&o);
}

Test(maplocal, configure_errors)
{
    char spec[256], msg[512];
    snprintf(spec, sizeof(spec), "/foo/+/%s", root);
    snprintf(msg, sizeof(msg),
             "Cannot parse map_local option %s: Invalid regular expression '+' (quantifier does not follow a "
             "repeatable item at position 0)",
             spec);
    bad(spec, msg);
    bad("/foo/.+/three",
        "Cannot parse map_local option /foo/.+/three: Invalid file path: three ([Errno 2] No such "
        "file or directory: 'three')");
    bad("|x", "Cannot parse map_local option |x: Invalid number of parameters (2 or 3 are expected)");
    snprintf(spec, sizeof(spec), "|~x|a|%s", root);
    snprintf(msg, sizeof(msg), "Cannot parse map_local option %s: Invalid filter expression: '~x' (", spec);
    struct mitm_options o;
    char set[600];
    snprintf(set, sizeof(set), "map_local=%s", spec);
    opts_with(&o, HDRS(set));
    struct mitm_maplocal *m;
    cr_assert_eq(mitm_maplocal_configure(&o, &m, err, sizeof(err)), -1);
    cr_assert(strncmp(err, msg, strlen(msg)) == 0, "%s", err);
    mitm_options_free(&o);
    opts_with(&o, NULL);
    cr_assert_eq(mitm_maplocal_configure(&o, &m, err, sizeof(err)), 0);
    cr_assert_null(m, "no option, no state");
    mitm_options_free(&o);
}
