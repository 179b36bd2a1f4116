#include "base/slice.h"
#include "flow/har.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "core/command.h"
#include "base/alloc.h"
#include "base/log.h"
#include "flow/contentview.h"
#include "flow/encoding.h"
#include "flow/export.h"
#include "flow/flow.h"
#include "proto/http/http.h"

#ifndef MITM_VERSION
#define MITM_VERSION "0"
#endif

/* ------------------------------------------------------------------ shared helpers */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(const uint8_t *p, size_t n, struct mitm_buf *out)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {b64chars[(v >> 18) & 63], b64chars[(v >> 12) & 63],
                     i + 1 < n ? b64chars[(v >> 6) & 63] : '=', i + 2 < n ? b64chars[v & 63] : '='};
        mitm_buf_append(out, q, 4);
    }
}

/* Python's base64.b64decode(validate=False): characters outside the alphabet are discarded;
 * what remains must be whole quads, '=' only as the padding of the last one. Returns 0 or -1. */
static int b64_decode(const char *s, size_t n, struct mitm_buf *out)
{
    uint32_t acc = 0;
    int k = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=') {
            pad++;
            continue;
        }
        const char *pos = s[i] ? strchr(b64chars, s[i]) : NULL;
        if (!pos)
            continue;
        if (pad)
            return -1;
        acc = (acc << 6) | (uint32_t)(pos - b64chars);
        if (++k == 4) {
            uint8_t b[3] = {(uint8_t)(acc >> 16), (uint8_t)(acc >> 8), (uint8_t)acc};
            mitm_buf_append(out, b, 3);
            acc = 0;
            k = 0;
        }
    }
    if (k == 0)
        return pad == 0 ? 0 : -1;
    if (k == 1 || k + pad < 4)
        return -1;
    if (k == 2) {
        uint8_t b = (uint8_t)(acc >> 4);
        mitm_buf_append(out, &b, 1);
    } else {
        uint8_t b[2] = {(uint8_t)(acc >> 10), (uint8_t)(acc >> 2)};
        mitm_buf_append(out, b, 2);
    }
    return 0;
}

/* A JSON string from bytes; invalid UTF-8 bytes become U+FFFD (JSON strings are Unicode). */
static json_t *jstrn(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t l = mitm_utf8_seq((const uint8_t *)p + i, n - i);
        if (l == 0)
            break;
        i += l;
    }
    if (i == n)
        return json_stringn(n ? p : "", n);
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    for (i = 0; i < n;) {
        size_t l = mitm_utf8_seq((const uint8_t *)p + i, n - i);
        if (l == 0) {
            mitm_buf_append(&b, "\xef\xbf\xbd", 3);
            i++;
        } else {
            mitm_buf_append(&b, p + i, l);
            i += l;
        }
    }
    json_t *j = json_stringn((const char *)mitm_buf_data(&b), b.len);
    mitm_buf_free(&b);
    return j;
}

static json_t *jstr(const char *s)
{
    return jstrn(s ? s : "", s ? strlen(s) : 0);
}

static json_t *name_value(const char *k, size_t kl, const char *v, size_t vl)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", jstrn(k, kl));
    json_object_set_new(o, "value", jstrn(v, vl));
    return o;
}

static bool ieq(const char *a, size_t al, const char *b)
{
    return al == strlen(b) && strncasecmp(a, b, al) == 0;
}

/* ------------------------------------------------------------------ export */

static json_t *headers_json(const struct mitm_headers *h)
{
    json_t *a = json_array();
    for (size_t i = 0; i < h->n; i++)
        json_array_append_new(a,
                              name_value(h->v[i].name, h->v[i].name_len, h->v[i].value, h->v[i].value_len));
    return a;
}

/* len(str(headers)): "name: value\r\n" per field. */
static long headers_size(const struct mitm_headers *h)
{
    long n = 0;
    for (size_t i = 0; i < h->n; i++)
        n += (long)(h->v[i].name_len + h->v[i].value_len + 4);
    return n;
}

/* request.cookies: the name=value pairs of every Cookie header. */
static json_t *request_cookies(const struct mitm_headers *h)
{
    json_t *a = json_array();
    for (size_t i = 0; i < h->n; i++) {
        if (!ieq(h->v[i].name, h->v[i].name_len, "cookie"))
            continue;
        const char *p = h->v[i].value, *end = p + h->v[i].value_len;
        while (p < end) {
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *pe = semi ? semi : end, *te;
            const char *s = mitm_trim_ows(p, pe, &te);
            if (te > s) {
                const char *eq = memchr(s, '=', (size_t)(te - s));
                const char *ke, *ve;
                const char *k = mitm_trim_ows(s, eq ? eq : te, &ke);
                const char *v = eq ? mitm_trim_ows(eq + 1, te, &ve) : te;
                if (!eq)
                    ve = te;
                if (ve - v >= 2 && *v == '"' && ve[-1] == '"')
                    v++, ve--;
                json_array_append_new(a, name_value(k, (size_t)(ke - k), v, (size_t)(ve - v)));
            }
            p = semi ? semi + 1 : end;
        }
    }
    return a;
}

