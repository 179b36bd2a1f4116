/* HAR export and import: round trips, savehar.py's field mapping, browser variants, errors. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "flow/har.h"
#include "proto/http/http.h"
#include "util.h"

extern const char *flow_fixtures_dir;

static void free_flows(struct mitm_flow **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mitm_flow_unref(v[i]);
    free(v);
}

static struct mitm_flow **read_fixture(const char *name, size_t *n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", flow_fixtures_dir, name);
    size_t len;
    char *data = t_read_file(path, &len);
    cr_assert_not_null(data, "%s", path);
    struct mitm_flow **v;
    char err[256];
    int rc = mitm_har_read((const uint8_t *)data, len, &v, n, err, sizeof(err));
    free(data);
    cr_assert_eq(rc, 0, "%s: %s", name, err);
    return v;
}

static void header_is(const struct mitm_headers *h, size_t i, const char *k, const char *v)
{
    cr_assert_lt(i, h->n, "no header %zu (%s)", i, k);
    cr_assert_str_eq(h->v[i].name, k);
    cr_assert_str_eq(h->v[i].value, v);
}

static void body_is(const struct mitm_buf *b, const void *want, size_t n)
{
    cr_assert_eq(b->len, n, "body length %zu, want %zu", b->len, n);
    cr_assert(n == 0 || memcmp(mitm_buf_data(b), want, n) == 0);
}

/* Flows covering the interesting cases: GET with query/cookie, form POST, binary response,
 * non-UTF-8 text body, a flow without response (error). */
static size_t make_flows(struct mitm_flow **f)
{
    f[0] = t_flow("GET", "http", "example.com", 8080, "/a/b?x=1&y=%20z&x=2", NULL, 0, "Host",
                  "example.com:8080", "Cookie", "sid=abc; theme=\"dark\"", "Accept", "*/*", NULL);
    t_response(f[0], 200, "{\"k\": \"v\"}", 10, "Content-Type", "application/json", "Content-Length", "10",
               "Set-Cookie", "sid=new; Path=/app; Domain=example.com; HttpOnly; Secure; SameSite=Strict",
               "Location", "/next", NULL);
    f[0]->server_conn.peer_host = strdup("10.0.0.1");
    f[0]->server_conn.timestamp_start = 1700000000.0;
    f[0]->server_conn.timestamp_tcp_setup = 1700000000.125;
    f[0]->server_conn.timestamp_tls_setup = 1700000000.1875;
    f[1] = t_flow("POST", "https", "example.com", 443, "/form", "a=1&b=x+y", 9, "Host", "example.com",
                  "Content-Type", "application/x-www-form-urlencoded", "Content-Length", "9", NULL);
    uint8_t bin[64];
    for (int i = 0; i < 64; i++)
        bin[i] = (uint8_t)(i * 5);
    t_response(f[1], 201, bin, sizeof(bin), "Content-Type", "application/octet-stream", "Content-Length",
               "64", NULL);
    memcpy(f[1]->server_conn.id, f[0]->server_conn.id, sizeof(f[0]->server_conn.id)); /* same connection */
    f[1]->server_conn.timestamp_tcp_setup = 1700000000.125;
    f[2] = t_flow("PUT", "http", "example.com", 80, "/latin", "caf\xe9 \xff\xfe", 7, "Host", "example.com",
                  "Content-Type", "text/plain", "Content-Length", "7", NULL);
    t_response(f[2], 204, NULL, 0, NULL);
    f[3] = t_flow("GET", "http", "down.example", 80, "/", NULL, 0, "Host", "down.example", NULL);
    mitm_flow_set_error(f[3], "Connection refused", 1700000001);
    return 4;
}

static json_t *write_json(struct mitm_flow **f, size_t n)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    char err[256];
    cr_assert_eq(mitm_har_write(f, n, &b, false, err, sizeof(err)), 0, "%s", err);
    json_error_t je;
    json_t *j = json_loadb((const char *)mitm_buf_data(&b), b.len, 0, &je);
    cr_assert_not_null(j, "%s", je.text);
    /* ASCII only, 4-space indent (Python's json.dumps(indent=4)) */
    for (size_t i = 0; i < b.len; i++)
        cr_assert_lt(mitm_buf_data(&b)[i], 0x80);
    cr_assert(memmem(mitm_buf_data(&b), b.len, "\n    \"log\": {", 12) != NULL);
    mitm_buf_free(&b);
    return j;
}

#define JGET(o, path) json_object_get((o), (path))

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    cr_assert(json_is_string(v), "%s is not a string", k);
    return json_string_value(v);
}

