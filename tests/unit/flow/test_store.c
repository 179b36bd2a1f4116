/* The flow store: spool round trips, summaries, updates, id lookup, views with filters
 * and focus, clear, and the RAM kept per flow. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/buf.h"
#include "filter/filter.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "flow/store.h"
#include "proto/http/http.h"

#define NFLOWS 10000

static const char *methods[] = {"GET", "POST", "PUT", "DELETE"};

/* Flow number k: method, host, path, status and bodies all depend on k. */
static struct mitm_flow *make_flow(size_t k)
{
    char buf[128];
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, 1700000000.0 + (double)k);
    mitm_str_set(&f->client_conn.peer_host, "127.0.0.1", 9);
    f->client_conn.peer_port = (uint16_t)(40000 + k % 1000);
    mitm_str_set(&f->client_conn.proxy_mode, "regular", 7);
    f->client_conn.timestamp_start = 1700000000.0 + (double)k;
    struct mitm_http_request *r = f->request = mitm_http_request_new();
    const char *m = methods[k % 4];
    mitm_str_set(&r->method, m, strlen(m));
    mitm_str_set(&r->scheme, "http", 4);
    mitm_str_set(&r->authority, "", 0);
    int n = snprintf(buf, sizeof(buf), "host%zu.example", k % 7);
    mitm_str_set(&r->host, buf, (size_t)n);
    r->port = (uint16_t)(8000 + k % 3);
    n = snprintf(buf, sizeof(buf), "/%s/item/%zu?q=%zu", k % 5 == 0 ? "api" : "static", k, k * 7);
    mitm_str_set(&r->path, buf, (size_t)n);
    mitm_str_set(&r->http_version, "HTTP/1.1", 8);
    r->form = MITM_TARGET_ABSOLUTE;
    r->timestamp_start = 1700000000.5 + (double)k;
    r->timestamp_end = 1700000000.6 + (double)k;
    mitm_headers_add(&r->headers, "Host", 4, "example", 7);
    if (k % 4 == 1) {
        n = snprintf(buf, sizeof(buf), "body of request %zu", k);
        mitm_buf_append(&r->content, buf, (size_t)n);
    }
    if (k % 10 == 9) {
        mitm_flow_set_error(f, "Server disconnected.", 1700000001.0 + (double)k);
        return f;
    }
    struct mitm_http_response *rs = f->response = mitm_http_response_new();
    mitm_str_set(&rs->http_version, "HTTP/1.1", 8);
    rs->status_code = k % 3 == 0 ? 404 : 200;
    mitm_str_set(&rs->reason, rs->status_code == 200 ? "OK" : "Not Found", rs->status_code == 200 ? 2 : 9);
    mitm_headers_add(&rs->headers, "Content-Type", 12, "text/plain", 10);
    for (size_t i = 0; i < k % 50; i++)
        mitm_buf_append(&rs->content, "0123456789", 10);
    rs->timestamp_start = 1700000000.7 + (double)k;
    rs->timestamp_end = 1700000000.8 + (double)k;
    return f;
}

static void encode(const struct mitm_flow *f, struct mitm_buf *b)
{
    char err[256];
    mitm_buf_init(b, 0);
    cr_assert_eq(mitm_flowfile_encode(f, b, err, sizeof(err)), 0, "%s", err);
}

/* The loaded flow encodes to exactly the bytes of the original: nothing is lost. */
static void assert_same(const struct mitm_flow *a, const struct mitm_flow *b)
{
    struct mitm_buf x, y;
    encode(a, &x);
    encode(b, &y);
    cr_assert_eq(x.len, y.len, "flow %s: %zu vs %zu bytes", a->id, x.len, y.len);
    cr_assert_eq(memcmp(mitm_buf_data(&x), mitm_buf_data(&y), x.len), 0, "flow %s differs", a->id);
    mitm_buf_free(&x);
    mitm_buf_free(&y);
}

static struct mitm_store *new_store(void)
{
    char err[256];
    struct mitm_store *s = mitm_store_new(NULL, err, sizeof(err));
    cr_assert(s, "%s", err);
    return s;
}

static void fill(struct mitm_store *s, size_t n)
{
    char err[256];
    for (size_t k = 0; k < n; k++) {
        struct mitm_flow *f = make_flow(k);
        cr_assert_eq(mitm_store_add(s, f, err, sizeof(err)), (ssize_t)k, "%s", err);
        mitm_flow_unref(f);
    }
}

