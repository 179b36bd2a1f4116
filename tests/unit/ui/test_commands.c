/* The interactive commands (ui/commands.c, viewcmds.c, flowcmds.c, cut.c) called by name, as
 * key bindings and the ":" prompt call them, on a hand-built master: a store and its view,
 * a registry, an empty server replay index, no proxy. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../flow/util.h"
#include "addon/serverplayback.h"
#include "base/buf.h"
#include "core/command.h"
#include "core/options.h"
#include "flow/encoding.h"
#include "flow/flow.h"
#include "flow/store.h"
#include "proto/http/http.h"
#include "ui/commands.h"
#include "ui/master.h"

static struct mitm_master M;
static int changes;
static char dir[] = "/tmp/mitmc-cmdtest-XXXXXX";

static void fe_flow(void *arg, const struct mitm_pub *ev, bool loaded, ssize_t index)
{
    (void)arg, (void)loaded, (void)index;
    mitm_flow_unref(ev->flow);
}

static void fe_changed(void *arg, ssize_t index)
{
    (void)arg, (void)index;
    changes++;
}

static void setup(void)
{
    char err[256];
    mitm_options_init(&mitm_options);
    memset(&M, 0, sizeof(M));
    M.fe = (struct mitm_frontend){
        .flow = fe_flow, .changed = fe_changed, .interactive = true, .wants_flows = true};
    M.store = mitm_store_new(NULL, err, sizeof(err));
    cr_assert(M.store, "%s", err);
    M.view = mitm_store_view_new(M.store);
    M.commands = mitm_cmd_registry_new();
    M.sp = mitm_serverplayback_new(&mitm_options);
    cr_assert_eq(mitm_ui_commands_register(&M, err, sizeof(err)), 0, "%s", err);
    cr_assert(mkdtemp(dir));
    changes = 0;
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    strcpy(dir, "/tmp/mitmc-cmdtest-XXXXXX");
    mitm_ui_commands_free(&M);
    mitm_cmd_registry_free(M.commands);
    mitm_store_free(M.store);
    mitm_serverplayback_free(M.sp);
    mitm_options_free(&mitm_options);
    mitm_options_init(&mitm_options);
}

TestSuite(cmds, .init = setup, .fini = teardown);

/* Flow k: GET/POST http://hostK.test/pK, a text/plain response of k * 10 bytes. */
static void add_flows(size_t n)
{
    for (size_t k = 0; k < n; k++) {
        char host[32], path[32], body[256];
        snprintf(host, sizeof(host), "host%zu.test", k);
        snprintf(path, sizeof(path), "/p%zu", k);
        struct mitm_flow *f =
            t_flow(k % 2 ? "POST" : "GET", "http", host, 80, path, NULL, 0, "Host", host, NULL);
        f->timestamp_created = 1700000000.0 + (double)k;
        memset(body, 'a' + (int)k, k * 10);
        t_response(f, 200, body, k * 10, "Content-Type", "text/plain", NULL);
        cr_assert_geq(mitm_master_add_flow(&M, f), 0);
        mitm_flow_unref(f);
    }
}

/* Call line; returns its status, the result in out (NUL-terminated), the error in err. */
static char out[65536], err[1024];
static int call(const char *line)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    err[0] = 0;
    int rc = mitm_cmd_call_line(M.commands, line, &b, err, sizeof(err));
    snprintf(out, sizeof(out), "%.*s", (int)b.len, (const char *)mitm_buf_data(&b));
    mitm_buf_free(&b);
    return rc;
}

static void ok(const char *line)
{
    cr_assert_eq(call(line), 0, "%s: %s", line, err);
}

static void fails(const char *line, const char *msg)
{
    cr_assert_eq(call(line), -1, "%s should fail", line);
    cr_assert(strstr(err, msg), "%s: got \"%s\", want \"%s\"", line, err, msg);
}

static struct mitm_flow *stored(size_t i)
{
    char e[256];
    struct mitm_flow *f = mitm_store_get(M.store, i, e, sizeof(e));
    cr_assert(f, "%s", e);
    return f;
}

static ssize_t focus(void)
{
    return mitm_store_view_focus(M.view);
}

