/* The next-layer decision: see next.h. Follows mitmproxy 12's addons/next_layer.py. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "proto/next.h"
#include "base/alloc.h"
#include "base/log.h"
#include "core/modespec.h"
#include "core/options.h"
#include "core/services.h"
#include "layer/layer.h"
#include "layer/nextlayer.h"
#include "proto/http/http.h"
#include "proto/http/layer.h"
#include "proto/tcp/tcp.h"
#include "proto/tls/clienthello.h"
#include "proto/tls/tls.h"

#include <ctype.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct patterns {
    pcre2_code **v;
    size_t n;
};

struct mitm_next_config {
    struct patterns ignore, allow, tcp;
    bool rawtcp, show_ignored;
};

static int compile(struct patterns *pl, const struct mitm_strvec *v, const char *opt, char *err,
                   size_t errlen)
{
    pl->v = v->n ? mitm_calloc(v->n, sizeof(*pl->v)) : NULL;
    pl->n = 0;
    for (size_t i = 0; i < v->n; i++) {
        int ec;
        PCRE2_SIZE off;
        pcre2_code *re =
            pcre2_compile((PCRE2_SPTR)v->v[i], PCRE2_ZERO_TERMINATED, PCRE2_CASELESS, &ec, &off, NULL);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof(msg));
            snprintf(err, errlen, "invalid %s pattern '%s': %s at offset %zu", opt, v->v[i],
                     (const char *)msg, (size_t)off);
            return -1;
        }
        pl->v[pl->n++] = re;
    }
    return 0;
}

static void free_patterns(struct patterns *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        pcre2_code_free(pl->v[i]);
    free(pl->v);
    pl->v = NULL;
    pl->n = 0;
}

struct mitm_next_config *mitm_next_config_new(const struct mitm_options *o, char *err, size_t errlen)
{
    struct mitm_next_config *c = mitm_calloc(1, sizeof(*c));
    c->rawtcp = o->rawtcp;
    c->show_ignored = o->show_ignored_hosts;
    if (compile(&c->ignore, &o->ignore_hosts, "ignore_hosts", err, errlen) < 0 ||
        compile(&c->allow, &o->allow_hosts, "allow_hosts", err, errlen) < 0 ||
        compile(&c->tcp, &o->tcp_hosts, "tcp_hosts", err, errlen) < 0) {
        mitm_next_config_free(c);
        return NULL;
    }
    return c;
}

void mitm_next_config_free(struct mitm_next_config *c)
{
    if (!c)
        return;
    free_patterns(&c->ignore);
    free_patterns(&c->allow);
    free_patterns(&c->tcp);
    free(c);
}

static bool search(const struct patterns *pl, const char *subject)
{
    pcre2_match_data *md = NULL;
    bool hit = false;
    for (size_t i = 0; i < pl->n && !hit; i++) {
        if (!md)
            md = pcre2_match_data_create(1, NULL);
        if (!md)
            break;
        hit = pcre2_match(pl->v[i], (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, NULL) >= 0;
    }
    pcre2_match_data_free(md);
    return hit;
}

/* "name:port" ("[v6]:port"), or name itself when it already ends in ":digits" and
 * keep_port (a Host header that carries its port). */
static void hostport(char *out, size_t cap, const char *name, uint16_t port, bool keep_port)
{
    const char *c = strrchr(name, ':');
    bool has_port = keep_port && c && c[1] && strspn(c + 1, "0123456789") == strlen(c + 1) &&
                    (strchr(name, ':') == c || name[0] == '[');
    if (has_port) {
        snprintf(out, cap, "%s", name);
        return;
    }
    bool v6 = strchr(name, ':') != NULL && name[0] != '[';
    snprintf(out, cap, v6 ? "[%s]:%u" : "%s:%u", name, port);
}

