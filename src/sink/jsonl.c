/* JSON Lines over HTTP(S): a batch is one POST (Content-Type: application/x-ndjson), gzip'ed on
 * request, with the flow_sink_headers; any 2xx stores it, anything else (4xx, 5xx, no answer
 * within flow_sink_timeout) leaves it spooled for a retry. libcurl (easy interface, one handle
 * kept for keep-alive) runs on the sink's own thread, so a slow receiver slows no proxy. */
#include "sink/jsonl.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "core/options.h"
#include "flow/encoding.h"
#include "flow/flow.h"

struct jsonl {
    char *url;
    CURL *h;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

bool mitm_sink_jsonl_is_uri(const char *uri)
{
    return !strncmp(uri, "jsonl+http://", 13) || !strncmp(uri, "jsonl+https://", 14);
}

void *mitm_sink_jsonl_new(const char *uri)
{
    pthread_once(&curl_once, curl_init);
    struct jsonl *j = mitm_alloc(sizeof(*j));
    j->url = mitm_strdup(uri + 6);
    j->h = NULL;
    return j;
}

/* ---- one flow as JSON: mitmproxy's jsondump shape (get_state, headers as objects, times in
 * milliseconds, addresses as {host, port}) ---- */

static json_t *text(const char *s, size_t len)
{
    json_t *v = s ? json_stringn(s, len) : NULL;
    return v ? v : json_null(); /* not UTF-8: null here; the bytes are in content_base64 */
}

static json_t *str(const char *s)
{
    return s ? text(s, strlen(s)) : json_null();
}

static void set_ms(json_t *o, const char *k, double t)
{
    json_object_set_new(o, k, t > 0 ? json_integer((json_int_t)(t * 1000.0)) : json_null());
}

/* Headers as an object, like jsondump's dict(headers): a repeated name keeps its last value
 * there, so all of them are also in header_list as [name, value] pairs in order. */
static void set_headers(json_t *o, const struct mitm_headers *h)
{
    json_t *d = json_object(), *l = json_array();
    for (size_t i = 0; i < h->n; i++) {
        char *name = mitm_strndup(h->v[i].name, h->v[i].name_len);
        json_t *v = text(h->v[i].value, h->v[i].value_len);
        json_object_set(d, name, v);
        json_array_append_new(l, json_pack("[so]", name, v));
        free(name);
    }
    json_object_set_new(o, "headers", d);
    json_object_set_new(o, "header_list", l);
}

static void set_content(json_t *o, const struct mitm_buf *c, bool missing)
{
    int64_t max = mitm_options_size(mitm_sink_options()->flow_sink_body_max);
    json_object_set_new(o, "content_length", missing ? json_null() : json_integer((json_int_t)c->len));
    if (missing || (max >= 0 && c->len > (uint64_t)max)) {
        json_object_set_new(o, "content", json_null());
        return;
    }
    json_t *t = json_stringn((const char *)mitm_buf_data(c), c->len);
    if (t) {
        json_object_set_new(o, "content", t);
        return;
    }
    size_t n = 4 * ((c->len + 2) / 3) + 1;
    unsigned char *b = mitm_alloc(n);
    int k = EVP_EncodeBlock(b, mitm_buf_data(c), (int)c->len);
    json_object_set_new(o, "content", json_null());
    json_object_set_new(o, "content_base64", json_stringn((const char *)b, (size_t)k));
    free(b);
}

static json_t *address(const char *host, uint16_t port)
{
    if (!host)
        return json_null();
    if (!strncmp(host, "::ffff:", 7)) /* as jsondump */
        host += 7;
    return json_pack("{s:o,s:i}", "host", str(host), "port", (json_int_t)port);
}

static json_t *conn(const struct mitm_conn_info *c, bool server)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(c->id));
    json_object_set_new(o, "address",
                        server ? address(c->address_host, c->address_port)
                               : address(c->peer_host, c->peer_port));
    if (server)
        json_object_set_new(o, "ip_address", address(c->peer_host, c->peer_port));
    json_object_set_new(o, "tls_established", json_boolean(c->tls));
    json_object_set_new(o, "sni", str(c->sni));
    json_object_set_new(o, "tls_version", str(c->tls_version));
    json_object_set_new(o, "alpn", c->alpn ? text(c->alpn, c->alpn_len) : json_null());
    json_object_set_new(o, "error", str(c->error));
    set_ms(o, "timestamp_start", c->timestamp_start);
    set_ms(o, "timestamp_end", c->timestamp_end);
    set_ms(o, "timestamp_tls_setup", c->timestamp_tls_setup);
    if (server)
        set_ms(o, "timestamp_tcp_setup", c->timestamp_tcp_setup);
    return o;
}