Test(cmds, remove_duplicate_resolve)
{
    add_flows(3);
    ok("view.focus.go 1");
    ok("view.flows.remove @focus");
    cr_assert_eq(mitm_store_live_count(M.store), 2);
    cr_assert_eq(focus(), 2, "focus moves to the next flow");
    ok("view.properties.length");
    cr_assert_str_eq(out, "2");
    fails("view.flows.remove ~bogus(", "Invalid flow filter");

    ok("view.flows.duplicate @focus");
    cr_assert_eq(mitm_store_live_count(M.store), 3);
    cr_assert_eq(focus(), 3, "focus on the duplicate");
    struct mitm_flow *a = stored(2), *b = stored(3);
    cr_assert_str_neq(a->id, b->id);
    cr_assert_str_eq(a->request->host, b->request->host);
    mitm_flow_unref(a);
    mitm_flow_unref(b);

    ok("view.flows.resolve @all");
    char want[200];
    snprintf(want, sizeof(want), "%s\n%s\n%s", mitm_store_summary(M.store, 0)->id,
             mitm_store_summary(M.store, 2)->id, mitm_store_summary(M.store, 3)->id);
    cr_assert_str_eq(out, want);
    fails("view.flows.resolve ~q(", "Invalid flow filter");

    ok("flow.mark @focus true");
    ok("view.clear_unmarked");
    cr_assert_eq(mitm_store_live_count(M.store), 1);
    cr_assert(mitm_store_summary(M.store, 3));
}

Test(cmds, create_and_load)
{
    ok("view.flows.create get https://Example.com:8443/a?b=1");
    cr_assert_eq(mitm_store_live_count(M.store), 1);
    struct mitm_flow *f = stored(0);
    cr_assert_str_eq(f->request->method, "GET");
    cr_assert_str_eq(f->request->host, "example.com");
    cr_assert_eq(f->request->port, 8443);
    cr_assert_str_eq(f->request->path, "/a?b=1");
    size_t len;
    const char *host = mitm_headers_get(&f->request->headers, "Host", &len);
    cr_assert(host && len == 11 && memcmp(host, "example.com", 11) == 0);
    cr_assert_null(f->response);
    mitm_flow_unref(f);
    fails("view.flows.create GET http://", "Invalid URL: ");

    add_flows(2);
    char line[256];
    snprintf(line, sizeof(line), "save.file @all %s/f.mitm", dir);
    ok(line);
    snprintf(line, sizeof(line), "view.flows.load %s/f.mitm", dir);
    ok(line);
    ok(line);
    cr_assert_eq(mitm_store_live_count(M.store), 9, "loaded twice, new ids each time");
    ok("view.flows.load /nonexistent/x.mitm"); /* logged, as mitmproxy does */
    cr_assert_eq(mitm_store_live_count(M.store), 9);
}

Test(cmds, order_and_properties)
{
    add_flows(4);
    ok("view.order");
    cr_assert_str_eq(out, "time");
    ok("view.order.options");
    cr_assert_str_eq(out, "method\nsize\ntime\nurl");
    fails("view.order.set bogus", "Unknown flow order: bogus");
    ok("view.order.set method");
    ok("view.order");
    cr_assert_str_eq(out, "method");
    cr_assert_str_eq(mitm_options.view_order, "method");
    cr_assert_eq(mitm_store_view_at(M.view, 0), 0);
    cr_assert_eq(mitm_store_view_at(M.view, 1), 2); /* the GETs first */
    ok("view.order.reverse true");
    cr_assert(mitm_options.view_order_reversed);
    cr_assert_eq(mitm_store_view_at(M.view, 0), 3);
    fails("view.order.reverse maybe", "Booleans are 'true' or 'false'");

    ok("view.properties.inbounds 3");
    cr_assert_str_eq(out, "true");
    ok("view.properties.inbounds 4");
    cr_assert_str_eq(out, "false");
    ok("view.properties.inbounds -1");
    cr_assert_str_eq(out, "false");
    ok("view.properties.marked");
    cr_assert_str_eq(out, "false");
    ok("flow.mark @focus true");
    ok("view.properties.marked.toggle");
    ok("view.properties.marked");
    cr_assert_str_eq(out, "true");
    cr_assert_eq(mitm_store_view_count(M.view), 1);
}