/* format_response_cookies: one object per Set-Cookie header. */
static json_t *response_cookies(const struct mitm_headers *h)
{
    json_t *a = json_array();
    for (size_t i = 0; i < h->n; i++) {
        if (!ieq(h->v[i].name, h->v[i].name_len, "set-cookie"))
            continue;
        const char *p = h->v[i].value, *end = p + h->v[i].value_len;
        json_t *c = NULL, *path = NULL, *domain = NULL, *samesite = NULL;
        bool httponly = false, secure = false;
        for (bool first = true; p < end; first = false) {
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *pe = semi ? semi : end, *te, *ke, *ve;
            const char *s = mitm_trim_ows(p, pe, &te);
            const char *eq = memchr(s, '=', (size_t)(te - s));
            const char *k = mitm_trim_ows(s, eq ? eq : te, &ke);
            const char *v = eq ? mitm_trim_ows(eq + 1, te, &ve) : te;
            if (!eq)
                ve = te;
            if (first) {
                if (ve - v >= 2 && *v == '"' && ve[-1] == '"')
                    v++, ve--;
                c = name_value(k, (size_t)(ke - k), v, (size_t)(ve - v));
            } else if (ieq(k, (size_t)(ke - k), "path") && !path) {
                path = jstrn(v, (size_t)(ve - v));
            } else if (ieq(k, (size_t)(ke - k), "domain") && !domain) {
                domain = jstrn(v, (size_t)(ve - v));
            } else if (ieq(k, (size_t)(ke - k), "httponly")) {
                httponly = true;
            } else if (ieq(k, (size_t)(ke - k), "secure")) {
                secure = true;
            } else if (ieq(k, (size_t)(ke - k), "samesite") && !samesite) {
                samesite = jstrn(v, (size_t)(ve - v));
            }
            p = semi ? semi + 1 : end;
        }
        if (!c) {
            json_decref(path);
            json_decref(domain);
            json_decref(samesite);
            continue;
        }
        json_object_set_new(c, "path", path ? path : json_string("/"));
        json_object_set_new(c, "domain", domain ? domain : json_string(""));
        json_object_set_new(c, "httpOnly", json_boolean(httponly));
        json_object_set_new(c, "secure", json_boolean(secure));
        if (samesite)
            json_object_set_new(c, "sameSite", samesite);
        json_array_append_new(a, c);
    }
    return a;
}

static json_t *pairs_json(const struct mitm_kv *kv, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, name_value(kv[i].k, kv[i].klen, kv[i].v, kv[i].vlen));
    return a;
}

/* request.query: the parsed query of the path (up to a fragment). */
static json_t *query_json(const char *path)
{
    const char *q = path ? strchr(path, '?') : NULL;
    if (!q)
        return json_array();
    q++;
    const char *hash = strchr(q, '#');
    struct mitm_kv *kv = NULL;
    size_t n = mitm_cv_parse_qsl(q, hash ? (size_t)(hash - q) : strlen(q), 100000, &kv);
    json_t *a = pairs_json(kv, n);
    mitm_kv_free(kv, n);
    return a;
}

static const char *header_cstr(const struct mitm_headers *h, const char *name, size_t *len)
{
    const char *v = mitm_headers_get(h, name, len);
    if (!v)
        *len = 0;
    return v ? v : "";
}

/* Body text in the Content-Type charset (UTF-8 by default); false if it is not valid text. */
static bool body_as_text(const struct mitm_headers *h, struct mitm_slice body, struct mitm_buf *text)
{
    size_t ctl;
    const char *ct = header_cstr(h, "content-type", &ctl);
    enum mitm_charset cs = mitm_charset_of(ctl ? ct : NULL, ctl, MITM_CHARSET_UTF8);
    if (mitm_charset_decode(cs, body.base, body.len, text) == 0)
        return true;
    text->len = 0;
    return false;
}

