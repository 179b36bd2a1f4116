/* The Lua view of flows: request and response fields, headers, query, bodies, JSON,
 * metadata, connections, filters. Each test runs a request (or response) hook whose Lua
 * asserts, then checks the flow from C. */
#include "helpers.h"

#include "flow/encoding.h"
#include "flow/flowfile.h"
#include "layer/layer-t.h"

TestSuite(bindings, .init = helpers_setup, .fini = helpers_teardown);

/* Run src's request hook on f (worker 0) and assert it logged nothing. */
static void run_request(const char *src, struct mitm_flow *f)
{
    struct mitm_script_rt *rt = rt_with(src);
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert_eq(loglen, 0, "the hook failed:\n%s", logbuf);
    mitm_script_rt_free(rt);
}

static void run_response(const char *src, struct mitm_flow *f)
{
    struct mitm_script_rt *rt = rt_with(src);
    hook(rt, MITM_HOOK_RESPONSE, f, 0);
    cr_assert_eq(loglen, 0, "the hook failed:\n%s", logbuf);
    mitm_script_rt_free(rt);
}

Test(bindings, request_fields)
{
    struct mitm_flow *f = get_flow("example.com", 8080, "/p/a?x=1");
    run_request("function request(flow)\n"
                "  local r = flow.request\n"
                "  assert(r.method == 'GET' and r.scheme == 'http' and r.host == 'example.com')\n"
                "  assert(r.port == 8080 and r.path == '/p/a?x=1' and r.http_version == 'HTTP/1.1')\n"
                "  assert(r.url == 'http://example.com:8080/p/a?x=1', r.url)\n"
                "  assert(r.pretty_host == 'example.com' and r.host_header == 'example.com')\n"
                "  assert(flow.type == 'http' and #flow.id == 36 and flow.timestamp_created == 1000)\n"
                "  r.method = 'POST'\n"
                "  r.path = '/new'\n"
                "end\n",
                f);
    cr_assert_str_eq(f->request->method, "POST");
    cr_assert_str_eq(f->request->path, "/new");
    mitm_flow_unref(f);
}

Test(bindings, host_and_url_setters_follow_mitmproxy)
{
    struct mitm_flow *f = get_flow("example.org", 80, "/");
    run_request("function request(flow)\n"
                "  flow.request.host = 'mitmproxy.org'\n"
                "  assert(flow.request.headers.host == 'mitmproxy.org', 'Host follows host')\n"
                "  flow.request.port = 8443\n"
                "  assert(flow.request.headers['Host'] == 'mitmproxy.org:8443')\n"
                "  flow.request.url = 'https://[::1]:9000/x?y=z'\n"
                "  assert(not pcall(function() flow.request.port = 0 end))\n"
                "  assert(not pcall(function() flow.request.host = 'a\\r\\nb' end))\n"
                "  assert(not pcall(function() flow.request.url = 'nope' end))\n"
                "end\n",
                f);
    cr_assert_str_eq(f->request->scheme, "https");
    cr_assert_str_eq(f->request->host, "::1");
    cr_assert_eq(f->request->port, 9000);
    cr_assert_str_eq(f->request->path, "/x?y=z");
    cr_assert_str_eq(hdr(&f->request->headers, "host"), "[::1]:9000");
    mitm_flow_unref(f);
}