Test(cmds, settings)
{
    add_flows(2);
    ok("view.settings.getval @focus fullcontents false");
    cr_assert_str_eq(out, "false");
    ok("view.settings.setval.toggle @focus fullcontents");
    ok("view.settings.getval @focus fullcontents false");
    cr_assert_str_eq(out, "true");
    ok("view.settings.setval @all k v");
    ok("view.focus.next");
    ok("view.settings.getval @focus k x");
    cr_assert_str_eq(out, "v");
    fails("view.settings.getval @all k x", "Command requires one flow");
    ok("view.flows.remove @focus");
    ok("view.focus.go 0");
    ok("view.settings.getval @focus fullcontents false");
    cr_assert_str_eq(out, "true");
}

Test(cmds, flow_set)
{
    add_flows(2);
    ok("flow.set @focus status_code 404");
    struct mitm_flow *f = stored(0);
    cr_assert_eq(f->response->status_code, 404);
    cr_assert_str_eq(f->response->reason, "Not Found");
    mitm_flow_unref(f);
    ok("flow.set @focus status_code \" 599 \"");
    f = stored(0);
    cr_assert_eq(f->response->status_code, 599);
    cr_assert_str_eq(f->response->reason, "Not Found", "an unknown code keeps the reason");
    mitm_flow_unref(f);
    fails("flow.set @focus status_code abc", "Status code is not an integer: abc");
    fails("flow.set @focus colour red", "Invalid choice");
    ok("flow.set @all method PUT");
    ok("flow.set @focus reason Gone");
    ok("flow.set @focus url https://other.test:8443/new");
    f = stored(0);
    cr_assert_str_eq(f->request->method, "PUT");
    cr_assert_str_eq(f->request->host, "other.test");
    cr_assert_eq(f->request->port, 8443);
    cr_assert_str_eq(f->response->reason, "Gone");
    mitm_flow_unref(f);
    ok("flow.set @focus host moved.test");
    f = stored(0);
    size_t hl;
    const char *hh = mitm_headers_get(&f->request->headers, "Host", &hl);
    cr_assert(hh && hl == 15 && memcmp(hh, "moved.test:8443", 15) == 0, "the Host header follows");
    mitm_flow_unref(f);
    fails("flow.set @focus url nothing", "URL 'nothing' is invalid: ");
    ok("flow.set.options");
    cr_assert_str_eq(out, "host\nstatus_code\nmethod\npath\nurl\nreason");
    fails("flow.set ~bogus host x", "Invalid flow filter");
}

static void body_of(size_t i, char *coding, size_t cap, struct mitm_buf *decoded)
{
    struct mitm_flow *f = stored(i);
    size_t len = 0;
    const char *ce = mitm_headers_get(&f->response->headers, "content-encoding", &len);
    snprintf(coding, cap, "%.*s", (int)len, ce ? ce : "");
    struct mitm_slice s;
    struct mitm_buf st;
    mitm_buf_init(&st, 0);
    mitm_encoding_response_content(f->response, 1 << 20, &st, &s);
    mitm_buf_init(decoded, 0);
    mitm_buf_append(decoded, s.base, s.len);
    mitm_buf_free(&st);
    mitm_flow_unref(f);
}

Test(cmds, encode_decode_revert)
{
    add_flows(4); /* flow 3: 30 bytes of 'd' */
    ok("view.focus.go 3");
    char ce[32];
    struct mitm_buf body;
    ok("flow.encode @focus response gzip");
    body_of(3, ce, sizeof(ce), &body);
    cr_assert_str_eq(ce, "gzip");
    cr_assert_eq(body.len, 30);
    mitm_buf_free(&body);
    cr_assert(mitm_store_has_backup(M.store, 3));
    struct mitm_flow *f = stored(3);
    size_t len;
    const char *cl = mitm_headers_get(&f->response->headers, "content-length", &len);
    cr_assert(cl);
    cr_assert_eq(strtoul(cl, NULL, 10), f->response->content.len, "Content-Length follows the body");
    mitm_flow_unref(f);
    fails("flow.encode @focus response lzma", "Invalid choice");
    ok("flow.encode @focus response br"); /* already encoded: left alone */
    body_of(3, ce, sizeof(ce), &body);
    cr_assert_str_eq(ce, "gzip");
    mitm_buf_free(&body);
    ok("flow.decode @focus response");
    body_of(3, ce, sizeof(ce), &body);
    cr_assert_str_eq(ce, "");
    cr_assert_eq(body.len, 30);
    mitm_buf_free(&body);
    ok("flow.encode.toggle @focus response");
    body_of(3, ce, sizeof(ce), &body);
    cr_assert_str_eq(ce, "deflate");
    mitm_buf_free(&body);
    ok("flow.encode.toggle @focus response");
    body_of(3, ce, sizeof(ce), &body);
    cr_assert_str_eq(ce, "");
    mitm_buf_free(&body);
    ok("flow.encode @focus nosuchpart zstd"); /* getattr(f, part) is None: skipped */
    ok("flow.encode.options");
    cr_assert_str_eq(out, "gzip\ndeflate\nbr\nzstd");

    ok("flow.revert @all");
    cr_assert_not(mitm_store_has_backup(M.store, 3));
    f = stored(3);
    cr_assert_null(mitm_headers_get(&f->response->headers, "content-encoding", &len));
    cr_assert_eq(f->response->content.len, 30);
    mitm_flow_unref(f);
    ok("flow.revert @all"); /* nothing left to revert */
}