Test(store, round_trip_10000)
{
    struct mitm_store *s = new_store();
    char err[256];
    char(*ids)[MITM_UUID_LEN + 1] = calloc(NFLOWS, sizeof(*ids));
    for (size_t k = 0; k < NFLOWS; k++) {
        struct mitm_flow *f = make_flow(k);
        memcpy(ids[k], f->id, sizeof(ids[k]));
        cr_assert_eq(mitm_store_add(s, f, err, sizeof(err)), (ssize_t)k, "%s", err);
        mitm_flow_unref(f);
    }
    cr_assert_eq(mitm_store_count(s), NFLOWS);
    for (size_t k = 0; k < NFLOWS; k++) {
        struct mitm_flow *want = make_flow(k);
        memcpy(want->id, ids[k], sizeof(ids[k]));
        struct mitm_flow *got = mitm_store_get(s, k, err, sizeof(err));
        cr_assert(got, "%s", err);
        cr_assert_eq(got->refs, 1);
        /* client and server connection ids are fresh uuids in each make_flow */
        memcpy(want->client_conn.id, got->client_conn.id, sizeof(got->client_conn.id));
        memcpy(want->server_conn.id, got->server_conn.id, sizeof(got->server_conn.id));
        assert_same(want, got);
        cr_assert_eq(mitm_store_find(s, ids[k]), (ssize_t)k);
        mitm_flow_unref(want);
        mitm_flow_unref(got);
    }
    cr_assert_eq(mitm_store_find(s, "00000000-0000-4000-8000-000000000000"), -1);
    cr_assert_null(mitm_store_get(s, NFLOWS, err, sizeof(err)));
    cr_assert_str_eq(err, "no flow at index 10000");
    cr_assert_null(mitm_store_summary(s, NFLOWS));
    free(ids);
    mitm_store_free(s);
}

Test(store, summaries)
{
    struct mitm_store *s = new_store();
    fill(s, 30);
    const struct mitm_store_summary *a = mitm_store_summary(s, 5); /* POST? 5 % 4 = 1 */
    cr_assert_str_eq(a->method, "POST");
    cr_assert_str_eq(a->scheme, "http");
    cr_assert_str_eq(a->host, "host5.example");
    cr_assert_eq(a->port, 8002);
    cr_assert_str_eq(a->path, "/api/item/5?q=35");
    cr_assert_not(a->path_truncated);
    cr_assert_eq(a->status, 200);
    cr_assert(a->has_response);
    cr_assert_eq(a->response_size, 50);
    cr_assert_eq(a->request_size, strlen("body of request 5"));
    cr_assert_not(a->error);
    cr_assert_not(a->marked);
    cr_assert_float_eq(a->timestamp_created, 1700000005.0, 1e-6);
    cr_assert_float_eq(a->timestamp_start, 1700000005.5, 1e-6);
    cr_assert_float_eq(a->timestamp_end, 1700000005.8, 1e-6);
    const struct mitm_store_summary *e = mitm_store_summary(s, 9); /* error flow */
    cr_assert(e->error);
    cr_assert_not(e->has_response);
    cr_assert_eq(e->status, 0);
    cr_assert_float_eq(e->timestamp_end, 1700000010.0, 1e-6);
    /* interned: the same host string is shared */
    cr_assert_eq(mitm_store_summary(s, 1)->host, mitm_store_summary(s, 8)->host);
    cr_assert_eq(mitm_store_summary(s, 0)->method, mitm_store_summary(s, 4)->method);
    /* each record sits right after the previous one */
    for (size_t i = 1; i < 30; i++) {
        const struct mitm_store_summary *p = mitm_store_summary(s, i - 1), *q = mitm_store_summary(s, i);
        cr_assert_eq(q->spool_off, p->spool_off + p->spool_len);
    }
    const struct mitm_store_summary *last = mitm_store_summary(s, 29);
    cr_assert_eq(mitm_store_spool_bytes(s), last->spool_off + last->spool_len);
    mitm_store_free(s);
}

Test(store, long_path_truncated_in_summary_only)
{
    struct mitm_store *s = new_store();
    char err[256];
    struct mitm_flow *f = make_flow(1);
    char *p = malloc(5001);
    memset(p, 'a', 5000);
    p[0] = '/';
    p[5000] = 0;
    mitm_str_set(&f->request->path, p, 5000);
    cr_assert_eq(mitm_store_add(s, f, err, sizeof(err)), 0, "%s", err);
    const struct mitm_store_summary *sm = mitm_store_summary(s, 0);
    cr_assert(sm->path_truncated);
    cr_assert_eq(strlen(sm->path), MITM_STORE_PATH_MAX);
    cr_assert_eq(strncmp(sm->path, p, MITM_STORE_PATH_MAX), 0);
    struct mitm_flow *g = mitm_store_get(s, 0, err, sizeof(err));
    cr_assert(g, "%s", err);
    cr_assert_str_eq(g->request->path, p);
    mitm_flow_unref(g);
    mitm_flow_unref(f);
    free(p);
    mitm_store_free(s);
}

Test(store, tcp_flow_summary)
{
    struct mitm_store *s = new_store();
    char err[256];
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_TCP, 1700000000.0);
    mitm_str_set(&f->client_conn.peer_host, "127.0.0.1", 9);
    f->client_conn.peer_port = 50123;
    mitm_str_set(&f->client_conn.proxy_mode, "regular", 7);
    mitm_str_set(&f->server_conn.address_host, "db.example", 10);
    f->server_conn.address_port = 5432;
    f->messages = calloc(2, sizeof(*f->messages));
    f->n_messages = 2;
    f->messages[0] = (struct mitm_tcp_message){true, (uint8_t *)strdup("hello"), 5, 1700000000.1};
    f->messages[1] = (struct mitm_tcp_message){false, (uint8_t *)strdup("world!"), 6, 1700000000.2};
    cr_assert_eq(mitm_store_add(s, f, err, sizeof(err)), 0, "%s", err);
    const struct mitm_store_summary *sm = mitm_store_summary(s, 0);
    cr_assert_eq(sm->type, MITM_FLOW_TCP);
    cr_assert_str_eq(sm->host, "db.example");
    cr_assert_eq(sm->port, 5432);
    cr_assert_str_eq(sm->method, "");
    cr_assert_str_eq(sm->path, "127.0.0.1:50123", "a TCP summary's path is the client address");
    cr_assert_eq(sm->response_size, 11);
    struct mitm_flow *g = mitm_store_get(s, 0, err, sizeof(err));
    cr_assert(g, "%s", err);
    assert_same(f, g);
    mitm_flow_unref(g);
    mitm_flow_unref(f);
    mitm_store_free(s);
}