static double jnum(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    cr_assert(json_is_number(v), "%s is not a number", k);
    return json_number_value(v);
}

Test(har, export_field_mapping)
{
    struct mitm_flow *f[4];
    size_t n = make_flows(f);
    json_t *root = write_json(f, n);
    json_t *log = JGET(root, "log");
    cr_assert_str_eq(jstr(log, "version"), "1.2");
    cr_assert_str_eq(jstr(JGET(log, "creator"), "name"), "mitmc");
    cr_assert_eq(json_array_size(JGET(log, "pages")), 0);
    json_t *entries = JGET(log, "entries");
    cr_assert_eq(json_array_size(entries), 4);

    json_t *e0 = json_array_get(entries, 0), *rq = JGET(e0, "request"), *rs = JGET(e0, "response");
    cr_assert_str_eq(jstr(e0, "startedDateTime"), "2023-11-14T22:13:20.250000+00:00");
    cr_assert_str_eq(jstr(rq, "url"), "http://example.com:8080/a/b?x=1&y=%20z&x=2");
    cr_assert_str_eq(jstr(rq, "httpVersion"), "HTTP/1.1");
    json_t *qs = JGET(rq, "queryString");
    cr_assert_eq(json_array_size(qs), 3);
    cr_assert_str_eq(jstr(json_array_get(qs, 1), "value"), " z");
    json_t *ck = JGET(rq, "cookies");
    cr_assert_eq(json_array_size(ck), 2);
    cr_assert_str_eq(jstr(json_array_get(ck, 1), "value"), "dark");
    /* len(str(headers)): sum of len(name) + len(value) + 4 */
    cr_assert_eq(jnum(rq, "headersSize"), (4 + 16 + 4) + (6 + 21 + 4) + (6 + 3 + 4));
    cr_assert_eq(jnum(rq, "bodySize"), 0);
    cr_assert_null(JGET(rq, "postData"));
    cr_assert_eq(jnum(rs, "status"), 200);
    cr_assert_str_eq(jstr(rs, "statusText"), "OK");
    cr_assert_str_eq(jstr(rs, "redirectURL"), "/next");
    json_t *content = JGET(rs, "content");
    cr_assert_str_eq(jstr(content, "text"), "{\"k\": \"v\"}");
    cr_assert_str_eq(jstr(content, "mimeType"), "application/json");
    cr_assert_eq(jnum(content, "size"), 10);
    cr_assert_eq(jnum(content, "compression"), 0);
    cr_assert_null(JGET(content, "encoding"));
    json_t *sc = json_array_get(JGET(rs, "cookies"), 0);
    cr_assert_str_eq(jstr(sc, "name"), "sid");
    cr_assert_str_eq(jstr(sc, "path"), "/app");
    cr_assert_str_eq(jstr(sc, "domain"), "example.com");
    cr_assert(json_is_true(JGET(sc, "httpOnly")) && json_is_true(JGET(sc, "secure")));
    cr_assert_str_eq(jstr(sc, "sameSite"), "Strict");
    json_t *t = JGET(e0, "timings");
    cr_assert_eq(jnum(t, "connect"), 125);
    cr_assert_eq(jnum(t, "ssl"), 62.5);
    cr_assert_eq(jnum(t, "send"), 250);
    cr_assert_eq(jnum(t, "wait"), 250);
    cr_assert_eq(jnum(t, "receive"), 250);
    cr_assert_eq(jnum(t, "blocked"), -1);
    cr_assert_eq(jnum(e0, "time"), 125 + 62.5 + 750);
    cr_assert_str_eq(jstr(e0, "serverIPAddress"), "10.0.0.1");

    /* second flow: same server connection -> connect/ssl -1; form params; binary body base64 */
    json_t *e1 = json_array_get(entries, 1);
    cr_assert_eq(jnum(JGET(e1, "timings"), "connect"), -1);
    cr_assert_eq(jnum(JGET(e1, "timings"), "ssl"), -1);
    json_t *pd = JGET(JGET(e1, "request"), "postData");
    cr_assert_str_eq(jstr(pd, "text"), "a=1&b=x+y");
    cr_assert_str_eq(jstr(pd, "mimeType"), "application/x-www-form-urlencoded");
    cr_assert_str_eq(jstr(json_array_get(JGET(pd, "params"), 1), "value"), "x y");
    json_t *c1 = JGET(JGET(e1, "response"), "content");
    cr_assert_str_eq(jstr(c1, "encoding"), "base64");
    cr_assert_str_eq(
        jstr(c1, "text"),
        "AAUKDxQZHiMoLTI3PEFGS1BVWl9kaW5zeH2Ch4yRlpugpaqvtLm+w8jN0tfc4ebr8PX6/wQJDhMYHSInLDE2Ow==");
    /* third: not UTF-8 -> base64 with _encoding */
    json_t *pd2 = JGET(JGET(json_array_get(entries, 2), "request"), "postData");
    cr_assert_str_eq(jstr(pd2, "_encoding"), "base64");
    cr_assert_str_eq(jstr(pd2, "text"), "Y2Fm6SD//g==");
    /* fourth: no response */
    json_t *r3 = JGET(json_array_get(entries, 3), "response");
    cr_assert_eq(jnum(r3, "status"), 0);
    cr_assert_eq(jnum(r3, "headersSize"), -1);
    cr_assert_str_eq(jstr(r3, "_error"), "Connection refused");
    json_decref(root);
    for (size_t i = 0; i < n; i++)
        mitm_flow_unref(f[i]);
}