Test(cmds, cut)
{
    add_flows(3);
    ok("cut @all request.method,request.host,response.status_code,request.url");
    cr_assert_str_eq(out,
                     "GET,host0.test,200,http://host0.test/p0\r\nPOST,host1.test,200,http://host1.test/p1\r\n"
                     "GET,host2.test,200,http://host2.test/p2");
    ok("view.focus.go 1");
    ok("cut @focus response.content");
    cr_assert_str_eq(out, "b'bbbbbbbbbb'");
    ok("cut @focus \"response.header[content-type], request.header[ nope ], response.reason\"");
    cr_assert_str_eq(out, "text/plain,,OK");
    ok("cut @focus request.port,server_conn.address.port,intercepted,error.msg,request.bogus,comment");
    cr_assert_str_eq(out, "80,,false,,,");
    struct mitm_flow *c = stored(1);
    mitm_str_set(&c->client_conn.peer_host, "10.0.0.1", 8);
    c->client_conn.peer_port = 0;
    mitm_ui_update(&M, c);
    mitm_flow_unref(c);
    ok("cut @focus client_conn.peername.host,client_conn.address.port,client_conn.peername");
    cr_assert_str_eq(out, "10.0.0.1,0,\"('10.0.0.1', 0)\"", "an address's port 0 still prints");
    fails("cut @focus request._secret", "Can't access internal attribute _secret");
    fails("cut @focus request.header[host", "Invalid header spec: header[host");

    char line[256], path[200];
    snprintf(path, sizeof(path), "%s/cut.bin", dir);
    snprintf(line, sizeof(line), "cut.save @focus response.content %s", path);
    ok(line);
    size_t len;
    char *data = t_read_file(path, &len);
    cr_assert(data && len == 10 && memcmp(data, "bbbbbbbbbb", 10) == 0);
    free(data);
    snprintf(line, sizeof(line), "cut.save @focus request.method +%s", path);
    ok(line);
    data = t_read_file(path, &len);
    cr_assert(data && len == 15 && memcmp(data, "bbbbbbbbbb\nPOST", 15) == 0, "appended after a newline");
    free(data);
    snprintf(line, sizeof(line), "cut.save @all request.method,response.content %s", path);
    ok(line);
    data = t_read_file(path, &len);
    cr_assert(data);
    cr_assert_str_eq(data, "GET,b''\r\nPOST,b'bbbbbbbbbb'\r\nGET,b'cccccccccccccccccccc'\r\n");
    free(data);
    ok("cut.save @focus request.method /nonexistent/dir/x"); /* logged, as mitmproxy does */
    cr_assert_neq(access("/nonexistent/dir/x", F_OK), 0);
    fails("cut.save @focus _x /tmp/never", "Can't access internal attribute _x");
    struct mitm_flow *ws = stored(1);
    ws->websocket = mitm_websocket_new();
    mitm_websocket_add(ws->websocket, 1, true, (const uint8_t *)"hi", 2, 1.0);
    mitm_websocket_add(ws->websocket, 1, false, (const uint8_t *)"ho", 2, 2.0);
    mitm_ui_update(&M, ws);
    mitm_flow_unref(ws);
    ok("cut @focus response.content");
    cr_assert_str_eq(out, "b'[OUTGOING] hi\\n[INCOMING] ho'", "WebSocket messages, as mitmproxy");
    fails("cut.clip @focus request.method", "clipboard");
    fails("export.clip curl @focus", "clipboard");
}