Test(store, update_appends_and_repoints)
{
    struct mitm_store *s = new_store();
    char err[256];
    fill(s, 3);
    uint64_t before = mitm_store_spool_bytes(s);
    struct mitm_flow *f = mitm_store_get(s, 1, err, sizeof(err));
    cr_assert(f, "%s", err);
    mitm_str_set(&f->marked, ":default:", 9);
    mitm_str_set(&f->comment, "look here", 9);
    cr_assert_eq(mitm_store_update(s, 1, f, err, sizeof(err)), 0, "%s", err);
    const struct mitm_store_summary *sm = mitm_store_summary(s, 1);
    cr_assert(sm->marked);
    cr_assert_eq(sm->spool_off, before);
    cr_assert_eq(mitm_store_spool_bytes(s), before + sm->spool_len);
    struct mitm_flow *g = mitm_store_get(s, 1, err, sizeof(err));
    cr_assert(g, "%s", err);
    cr_assert_str_eq(g->marked, ":default:");
    cr_assert_str_eq(g->comment, "look here");
    assert_same(f, g);
    mitm_flow_unref(g);
    /* adding a flow whose id is stored replaces it at the same index */
    mitm_str_set(&f->comment, "again", 5);
    cr_assert_eq(mitm_store_add(s, f, err, sizeof(err)), 1, "%s", err);
    cr_assert_eq(mitm_store_count(s), 3);
    g = mitm_store_get(s, 1, err, sizeof(err));
    cr_assert_str_eq(g->comment, "again");
    mitm_flow_unref(g);
    /* wrong index or id */
    cr_assert_eq(mitm_store_update(s, 0, f, err, sizeof(err)), -1);
    cr_assert(strstr(err, "is not flow"), "%s", err);
    cr_assert_eq(mitm_store_update(s, 7, f, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "no flow at index 7");
    mitm_flow_unref(f);
    mitm_store_free(s);
}

Test(store, unencodable_flow_leaves_store_unchanged)
{
    struct mitm_store *s = new_store();
    char err[256];
    fill(s, 2);
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, 1.0); /* no request */
    cr_assert_eq(mitm_store_add(s, f, err, sizeof(err)), -1);
    cr_assert(strstr(err, "has no request"), "%s", err);
    cr_assert_eq(mitm_store_count(s), 2);
    cr_assert_eq(mitm_store_find(s, f->id), -1);
    mitm_flow_unref(f);
    mitm_store_free(s);
}

Test(store, bad_spool_dir)
{
    char err[256];
    cr_assert_null(mitm_store_new("/nonexistent/dir", err, sizeof(err)));
    cr_assert(strstr(err, "cannot create the flow store spool in /nonexistent/dir: "), "%s", err);
}