Test(bindings, headers_multimap)
{
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    struct mitm_headers *h = &f->request->headers;
    mitm_headers_add(h, "Accept", 6, "a", 1);
    mitm_headers_add(h, "X-Dup", 5, "1", 1);
    mitm_headers_add(h, "x-dup", 5, "2", 1);
    run_request("function request(flow)\n"
                "  local h = flow.request.headers\n"
                "  assert(h['x-DUP'] == '1, 2' and h:get('accept') == 'a' and h.nothere == nil)\n"
                "  assert(h:get('nothere', 'dflt') == 'dflt' and #h == 4 and h:contains('ACCEPT'))\n"
                "  local all = h:get_all('X-Dup'); assert(#all == 2 and all[2] == '2')\n"
                "  local names = {}\n"
                "  for k, v in pairs(h) do names[#names + 1] = k .. '=' .. v end\n"
                "  assert(table.concat(names, ' ') == 'Host=example.com Accept=a X-Dup=1 x-dup=2', "
                "table.concat(names, ' '))\n"
                "  h['accept'] = 'b'\n"
                "  h:add('Via', 'lua')\n"
                "  assert(h:remove('x-dup') == 2)\n"
                "  h:set_all('Multi', {'m1', 'm2'})\n"
                "  h.Length = 42\n"
                "  assert(not pcall(function() h['Bad'] = 'a\\nb' end))\n"
                "  assert(not pcall(function() h['Bad Name'] = 'v' end))\n"
                "end\n",
                f);
    cr_assert_eq(h->n, 6);
    cr_assert_str_eq(h->v[1].name, "Accept", "position and spelling kept");
    cr_assert_str_eq(h->v[1].value, "b");
    cr_assert_str_eq(h->v[2].name, "Via");
    cr_assert_str_eq(h->v[3].value, "m1");
    cr_assert_str_eq(h->v[4].value, "m2");
    cr_assert_str_eq(hdr(h, "length"), "42");
    mitm_flow_unref(f);
}

Test(bindings, headers_replaced_from_a_table)
{
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    run_request("function request(flow)\n"
                "  flow.request.headers = {{'B', '2'}, {'A', '1'}, {'B', '3'}}\n"
                "end\n",
                f);
    struct mitm_headers *h = &f->request->headers;
    cr_assert_eq(h->n, 3);
    cr_assert_str_eq(h->v[0].name, "B");
    cr_assert_str_eq(h->v[2].value, "3");
    mitm_flow_unref(f);
}

Test(bindings, query)
{
    struct mitm_flow *f = get_flow("example.com", 80, "/search?q=a+b&x=1&x=2&e=%C3%A9#frag");
    run_request("function request(flow)\n"
                "  local q = flow.request.query\n"
                "  assert(q.q == 'a b' and q.x == '1' and q.e == '\\xc3\\xa9' and #q == 4)\n"
                "  assert(#q:get_all('x') == 2 and q.nothere == nil)\n"
                "  q.mitmproxy = 'rocks & rolls'\n"
                "  q.x = nil\n"
                "  q:add('z', 'last')\n"
                "end\n",
                f);
    cr_assert_str_eq(f->request->path, "/search?q=a+b&e=%C3%A9&mitmproxy=rocks+%26+rolls&z=last#frag");
    run_request("function request(flow) flow.request.query = {{'only', '1'}} end\n", f);
    cr_assert_str_eq(f->request->path, "/search?only=1#frag");
    run_request("function request(flow) flow.request.query = {} end\n", f);
    cr_assert_str_eq(f->request->path, "/search#frag");
    mitm_flow_unref(f);
}

Test(bindings, bodies_content_text_json)
{
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    const char *json = "{\"a\": [1, 2.5, null, \"x\"], \"b\": {\"c\": true}}";
    struct mitm_buf gz;
    mitm_buf_init(&gz, 0);
    cr_assert_eq(mitm_encode("gzip", (const uint8_t *)json, strlen(json), 1 << 20, &gz, NULL, 0), 0);
    add_resp(f, 200, "application/json", "");
    struct mitm_http_response *r = f->response;
    mitm_buf_append(&r->content, mitm_buf_data(&gz), gz.len);
    mitm_headers_add(&r->headers, "Content-Encoding", 16, "gzip", 4);
    run_response("function response(flow)\n"
                 "  local r = flow.response\n"
                 "  assert(#r.raw_content ~= #r.content, 'raw is gzip, content decoded')\n"
                 "  local j = r:json()\n"
                 "  assert(j.a[1] == 1 and math.type(j.a[1]) == 'integer' and j.a[2] == 2.5)\n"
                 "  assert(j.a[3] == mitm.null and j.a[4] == 'x' and #j.a == 4 and j.b.c == true)\n"
                 "  r.text = '{\"changed\": 1}'\n"
                 "end\n",
                 f);
    struct mitm_buf dec;
    mitm_buf_init(&dec, 0);
    cr_assert_eq(mitm_decode("gzip", mitm_buf_data(&r->content), r->content.len, 1 << 20, &dec, NULL, 0), 0,
                 "set_text re-encodes with the Content-Encoding");
    cr_assert_eq(dec.len, 14);
    cr_assert_eq(memcmp(mitm_buf_data(&dec), "{\"changed\": 1}", 14), 0);
    char cl[16];
    snprintf(cl, sizeof(cl), "%zu", r->content.len);
    cr_assert_str_eq(hdr(&r->headers, "content-length"), cl, "Content-Length follows the body");
    mitm_buf_free(&gz);
    mitm_buf_free(&dec);
    mitm_flow_unref(f);
}