static bool any_match(const struct patterns *pl, const char *const *names, const bool *keep, size_t n,
                      uint16_t port)
{
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !names[i][0])
            continue;
        char subject[600];
        hostport(subject, sizeof(subject), names[i], port, keep[i]);
        if (search(pl, subject))
            return true;
    }
    return false;
}

bool mitm_next_ignored(const struct mitm_next_config *c, const char *host, uint16_t port, const char *peer_ip,
                       const char *sni, const char *host_header)
{
    if (!c || (!c->ignore.n && !c->allow.n))
        return false;
    const char *names[] = {peer_ip, host, host_header, sni};
    const bool keep[] = {false, false, true, false};
    if (!host && !peer_ip)
        return false; /* no destination: nothing to relay to (mitmproxy: "not hostnames") */
    if (c->allow.n && !any_match(&c->allow, names, keep, 4, port))
        return true;
    return c->ignore.n && any_match(&c->ignore, names, keep, 4, port);
}

bool mitm_next_tcp_host(const struct mitm_next_config *c, const char *host, uint16_t port, const char *sni)
{
    if (!c || !c->tcp.n)
        return false;
    const char *names[] = {host, sni};
    const bool keep[] = {false, false};
    return any_match(&c->tcp, names, keep, 2, port);
}

bool mitm_next_probably_not_http(const uint8_t *p, size_t n, bool server_spoke)
{
    if (n < 3 || server_spoke)
        return true;
    for (int i = 0; i < 3; i++)
        if (!isalpha(p[i]))
            return true;
    return n >= 3 && memcmp(p, "SSH", 3) == 0;
}

/* ---- what the first bytes say ---------------------------------------------------- */

static const char H2_PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

int mitm_next_h2_preface(const uint8_t *p, size_t n, bool more)
{
    size_t k = sizeof(H2_PREFACE) - 1;
    if (n == 0)
        return 0; /* nothing yet, and a server that spoke first decides without us */
    if (n >= k)
        return memcmp(p, H2_PREFACE, k) == 0;
    if (memcmp(p, H2_PREFACE, n) != 0)
        return 0;
    return more ? -1 : 0;
}

/* The Host header of a complete HTTP/1 request head at the start of p, into out. Returns 1
 * found, 0 none (or not HTTP), -1 need more bytes. */
static int host_header(const uint8_t *p, size_t n, bool full, char *out, size_t cap)
{
    const uint8_t *end = NULL;
    for (size_t i = 0; i + 3 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') {
            end = p + i;
            break;
        }
    if (!end)
        return full ? 0 : -1;
    const uint8_t *line = memchr(p, '\n', (size_t)(end - p));
    while (line && line < end) {
        line++;
        const uint8_t *eol = memchr(line, '\n', (size_t)(end - line) + 2);
        size_t len = eol ? (size_t)(eol - line) : (size_t)(end - line);
        if (len >= 5 && strncasecmp((const char *)line, "host:", 5) == 0) {
            const uint8_t *v = line + 5;
            size_t vl = len - 5;
            while (vl && (*v == ' ' || *v == '\t'))
                v++, vl--;
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (vl == 0 || vl >= cap)
                return 0;
            memcpy(out, v, vl);
            out[vl] = 0;
            return 1;
        }
        line = eol;
    }
    return 0;
}

struct decide_ctx {
    enum mitm_next_kind kind;
};

static const struct mitm_next_config *config_of(const struct mitm_layer *nl)
{
    return nl->ctx->svc ? nl->ctx->svc->next : NULL;
}

static struct mitm_layer *tcp_layer(struct mitm_layer *nl, struct mitm_conn *server, bool ignore)
{
    const struct mitm_next_config *c = config_of(nl);
    return mitm_tcp_layer_new(nl->ctx, nl, server, ignore && !(c && c->show_ignored));
}