/* ISO 8601 as Python's datetime.fromtimestamp(ts, timezone.utc).isoformat(). */
static json_t *iso_time(double ts)
{
    double whole = floor(ts);
    long long us = llround((ts - whole) * 1e6);
    time_t secs = (time_t)whole;
    if (us >= 1000000) {
        secs++;
        us -= 1000000;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[64];
    size_t l = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    if (us)
        snprintf(buf + l, sizeof(buf) - l, ".%06lld+00:00", us);
    else
        snprintf(buf + l, sizeof(buf) - l, "+00:00");
    return json_string(buf);
}

static json_t *response_json(const struct mitm_flow *f)
{
    const struct mitm_http_response *r = f->response;
    json_t *o = json_object();
    if (!r) {
        json_object_set_new(o, "status", json_integer(0));
        json_object_set_new(o, "statusText", json_string(""));
        json_object_set_new(o, "httpVersion", json_string(""));
        json_object_set_new(o, "headers", json_array());
        json_object_set_new(o, "cookies", json_array());
        json_object_set_new(o, "content", json_object());
        json_object_set_new(o, "redirectURL", json_string(""));
        json_object_set_new(o, "headersSize", json_integer(-1));
        json_object_set_new(o, "bodySize", json_integer(-1));
        json_object_set_new(o, "_transferSize", json_integer(0));
        json_object_set_new(o, "_error", f->error ? jstr(f->error->msg) : json_null());
        return o;
    }
    struct mitm_buf storage, text;
    struct mitm_slice body = {0};
    mitm_buf_init(&storage, 0);
    mitm_buf_init(&text, 0);
    mitm_encoding_response_content(r, MITM_HAR_BODY_CAP, &storage, &body);
    long raw_size = r->content_missing ? 0 : (long)r->content.len;
    size_t ctl, locl;
    const char *ct = header_cstr(&r->headers, "content-type", &ctl);
    const char *loc = header_cstr(&r->headers, "location", &locl);
    json_object_set_new(o, "status", json_integer(r->status_code));
    json_object_set_new(o, "statusText", jstr(r->reason));
    json_object_set_new(o, "httpVersion", jstr(r->http_version));
    json_object_set_new(o, "cookies", response_cookies(&r->headers));
    json_object_set_new(o, "headers", headers_json(&r->headers));
    json_t *c = json_object();
    json_object_set_new(c, "size", json_integer(raw_size));
    json_object_set_new(c, "compression", json_integer((long)body.len - raw_size));
    json_object_set_new(c, "mimeType", jstrn(ct, ctl));
    if (body.len && (mitm_cv_is_mostly_bin(body.base, body.len) || !body_as_text(&r->headers, body, &text))) {
        b64_encode(body.base, body.len, &text);
        json_object_set_new(c, "text", json_stringn((const char *)mitm_buf_data(&text), text.len));
        json_object_set_new(c, "encoding", json_string("base64"));
    } else {
        json_object_set_new(c, "text", jstrn((const char *)mitm_buf_data(&text), text.len));
    }
    json_object_set_new(o, "content", c);
    json_object_set_new(o, "redirectURL", jstrn(loc, locl));
    json_object_set_new(o, "headersSize", json_integer(headers_size(&r->headers)));
    json_object_set_new(o, "bodySize", json_integer(raw_size));
    mitm_buf_free(&storage);
    mitm_buf_free(&text);
    return o;
}

static json_t *request_json(const struct mitm_flow *f)
{
    const struct mitm_http_request *r = f->request;
    json_t *o = json_object();
    struct mitm_buf url;
    mitm_buf_init(&url, 0);
    if (strcmp(r->method, "CONNECT") == 0) {
        mitm_buf_append(&url, "https://", 8);
        mitm_export_pretty_url(r, &url);
        mitm_buf_append(&url, "/", 1);
    } else {
        mitm_export_pretty_url(r, &url);
    }
    json_object_set_new(o, "method", jstr(r->method));
    json_object_set_new(o, "url", jstrn((const char *)mitm_buf_data(&url), url.len));
    json_object_set_new(o, "httpVersion", jstr(r->http_version));
    json_object_set_new(o, "cookies", request_cookies(&r->headers));
    json_object_set_new(o, "headers", headers_json(&r->headers));
    json_object_set_new(o, "queryString", query_json(r->path));
    json_object_set_new(o, "headersSize", json_integer(headers_size(&r->headers)));
    json_object_set_new(o, "bodySize", json_integer(r->content_missing ? 0 : (long)r->content.len));
    mitm_buf_free(&url);
    if (strcmp(r->method, "POST") && strcmp(r->method, "PUT") && strcmp(r->method, "PATCH"))
        return o;
    struct mitm_buf storage, text;
    struct mitm_slice body = {0};
    mitm_buf_init(&storage, 0);
    mitm_buf_init(&text, 0);
    bool have = mitm_encoding_request_content(r, MITM_HAR_BODY_CAP, &storage, &body);
    size_t ctl;
    const char *ct = header_cstr(&r->headers, "content-type", &ctl);
    json_t *pd = json_object();
    json_object_set_new(pd, "mimeType", jstrn(ct, ctl));
    bool b64 = false;
    if (!have) {
        json_object_set_new(pd, "text", json_null());
    } else if (body_as_text(&r->headers, body, &text)) {
        json_object_set_new(pd, "text", jstrn((const char *)mitm_buf_data(&text), text.len));
    } else {
        b64_encode(body.base, body.len, &text);
        json_object_set_new(pd, "text", json_stringn((const char *)mitm_buf_data(&text), text.len));
        b64 = true;
    }
    struct mitm_kv *kv = NULL;
    size_t nkv = 0;
    if (have && ctl >= 33 && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
        nkv = mitm_cv_parse_qsl((const char *)body.base, body.len, 100000, &kv);
    json_object_set_new(pd, "params", pairs_json(kv, nkv));
    if (b64)
        json_object_set_new(pd, "_encoding", json_string("base64"));
    mitm_kv_free(kv, nkv);
    json_object_set_new(o, "postData", pd);
    mitm_buf_free(&storage);
    mitm_buf_free(&text);
    return o;
}

/* flow_entry: timings per savehar.py; servers lists the server connection ids already seen
 * (connect and ssl are -1 for a reused connection). */
static json_t *entry_json(const struct mitm_flow *f, char (*servers)[MITM_UUID_LEN + 1], size_t *nservers)
{
    const struct mitm_conn_info *sc = &f->server_conn;
    const struct mitm_http_request *rq = f->request;
    const struct mitm_http_response *rs = f->response;
    bool seen = false;
    for (size_t i = 0; i < *nservers && !seen; i++)
        seen = strcmp(servers[i], sc->id) == 0;
    double connect = -1, ssl = -1;
    if (!seen && sc->timestamp_tcp_setup) {
        connect = 1000 * (sc->timestamp_tcp_setup - sc->timestamp_start);
        if (sc->timestamp_tls_setup)
            ssl = 1000 * (sc->timestamp_tls_setup - sc->timestamp_tcp_setup);
        memcpy(servers[(*nservers)++], sc->id, sizeof(servers[0]));
    }
    double send = rq->timestamp_end ? 1000 * (rq->timestamp_end - rq->timestamp_start) : 0;
    double wait = rs && rq->timestamp_end ? 1000 * (rs->timestamp_start - rq->timestamp_end) : 0;
    double receive = rs && rs->timestamp_end ? 1000 * (rs->timestamp_end - rs->timestamp_start) : 0;
    double vals[] = {connect, ssl, send, receive, wait};
    const char *names[] = {"connect", "ssl", "send", "receive", "wait"};
    double total = 0;
    json_t *timings = json_object();
    for (size_t i = 0; i < 5; i++) {
        json_object_set_new(timings, names[i], json_real(vals[i]));
        if (vals[i] >= 0)
            total += vals[i];
    }
    json_object_set_new(timings, "blocked", json_real(-1));
    json_object_set_new(timings, "dns", json_real(-1));
    json_t *e = json_object();
    json_object_set_new(e, "startedDateTime", iso_time(rq->timestamp_start));
    json_object_set_new(e, "time", json_real(total));
    json_object_set_new(e, "request", request_json(f));
    json_object_set_new(e, "response", response_json(f));
    json_object_set_new(e, "cache", json_object());
    json_object_set_new(e, "timings", timings);
    if (sc->peer_host)
        json_object_set_new(e, "serverIPAddress", jstr(sc->peer_host));
    return e;
}

/* mitmproxy's human.pretty_size ("6b", "1.2k", "34m"). */
static void pretty_size(size_t size, char out[16])
{
    if (size < 1024) {
        snprintf(out, 16, "%zub", size);
        return;
    }
    double s = (double)size;
    const char *suffix = "kmgt";
    for (int i = 0; i < 4; i++) {
        s /= 1024;
        if (s < 99.95 || i == 3) {
            snprintf(out, 16, s < 99.95 ? "%.1f%c" : "%.0f%c", s, suffix[i]);
            return;
        }
        if (s < 1024) {
            snprintf(out, 16, "%.0f%c", s, suffix[i]);
            return;
        }
    }
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return mitm_buf_append(data, buffer, size);
}

int mitm_har_write(struct mitm_flow *const *flows, size_t n, struct mitm_buf *out, bool zlib, char *err,
                   size_t errlen)
{
    json_t *entries = json_array();
    char(*servers)[MITM_UUID_LEN + 1] = mitm_calloc(n + 1, sizeof(*servers));
    size_t nservers = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        if (flows[i]->type != MITM_FLOW_HTTP || !flows[i]->request) {
            skipped++;
            continue;
        }
        json_array_append_new(entries, entry_json(flows[i], servers, &nservers));
    }
    free(servers);
    if (skipped)
        mitm_log(MITM_LOG_INFO, NULL, "Skipped %zu flows that weren't HTTP flows.", skipped);
    json_t *creator = json_object();
    json_object_set_new(creator, "name", json_string("mitmc"));
    json_object_set_new(creator, "version", json_string(MITM_VERSION));
    json_object_set_new(creator, "comment", json_string(""));
    json_t *log = json_object();
    json_object_set_new(log, "version", json_string("1.2"));
    json_object_set_new(log, "creator", creator);
    json_object_set_new(log, "pages", json_array());
    json_object_set_new(log, "entries", entries);
    json_t *root = json_object();
    json_object_set_new(root, "log", log);

    struct mitm_buf doc;
    mitm_buf_init(&doc, 0);
    int rc =
        json_dump_callback(root, dump_cb, &doc, JSON_INDENT(4) | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(15));
    json_decref(root);
    if (rc != 0) {
        snprintf(err, errlen, "HAR: serialisation failed");
        mitm_buf_free(&doc);
        return -1;
    }
    if (zlib) {
        uLongf clen = compressBound(doc.len);
        uint8_t *z = mitm_try_alloc(clen);
        if (!z || compress2(z, &clen, mitm_buf_data(&doc), doc.len, 9) != Z_OK) {
            free(z);
            mitm_buf_free(&doc);
            snprintf(err, errlen, "HAR: zlib compression failed");
            return -1;
        }
        rc = mitm_buf_append(out, z, clen);
        free(z);
    } else {
        rc = mitm_buf_append(out, mitm_buf_data(&doc), doc.len);
    }
    mitm_buf_free(&doc);
    if (rc != 0) {
        snprintf(err, errlen, "HAR: output larger than its cap");
        return -1;
    }
    return 0;
}

int mitm_har_write_file(const char *path, struct mitm_flow *const *flows, size_t n, char *err, size_t errlen)
{
    bool to_stdout = strcmp(path, "-") == 0;
    size_t pl = strlen(path);
    bool z = !to_stdout && pl >= 5 && strcmp(path + pl - 5, ".zhar") == 0;
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    if (mitm_har_write(flows, n, &b, z, err, errlen) != 0) {
        mitm_buf_free(&b);
        return -1;
    }
    int rc = 0;
    if (to_stdout) {
        mitm_buf_append(&b, "\n", 1);
        if (fwrite(mitm_buf_data(&b), 1, b.len, stdout) != b.len || fflush(stdout) != 0) {
            snprintf(err, errlen, "-: %s", strerror(errno));
            rc = -1;
        }
    } else {
        FILE *fp = fopen(path, "wb");
        if (!fp) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            rc = -1;
        } else {
            bool ok = fwrite(mitm_buf_data(&b), 1, b.len, fp) == b.len;
            ok = (fclose(fp) == 0) && ok;
            if (!ok) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                rc = -1;
            } else {
                char size[16];
                pretty_size(b.len, size);
                mitm_log(MITM_LOG_ALERT, NULL, "HAR file saved (%s bytes).", size);
            }
        }
    }
    mitm_buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------------ import */

