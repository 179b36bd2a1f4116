/* mitmproxy 12's JSON shapes (mitmproxy/tools/web/app.py: flow_to_json, cert_to_json;
 * optmanager.dump_dicts; the Commands handler), the contract of mitmweb's front end and of
 * scripts that talk to it. */
#include "ui/web/web-int.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
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

static json_t *jts(double t)
{
    return t ? json_real(t) : json_null();
}

static json_t *addr(const char *host, uint16_t port)
{
    return host ? json_pack("[o,i]", jcstr(host), (json_int_t)port) : json_null();
}

static json_t *headers_json(const struct mitm_headers *h)
{
    json_t *a = json_array();
    for (size_t i = 0; h && i < h->n; i++)
        json_array_append_new(a, json_pack("[o,o]", jstr(h->v[i].name, h->v[i].name_len),
                                           jstr(h->v[i].value, h->v[i].value_len)));
    return a;
}

/* Parsed certificates by the FNV-1a hash of their PEM: HTTPS flows to one server carry the
 * same chain, and parsing it is most of a flow's encoding. Main thread only. */
#define CERT_CACHE 16
static struct {
    uint64_t hash;
    size_t len;
    json_t *j;
} cert_cache[CERT_CACHE];
static size_t cert_next;

static json_t *cert_parse(const struct mitm_strlist *l);

void web_json_free(void)
{
    for (size_t i = 0; i < CERT_CACHE; i++) {
        json_decref(cert_cache[i].j);
        cert_cache[i].j = NULL;
    }
}

/* cert_to_json of the first certificate of a chain (PEM), or null. */
static json_t *cert_json(const struct mitm_strlist *l)
{
    if (!l->n)
        return json_null();
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < l->lens[0]; i++)
        h = (h ^ (uint8_t)l->v[0][i]) * 1099511628211ull;
    for (size_t i = 0; i < CERT_CACHE; i++)
        if (cert_cache[i].j && cert_cache[i].hash == h && cert_cache[i].len == l->lens[0])
            return json_incref(cert_cache[i].j);
    json_t *j = cert_parse(l);
    size_t k = cert_next++ % CERT_CACHE;
    json_decref(cert_cache[k].j);
    cert_cache[k].hash = h;
    cert_cache[k].len = l->lens[0];
    cert_cache[k].j = json_incref(j);
    return j;
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

static json_t *conn_json(const struct mitm_conn_info *c, bool server)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(c->id));
    json_object_set_new(j, "peername", addr(c->peer_host, c->peer_port));
    json_object_set_new(j, "sockname", addr(c->sock_host, c->sock_port));
    if (server)
        json_object_set_new(j, "address", addr(c->address_host, c->address_port));
    json_object_set_new(j, "tls_established", json_boolean(c->tls));
    json_object_set_new(j, "cert", cert_json(&c->certificate_list));
    json_object_set_new(j, "sni", jcstr(c->sni));
    json_object_set_new(j, "cipher", jcstr(c->cipher));
    json_object_set_new(j, "alpn", c->alpn ? jstr(c->alpn, c->alpn_len) : json_null());
    json_object_set_new(j, "tls_version", jcstr(c->tls_version));
    json_object_set_new(j, "timestamp_start", jts(c->timestamp_start));
    if (server)
        json_object_set_new(j, "timestamp_tcp_setup", jts(c->timestamp_tcp_setup));
    json_object_set_new(j, "timestamp_tls_setup", jts(c->timestamp_tls_setup));
    json_object_set_new(j, "timestamp_end", jts(c->timestamp_end));
    return j;
}

static void content_meta(json_t *j, const struct mitm_buf *content, bool missing)
{
    if (missing) {
        json_object_set_new(j, "contentLength", json_null());
        json_object_set_new(j, "contentHash", json_null());
        return;
    }
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(mitm_buf_data(content), content->len, md);
    char h[2 * SHA256_DIGEST_LENGTH + 1];
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(h + 2 * i, 3, "%02x", md[i]);
    json_object_set_new(j, "contentLength", json_integer((json_int_t)content->len));
    json_object_set_new(j, "contentHash", json_string(h));
}

/* mitmproxy's Request.pretty_host: the Host header's host, else the destination. */
static json_t *pretty_host(const struct mitm_http_request *r)
{
    size_t len;
    const char *v = mitm_headers_get(&r->headers, "Host", &len);
    if (v) {
        char *host = NULL;
        uint16_t port;
        if (mitm_h1_parse_authority(v, len, 0, &host, &port) == 0) {
            json_t *s = jcstr(host);
            free(host);
            return s;
        }
        return jstr(v, len);
    }
    return jcstr(r->host ? r->host : "");
}

/* messages_meta of n TCP messages (tcp) or WebSocket messages at v. */
static json_t *messages_meta(const void *v, size_t n, bool tcp)
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
    return json_pack("{s:I,s:I,s:o}", "contentLength", (json_int_t)total, "count", (json_int_t)n,
                     "timestamp_last", n ? json_real(last) : json_null());
}