Test(har, round_trip)
{
    struct mitm_flow *f[4];
    size_t n = make_flows(f);
    for (int zhar = 0; zhar < 2; zhar++) {
        struct mitm_buf b;
        mitm_buf_init(&b, 0);
        char err[256];
        cr_assert_eq(mitm_har_write(f, n, &b, zhar, err, sizeof(err)), 0, "%s", err);
        if (zhar)
            cr_assert_eq(mitm_buf_data(&b)[0], 0x78); /* zlib stream */
        struct mitm_flow **g;
        size_t m;
        cr_assert_eq(mitm_har_read(mitm_buf_data(&b), b.len, &g, &m, err, sizeof(err)), 0, "%s", err);
        mitm_buf_free(&b);
        cr_assert_eq(m, n);
        for (size_t i = 0; i < n; i++) {
            const struct mitm_http_request *a = f[i]->request, *c = g[i]->request;
            cr_assert_str_eq(c->method, a->method);
            cr_assert_str_eq(c->scheme, a->scheme);
            cr_assert_str_eq(c->host, a->host);
            cr_assert_eq(c->port, a->port);
            cr_assert_str_eq(c->path, a->path);
            cr_assert_str_eq(c->http_version, a->http_version);
            cr_assert_eq(c->headers.n, a->headers.n, "flow %zu", i);
            for (size_t k = 0; k < a->headers.n; k++)
                header_is(&c->headers, k, a->headers.v[k].name, a->headers.v[k].value);
            body_is(&c->content, mitm_buf_data(&a->content), a->content.len);
            cr_assert(fabs(c->timestamp_start - a->timestamp_start) < 1e-6);
            if (!f[i]->response) {
                cr_assert_null(g[i]->response);
                cr_assert_str_eq(g[i]->error->msg, f[i]->error->msg);
                continue;
            }
            const struct mitm_http_response *x = f[i]->response, *y = g[i]->response;
            cr_assert_eq(y->status_code, x->status_code);
            cr_assert_str_eq(y->reason, x->reason);
            cr_assert_eq(y->headers.n, x->headers.n, "flow %zu", i);
            for (size_t k = 0; k < x->headers.n; k++)
                header_is(&y->headers, k, x->headers.v[k].name, x->headers.v[k].value);
            body_is(&y->content, mitm_buf_data(&x->content), x->content.len);
        }
        cr_assert_str_eq(g[0]->server_conn.address_host, "10.0.0.1");
        cr_assert_eq(g[0]->server_conn.address_port, 80);
        free_flows(g, m);
    }
    for (size_t i = 0; i < n; i++)
        mitm_flow_unref(f[i]);
}

