/* mitmproxy 12's JSON shapes (mitmproxy/tools/web/app.py: flow_to_json, cert_to_json;
 * optmanager.dump_dicts; the Commands handler), the contract of mitmweb's front end and of
 * scripts that talk to it. */
#include "ui/web/web-int.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "core/command.h"
#include "core/options.h"
#include "proto/http/http.h"
#include "proto/http1/h1.h"
#include "proto/ws/ws.h"

/* Text for JSON: UTF-8 as is; other bytes as Latin-1 (jansson takes valid UTF-8 only). */
static json_t *jstr(const char *p, size_t n)
{
    if (!p)
        return json_null();
    json_t *s = json_stringn(p, n);
    if (s)
        return s;
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)p[i];
        if (c < 0x80) {
            mitm_buf_append(&b, &c, 1);
        } else {
            uint8_t two[2] = {(uint8_t)(0xc0 | (c >> 6)), (uint8_t)(0x80 | (c & 0x3f))};
            mitm_buf_append(&b, two, 2);
        }
    }
    s = json_stringn((const char *)mitm_buf_data(&b), b.len);
    mitm_buf_free(&b);
    return s ? s : json_string("");
}

static json_t *jcstr(const char *s)
{
    return s ? jstr(s, strlen(s)) : json_null();
}

/* Parsed certificates by the FNV-1a hash of their PEM, as their JSON text: HTTPS flows to one
 * server carry the same chain, and parsing it is most of a flow's encoding. Main thread only. */
#define CERT_CACHE 16
static struct {
    uint64_t hash;
    size_t len;
    char *text;
} cert_cache[CERT_CACHE];
static size_t cert_next;

static json_t *cert_parse(const struct mitm_strlist *l);

void web_json_free(void)
{
    for (size_t i = 0; i < CERT_CACHE; i++) {
        free(cert_cache[i].text);
        cert_cache[i].text = NULL;
    }
}

/* cert_to_json of the first certificate of a chain (PEM) as JSON text ("null" if none). */
static const char *cert_json(const struct mitm_strlist *l)
{
    if (!l->n)
        return "null";
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < l->lens[0]; i++)
        h = (h ^ (uint8_t)l->v[0][i]) * 1099511628211ull;
    for (size_t i = 0; i < CERT_CACHE; i++)
        if (cert_cache[i].text && cert_cache[i].hash == h && cert_cache[i].len == l->lens[0])
            return cert_cache[i].text;
    json_t *j = cert_parse(l);
    size_t k = cert_next++ % CERT_CACHE;
    free(cert_cache[k].text);
    cert_cache[k].hash = h;
    cert_cache[k].len = l->lens[0];
    cert_cache[k].text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return cert_cache[k].text ? cert_cache[k].text : "null";
}

static json_t *cert_parse(const struct mitm_strlist *l)
{
    BIO *bio = BIO_new_mem_buf(l->v[0], (int)l->lens[0]);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!x)
        return json_null();
    json_t *j = json_object();
    EVP_PKEY *pk = X509_get0_pubkey(x);
    if (pk) {
        int id = EVP_PKEY_get_base_id(pk);
        const char *t = id == EVP_PKEY_RSA   ? "RSA"
                        : id == EVP_PKEY_EC  ? "EC"
                        : id == EVP_PKEY_DSA ? "DSA"
                                             : "?";
        json_object_set_new(j, "keyinfo", json_pack("[s,i]", t, (json_int_t)EVP_PKEY_get_bits(pk)));
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdl = 0;
    X509_digest(x, EVP_sha256(), md, &mdl);
    char hexs[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < mdl; i++)
        snprintf(hexs + 2 * i, 3, "%02x", md[i]);
    hexs[2 * mdl] = 0;
    json_object_set_new(j, "sha256", json_string(hexs));
    time_t nb = 0, na = 0;
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) == 1)
        nb = timegm(&tm);
    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
        na = timegm(&tm);
    json_object_set_new(j, "notbefore", json_integer(nb));
    json_object_set_new(j, "notafter", json_integer(na));
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *dec = bn ? BN_bn2dec(bn) : NULL;
    json_object_set_new(j, "serial", json_string(dec ? dec : ""));
    OPENSSL_free(dec);
    BN_free(bn);
    const X509_NAME *names[2] = {X509_get_subject_name(x), X509_get_issuer_name(x)};
    for (int k = 0; k < 2; k++) {
        json_t *a = json_array();
        for (int i = 0; i < X509_NAME_entry_count(names[k]); i++) {
            const X509_NAME_ENTRY *e = X509_NAME_get_entry(names[k], i);
            const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
            int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
            json_array_append_new(
                a, json_pack("[s,o]", nid != NID_undef ? OBJ_nid2ln(nid) : "?",
                             jstr((const char *)ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v))));
        }
        json_object_set_new(j, k ? "issuer" : "subject", a);
    }
    json_t *alt = json_array();
    GENERAL_NAMES *gn = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gn && i < sk_GENERAL_NAME_num(gn); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gn, i);
        if (g->type == GEN_DNS) {
            json_array_append_new(alt, jstr((const char *)ASN1_STRING_get0_data(g->d.dNSName),
                                            (size_t)ASN1_STRING_length(g->d.dNSName)));
        } else if (g->type == GEN_IPADD) {
            char ip[64] = "";
            int len = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *p = ASN1_STRING_get0_data(g->d.iPAddress);
            if (len == 4)
                snprintf(ip, sizeof(ip), "%u.%u.%u.%u", p[0], p[1], p[2], p[3]);
            else if (len == 16)
                inet_ntop(AF_INET6, p, ip, sizeof(ip));
            json_array_append_new(alt, json_string(ip));
        }
    }
    GENERAL_NAMES_free(gn);
    json_object_set_new(j, "altnames", alt);
    X509_free(x);
    return j;
}