struct reader {
    size_t index; /* entry being read, for messages */
    char *err;
    size_t errlen;
};

static int fail(struct reader *rd, const char *what)
{
    snprintf(rd->err, rd->errlen, "HAR entry %zu: %s", rd->index, what);
    return -1;
}

/* A string member, or NULL (then *len = 0). */
static const char *jget_str(json_t *o, const char *key, size_t *len)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (!json_is_string(v)) {
        *len = 0;
        return NULL;
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

/* Python's datetime.fromisoformat (with "Z" for +00:00): YYYY-MM-DD[T ]HH:MM[:SS[.frac]][Z|+HH:MM]. */
static int parse_iso(const char *s, double *out)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -1;
    s += n;
    double sec = 0;
    h = mi = 0;
    if (*s == 'T' || *s == ' ') {
        s++;
        if (sscanf(s, "%2d:%2d%n", &h, &mi, &n) != 2 || n != 5)
            return -1;
        s += n;
        if (*s == ':') {
            char *end;
            sec = strtod(s + 1, &end);
            if (end == s + 1 || sec < 0 || sec >= 61)
                return -1;
            s = end;
        }
    }
    long off = 0;
    if (*s == 'Z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int oh, om = 0;
        if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) == 2 && n == 5)
            n += 1;
        else if (sscanf(s + 1, "%2d%2d%n", &oh, &om, &n) == 2 && n == 4)
            n += 1;
        else
            return -1;
        off = (oh * 3600L + om * 60L) * (*s == '-' ? -1 : 1);
        s += n;
    }
    if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    *out = (double)timegm(&tm) + sec - (double)off;
    return 0;
}