Test(bindings, text_charsets)
{
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    add_resp(f, 200, "text/plain; charset=iso-8859-1", "caf\xe9");
    run_response("function response(flow)\n"
                 "  assert(flow.response.text == 'caf\\xc3\\xa9', 'latin-1 decoded to UTF-8')\n"
                 "  flow.response.text = 'na\\xc3\\xafve \\xe2\\x82\\xac'\n" /* "naïve €": € is not latin-1 */
                 "end\n",
                 f);
    cr_assert_str_eq(hdr(&f->response->headers, "content-type"), "text/plain; charset=utf-8",
                     "mitmproxy falls back to UTF-8 and says so");
    cr_assert_eq(f->response->content.len, 10);
    mitm_flow_unref(f);

    f = get_flow("example.com", 80, "/");
    add_resp(f, 200, "text/plain", "x");
    run_response("function response(flow) flow.response.text = 'd\\xc3\\xa9j\\xc3\\xa0' end\n", f);
    cr_assert_eq(f->response->content.len, 4, "no charset: Latin-1, and these fit");
    cr_assert_eq(memcmp(mitm_buf_data(&f->response->content), "d\xe9j\xe0", 4), 0);
    mitm_flow_unref(f);
}

Test(bindings, answering_from_a_script)
{
    struct mitm_flow *f = get_flow("example.com", 80, "/path");
    run_request("function request(flow)\n"
                "  assert(flow.response == nil)\n"
                "  local r = mitm.response(200, 'Hello World', {['Content-Type'] = 'text/html'})\n"
                "  r.headers['X-Extra'] = '1'\n"
                "  flow.response = r\n"
                "  r.reason = 'Fine'\n"
                "  assert(flow.response.status_code == 200 and flow.response.text == 'Hello World')\n"
                "end\n",
                f);
    struct mitm_http_response *r = f->response;
    cr_assert(r);
    cr_assert_eq(r->status_code, 200);
    cr_assert_str_eq(r->reason, "Fine", "after the assignment the box views the flow's response");
    cr_assert_str_eq(r->http_version, "HTTP/1.1");
    cr_assert_str_eq(hdr(&r->headers, "content-type"), "text/html");
    cr_assert_str_eq(hdr(&r->headers, "content-length"), "11");
    cr_assert_str_eq(hdr(&r->headers, "x-extra"), "1");
    cr_assert_float_eq(r->timestamp_start, 1000.0, 1e-9);
    run_request("function request(flow) flow.response = nil end\n", f);
    cr_assert_null(f->response);
    mitm_flow_unref(f);
}