/* ---- flow_to_json, written as text straight into the output: a flow is encoded at every
 * event a browser is told about, and a jansson tree plus its dump cost several times more.
 * Members are written as `"key":value,`; closing an object or array replaces the last comma. */

static void lit(struct mitm_buf *b, const char *s)
{
    mitm_buf_append(b, s, strlen(s));
}

static void close_with(struct mitm_buf *b, char c)
{
    if (b->len && b->mem[b->off + b->len - 1] == ',')
        b->mem[b->off + b->len - 1] = (uint8_t)c;
    else
        mitm_buf_append(b, &c, 1);
    mitm_buf_append(b, ",", 1);
}

static void key(struct mitm_buf *b, const char *k)
{
    mitm_buf_append(b, "\"", 1);
    lit(b, k);
    mitm_buf_append(b, "\":", 2);
}

/* A JSON string of p[0..n) then a comma: UTF-8 as is, other bytes as Latin-1 (as jstr). */
static void str(struct mitm_buf *b, const char *p, size_t n)
{
    if (!p) {
        lit(b, "null,");
        return;
    }
    bool utf8 = mitm_ws_utf8_valid((const uint8_t *)p, n);
    mitm_buf_append(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || utf8))
            continue;
        mitm_buf_append(b, p + run, i - run);
        run = i + 1;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            mitm_buf_append(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            mitm_buf_append(b, esc, 6);
        } else {
            uint8_t two[2] = {(uint8_t)(0xc0 | (c >> 6)), (uint8_t)(0x80 | (c & 0x3f))};
            mitm_buf_append(b, two, 2);
        }
    }
    mitm_buf_append(b, p + run, n - run);
    mitm_buf_append(b, "\",", 2);
}

static void cstr(struct mitm_buf *b, const char *s)
{
    str(b, s, s ? strlen(s) : 0);
}

static void integer(struct mitm_buf *b, long long v)
{
    char d[24];
    int i = (int)sizeof(d);
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    d[--i] = ',';
    do
        d[--i] = (char)('0' + u % 10);
    while ((u /= 10));
    if (v < 0)
        d[--i] = '-';
    mitm_buf_append(b, d + i, sizeof(d) - (size_t)i);
}

/* A float as jansson writes it (%.17g, with ".0" when it looks integral); 0 = None. */
static void ts(struct mitm_buf *b, double t)
{
    if (!t || !isfinite(t)) { /* nan and inf (a flow file can hold them) are no JSON */
        lit(b, "null,");
        return;
    }
    char d[40];
    int n = snprintf(d, sizeof(d), "%.17g", t);
    if (!strpbrk(d, ".eEn"))
        n += snprintf(d + n, sizeof(d) - (size_t)n, ".0");
    d[n++] = ',';
    mitm_buf_append(b, d, (size_t)n);
}

static void boolean(struct mitm_buf *b, bool v)
{
    lit(b, v ? "true," : "false,");
}

static void addr(struct mitm_buf *b, const char *host, uint16_t port)
{
    if (!host) {
        lit(b, "null,");
        return;
    }
    mitm_buf_append(b, "[", 1);
    cstr(b, host);
    integer(b, port);
    close_with(b, ']');
}