json_t *web_flow_json(const struct mitm_flow *f, bool modified)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(f->id));
    json_object_set_new(j, "intercepted", json_boolean(f->intercepted));
    json_object_set_new(j, "is_replay", jcstr(f->is_replay));
    json_object_set_new(j, "type", json_string(f->type == MITM_FLOW_TCP ? "tcp" : "http"));
    json_object_set_new(j, "modified", json_boolean(modified));
    /* mitmproxy shows a marker shortcode as its emoji; mitmc has no emoji table: the default */
    json_object_set_new(j, "marked", json_string(f->marked && *f->marked ? "\xf0\x9f\x94\xb4" : ""));
    json_object_set_new(j, "comment", jcstr(f->comment ? f->comment : ""));
    json_object_set_new(j, "timestamp_created", json_real(f->timestamp_created));
    json_object_set_new(j, "client_conn", conn_json(&f->client_conn, false));
    json_object_set_new(j, "server_conn", conn_json(&f->server_conn, true));
    if (f->error)
        json_object_set_new(
            j, "error",
            json_pack("{s:o,s:f}", "msg", jcstr(f->error->msg), "timestamp", f->error->timestamp));
    if (f->type == MITM_FLOW_TCP) {
        json_object_set_new(j, "messages_meta", messages_meta(f->messages, f->n_messages, true));
        return j;
    }
    const struct mitm_http_request *rq = f->request;
    if (rq) {
        json_t *r = json_object();
        json_object_set_new(r, "method", jcstr(rq->method));
        json_object_set_new(r, "scheme", jcstr(rq->scheme));
        json_object_set_new(r, "host", jcstr(rq->host ? rq->host : ""));
        json_object_set_new(r, "port", json_integer(rq->port));
        json_object_set_new(r, "path", jcstr(rq->path ? rq->path : ""));
        json_object_set_new(r, "http_version", jcstr(rq->http_version));
        json_object_set_new(r, "headers", headers_json(&rq->headers));
        content_meta(r, &rq->content, rq->content_missing);
        json_object_set_new(r, "timestamp_start", jts(rq->timestamp_start));
        json_object_set_new(r, "timestamp_end", jts(rq->timestamp_end));
        json_object_set_new(r, "pretty_host", pretty_host(rq));
        json_object_set_new(j, "request", r);
    }
    const struct mitm_http_response *rs = f->response;
    if (rs) {
        json_t *r = json_object();
        json_object_set_new(r, "http_version", jcstr(rs->http_version));
        json_object_set_new(r, "status_code", json_integer(rs->status_code));
        json_object_set_new(r, "reason", jcstr(rs->reason ? rs->reason : ""));
        json_object_set_new(r, "headers", headers_json(&rs->headers));
        content_meta(r, &rs->content, rs->content_missing);
        json_object_set_new(r, "timestamp_start", jts(rs->timestamp_start));
        json_object_set_new(r, "timestamp_end", jts(rs->timestamp_end));
        if (rs->trailers && rs->trailers->n)
            json_object_set_new(r, "trailers", headers_json(rs->trailers));
        json_object_set_new(j, "response", r);
    }
    const struct mitm_websocket_data *ws = f->websocket;
    if (ws) {
        json_t *w = json_object();
        json_object_set_new(w, "messages_meta", messages_meta(ws->messages, ws->n_messages, false));
        json_object_set_new(w, "closed_by_client",
                            ws->closed_by_client < 0 ? json_null() : json_boolean(ws->closed_by_client));
        json_object_set_new(w, "close_code", ws->close_code < 0 ? json_null() : json_integer(ws->close_code));
        json_object_set_new(w, "close_reason",
                            ws->close_reason ? jstr(ws->close_reason, ws->close_reason_len) : json_null());
        json_object_set_new(w, "timestamp_end", jts(ws->timestamp_end));
        json_object_set_new(j, "websocket", w);
    }
    return j;
}

/* ---- options ---- */

static json_t *value_json(const struct mitm_opt_info *in, const struct mitm_options *o)
{
    char *t = mitm_options_value_text(in, o);
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

static json_t *option_json(const struct mitm_opt_info *in, const struct mitm_options *defaults)
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
                     value_json(in, defaults), "value", value_json(in, &mitm_options), "help", in->help,
                     "choices", choices);
}

json_t *web_options_json(const char *name)
{
    static struct mitm_options defaults;
    static bool have;
    if (!have) {
        mitm_options_init(&defaults);
        have = true;
    }
    if (name) {
        const struct mitm_opt_info *in = mitm_options_info(name);
        json_t *j = json_object();
        if (in)
            json_object_set_new(j, name, option_json(in, &defaults));
        return j;
    }
    size_t n;
    const struct mitm_opt_info *all = mitm_options_all(&n);
    json_t *j = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(j, all[i].name, option_json(&all[i], &defaults));
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