/* fix_headers: [{"name": n, "value": v}] or Slack's [[n, v]]; pseudo-headers are dropped. */
static int read_headers(struct reader *rd, json_t *arr, struct mitm_headers *h, const char *what)
{
    if (!arr)
        return 0;
    if (!json_is_array(arr)) {
        char m[96];
        snprintf(m, sizeof(m), "%s is not an array", what);
        return fail(rd, m);
    }
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        json_t *k, *v;
        if (json_is_object(it)) {
            k = json_object_get(it, "name");
            v = json_object_get(it, "value");
        } else if (json_is_array(it)) {
            k = json_array_get(it, 0);
            v = json_array_get(it, 1);
        } else {
            k = v = NULL;
        }
        if (!json_is_string(k) || !json_is_string(v)) {
            char m[96];
            snprintf(m, sizeof(m), "%s[%zu] is not a name/value pair of strings", what, i);
            return fail(rd, m);
        }
        size_t kl = json_string_length(k), vl = json_string_length(v);
        const char *ks = json_string_value(k), *vs = json_string_value(v);
        if (kl == 0 || ks[0] == ':')
            continue; /* RFC 9113 §8.3: pseudo-headers are not fields */
        if (memchr(ks, '\n', kl) || memchr(ks, '\r', kl) || memchr(vs, '\n', vl) || memchr(vs, '\r', vl) ||
            memchr(ks, 0, kl) || memchr(vs, 0, vl)) {
            char m[96];
            snprintf(m, sizeof(m), "%s[%zu] contains CR, LF or NUL", what, i);
            return fail(rd, m);
        }
        mitm_headers_add(h, ks, kl, vs, vl);
    }
    return 0;
}