static struct mitm_layer *http_layer(struct mitm_layer *nl, struct mitm_conn *server)
{
    const struct mitm_mode_spec *m = nl->ctx->mode;
    enum mitm_http_mode mode = MITM_HTTP_TRANSPARENT;
    if (!server)
        mode = m && m->kind == MITM_MODE_UPSTREAM ? MITM_HTTP_UPSTREAM : MITM_HTTP_REGULAR;
    return mitm_http_layer_new(nl->ctx, nl, mode, server);
}

/* Cleartext HTTP/2 with prior knowledge (option http2_prior_knowledge, with http2): 1 the
 * client's bytes start with the preface, 0 not (or the option is off), -1 wait for more.
 * Only where the client speaks plain HTTP to us (not inside its TLS: ALPN decides there). */
static int h2c(const struct mitm_layer *nl, const struct mitm_next_input *in)
{
    const struct mitm_options *o = nl->ctx->opts;
    if (!o || !o->http2 || !o->http2_prior_knowledge || nl->ctx->client->tls)
        return 0;
    return mitm_next_h2_preface(in->client.base, in->client.len, !in->client_eof && !in->full);
}

/* The HTTP layer for a client that sent the preface: its connection is marked "h2c" (as
 * mitmproxy's h2c branch marks client.alpn), which makes the HTTP layer serve it with the
 * HTTP/2 codec. */
static struct mitm_layer *h2c_layer(struct mitm_layer *nl, struct mitm_conn *server)
{
    struct mitm_conn *client = nl->ctx->client;
    mitm_str_set(&client->alpn, "h2c", 3);
    return http_layer(nl, server);
}

/* Client TLS; when the context cannot intercept (no TLS configuration), the bytes are
 * relayed untouched. */
static struct mitm_layer *tls_layer(struct mitm_layer *nl, struct mitm_conn *server, bool server_tls,
                                    enum mitm_next_kind after)
{
    struct mitm_layer *l = mitm_tls_client_layer_new(nl->ctx, nl, server, server_tls, after);
    return l ? l : tcp_layer(nl, server, true);
}

/* ignore_hosts / allow_hosts: 1 ignore, 0 not, -1 wait for more bytes (a ClientHello or
 * an HTTP head that is not complete yet). */
static int ignored(struct mitm_layer *nl, const struct mitm_next_input *in, bool tls)
{
    const struct mitm_next_config *c = config_of(nl);
    struct mitm_conn *s = in->server;
    if (!c || (!c->ignore.n && !c->allow.n) || !s)
        return 0;
    char hh[300] = "";
    const char *sni = nl->ctx->client->sni; /* TLS already done: a decision inside it */
    struct mitm_clienthello ch = {0};
    if (tls) {
        ssize_t r = mitm_tls_parse_clienthello(in->client.base, in->client.len, &ch);
        if (r == MITM_INCOMPLETE && !in->full && !in->client_eof)
            return -1;
        if (r >= 0 && ch.sni)
            sni = ch.sni;
    } else if (!mitm_next_probably_not_http(in->client.base, in->client.len, in->from_srv.len > 0)) {
        int r = host_header(in->client.base, in->client.len, in->full || in->client_eof, hh, sizeof(hh));
        if (r < 0)
            return -1;
    }
    const char *peer = s->peer_host[0] ? s->peer_host : NULL;
    bool ig = mitm_next_ignored(c, s->host, s->port, peer, sni, hh[0] ? hh : NULL);
    mitm_tls_clienthello_free(&ch);
    return ig;
}