static void headers(struct mitm_buf *b, const struct mitm_headers *h)
{
    mitm_buf_append(b, "[", 1);
    for (size_t i = 0; h && i < h->n; i++) {
        mitm_buf_append(b, "[", 1);
        str(b, h->v[i].name, h->v[i].name_len);
        str(b, h->v[i].value, h->v[i].value_len);
        close_with(b, ']');
    }
    close_with(b, ']');
}

static void conn(struct mitm_buf *b, const struct mitm_conn_info *c, bool server)
{
    mitm_buf_append(b, "{", 1);
    key(b, "id"), cstr(b, c->id);
    key(b, "peername"), addr(b, c->peer_host, c->peer_port);
    key(b, "sockname"), addr(b, c->sock_host, c->sock_port);
    if (server)
        key(b, "address"), addr(b, c->address_host, c->address_port);
    key(b, "tls_established"), boolean(b, c->tls);
    key(b, "cert"), lit(b, cert_json(&c->certificate_list)), lit(b, ",");
    key(b, "sni"), cstr(b, c->sni);
    key(b, "cipher"), cstr(b, c->cipher);
    key(b, "alpn"), str(b, c->alpn, c->alpn_len);
    key(b, "tls_version"), cstr(b, c->tls_version);
    key(b, "timestamp_start"), ts(b, c->timestamp_start);
    if (server)
        key(b, "timestamp_tcp_setup"), ts(b, c->timestamp_tcp_setup);
    key(b, "timestamp_tls_setup"), ts(b, c->timestamp_tls_setup);
    key(b, "timestamp_end"), ts(b, c->timestamp_end);
    close_with(b, '}');
}

static void content_meta(struct mitm_buf *b, const struct mitm_buf *content, bool missing)
{
    if (missing) {
        lit(b, "\"contentLength\":null,\"contentHash\":null,");
        return;
    }
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(mitm_buf_data(content), content->len, md);
    static const char hx[] = "0123456789abcdef";
    char h[2 * SHA256_DIGEST_LENGTH];
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        h[2 * i] = hx[md[i] >> 4], h[2 * i + 1] = hx[md[i] & 15];
    key(b, "contentLength"), integer(b, (long long)content->len);
    key(b, "contentHash"), str(b, h, sizeof(h));
}

/* mitmproxy's Request.pretty_host: the Host header's host, else the destination. */
static void pretty_host(struct mitm_buf *b, const struct mitm_http_request *r)
{
    size_t len;
    const char *v = mitm_headers_get(&r->headers, "Host", &len);
    char *host = NULL;
    uint16_t port;
    if (v && mitm_h1_parse_authority(v, len, 0, &host, &port) == 0)
        cstr(b, host);
    else if (v)
        str(b, v, len);
    else
        cstr(b, r->host ? r->host : "");
    free(host);
}

/* messages_meta of n TCP messages (tcp) or WebSocket messages at v. */
static void messages_meta(struct mitm_buf *b, const void *v, size_t n, bool tcp)
{
    uint64_t total = 0;
    double last = 0;
    for (size_t i = 0; i < n; i++) {
        if (tcp) {
            total += ((const struct mitm_tcp_message *)v)[i].len;
            last = ((const struct mitm_tcp_message *)v)[i].timestamp;
        } else {
            total += ((const struct mitm_websocket_message *)v)[i].len;
            last = ((const struct mitm_websocket_message *)v)[i].timestamp;
        }
    }
    mitm_buf_append(b, "{", 1);
    key(b, "contentLength"), integer(b, (long long)total);
    key(b, "count"), integer(b, (long long)n);
    key(b, "timestamp_last"), ts(b, n ? last : 0);
    close_with(b, '}');
}