/* mitmproxy's url.parse: scheme, host (lower case, no brackets), port (scheme default),
 * path (everything after the authority, "/" prefixed). Returns 1, 0 for a non-http(s) URL
 * (skipped), -1 for an invalid one. */
static int parse_url(const char *u, size_t len, struct mitm_http_request *r)
{
    const char *end = u + len, *p = memchr(u, ':', len);
    if (!p || end - p < 3 || p[1] != '/' || p[2] != '/')
        return strncasecmp(u, "http", 4) == 0 ? -1 : 0;
    size_t sl = (size_t)(p - u);
    if (!ieq(u, sl, "http") && !ieq(u, sl, "https"))
        return 0;
    char scheme[6];
    for (size_t i = 0; i < sl; i++)
        scheme[i] = (char)(u[i] | 0x20);
    scheme[sl] = 0;
    const char *a = p + 3, *ae = a;
    while (ae < end && *ae != '/' && *ae != '?' && *ae != '#')
        ae++;
    const char *at = NULL;
    for (const char *q = a; q < ae; q++)
        if (*q == '@')
            at = q;
    if (at)
        a = at + 1;
    const char *hs = a, *he = ae, *port = NULL;
    if (a < ae && *a == '[') {
        const char *rb = memchr(a, ']', (size_t)(ae - a));
        if (!rb)
            return -1;
        hs = a + 1;
        he = rb;
        if (rb + 1 < ae) {
            if (rb[1] != ':')
                return -1;
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(a, ':', (size_t)(ae - a));
        if (colon) {
            he = colon;
            port = colon + 1;
        }
    }
    if (he == hs || he - hs > 253)
        return -1;
    unsigned long pn = strcmp(scheme, "http") == 0 ? 80 : 443;
    if (port && port < ae) {
        pn = 0;
        for (const char *q = port; q < ae; q++) {
            if (*q < '0' || *q > '9' || q - port > 5)
                return -1;
            pn = pn * 10 + (unsigned long)(*q - '0');
        }
        if (pn > 65535)
            return -1;
    }
    for (const char *q = hs; q < he; q++)
        if ((unsigned char)*q <= ' ' || *q == '/' || *q == '\\')
            return -1;
    mitm_str_set(&r->scheme, scheme, sl);
    mitm_str_set(&r->host, hs, (size_t)(he - hs));
    for (char *q = r->host; *q; q++)
        if (*q >= 'A' && *q <= 'Z')
            *q = (char)(*q + 32);
    r->port = (uint16_t)pn;
    if (ae < end && *ae == '/') {
        mitm_str_set(&r->path, ae, (size_t)(end - ae));
    } else {
        char *path = mitm_alloc((size_t)(end - ae) + 2);
        path[0] = '/';
        memcpy(path + 1, ae, (size_t)(end - ae));
        path[end - ae + 1] = 0;
        free(r->path);
        r->path = path;
    }
    if (memchr(r->path, 0, strlen(r->path) + 0) || strpbrk(r->path, " \r\n"))
        return -1;
    mitm_str_set(&r->authority, "", 0);
    r->form = MITM_TARGET_ORIGIN;
    return 1;
}

static const char *map_version(const char *v, size_t len)
{
    if (v && (ieq(v, len, "http/2.0") || ieq(v, len, "http/2") || ieq(v, len, "h2")))
        return "HTTP/2";
    if (v && (ieq(v, len, "http/3") || ieq(v, len, "http/3.0") || ieq(v, len, "h3")))
        return "HTTP/3";
    if (v && ieq(v, len, "http/1.0"))
        return "HTTP/1.0";
    return "HTTP/1.1";
}

/* Body text (UTF-8 from JSON) to bytes in the message's charset, falling back to UTF-8. */
static void text_to_body(const struct mitm_headers *h, const char *t, size_t tl, struct mitm_buf *body)
{
    size_t ctl;
    const char *ct = header_cstr(h, "content-type", &ctl);
    enum mitm_charset cs = mitm_charset_of(ctl ? ct : NULL, ctl, MITM_CHARSET_UTF8);
    if (mitm_charset_encode(cs, (const uint8_t *)t, tl, body) != 0) {
        body->len = 0;
        mitm_buf_append(body, t, tl);
    }
}

/* The message now holds decoded content: drop Content-Encoding and set Content-Length as
 * mitmproxy's decode() would, for a non-empty body (see har.h for the deviation). */
static void settle_body(struct mitm_headers *h, size_t len)
{
    bool has_cl = mitm_headers_find(h, "content-length", 0) >= 0;
    if (len)
        mitm_headers_remove(h, "content-encoding");
    if ((len || has_cl) && mitm_headers_find(h, "transfer-encoding", 0) < 0) {
        char cl[32];
        int l = snprintf(cl, sizeof(cl), "%zu", len);
        mitm_headers_set(h, "content-length", cl, (size_t)l);
    }
}

static double jnum(json_t *o, const char *key)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    double d = json_is_number(v) ? json_number_value(v) : 0;
    return isfinite(d) ? d : 0;
}