static struct mitm_layer *decide_generic(struct mitm_layer *nl, const struct mitm_next_input *in)
{
    struct mitm_conn *server = in->server, *client = nl->ctx->client;
    const uint8_t *p = in->client.base;
    size_t n = in->client.len;
    bool tls = mitm_tls_is_clienthello_start(p, n);
    int ig = ignored(nl, in, tls);
    if (ig < 0)
        return NULL;
    if (ig)
        return tcp_layer(nl, server, true);
    int pk = tls ? 0 : h2c(nl, in);
    if (pk < 0)
        return NULL;
    if (!server) /* the explicit proxy itself: TLS to the proxy, or HTTP (h1 or h2c) */
        return tls  ? tls_layer(nl, NULL, false, MITM_NEXT_GENERIC)
               : pk ? h2c_layer(nl, NULL)
                    : http_layer(nl, NULL);
    if (tls)
        return tls_layer(nl, server, true, MITM_NEXT_GENERIC);
    const struct mitm_next_config *c = config_of(nl);
    if (mitm_next_tcp_host(c, server->host, server->port, client->sni))
        return tcp_layer(nl, server, false);
    if (client->alpn) {
        static const char *const http[] = {"http/1.1", "http/1.0", "http/0.9", "h2"};
        for (size_t i = 0; i < sizeof(http) / sizeof(http[0]); i++)
            if (strcmp(client->alpn, http[i]) == 0)
                return http_layer(nl, server);
        return tcp_layer(nl, server, false);
    }
    if (pk) /* mitmproxy's h2c branch: before the raw TCP test */
        return h2c_layer(nl, server);
    if ((!c || c->rawtcp) && mitm_next_probably_not_http(p, n, in->from_srv.len > 0))
        return tcp_layer(nl, server, false);
    return http_layer(nl, server);
}

static struct mitm_layer *decide_reverse(struct mitm_layer *nl, const struct mitm_next_input *in)
{
    const struct mitm_mode_spec *m = nl->ctx->mode;
    struct mitm_conn *server = in->server;
    bool tls = mitm_tls_is_clienthello_start(in->client.base, in->client.len);
    const char *scheme = m && m->scheme ? m->scheme : "https";
    bool tcp = strcmp(scheme, "tcp") == 0 || strcmp(scheme, "tls") == 0;
    if (tls) /* the server side's TLS, if any, was set up by the mode layer */
        return tls_layer(nl, server, false, tcp ? MITM_NEXT_TCP : MITM_NEXT_HTTP);
    if (tcp)
        return tcp_layer(nl, server, false);
    int pk = h2c(nl, in);
    if (pk < 0)
        return NULL;
    return pk ? h2c_layer(nl, server) : http_layer(nl, server);
}

static struct mitm_layer *decide(struct mitm_layer *nl, void *arg, const struct mitm_next_input *in)
{
    struct decide_ctx *d = arg;
    switch (d->kind) {
    case MITM_NEXT_HTTP:
        return http_layer(nl, in->server);
    case MITM_NEXT_TCP:
        return tcp_layer(nl, in->server, false);
    default:
        break;
    }
    /* three bytes tell TLS from anything else; a server that speaks first decides too */
    if (in->client.len < 3 && !in->from_srv.len && !in->client_eof && !in->full)
        return NULL;
    if (in->client_eof && !in->client.len && !in->from_srv.len) {
        mitm_layer_log(nl, MITM_LOG_DEBUG, "client closed the connection before sending anything");
        return NULL;
    }
    return d->kind == MITM_NEXT_REVERSE ? decide_reverse(nl, in) : decide_generic(nl, in);
}

static struct decide_ctx kinds[] = {
    {MITM_NEXT_GENERIC}, {MITM_NEXT_REVERSE}, {MITM_NEXT_HTTP}, {MITM_NEXT_TCP}};

struct mitm_layer *mitm_next_layer_new(struct mitm_ctx *ctx, struct mitm_layer *parent,
                                       struct mitm_conn *server, enum mitm_next_kind kind)
{
    struct mitm_layer *nl = mitm_nextlayer_new(ctx, parent, server, decide, &kinds[kind]);
    /* an explicit proxy's client that sends nothing is idle HTTP; a tunnel's, idle TCP */
    const struct mitm_options *o = ctx->opts;
    if (o && !ctx->replay)
        mitm_nextlayer_set_timeout(nl, (double)(server ? o->tcp_timeout : o->http_idle_timeout));
    return nl;
}