Test(store, view_filter_and_focus)
{
    struct mitm_store *s = new_store();
    char err[256];
    struct mitm_store_view *all = mitm_store_view_new(s);
    fill(s, 40);
    struct mitm_store_view *v = mitm_store_view_new(s);
    cr_assert_eq(mitm_store_view_count(all), 40);
    cr_assert_eq(mitm_store_view_count(v), 40);
    cr_assert_eq(mitm_store_view_focus(all), 0); /* the first flow that arrived */
    cr_assert_eq(mitm_store_view_set_focus(v, 13), 0);
    /* POST (k % 4 == 1) to /api (k % 5 == 0): k = 5, 25 */
    cr_assert_eq(mitm_store_view_set_filter(v, "~m POST & ~u /api", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(mitm_store_view_filter(v), "~m POST & ~u /api");
    cr_assert_eq(mitm_store_view_count(v), 2);
    cr_assert_eq(mitm_store_view_at(v, 0), 5);
    cr_assert_eq(mitm_store_view_at(v, 1), 25);
    cr_assert_eq(mitm_store_view_at(v, 2), -1);
    cr_assert_eq(mitm_store_view_pos(v, 25), 1);
    cr_assert_eq(mitm_store_view_pos(v, 13), -1);
    cr_assert_eq(mitm_store_view_focus(v), 25); /* 13 left: the next member */
    cr_assert_eq(mitm_store_view_load_errors(v), 0);
    cr_assert_eq(mitm_store_view_focus_next(v), 25); /* stays at the end */
    cr_assert_eq(mitm_store_view_focus_prev(v), 5);
    cr_assert_eq(mitm_store_view_focus_prev(v), 5);
    cr_assert_eq(mitm_store_view_set_focus(v, 6), -1);
    /* a bad expression leaves the view as it was */
    cr_assert_eq(mitm_store_view_set_filter(v, "~x", err, sizeof(err)), -1);
    cr_assert(strstr(err, "unknown operator ~x"), "%s", err);
    cr_assert_eq(mitm_store_view_count(v), 2);
    /* new flows are evaluated as they arrive */
    for (size_t k = 40; k < 50; k++) {
        struct mitm_flow *f = make_flow(k);
        cr_assert_eq(mitm_store_add(s, f, err, sizeof(err)), (ssize_t)k, "%s", err);
        mitm_flow_unref(f);
    }
    cr_assert_eq(mitm_store_view_count(v), 3); /* + 45 */
    cr_assert_eq(mitm_store_view_at(v, 2), 45);
    cr_assert_eq(mitm_store_view_focus(v), 5);
    cr_assert_eq(mitm_store_view_count(all), 50);
    /* an update that makes a flow match inserts it in order; the focus stays on its flow */
    struct mitm_flow *f = mitm_store_get(s, 15, err, sizeof(err));
    mitm_str_set(&f->request->method, "POST", 4);
    cr_assert_eq(mitm_store_update(s, 15, f, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(mitm_store_view_count(v), 4);
    cr_assert_eq(mitm_store_view_at(v, 1), 15);
    cr_assert_eq(mitm_store_view_focus(v), 5);
    cr_assert_eq(mitm_store_view_focus_next(v), 15);
    cr_assert_eq(mitm_store_view_focus_next(v), 25);
    /* ... and one that stops matching removes it; the focus moves to the next flow */
    mitm_str_set(&f->request->method, "GET", 3);
    cr_assert_eq(mitm_store_view_set_focus(v, 15), 0);
    cr_assert_eq(mitm_store_update(s, 15, f, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(mitm_store_view_count(v), 3);
    cr_assert_eq(mitm_store_view_focus(v), 25);
    mitm_flow_unref(f);
    /* follow: the newest matching flow takes the focus */
    mitm_store_view_set_follow(v, true);
    cr_assert_eq(mitm_store_view_focus(v), 45);
    cr_assert_eq(mitm_store_view_set_focus(v, 5), 0);
    for (size_t k = 50; k < 66; k++) {
        struct mitm_flow *g = make_flow(k);
        mitm_store_add(s, g, err, sizeof(err));
        mitm_flow_unref(g);
    }
    cr_assert_eq(mitm_store_view_focus(v), 65);
    /* no filter: every flow again, focus kept */
    cr_assert_eq(mitm_store_view_set_filter(v, NULL, err, sizeof(err)), 0);
    cr_assert_null(mitm_store_view_filter(v));
    cr_assert_eq(mitm_store_view_count(v), 66);
    cr_assert_eq(mitm_store_view_focus(v), 65);
    /* a filter nothing matches: empty view, no focus */
    cr_assert_eq(mitm_store_view_set_filter(v, "~d nowhere.invalid", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(mitm_store_view_count(v), 0);
    cr_assert_eq(mitm_store_view_focus(v), -1);
    cr_assert_eq(mitm_store_view_focus_next(v), -1);
    mitm_store_view_free(all);
    mitm_store_free(s); /* frees v as well */
}

Test(store, clear)
{
    struct mitm_store *s = new_store();
    char err[256];
    struct mitm_store_view *v = mitm_store_view_new(s);
    cr_assert_eq(mitm_store_view_set_filter(v, "~s", err, sizeof(err)), 0, "%s", err);
    fill(s, 20);
    cr_assert_eq(mitm_store_view_count(v), 18); /* all but the two error flows */
    const char *id = mitm_store_summary(s, 3)->id;
    char saved[MITM_UUID_LEN + 1];
    strcpy(saved, id);
    mitm_store_clear(s);
    cr_assert_eq(mitm_store_count(s), 0);
    cr_assert_eq(mitm_store_spool_bytes(s), 0);
    cr_assert_eq(mitm_store_find(s, saved), -1);
    cr_assert_eq(mitm_store_view_count(v), 0);
    cr_assert_eq(mitm_store_view_focus(v), -1);
    cr_assert_str_eq(mitm_store_view_filter(v), "~s");
    fill(s, 4); /* indices start at 0 again; the filter still applies */
    cr_assert_eq(mitm_store_view_count(v), 4);
    cr_assert_eq(mitm_store_view_focus(v), 0);
    struct mitm_flow *f = mitm_store_get(s, 3, err, sizeof(err));
    cr_assert(f, "%s", err);
    cr_assert_eq(f->response->content.len, 30);
    mitm_flow_unref(f);
    mitm_store_free(s);
}

/* The point of the store: RAM per flow stays small whatever the bodies weigh. */
Test(store, ram_per_flow_under_1k)
{
    struct mitm_store *s = new_store();
    char err[256];
    struct mitm_store_view *v = mitm_store_view_new(s);
    static char body[65536];
    memset(body, 'x', sizeof(body));
    for (size_t k = 0; k < 2000; k++) {
        struct mitm_flow *f = make_flow(k);
        if (f->response)
            mitm_buf_append(&f->response->content, body, sizeof(body));
        cr_assert_geq(mitm_store_add(s, f, err, sizeof(err)), 0, "%s", err);
        mitm_flow_unref(f);
    }
    size_t per = mitm_store_ram_bytes(s) / 2000;
    cr_assert_lt(per, 1024, "%zu bytes per flow", per);
    cr_assert_gt(mitm_store_spool_bytes(s), 2000ull * 60000);
    mitm_store_view_free(v);
    mitm_store_free(s);
}

/* ---- -w files (flow/savefile.h) ---- */

#include <sys/stat.h>
#include <unistd.h>

#include "flow/savefile.h"

static size_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : (size_t)-1;
}

static char *tmpdir(void)
{
    char *d = strdup("/tmp/mitmc-savefile-XXXXXX");
    cr_assert(mkdtemp(d));
    return d;
}

Test(savefile, append_truncate_and_rotation)
{
    char *d = tmpdir(), spec[512], path[512], err[512];
    const uint8_t rec[] = "4:ab,c,"; /* bytes: the writer does not look inside */
    snprintf(spec, sizeof(spec), "%s/f.mitm", d);
    struct mitm_savefile *sf = mitm_savefile_open(spec, 0, 1e9, err, sizeof(err));
    cr_assert(sf, "%s", err);
    cr_assert_str_eq(mitm_savefile_path(sf), spec);
    cr_assert_eq(mitm_savefile_write(sf, rec, 7, 1e9, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(mitm_savefile_write(sf, rec, 7, 1e9 + 500, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(mitm_savefile_count(sf), 2);
    mitm_savefile_close(sf);
    cr_assert_eq(file_size(spec), 14);
    /* "+" appends; without it the file starts over */
    snprintf(spec, sizeof(spec), "+%s/f.mitm", d);
    sf = mitm_savefile_open(spec, 1, 1e9, err, sizeof(err));
    cr_assert(sf, "%s", err);
    cr_assert_eq(mitm_savefile_write(sf, rec, 7, 1e9, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(mitm_savefile_tick(sf, 1e9 + 0.5, false, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(mitm_savefile_tick(sf, 1e9 + 2, false, err, sizeof(err)), 0, "%s", err);
    mitm_savefile_close(sf);
    cr_assert_eq(file_size(spec + 1), 21);
    sf = mitm_savefile_open(spec + 1, 0, 1e9, err, sizeof(err));
    mitm_savefile_close(sf);
    cr_assert_eq(file_size(spec + 1), 0);
    /* strftime patterns rotate, creating missing directories */
    snprintf(spec, sizeof(spec), "%s/rot/%%Y/%%s.mitm", d);
    sf = mitm_savefile_open(spec, 0, 1e9, err, sizeof(err));
    cr_assert(sf, "%s", err);
    cr_assert_eq(mitm_savefile_write(sf, rec, 7, 1e9, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(mitm_savefile_write(sf, rec, 7, 1e9 + 1, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(mitm_savefile_write(sf, rec, 7, 1e9 + 1, err, sizeof(err)), 0, "%s", err);
    mitm_savefile_close(sf);
    snprintf(path, sizeof(path), "%s/rot/2001/1000000000.mitm", d);
    cr_assert_eq(file_size(path), 7, "%s", path);
    snprintf(path, sizeof(path), "%s/rot/2001/1000000001.mitm", d);
    cr_assert_eq(file_size(path), 14, "%s", path);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
    cr_assert_eq(system(cmd), 0);
    free(d);
}

Test(savefile, errors)
{
    char err[512];
    cr_assert_null(mitm_savefile_open("+", 0, 1e9, err, sizeof(err)));
    cr_assert_str_eq(err, "+: no file name");
    cr_assert_null(mitm_savefile_open("/proc/version/x/y.mitm", 0, 1e9, err, sizeof(err)));
    cr_assert(strstr(err, "/proc/version/x/y.mitm: "), "%s", err);
    struct mitm_savefile *sf = mitm_savefile_open("/dev/full", 0, 1e9, err, sizeof(err));
    cr_assert(sf, "%s", err);
    cr_assert_eq(mitm_savefile_write(sf, (const uint8_t *)"0:~", 3, 1e9, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "Error while writing to /dev/full: No space left on device");
    mitm_savefile_close(sf);
}

/* ---- removal, order, backups, marked-only ---- */

static void set_comment(struct mitm_store *s, size_t i, const char *c)
{
    char err[256];
    struct mitm_flow *f = mitm_store_get(s, i, err, sizeof(err));
    cr_assert(f, "%s", err);
    free(f->comment);
    f->comment = strdup(c);
    cr_assert_eq(mitm_store_update(s, i, f, err, sizeof(err)), 0, "%s", err);
    mitm_flow_unref(f);
}

static void set_marked(struct mitm_store *s, size_t i, bool on)
{
    char err[256];
    struct mitm_flow *f = mitm_store_get(s, i, err, sizeof(err));
    cr_assert(f, "%s", err);
    free(f->marked);
    f->marked = strdup(on ? ":default:" : "");
    cr_assert_eq(mitm_store_update(s, i, f, err, sizeof(err)), 0, "%s", err);
    mitm_flow_unref(f);
}

Test(store, remove_leaves_a_tombstone)
{
    char err[256];
    struct mitm_store *s = new_store();
    fill(s, 10);
    struct mitm_store_view *v = mitm_store_view_new(s);
    struct mitm_store_view *posts = mitm_store_view_new(s);
    cr_assert_eq(mitm_store_view_set_filter(posts, "~m POST", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(mitm_store_view_count(posts), 3); /* 1, 5, 9 */
    char id[MITM_UUID_LEN + 1];
    snprintf(id, sizeof(id), "%s", mitm_store_summary(s, 5)->id);
    cr_assert_eq(mitm_store_view_set_focus(v, 5), 0);
    cr_assert_eq(mitm_store_view_set_focus(posts, 5), 0);

    cr_assert_eq(mitm_store_remove(s, 5), 0);
    cr_assert_eq(mitm_store_count(s), 10);
    cr_assert_eq(mitm_store_live_count(s), 9);
    cr_assert_null(mitm_store_summary(s, 5));
    cr_assert_null(mitm_store_get(s, 5, err, sizeof(err)));
    cr_assert(strstr(err, "was removed"), "%s", err);
    cr_assert_eq(mitm_store_find(s, id), -1);
    cr_assert_eq(mitm_store_remove(s, 5), -1);
    cr_assert_eq(mitm_store_view_count(v), 9);
    cr_assert_eq(mitm_store_view_pos(v, 5), -1);
    cr_assert_eq(mitm_store_view_focus(v), 6, "focus moves to the next flow");
    cr_assert_eq(mitm_store_view_count(posts), 2);
    cr_assert_eq(mitm_store_view_focus(posts), 9);
    /* indexes of the others are stable; the removed id cannot come back */
    cr_assert_eq(mitm_store_find(s, mitm_store_summary(s, 6)->id), 6);
    struct mitm_flow *f = make_flow(5);
    snprintf(f->id, sizeof(f->id), "%s", id);
    cr_assert_eq(mitm_store_add(s, f, err, sizeof(err)), MITM_STORE_REMOVED);
    cr_assert_eq(mitm_store_update(s, 5, f, err, sizeof(err)), -1);
    mitm_flow_unref(f);
    cr_assert_eq(mitm_store_live_count(s), 9);

    /* removing the last shown flow while focused: focus on the new last */
    cr_assert_eq(mitm_store_remove(s, 9), 0);
    cr_assert_eq(mitm_store_view_focus(posts), 1);
    cr_assert_eq(mitm_store_view_set_focus(v, 8), 0);
    cr_assert_eq(mitm_store_remove(s, 8), 0);
    cr_assert_eq(mitm_store_view_focus(v), 7);
    /* a refilter skips tombstones; a new view too */
    cr_assert_eq(mitm_store_view_set_filter(v, "~m GET", err, sizeof(err)), 0);
    cr_assert_eq(mitm_store_view_count(v), 2); /* 0, 4 (8 removed) */
    struct mitm_store_view *all = mitm_store_view_new(s);
    cr_assert_eq(mitm_store_view_count(all), 7);
    for (size_t i = 0; i < 10; i++)
        if (i != 5 && i != 8 && i != 9)
            cr_assert_eq(mitm_store_remove(s, i), 0);
    cr_assert_eq(mitm_store_view_count(all), 0);
    cr_assert_eq(mitm_store_view_focus(all), -1);
    mitm_store_clear(s);
    cr_assert_eq(mitm_store_live_count(s), 0);
    fill(s, 2);
    cr_assert_eq(mitm_store_view_focus(all), 0);
    mitm_store_free(s);
}

static uint64_t size_of(struct mitm_store *s, ssize_t i)
{
    const struct mitm_store_summary *sm = mitm_store_summary(s, (size_t)i);
    return sm->request_size + sm->response_size;
}

static void assert_sorted(struct mitm_store *s, struct mitm_store_view *v, enum mitm_store_order o)
{
    for (size_t p = 1; p < mitm_store_view_count(v); p++) {
        ssize_t a = mitm_store_view_at(v, p - 1), b = mitm_store_view_at(v, p);
        const struct mitm_store_summary *x = mitm_store_summary(s, (size_t)a),
                                        *y = mitm_store_summary(s, (size_t)b);
        int c = 0;
        if (o == MITM_STORE_ORDER_SIZE)
            c = (size_of(s, a) > size_of(s, b)) - (size_of(s, a) < size_of(s, b));
        else if (o == MITM_STORE_ORDER_METHOD)
            c = strcmp(x->method, y->method);
        else if (o == MITM_STORE_ORDER_TIME)
            c = (x->timestamp_created > y->timestamp_created) - (x->timestamp_created < y->timestamp_created);
        else if (!(c = strcmp(x->host, y->host)) && !(c = (x->port > y->port) - (x->port < y->port)))
            c = strcmp(x->path, y->path);
        cr_assert(c < 0 || (c == 0 && a < b), "position %zu: %zd after %zd", p, b, a);
        cr_assert_eq(mitm_store_view_pos(v, (size_t)b), (ssize_t)p);
    }
}

Test(store, view_orders)
{
    char err[256];
    struct mitm_store *s = new_store();
    fill(s, 60);
    struct mitm_store_view *v = mitm_store_view_new(s);
    cr_assert_eq(mitm_store_order_parse("size"), MITM_STORE_ORDER_SIZE);
    cr_assert_eq(mitm_store_order_parse("bogus"), -1);
    cr_assert_str_eq(mitm_store_order_name(MITM_STORE_ORDER_URL), "url");
    cr_assert_eq(mitm_store_view_set_focus(v, 17), 0);
    for (int o = MITM_STORE_ORDER_TIME; o <= MITM_STORE_ORDER_SIZE; o++) {
        mitm_store_view_set_order(v, (enum mitm_store_order)o);
        cr_assert_eq(mitm_store_view_order(v), (enum mitm_store_order)o);
        assert_sorted(s, v, (enum mitm_store_order)o);
        cr_assert_eq(mitm_store_view_focus(v), 17, "focus stays on the flow");
    }
    /* new and updated flows keep their place in the order without a re-sort */
    for (size_t k = 60; k < 90; k++) {
        struct mitm_flow *f = make_flow(k * 7 % 53);
        cr_assert_geq(mitm_store_add(s, f, err, sizeof(err)), 0, "%s", err);
        mitm_flow_unref(f);
    }
    struct mitm_flow *f = mitm_store_get(s, 3, err, sizeof(err));
    mitm_buf_append(&f->response->content, "grown", 5);
    cr_assert_eq(mitm_store_update(s, 3, f, err, sizeof(err)), 0);
    mitm_flow_unref(f);
    cr_assert_eq(mitm_store_view_count(v), 90);
    assert_sorted(s, v, MITM_STORE_ORDER_SIZE);
    /* reversed: the same order shown bottom up, focus moves as shown */
    ssize_t first = mitm_store_view_at(v, 0), last = mitm_store_view_at(v, 89);
    mitm_store_view_set_reversed(v, true);
    cr_assert(mitm_store_view_reversed(v));
    cr_assert_eq(mitm_store_view_at(v, 0), last);
    cr_assert_eq(mitm_store_view_at(v, 89), first);
    cr_assert_eq(mitm_store_view_pos(v, (size_t)first), 89);
    ssize_t pos = mitm_store_view_pos(v, 17);
    cr_assert_eq(mitm_store_view_focus_next(v), mitm_store_view_at(v, (size_t)pos + 1));
    mitm_store_view_set_focus(v, (size_t)first);
    cr_assert_eq(mitm_store_remove(s, (size_t)first), 0);
    cr_assert_eq(mitm_store_view_focus(v), mitm_store_view_at(v, 88), "focus on the new bottom");
    mitm_store_free(s);
}

Test(store, backup_and_revert)
{
    char err[256];
    struct mitm_store *s = new_store();
    fill(s, 3);
    cr_assert_not(mitm_store_has_backup(s, 1));
    cr_assert_eq(mitm_store_revert(s, 1, err, sizeof(err)), 0, "no backup: nothing to do");
    struct mitm_flow *orig = mitm_store_get(s, 1, err, sizeof(err));
    cr_assert_eq(mitm_store_backup(s, 1), 0);
    set_comment(s, 1, "first");
    cr_assert_eq(mitm_store_backup(s, 1), 0, "a second backup keeps the first");
    set_comment(s, 1, "second");
    set_marked(s, 1, true);
    cr_assert(mitm_store_has_backup(s, 1));
    cr_assert_not(mitm_store_has_backup(s, 0));
    cr_assert(mitm_store_summary(s, 1)->marked);
    cr_assert_eq(mitm_store_revert(s, 1, err, sizeof(err)), 1, "%s", err);
    cr_assert_not(mitm_store_has_backup(s, 1));
    cr_assert_not(mitm_store_summary(s, 1)->marked);
    struct mitm_flow *g = mitm_store_get(s, 1, err, sizeof(err));
    cr_assert_str_eq(g->comment, "");
    assert_same(g, orig);
    mitm_flow_unref(g);
    mitm_flow_unref(orig);
    cr_assert_eq(mitm_store_revert(s, 1, err, sizeof(err)), 0);
    /* a live update (add with the same id) keeps the backup */
    cr_assert_eq(mitm_store_backup(s, 2), 0);
    g = mitm_store_get(s, 2, err, sizeof(err));
    cr_assert_eq(mitm_store_add(s, g, err, sizeof(err)), 2);
    mitm_flow_unref(g);
    cr_assert(mitm_store_has_backup(s, 2));
    cr_assert_eq(mitm_store_backup(s, 9), -1);
    cr_assert_eq(mitm_store_revert(s, 9, err, sizeof(err)), -1);
    mitm_store_free(s);
}

Test(store, marked_only_view)
{
    char err[256];
    struct mitm_store *s = new_store();
    fill(s, 10);
    struct mitm_store_view *v = mitm_store_view_new(s);
    set_marked(s, 2, true);
    set_marked(s, 7, true);
    cr_assert_eq(mitm_store_view_set_focus(v, 4), 0);
    mitm_store_view_set_marked_only(v, true);
    cr_assert(mitm_store_view_marked_only(v));
    cr_assert_eq(mitm_store_view_count(v), 2);
    cr_assert_eq(mitm_store_view_focus(v), 7, "the nearest later marked flow");
    set_marked(s, 5, true);
    cr_assert_eq(mitm_store_view_count(v), 3);
    set_marked(s, 7, false);
    cr_assert_eq(mitm_store_view_count(v), 2);
    cr_assert_eq(mitm_store_view_focus(v), 5, "7 left: focus on the flow now at its place, the last");
    cr_assert_eq(mitm_store_view_set_filter(v, "~m PUT", err, sizeof(err)), 0); /* 2, 6 */
    cr_assert_eq(mitm_store_view_count(v), 1);
    mitm_store_view_set_marked_only(v, false);
    cr_assert_eq(mitm_store_view_count(v), 2);
    mitm_store_free(s);
}

Test(store, new_view_sorts_out_of_order_arrivals)
{
    char err[256];
    struct mitm_store *s = new_store();
    for (size_t k = 5; k-- > 0;) { /* newest first, as a file read with -r may hold them */
        struct mitm_flow *f = make_flow(k);
        cr_assert_geq(mitm_store_add(s, f, err, sizeof(err)), 0, "%s", err);
        mitm_flow_unref(f);
    }
    struct mitm_store_view *v = mitm_store_view_new(s);
    cr_assert_eq(mitm_store_view_at(v, 0), 4, "the oldest flow (added last) first");
    cr_assert_eq(mitm_store_view_focus(v), 4);
    assert_sorted(s, v, MITM_STORE_ORDER_TIME);
    mitm_store_free(s);
}

/* Records wait in the store's write buffer and reach the file in batches. A record larger
 * than the buffer is written at once (and the grown buffer given back); a write that fails
 * (here the file size limit, as a full disk would) refuses the new flow and keeps every
 * stored one readable: the buffered ones stay in RAM until a later write succeeds. */
Test(store, spool_batches_large_records_and_write_errors)
{
    struct mitm_store *s = new_store();
    char err[256];
    struct mitm_flow *big = make_flow(1);
    for (int i = 0; i < 40000; i++) /* 400 KB: larger than the write buffer */
        mitm_buf_append(&big->response->content, "0123456789", 10);
    cr_assert_eq(mitm_store_add(s, big, err, sizeof(err)), 0, "%s", err);
    struct mitm_flow *got = mitm_store_get(s, 0, err, sizeof(err));
    cr_assert(got, "%s", err);
    assert_same(big, got);
    mitm_flow_unref(got);
    mitm_flow_unref(big);

    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = mitm_store_spool_bytes(s) + 1024 * 1024;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    struct mitm_flow *flows[20000];
    size_t n = 0;
    ssize_t rc = 0;
    while (n < 20000) {
        flows[n] = make_flow(n);
        rc = mitm_store_add(s, flows[n], err, sizeof(err));
        if (rc < 0)
            break;
        cr_assert_eq(rc, (ssize_t)n + 1);
        n++;
    }
    cr_assert_eq(rc, -1, "the size limit was never hit");
    cr_assert(strstr(err, "writing the flow store spool: File too large"), "%s", err);
    cr_assert_eq(mitm_store_count(s), n + 1, "the refused flow was not stored");
    cr_assert_eq(mitm_store_find(s, flows[n]->id), -1);
    mitm_flow_unref(flows[n]);
    for (size_t k = 0; k < n; k++) { /* in the file or still in the buffer, never lost */
        got = mitm_store_get(s, k + 1, err, sizeof(err));
        cr_assert(got, "flow %zu: %s", k, err);
        assert_same(flows[k], got);
        mitm_flow_unref(got);
    }
    /* room again: the buffer is written with the next add that needs it, nothing lost */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    for (size_t k = 0; k < 2000; k++) {
        struct mitm_flow *f = make_flow(k);
        cr_assert_geq(mitm_store_add(s, f, err, sizeof(err)), 0, "%s", err);
        mitm_flow_unref(f);
    }
    for (size_t k = 0; k < n; k++) {
        got = mitm_store_get(s, k + 1, err, sizeof(err));
        cr_assert(got, "flow %zu: %s", k, err);
        assert_same(flows[k], got);
        mitm_flow_unref(got);
        mitm_flow_unref(flows[k]);
    }
    mitm_store_free(s);
}

/* flow.set can give a response any int status (as mitmproxy does): the store keeps the flow
 * readable, and ~c finds it even when the summary's 16 bits cannot hold the code. */
Test(store, any_int_status_is_stored_and_read_back)
{
    struct mitm_store *s = new_store();
    char err[256];
    const int codes[] = {1000, 70000, -3};
    for (size_t k = 0; k < 3; k++) {
        struct mitm_flow *f = make_flow(0);
        f->response->status_code = codes[k];
        cr_assert_eq(mitm_store_add(s, f, err, sizeof(err)), (ssize_t)k, "%s", err);
        mitm_flow_unref(f);
        struct mitm_flow *back = mitm_store_get(s, k, err, sizeof(err));
        cr_assert(back, "status %d: %s", codes[k], err);
        cr_assert_eq(back->response->status_code, codes[k]);
        mitm_flow_unref(back);
        if (codes[k] < 0)
            continue; /* ~c takes digits only, as mitmproxy's */
        char expr[32];
        snprintf(expr, sizeof(expr), "~c %d", codes[k]);
        struct mitm_filter *flt = mitm_filter_parse(expr, err, sizeof(err));
        cr_assert(flt, "%s", err);
        cr_assert_eq(mitm_store_match(s, k, flt, err, sizeof(err)), 1, "%s", expr);
        mitm_filter_free(flt);
    }
    cr_assert_eq(mitm_store_summary(s, 0)->status, 1000);
    cr_assert_eq(mitm_store_summary(s, 1)->status, MITM_STORE_STATUS_UNKNOWN);
    mitm_store_free(s);
}