Test(har, gzip_response_is_stored_decoded)
{
    static const uint8_t gz[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
                                 0x03, 0xab, 0x56, 0x4a, 0x54, 0xb2, 0x32, 0xac, 0x05,
                                 0x00, 0xaf, 0xac, 0x1b, 0x56, 0x07, 0x00, 0x00, 0x00};
    struct mitm_flow *f = t_flow("GET", "http", "h", 80, "/", NULL, 0, NULL);
    t_response(f, 200, gz, sizeof(gz), "Content-Encoding", "gzip", "Content-Length", "27", "Content-Type",
               "application/json", NULL);
    json_t *root = write_json(&f, 1);
    json_t *c = JGET(JGET(json_array_get(JGET(JGET(root, "log"), "entries"), 0), "response"), "content");
    cr_assert_str_eq(jstr(c, "text"), "{\"a\":1}");
    cr_assert_eq(jnum(c, "size"), 27);
    cr_assert_eq(jnum(c, "compression"), 7 - 27);
    char *text = json_dumps(root, 0);
    struct mitm_flow **g;
    size_t m;
    char err[256];
    cr_assert_eq(mitm_har_read((const uint8_t *)text, strlen(text), &g, &m, err, sizeof(err)), 0, "%s", err);
    /* decoded: Content-Encoding dropped, Content-Length updated in place */
    cr_assert_eq(g[0]->response->headers.n, 2);
    header_is(&g[0]->response->headers, 0, "Content-Length", "7");
    header_is(&g[0]->response->headers, 1, "Content-Type", "application/json");
    body_is(&g[0]->response->content, "{\"a\":1}", 7);
    free(text);
    free_flows(g, m);
    json_decref(root);
    mitm_flow_unref(f);
}

Test(har, chromium_devtools_export)
{
    size_t n;
    struct mitm_flow **v = read_fixture("chrome.har", &n);
    cr_assert_eq(n, 3); /* the data: URL entry is skipped */
    struct mitm_http_request *r = v[0]->request;
    cr_assert_str_eq(r->method, "GET");
    cr_assert_str_eq(r->scheme, "https");
    cr_assert_str_eq(r->host, "example.com");
    cr_assert_eq(r->port, 443);
    cr_assert_str_eq(r->path, "/index.html?q=caf%C3%A9&x=1");
    cr_assert_str_eq(r->http_version, "HTTP/2");
    cr_assert_eq(r->headers.n, 4); /* :authority, :method, :path, :scheme dropped */
    header_is(&r->headers, 0, "accept", "text/html,application/xhtml+xml");
    header_is(&r->headers, 2, "cookie", "sid=abc; theme=dark");
    cr_assert_eq(r->content.len, 0);
    cr_assert(fabs(r->timestamp_start - 1714979289.123) < 1e-6);
    cr_assert(fabs(r->timestamp_end - (1714979289.123 + 0.1505)) < 1e-6);
    struct mitm_http_response *s = v[0]->response;
    cr_assert_eq(s->status_code, 200);
    cr_assert_str_eq(s->reason, "OK");
    cr_assert_str_eq(s->http_version, "HTTP/2");
    cr_assert_eq(s->headers.n, 4); /* content-encoding dropped, content-length added */
    header_is(&s->headers, 0, "content-type", "text/html; charset=utf-8");
    header_is(&s->headers, 2, "set-cookie", "theme=dark; Path=/; SameSite=Lax");
    header_is(&s->headers, 3, "content-length", "22");
    body_is(&s->content, "<html>caf\xc3\xa9 \xe2\x98\x83</html>", 22);
    cr_assert_str_eq(v[0]->server_conn.address_host, "2606:2800:220:1:248:1893:25c8:1946");
    cr_assert_eq(v[0]->server_conn.address_port, 443);

    r = v[1]->request;
    cr_assert_str_eq(r->method, "POST");
    cr_assert_str_eq(r->host, "api.example.com");
    cr_assert_eq(r->port, 8443);
    cr_assert_str_eq(r->http_version, "HTTP/3");
    cr_assert_eq(r->headers.n, 2);
    header_is(&r->headers, 1, "content-length", "24");
    body_is(&r->content,
            "{\"name\":\"b\xc3\xbc"
            "cher\",\"n\":2}",
            24);
    body_is(&v[1]->response->content, "\x89PNG\r\n\x1a\n", 8);
    cr_assert_eq(v[1]->response->status_code, 201);
    cr_assert(fabs(v[1]->request->timestamp_start - 1714979289.5) < 1e-6);

    cr_assert_null(v[2]->response);
    cr_assert_str_eq(v[2]->error->msg, "net::ERR_BLOCKED_BY_CLIENT");
    cr_assert_null(v[2]->server_conn.address_host);
    free_flows(v, n);
}