void mitm_sink_jsonl_flow(const char *instance, const struct mitm_flow *f, struct mitm_buf *out)
{
    json_t *o = json_object();
    json_object_set_new(o, "instance", str(instance));
    json_object_set_new(o, "id", json_string(f->id));
    json_object_set_new(o, "type", json_string(f->type == MITM_FLOW_TCP ? "tcp" : "http"));
    json_object_set_new(o, "client_conn", conn(&f->client_conn, false));
    json_object_set_new(o, "server_conn", conn(&f->server_conn, true));
    json_object_set_new(o, "error", f->error ? json_pack("{s:o}", "msg", str(f->error->msg)) : json_null());
    if (f->error)
        set_ms(json_object_get(o, "error"), "timestamp", f->error->timestamp);
    json_object_set_new(o, "marked", str(f->marked ? f->marked : ""));
    json_object_set_new(o, "comment", str(f->comment ? f->comment : ""));
    json_object_set_new(o, "is_replay", str(f->is_replay));
    set_ms(o, "timestamp_created", f->timestamp_created);
    const struct mitm_http_request *q = f->type == MITM_FLOW_HTTP ? f->request : NULL;
    if (q) {
        json_t *r = json_object();
        json_object_set_new(r, "method", str(q->method));
        json_object_set_new(r, "scheme", str(q->scheme));
        json_object_set_new(r, "authority", str(q->authority));
        json_object_set_new(r, "host", str(q->host));
        json_object_set_new(r, "port", json_integer(q->port));
        json_object_set_new(r, "path", str(q->path));
        json_object_set_new(r, "http_version", str(q->http_version));
        set_headers(r, &q->headers);
        set_content(r, &q->content, q->content_missing);
        set_ms(r, "timestamp_start", q->timestamp_start);
        set_ms(r, "timestamp_end", q->timestamp_end);
        json_object_set_new(o, "request", r);
    }
    const struct mitm_http_response *s = q ? f->response : NULL;
    if (s) {
        json_t *r = json_object();
        json_object_set_new(r, "http_version", str(s->http_version));
        json_object_set_new(r, "status_code", json_integer(s->status_code));
        json_object_set_new(r, "reason", str(s->reason));
        set_headers(r, &s->headers);
        set_content(r, &s->content, s->content_missing);
        set_ms(r, "timestamp_start", s->timestamp_start);
        set_ms(r, "timestamp_end", s->timestamp_end);
        json_object_set_new(o, "response", r);
    } else if (q) {
        json_object_set_new(o, "response", json_null());
    }
    if (f->websocket) {
        json_t *ms = json_array();
        for (size_t i = 0; i < f->websocket->n_messages; i++) {
            const struct mitm_websocket_message *m = &f->websocket->messages[i];
            json_t *c = json_stringn((const char *)m->content, m->len);
            json_array_append_new(ms, json_pack("{s:i,s:b,s:o,s:I}", "type", m->type, "from_client",
                                                m->from_client, "content", c ? c : json_null(), "timestamp",
                                                (json_int_t)(m->timestamp * 1000.0)));
        }
        json_object_set_new(o, "websocket", json_pack("{s:o}", "messages", ms));
    }
    if (f->type == MITM_FLOW_TCP) {
        json_t *ms = json_array();
        for (size_t i = 0; i < f->n_messages; i++) {
            const struct mitm_tcp_message *m = &f->messages[i];
            json_t *c = json_stringn((const char *)m->content, m->len);
            json_array_append_new(ms, json_pack("{s:b,s:o,s:I}", "from_client", m->from_client, "content",
                                                c ? c : json_null(), "timestamp",
                                                (json_int_t)(m->timestamp * 1000.0)));
        }
        json_object_set_new(o, "messages", ms);
    }
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    mitm_buf_append(out, line, strlen(line));
    free(line);
    json_decref(o);
}

/* ---- the POST ---- */

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static int jsonl_deliver(void *st, const char *instance, const struct mitm_sink_item *items, size_t n,
                         char *err, size_t errlen)
{
    struct jsonl *j = st;
    struct mitm_buf body, gz;
    mitm_buf_init(&body, 0);
    mitm_buf_init(&gz, 0);
    for (size_t i = 0; i < n; i++) {
        mitm_sink_jsonl_flow(instance, items[i].flow, &body);
        mitm_buf_append(&body, "\n", 1);
    }
    struct curl_slist *hs = curl_slist_append(NULL, "Content-Type: application/x-ndjson");
    const uint8_t *data = mitm_buf_data(&body);
    size_t len = body.len;
    int rc = -1;
    if (mitm_sink_options()->flow_sink_gzip) {
        char e[128];
        if (mitm_encode("gzip", data, len, len + (len >> 3) + 1024, &gz, e, sizeof(e)) < 0) {
            mitm_errf(err, errlen, "gzip failed: %s", e);
            goto Exit;
        }
        data = mitm_buf_data(&gz);
        len = gz.len;
        hs = curl_slist_append(hs, "Content-Encoding: gzip");
    }
    for (size_t i = 0; i < mitm_sink_options()->flow_sink_headers.n; i++)
        hs = curl_slist_append(hs, mitm_sink_options()->flow_sink_headers.v[i]);
    if (!j->h && !(j->h = curl_easy_init())) {
        mitm_errf(err, errlen, "cannot make an HTTP client");
        goto Exit;
    }
    CURL *h = j->h;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, j->url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    long timeout = mitm_sink_options()->flow_sink_timeout > 0 ? mitm_sink_options()->flow_sink_timeout : 30;
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mitmc-flow-sink");
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK)
        mitm_errf(err, errlen, "POST failed: %s", curl_easy_strerror(cc));
    else if (status < 200 || status > 299)
        mitm_errf(err, errlen, "POST answered %ld", status);
    else
        rc = 0;
Exit:
    curl_slist_free_all(hs);
    mitm_buf_free(&body);
    mitm_buf_free(&gz);
    return rc;
}

static void jsonl_free(void *st)
{
    struct jsonl *j = st;
    if (j->h)
        curl_easy_cleanup(j->h);
    free(j->url);
    free(j);
}

const struct mitm_sink_vt mitm_sink_jsonl_vt = {"jsonl", jsonl_deliver, jsonl_free};