static int read_request(struct reader *rd, json_t *jr, struct mitm_http_request *r, double ts0, double ts1)
{
    size_t ml, ul, vl;
    const char *method = jget_str(jr, "method", &ml);
    const char *url = jget_str(jr, "url", &ul);
    if (!method || ml == 0 || memchr(method, 0, ml) || strpbrk(method, " \r\n"))
        return fail(rd, "request.method missing or not a string");
    if (!url)
        return fail(rd, "request.url missing or not a string");
    int u = parse_url(url, ul, r);
    if (u < 0)
        return fail(rd, "request.url is not a valid URL");
    if (u == 0)
        return 0;
    mitm_str_set(&r->method, method, ml);
    const char *ver = jget_str(jr, "httpVersion", &vl);
    const char *v = map_version(ver, vl);
    mitm_str_set(&r->http_version, v, strlen(v));
    if (read_headers(rd, json_object_get(jr, "headers"), &r->headers, "request.headers") != 0)
        return -1;
    json_t *pd = json_object_get(jr, "postData");
    size_t tl, el;
    const char *text = jget_str(pd, "text", &tl);
    const char *enc = jget_str(pd, "_encoding", &el);
    if (!enc)
        enc = jget_str(pd, "encoding", &el);
    if (text && enc && ieq(enc, el, "base64")) {
        if (b64_decode(text, tl, &r->content) != 0)
            return fail(rd, "invalid base64 in request.postData.text");
    } else if (text) {
        text_to_body(&r->headers, text, tl, &r->content);
    }
    settle_body(&r->headers, r->content.len);
    r->timestamp_start = ts0;
    r->timestamp_end = ts1;
    return 1;
}

static int read_response(struct reader *rd, json_t *js, struct mitm_flow *f, double ts0, double ts1)
{
    json_t *status = json_object_get(js, "status");
    long code = json_is_integer(status) ? (long)json_integer_value(status)
                : json_is_real(status)  ? (long)json_real_value(status)
                                        : 0;
    if (code <= 0 || code > 999) {
        size_t el;
        const char *e = jget_str(js, "_error", &el);
        if (e && el)
            mitm_flow_set_error(f, e, ts1);
        return 0;
    }
    struct mitm_http_response *r = mitm_http_response_new();
    f->response = r;
    r->status_code = (int)code;
    const char *reason = mitm_http_reason((int)code);
    mitm_str_set(&r->reason, reason, strlen(reason));
    size_t vl;
    const char *ver = jget_str(js, "httpVersion", &vl);
    const char *v = map_version(ver, vl);
    mitm_str_set(&r->http_version, v, strlen(v));
    if (read_headers(rd, json_object_get(js, "headers"), &r->headers, "response.headers") != 0)
        return -1;
    json_t *c = json_object_get(js, "content");
    size_t tl, el;
    const char *text = jget_str(c, "text", &tl);
    const char *enc = jget_str(c, "encoding", &el);
    if (text && enc && ieq(enc, el, "base64")) {
        if (b64_decode(text, tl, &r->content) != 0)
            return fail(rd, "invalid base64 in response.content.text");
    } else if (text) {
        text_to_body(&r->headers, text, tl, &r->content);
    }
    settle_body(&r->headers, r->content.len);
    r->timestamp_start = ts0;
    r->timestamp_end = ts1;
    return 0;
}

static void set_addr(char **host, uint16_t *port, const char *h, size_t len, uint16_t p)
{
    mitm_str_set(host, h, len);
    *port = p;
}