Test(cmds, options)
{
    char line[256], path[200];
    snprintf(path, sizeof(path), "%s/opts.yaml", dir);
    ok("set ignore_hosts a.test b.test");
    cr_assert_eq(mitm_options.ignore_hosts.n, 2);
    cr_assert_str_eq(mitm_options.ignore_hosts.v[1], "b.test");
    ok("set ignore_hosts c.test");
    cr_assert_eq(mitm_options.ignore_hosts.n, 1, "the values given replace the list, as mitmproxy's");
    cr_assert_str_eq(mitm_options.ignore_hosts.v[0], "c.test");
    ok("set ignore_hosts");
    cr_assert_eq(mitm_options.ignore_hosts.n, 0);
    ok("set anticache true");
    ok("set view_order size");
    snprintf(line, sizeof(line), "options.save %s", path);
    ok(line);
    size_t len;
    char *data = t_read_file(path, &len);
    cr_assert(data);
    cr_assert(strstr(data, "anticache: true\n"), "%s", data);
    cr_assert(strstr(data, "view_order: size\n"), "%s", data);
    cr_assert_null(strstr(data, "showhost"), "only changed options");
    cr_assert_null(strstr(data, "anticomp"));
    free(data);
    /* an existing file keeps what it set, unless changed here */
    FILE *keep = fopen(path, "w");
    fputs("showhost: true\nanticache: false\n", keep);
    fclose(keep);
    ok(line);
    data = t_read_file(path, &len);
    cr_assert(strstr(data, "anticache: true\n") && strstr(data, "showhost: true\n"), "%s", data);
    free(data);
    fails("options.save /nonexistent/dir/o.yaml",
          "Could not save options - [Errno 2] No such file or directory");

    ok("options.reset");
    cr_assert_not(mitm_options.anticache);
    cr_assert_str_eq(mitm_options.view_order, "time");
    snprintf(line, sizeof(line), "options.load %s", path);
    ok(line);
    cr_assert(mitm_options.anticache);
    cr_assert_eq(mitm_store_view_order(M.view), MITM_STORE_ORDER_SIZE, "the view follows the loaded option");
    ok("options.reset.one anticache");
    cr_assert_not(mitm_options.anticache);
    fails("options.reset.one bogus", "No such option: bogus");

    FILE *fp = fopen(path, "w");
    fputs("view_order: sideways\n", fp);
    fclose(fp);
    fails(line, "Could not load options - ");
    cr_assert_str_eq(mitm_options.view_order, "size", "a bad file changes nothing");
}

Test(cmds, replay_server)
{
    add_flows(3);
    ok("replay.server @all");
    ok("replay.server.count");
    cr_assert_str_eq(out, "3");
    ok("replay.server.add @focus");
    ok("replay.server.count");
    cr_assert_str_eq(out, "4");
    ok("replay.server @focus");
    ok("replay.server.count");
    cr_assert_str_eq(out, "1");
    ok("replay.server.stop");
    ok("replay.server.count");
    cr_assert_str_eq(out, "0");
    char line[256];
    snprintf(line, sizeof(line), "save.file @all %s/sp.mitm", dir);
    ok(line);
    snprintf(line, sizeof(line), "replay.server.file %s/sp.mitm", dir);
    ok(line);
    ok("replay.server.count");
    cr_assert_str_eq(out, "3");
    fails("replay.server.file /nonexistent/sp.mitm", "/nonexistent/sp.mitm");
    ok("replay.server.count");
    cr_assert_str_eq(out, "3", "a failed load keeps the index");
}

Test(cmds, removed_flow_stays_removed)
{
    add_flows(2);
    struct mitm_flow *f = stored(0);
    ok("view.flows.remove @all");
    cr_assert_eq(mitm_store_live_count(M.store), 0);
    cr_assert_eq(focus(), -1);
    /* a worker's later update of the removed flow (same id) is dropped */
    cr_assert_eq(mitm_master_add_flow(&M, f), -1);
    mitm_flow_unref(f);
    cr_assert_eq(mitm_store_live_count(M.store), 0);
    ok("view.flows.resolve @all");
    cr_assert_str_eq(out, "");
    ok("flow.mark @all true"); /* nothing to resolve: nothing happens */
    add_flows(1);
    cr_assert_eq(focus(), 2, "the next flow takes the focus of an empty view");
    ok("view.clear");
    cr_assert_eq(mitm_store_count(M.store), 0, "clear drops the tombstones");
}