void web_flow_json(const struct mitm_flow *f, bool modified, struct mitm_buf *b)
{
    mitm_buf_append(b, "{", 1);
    key(b, "id"), cstr(b, f->id);
    key(b, "intercepted"), boolean(b, f->intercepted);
    key(b, "is_replay"), cstr(b, f->is_replay);
    key(b, "type"), cstr(b, f->type == MITM_FLOW_TCP ? "tcp" : "http");
    key(b, "modified"), boolean(b, modified);
    /* mitmproxy shows a marker shortcode as its emoji; mitmc has no emoji table: the default */
    key(b, "marked"), cstr(b, f->marked && *f->marked ? "\xf0\x9f\x94\xb4" : "");
    key(b, "comment"), cstr(b, f->comment ? f->comment : "");
    key(b, "timestamp_created"), ts(b, f->timestamp_created);
    key(b, "client_conn"), conn(b, &f->client_conn, false);
    key(b, "server_conn"), conn(b, &f->server_conn, true);
    if (f->error) {
        key(b, "error"), mitm_buf_append(b, "{", 1);
        key(b, "msg"), cstr(b, f->error->msg);
        key(b, "timestamp"), ts(b, f->error->timestamp);
        close_with(b, '}');
    }
    if (f->type == MITM_FLOW_TCP) {
        key(b, "messages_meta"), messages_meta(b, f->messages, f->n_messages, true);
    }
    const struct mitm_http_request *rq = f->type == MITM_FLOW_TCP ? NULL : f->request;
    if (rq) {
        key(b, "request"), mitm_buf_append(b, "{", 1);
        key(b, "method"), cstr(b, rq->method);
        key(b, "scheme"), cstr(b, rq->scheme);
        key(b, "host"), cstr(b, rq->host ? rq->host : "");
        key(b, "port"), integer(b, rq->port);
        key(b, "path"), cstr(b, rq->path ? rq->path : "");
        key(b, "http_version"), cstr(b, rq->http_version);
        key(b, "headers"), headers(b, &rq->headers);
        content_meta(b, &rq->content, rq->content_missing);
        key(b, "timestamp_start"), ts(b, rq->timestamp_start);
        key(b, "timestamp_end"), ts(b, rq->timestamp_end);
        key(b, "pretty_host"), pretty_host(b, rq);
        close_with(b, '}');
    }
    const struct mitm_http_response *rs = rq ? f->response : NULL;
    if (rs) {
        key(b, "response"), mitm_buf_append(b, "{", 1);
        key(b, "http_version"), cstr(b, rs->http_version);
        key(b, "status_code"), integer(b, rs->status_code);
        key(b, "reason"), cstr(b, rs->reason ? rs->reason : "");
        key(b, "headers"), headers(b, &rs->headers);
        content_meta(b, &rs->content, rs->content_missing);
        key(b, "timestamp_start"), ts(b, rs->timestamp_start);
        key(b, "timestamp_end"), ts(b, rs->timestamp_end);
        if (rs->trailers && rs->trailers->n)
            key(b, "trailers"), headers(b, rs->trailers);
        close_with(b, '}');
    }
    const struct mitm_websocket_data *ws = rq ? f->websocket : NULL;
    if (ws) {
        key(b, "websocket"), mitm_buf_append(b, "{", 1);
        key(b, "messages_meta"), messages_meta(b, ws->messages, ws->n_messages, false);
        key(b, "closed_by_client");
        if (ws->closed_by_client < 0)
            lit(b, "null,");
        else
            boolean(b, ws->closed_by_client);
        key(b, "close_code");
        if (ws->close_code < 0)
            lit(b, "null,");
        else
            integer(b, ws->close_code);
        key(b, "close_reason"), str(b, ws->close_reason, ws->close_reason_len);
        key(b, "timestamp_end"), ts(b, ws->timestamp_end);
        close_with(b, '}');
    }
    close_with(b, '}');
    b->len--; /* no comma after the flow itself */
}

/* ---- options ---- */

static json_t *value_json(const struct mitm_opt_info *in, const void *field)
{
    char *t = mitm_options_field_text(in, field);
    json_t *v;
    if (!t) {
        v = in->type == MITM_OPT_TYPE_STRLIST ? json_array() : json_null();
    } else if (in->type == MITM_OPT_TYPE_BOOL) {
        v = json_boolean(strcmp(t, "true") == 0);
    } else if (in->type == MITM_OPT_TYPE_INT || in->type == MITM_OPT_TYPE_OPT_INT) {
        v = json_integer(strtoll(t, NULL, 10));
    } else if (in->type == MITM_OPT_TYPE_STRLIST) {
        v = json_array();
        for (char *p = t; *p;) {
            char *nl = strchr(p, '\n');
            json_array_append_new(v, jstr(p, nl ? (size_t)(nl - p) : strlen(p)));
            if (!nl)
                break;
            p = nl + 1;
        }
    } else {
        v = jcstr(t);
    }
    free(t);
    return v;
}