Test(har, firefox_and_missing_fields)
{
    size_t n;
    struct mitm_flow **v = read_fixture("firefox-minimal.har", &n);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(v[0]->request->path, "/");
    cr_assert_eq(v[0]->request->port, 80);
    cr_assert_str_eq(v[0]->request->http_version, "HTTP/1.1");
    header_is(&v[0]->request->headers, 0, "X-Slack-Style", "pair");
    cr_assert_eq(v[0]->response->status_code, 404);
    cr_assert_str_eq(v[0]->response->reason, "Not Found");
    cr_assert_str_eq(v[0]->response->http_version, "HTTP/1.0");
    body_is(&v[0]->response->content, "caf\xe9", 4); /* charset=iso-8859-1 */
    struct mitm_http_request *r = v[1]->request;
    cr_assert_str_eq(r->host, "example.org");
    cr_assert_eq(r->port, 8443);
    cr_assert_str_eq(r->path, "/?x#frag");
    cr_assert_str_eq(r->http_version, "HTTP/2");
    cr_assert_null(v[1]->response);
    cr_assert_eq(r->timestamp_start, 0);
    free_flows(v, n);
}

static void read_err(const char *doc, const char *want)
{
    struct mitm_flow **v = (struct mitm_flow **)1;
    size_t n = 99;
    char err[256];
    cr_assert_eq(mitm_har_read((const uint8_t *)doc, strlen(doc), &v, &n, err, sizeof(err)), -1, "%s", doc);
    cr_assert_null(v);
    cr_assert_eq(n, 0);
    cr_assert_str_eq(err, want);
}

Test(har, errors)
{
    read_err("{\"log\": {\n  \"entries\": [\n    {,}\n]}}",
             "HAR: invalid JSON at line 3, column 6: string or '}' expected near ','");
    read_err("", "HAR: invalid JSON at line 1, column 0: '[' or '{' expected near end of file");
    read_err("[]", "HAR: no log.entries array");
    read_err("{\"log\": {\"entries\": {}}}", "HAR: no log.entries array");
    read_err("{\"log\": {\"entries\": [1]}}", "HAR entry 0: not an object");
    read_err("{\"log\": {\"entries\": [{\"request\": {\"url\": \"http://a/\"}}]}}",
             "HAR entry 0: request.method missing or not a string");
    read_err("{\"log\": {\"entries\": [{\"request\": {\"method\": \"GET\", \"url\": \"http://a:99999/\"}}]}}",
             "HAR entry 0: request.url is not a valid URL");
    read_err(
        "{\"log\": {\"entries\": [{\"request\": {\"method\": \"GET\", \"url\": \"http://a/\"}, \"response\": "
        "{\"status\": 200, \"content\": {\"text\": \"abc\", \"encoding\": \"base64\"}}}]}}",
        "HAR entry 0: invalid base64 in response.content.text");
    read_err(
        "{\"log\": {\"entries\": [{\"request\": {\"method\": \"GET\", \"url\": \"http://a/\", \"headers\": "
        "[{\"name\": \"x\", \"value\": \"a\\r\\nb\"}]}}]}}",
        "HAR entry 0: request.headers[0] contains CR, LF or NUL");
    read_err(
        "{\"log\": {\"entries\": [{\"startedDateTime\": \"yesterday\", \"request\": {\"method\": \"GET\", "
        "\"url\": \"http://a/\"}}]}}",
        "HAR entry 0: startedDateTime is not an ISO 8601 date");
    read_err("x\x9c\x01\x02", "HAR: cannot inflate .zhar: deflate: truncated stream");
    /* empty but valid */
    struct mitm_flow **v;
    size_t n;
    char err[256];
    cr_assert_eq(mitm_har_read((const uint8_t *)"{\"log\": {\"entries\": []}}", 24, &v, &n, err, sizeof(err)),
                 0);
    cr_assert_eq(n, 0);
    cr_assert_null(v);
}

Test(har, write_file_and_stdout_dash)
{
    struct mitm_flow *f[4];
    size_t n = make_flows(f);
    char path[] = "/tmp/mitmc-har-XXXXXX.zhar";
    int fd = mkstemps(path, 5);
    cr_assert(fd >= 0);
    close(fd);
    char err[256];
    cr_assert_eq(mitm_har_write_file(path, f, n, err, sizeof(err)), 0, "%s", err);
    size_t len;
    char *data = t_read_file(path, &len);
    cr_assert_eq((uint8_t)data[0], 0x78);
    uLongf out = 1 << 20;
    uint8_t *plain = malloc(out);
    cr_assert_eq(uncompress(plain, &out, (const Bytef *)data, len), Z_OK);
    cr_assert_eq(plain[0], '{');
    free(plain);
    free(data);
    unlink(path);
    cr_assert_eq(mitm_har_write_file("/nonexistent-dir/x.har", f, n, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "/nonexistent-dir/x.har: No such file or directory");
    for (size_t i = 0; i < n; i++)
        mitm_flow_unref(f[i]);
}