/* request_to_flow. Returns 1 with *out set, 0 for a skipped entry, -1 on error. */
static int entry_to_flow(struct reader *rd, json_t *e, struct mitm_flow **out)
{
    if (!json_is_object(e))
        return fail(rd, "not an object");
    json_t *jr = json_object_get(e, "request");
    if (!json_is_object(jr))
        return fail(rd, "request missing or not an object");
    size_t sl;
    const char *started = jget_str(e, "startedDateTime", &sl);
    double ts0 = 0;
    if (started && parse_iso(started, &ts0) != 0)
        return fail(rd, "startedDateTime is not an ISO 8601 date");
    double ts1 = ts0 + jnum(e, "time") / 1000.0;
    struct mitm_flow *f = mitm_flow_new(MITM_FLOW_HTTP, ts0);
    f->request = mitm_http_request_new();
    int rc = read_request(rd, jr, f->request, ts0, ts1);
    if (rc == 1) {
        json_t *js = json_object_get(e, "response");
        if (js && !json_is_object(js))
            rc = fail(rd, "response is not an object");
        else if (js && read_response(rd, js, f, ts0, ts1) != 0)
            rc = -1;
    }
    if (rc != 1) {
        mitm_flow_unref(f);
        return rc;
    }
    set_addr(&f->client_conn.peer_host, &f->client_conn.peer_port, "127.0.0.1", 9, 0);
    set_addr(&f->client_conn.sock_host, &f->client_conn.sock_port, "127.0.0.1", 9, 0);
    f->client_conn.timestamp_start = ts0;
    f->client_conn.timestamp_end = ts1;
    size_t al;
    const char *ip = jget_str(e, "serverIPAddress", &al);
    if (ip && al >= 2 && ip[0] == '[' && ip[al - 1] == ']')
        ip++, al -= 2;
    if (ip && al && !memchr(ip, 0, al)) {
        uint16_t port = strcmp(f->request->scheme, "http") == 0 ? 80 : 443;
        set_addr(&f->server_conn.address_host, &f->server_conn.address_port, ip, al, port);
        set_addr(&f->server_conn.peer_host, &f->server_conn.peer_port, ip, al, port);
    }
    *out = f;
    return 1;
}

int mitm_har_read(const uint8_t *data, size_t len, struct mitm_flow ***flows, size_t *n, char *err,
                  size_t errlen)
{
    *flows = NULL;
    *n = 0;
    if (errlen)
        err[0] = 0;
    struct mitm_buf inflated;
    mitm_buf_init(&inflated, 0);
    if (len > MITM_HAR_MAX_INPUT) {
        snprintf(err, errlen, "HAR: larger than %zu bytes", MITM_HAR_MAX_INPUT);
        return -1;
    }
    /* RFC 1950 §2.2: CMF 0x78 and a header checksum; JSON never starts with 'x' */
    if (len >= 2 && data[0] == 0x78 && ((data[0] << 8) | data[1]) % 31 == 0) {
        char why[128];
        if (mitm_decode("deflate", data, len, MITM_HAR_MAX_INPUT, &inflated, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "HAR: cannot inflate .zhar: %s", why);
            return -1;
        }
        data = mitm_buf_data(&inflated);
        len = inflated.len;
    }
    json_error_t je;
    json_t *root = json_loadb((const char *)data, len, JSON_ALLOW_NUL, &je);
    mitm_buf_free(&inflated);
    if (!root) {
        snprintf(err, errlen, "HAR: invalid JSON at line %d, column %d: %s", je.line, je.column, je.text);
        return -1;
    }
    json_t *entries = json_object_get(json_object_get(root, "log"), "entries");
    int rc = 0;
    if (!json_is_array(entries)) {
        snprintf(err, errlen, "HAR: no log.entries array");
        rc = -1;
    } else if (json_array_size(entries) > MITM_HAR_MAX_ENTRIES) {
        snprintf(err, errlen, "HAR: more than %zu entries", MITM_HAR_MAX_ENTRIES);
        rc = -1;
    }
    size_t count = rc == 0 ? json_array_size(entries) : 0, got = 0, skipped = 0;
    struct mitm_flow **v = count ? mitm_calloc(count, sizeof(*v)) : NULL;
    struct reader rd = {0, err, errlen};
    for (size_t i = 0; i < count && rc == 0; i++) {
        rd.index = i;
        int r = entry_to_flow(&rd, json_array_get(entries, i), &v[got]);
        if (r < 0)
            rc = -1;
        else if (r == 0)
            skipped++;
        else
            got++;
    }
    json_decref(root);
    if (rc != 0) {
        for (size_t i = 0; i < got; i++)
            mitm_flow_unref(v[i]);
        free(v);
        return -1;
    }
    if (skipped)
        mitm_log(MITM_LOG_WARN, NULL, "HAR: skipped %zu entries that are not http(s) requests", skipped);
    if (got == 0) {
        free(v);
        v = NULL;
    }
    *flows = v;
    *n = got;
    return 0;
}

/* ------------------------------------------------------------------ commands */

static int cmd_save_har(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                        size_t errlen)
{
    (void)data;
    (void)n;
    (void)out;
    return mitm_har_write_file(a[1].str, (struct mitm_flow *const *)a[0].flows, a[0].nflows, err, errlen);
}

static const struct mitm_cmd_param save_har_params[] = {{"flows", MITM_ARG_FLOWS, NULL},
                                                        {"path", MITM_ARG_PATH, NULL}};

int mitm_har_register_commands(struct mitm_cmd_registry *reg, char *err, size_t errlen)
{
    const struct mitm_cmd_def def = {
        "save.har", save_har_params, 2, NULL, "Export flows to an HAR (HTTP Archive) file.", cmd_save_har,
        NULL};
    return mitm_cmd_register(reg, &def, err, errlen);
}