static json_t *option_json(const struct mitm_opt_info *in, const void *value, const void *def)
{
    json_t *choices = json_null();
    if (in->choices) {
        choices = json_array();
        for (const char *p = in->choices; p;) {
            const char *bar = strchr(p, '|');
            json_array_append_new(choices, jstr(p, bar ? (size_t)(bar - p) : strlen(p)));
            p = bar ? bar + 1 : NULL;
        }
    }
    return json_pack("{s:s,s:o,s:o,s:s,s:o}", "type", mitm_options_type_name(in->type), "default",
                     value_json(in, def), "value", value_json(in, value), "help", in->help, "choices",
                     choices);
}

/* One option, mitmc's or a script's, into j. */
static void add_option(json_t *j, struct mitm_master *m, const char *name)
{
    const void *value, *def;
    const struct mitm_opt_info *in = mitm_master_option(m, name, &value, &def);
    if (in)
        json_object_set_new(j, in->name, option_json(in, value, def));
}

json_t *web_options_json(struct mitm_master *m, const char *name)
{
    json_t *j = json_object();
    if (name) {
        add_option(j, m, name);
        return j;
    }
    size_t n = mitm_master_options(m, NULL, 0);
    const struct mitm_opt_info **all = mitm_calloc(n + 1, sizeof(*all));
    n = mitm_master_options(m, all, n);
    for (size_t i = 0; i < n; i++)
        add_option(j, m, all[i]->name);
    free(all);
    return j;
}

int web_option_value_text(const struct mitm_opt_info *in, const json_t *v, char **out, char *err,
                          size_t errlen)
{
    *out = NULL;
    if (json_is_null(v)) {
        if (in->type == MITM_OPT_TYPE_OPT_INT || in->type == MITM_OPT_TYPE_OPT_STR ||
            in->type == MITM_OPT_TYPE_SIZE)
            return 0;
        snprintf(err, errlen, "Option %s may not be None", in->name);
        return -1;
    }
    char buf[64];
    switch (in->type) {
    case MITM_OPT_TYPE_BOOL:
        if (!json_is_boolean(v))
            break;
        *out = mitm_strdup(json_is_true(v) ? "true" : "false");
        return 0;
    case MITM_OPT_TYPE_INT:
    case MITM_OPT_TYPE_OPT_INT:
        if (!json_is_integer(v))
            break;
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        *out = mitm_strdup(buf);
        return 0;
    case MITM_OPT_TYPE_STR:
    case MITM_OPT_TYPE_OPT_STR:
    case MITM_OPT_TYPE_SIZE:
        if (!json_is_string(v))
            break;
        *out = mitm_strdup(json_string_value(v));
        return 0;
    case MITM_OPT_TYPE_STRLIST: {
        if (!json_is_array(v))
            break;
        struct mitm_buf b;
        mitm_buf_init(&b, 0);
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e) || strchr(json_string_value(e), '\n')) {
                mitm_buf_free(&b);
                snprintf(err, errlen, "Expected a list of strings for %s", in->name);
                return -1;
            }
            if (i)
                mitm_buf_append(&b, "\n", 1);
            mitm_buf_append(&b, json_string_value(e), strlen(json_string_value(e)));
        }
        size_t stolen;
        *out = (char *)mitm_buf_steal(&b, &stolen);
        return 0;
    }
    }
    snprintf(err, errlen, "Expected %s for %s", mitm_options_type_name(in->type), in->name);
    return -1;
}

/* ---- commands ---- */

json_t *web_commands_json(struct mitm_cmd_registry *reg)
{
    size_t n;
    const struct mitm_cmd_def *const *defs = mitm_cmd_list(reg, &n);
    json_t *j = json_object();
    for (size_t i = 0; i < n; i++) {
        const struct mitm_cmd_def *d = defs[i];
        json_t *params = json_array();
        for (size_t k = 0; k < d->nparams; k++)
            json_array_append_new(
                params,
                json_pack("{s:s,s:s,s:s}", "name", d->params[k].name, "type",
                          mitm_arg_type_name(d->params[k].type), "kind",
                          d->params[k].type == MITM_ARG_STRS ? "VAR_POSITIONAL" : "POSITIONAL_OR_KEYWORD"));
        struct mitm_buf sig;
        mitm_buf_init(&sig, 0);
        mitm_cmd_signature(d, &sig);
        json_object_set_new(j, d->name,
                            json_pack("{s:s,s:o,s:o,s:s%}", "help", d->help ? d->help : "", "parameters",
                                      params, "return_type", jcstr(d->ret), "signature_help",
                                      (const char *)mitm_buf_data(&sig), sig.len));
        mitm_buf_free(&sig);
    }
    return j;
}