Test(bindings, response_fields_and_trailers)
{
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    add_resp(f, 404, "text/plain", "missing");
    run_response("function response(flow)\n"
                 "  local r = flow.response\n"
                 "  assert(r.status_code == 404 and r.reason == 'Not Found' and r.trailers == nil)\n"
                 "  r.status_code = 200; r.reason = 'OK'\n"
                 "  r.trailers = {['X-Checksum'] = 'abc'}\n"
                 "  assert(r.trailers['x-checksum'] == 'abc')\n"
                 "  assert(not pcall(function() r.status_code = 42 end))\n"
                 "end\n",
                 f);
    cr_assert_eq(f->response->status_code, 200);
    cr_assert(f->response->trailers);
    cr_assert_str_eq(hdr(f->response->trailers, "x-checksum"), "abc");
    mitm_flow_unref(f);
}

Test(bindings, flow_state_kill_intercept_marks)
{
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    run_request("function request(flow)\n"
                "  assert(flow.marked == false and flow.comment == '' and flow.intercepted == false)\n"
                "  flow.marked = true; assert(flow.marked == ':default:')\n"
                "  flow.comment = 'seen'\n"
                "  flow:intercept(); assert(flow.intercepted)\n"
                "  flow:resume(); assert(not flow.intercepted)\n"
                "  flow:intercept()\n"
                "  assert(flow.killable); flow:kill()\n"
                "  assert(flow.error == nil and flow.is_replay == nil)\n"
                "  assert(not pcall(function() flow.nonsense = 1 end))\n"
                "  assert(not pcall(function() return flow.nonsense end))\n"
                "end\n",
                f);
    cr_assert_str_eq(f->marked, ":default:");
    cr_assert_str_eq(f->comment, "seen");
    cr_assert(f->killed);
    cr_assert_not(f->intercepted, "kill clears intercepted, as in mitmproxy");
    mitm_flow_unref(f);
}

Test(bindings, metadata_survives_flow_files)
{
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    add_resp(f, 200, "text/plain", "ok");
    run_request("function request(flow)\n"
                "  local m = flow.metadata\n"
                "  m.count = 3; m.name = 'x'; m.ratio = 0.5; m.flag = true\n"
                "  m.list = {1, 'two'}; m.map = {k = 'v'}; m.bin = '\\xff\\x00'\n"
                "  m.gone = 1; m.gone = nil\n"
                "  assert(m.count == 3 and m.list[2] == 'two' and m.map.k == 'v' and #m == 7)\n"
                "  assert(not pcall(function() m.f = print end))\n"
                "end\n",
                f);
    struct mitm_buf rec;
    mitm_buf_init(&rec, 0);
    char err[256];
    cr_assert_eq(mitm_flowfile_encode(f, &rec, err, sizeof(err)), 0, "%s", err);
    struct mitm_flowfile_reader *rd = mitm_flowfile_open_mem(mitm_buf_data(&rec), rec.len);
    struct mitm_flow *g = NULL;
    cr_assert_eq(mitm_flowfile_next(rd, &g, err, sizeof(err)), MITM_FLOWFILE_FLOW, "%s", err);
    mitm_flowfile_close(rd);
    run_request("function request(flow)\n"
                "  local m = flow.metadata\n"
                "  assert(m.count == 3 and m.name == 'x' and m.ratio == 0.5 and m.flag == true)\n"
                "  assert(m.list[1] == 1 and m.map.k == 'v' and m.bin == '\\xff\\x00' and m.gone == nil)\n"
                "  local n = 0; for k, v in pairs(m) do n = n + 1 end; assert(n == 7)\n"
                "end\n",
                g);
    mitm_buf_free(&rec);
    mitm_flow_unref(g);
    mitm_flow_unref(f);
}

Test(bindings, connections_and_errors)
{
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    f->client_conn.peer_host = mitm_strdup("127.0.0.1");
    f->client_conn.peer_port = 5555;
    f->server_conn.address_host = mitm_strdup("example.com");
    f->server_conn.address_port = 80;
    mitm_flow_set_error(f, "Connection killed.", 1001.0);
    struct mitm_script_rt *rt = rt_with(
        "function error(flow)\n"
        "  local p = flow.client_conn.peername\n"
        "  assert(p[1] == '127.0.0.1' and p[2] == 5555)\n"
        "  assert(flow.server_conn.address[1] == 'example.com' and flow.server_conn.peername == nil)\n"
        "  assert(flow.client_conn.tls_established == false and #flow.client_conn.id == 36)\n"
        "  assert(flow.error.msg == 'Connection killed.' and flow.error.timestamp == 1001)\n"
        "  flow.comment = 'checked'\n"
        "end\n");
    hook(rt, MITM_HOOK_ERROR, f, 0);
    cr_assert_str_eq(f->comment, "checked", "%s", logbuf);
    mitm_script_rt_free(rt);
    mitm_flow_unref(f);
}

Test(bindings, filters)
{
    struct mitm_flow *f = get_flow("www.example.com", 80, "/");
    run_request("local f = mitm.filter('~d example.com & ~m GET')\n"
                "local other = mitm.filter('~d example.org')\n"
                "function request(flow)\n"
                "  assert(f:match(flow) and f(flow) and not other(flow))\n"
                "  assert(tostring(f) == '<filter ~d example.com & ~m GET>')\n"
                "  local ok, err = pcall(mitm.filter, '~x')\n"
                "  assert(not ok and err:find('invalid filter expression'))\n"
                "end\n",
                f);
    mitm_flow_unref(f);
}

Test(bindings, json_helpers)
{
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    run_request("function request(flow)\n"
                "  assert(mitm.json_encode({b = {1, 2}, a = mitm.null, c = 'x'}) == "
                "'{\"a\":null,\"b\":[1,2],\"c\":\"x\"}')\n"
                "  assert(mitm.json_decode('[1, {\"k\": false}]')[2].k == false)\n"
                "  assert(not pcall(mitm.json_decode, '{'))\n"
                "  assert(not pcall(mitm.json_encode, {f = print}))\n"
                "  local t = {}; t.self = t; assert(not pcall(mitm.json_encode, t))\n"
                "end\n",
                f);
    mitm_flow_unref(f);
}

Test(bindings, options_from_the_connection_snapshot)
{
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    run_request("function request(flow)\n"
                "  assert(mitm.options.flow_detail == 1 and mitm.options.listen_port == nil)\n"
                "  assert(mitm.options.mode[1] == 'regular' and mitm.options.termlog_verbosity == 'info')\n"
                "  assert(not pcall(function() return mitm.options.nope end))\n"
                "  assert(not pcall(function() mitm.options.flow_detail = 2 end))\n"
                "  assert(mitm.now() == 1000)\n"
                "end\n",
                f);
    mitm_flow_unref(f);
}

Test(bindings, connection_hooks_get_the_connection)
{
    struct mitm_conn c = {.id = 1, .side = MITM_CONN_CLIENT, .peer_port = 4242, .tls = true};
    strcpy(c.peer_host, "10.0.0.1");
    struct mitm_conn s = {.id = 2, .side = MITM_CONN_SERVER, .host = "example.com", .port = 443};
    struct mitm_script_rt *rt =
        rt_with("function client_connected(client)\n"
                "  assert(client.peername[1] == '10.0.0.1' and client.peername[2] == 4242)\n"
                "  assert(client.tls_established and client.address == nil)\n"
                "  mitm.log.info('client ok')\n"
                "end\n"
                "function server_connect(data)\n"
                "  assert(data.server.address[1] == 'example.com' and data.server.address[2] == 443)\n"
                "  assert(data.client.peername[2] == 4242)\n"
                "  data.server.error = 'no thanks'\n"
                "  mitm.log.info('server ok')\n"
                "end\n");
    hook(rt, MITM_HOOK_CLIENT_CONNECTED, &c, 0);
    struct mitm_server_hook_data d = {.client = &c, .server = &s};
    hook(rt, MITM_HOOK_SERVER_CONNECT, &d, 0);
    cr_assert(logged("client ok") && logged("server ok"), "%s", logbuf);
    cr_assert_str_eq(s.error, "no thanks");
    free(s.error);
    mitm_script_rt_free(rt);
}
