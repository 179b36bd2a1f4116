/* Filters decided on what a store keeps of a flow in RAM (struct mitm_filter_facts), so a
 * filter over a million stored flows reads only the flows the facts cannot decide.
 *
 * Three values: YES and NO are what mitm_filter_match answers on the whole flow; UNKNOWN
 * means the facts do not hold the subject (a header, a body, a truncated path). "!" keeps
 * UNKNOWN, "&" is NO as soon as one side is NO, "|" is YES as soon as one side is YES. Every
 * subject is searched with the same compiled regex and match limits as the full matcher,
 * so an answer given here cannot differ from it (tests/unit/filter/test_facts.c holds the
 * two together over generated flows and expressions). */
#include "filter/filter.h"
#include "filter/node.h"
#include "proto/http/http.h"

#include <string.h>

enum { NO = 0, YES = 1, UNKNOWN = -1 };

struct fctx {
    const struct mitm_filter *flt;
    const struct mitm_filter_facts *x;
    pcre2_match_data *md;
    bool url_done;
    char url[1200]; /* scheme and host at most 255 bytes each, the path at most store's 256 */
};

static int search(struct fctx *c, const pcre2_code *re, const char *s, size_t len)
{
    if (!c->md && !(c->md = pcre2_match_data_create(1, NULL)))
        return UNKNOWN;
    return pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, c->md, c->flt->mctx) >= 0 ? YES : NO;
}

static int search_str(struct fctx *c, const pcre2_code *re, const char *s)
{
    return s ? search(c, re, s, strlen(s)) : UNKNOWN;
}

static bool is_http(const struct mitm_filter_facts *x)
{
    return x->type == MITM_FLOW_HTTP;
}

static int domain(struct fctx *c, const pcre2_code *re)
{
    int r = search_str(c, re, c->x->host);
    if (r == NO && !c->x->host_is_pretty)
        return UNKNOWN;
    return r;
}

static int url(struct fctx *c, const pcre2_code *re)
{
    const struct mitm_filter_facts *x = c->x;
    if (!x->url_is_pretty || !x->host || !x->scheme || !x->path)
        return UNKNOWN;
    if (!c->url_done) {
        mitm_http_url_format(x->scheme, x->host, x->port, x->path, c->url, sizeof(c->url));
        c->url_done = true;
    }
    return search(c, re, c->url, strlen(c->url));
}

static int resp_ctype(struct fctx *c, const pcre2_code *re)
{
    const struct mitm_filter_facts *x = c->x;
    if (!x->has_response || x->resp_ctypes == 0)
        return NO;
    if (x->resp_ctypes > 1 || !x->resp_ctype)
        return UNKNOWN;
    return re ? search(c, re, x->resp_ctype, strlen(x->resp_ctype))
           : filter_asset_ctype(x->resp_ctype, strlen(x->resp_ctype)) ? YES
                                                                      : NO;
}

static int req_ctype(const struct mitm_filter_facts *x)
{
    return x->req_ctypes == 0 ? NO : UNKNOWN;
}

static int or2(int a, int b)
{
    return a == YES || b == YES ? YES : a == UNKNOWN || b == UNKNOWN ? UNKNOWN : NO;
}

static int eval(struct fctx *c, const struct fnode *n)
{
    const struct mitm_filter_facts *x = c->x;
    switch (n->kind) {
    case K_ALL:
        return YES;
    case K_DNS:
    case K_UDP:
        return NO;
    case K_ERR:
        return x->error;
    case K_HTTP:
        return is_http(x);
    case K_TCP:
        return x->type == MITM_FLOW_TCP;
    case K_MARKED:
        return x->marked;
    case K_REQ:
        return is_http(x) && !x->has_response;
    case K_RESP:
        return is_http(x) && x->has_response;
    case K_REPLAY:
        return x->replay;
    case K_REPLAYQ:
    case K_REPLAYS:
        return x->replay ? UNKNOWN : NO;
    case K_WEBSOCKET:
        return is_http(x) && x->websocket;
    case K_MARKER:
        return x->marked ? UNKNOWN : search(c, n->re, "", 0); /* unmarked: marked is "" */
    case K_DOMAIN:
        return is_http(x) ? domain(c, n->re) : NO;
    case K_URL:
        return is_http(x) ? url(c, n->re) : NO;
    case K_METHOD:
        return is_http(x) ? search_str(c, n->re, x->method) : NO;
    case K_CODE:
        if (!is_http(x) || !x->has_response)
            return NO;
        return x->status < 0 ? UNKNOWN : x->status == n->num;
    case K_ASSET:
        return is_http(x) ? resp_ctype(c, NULL) : NO;
    case K_CTYPES:
        return is_http(x) ? resp_ctype(c, n->re) : NO;
    case K_CTYPEQ:
        return is_http(x) ? req_ctype(x) : NO;
    case K_CTYPE:
        return is_http(x) ? or2(req_ctype(x), resp_ctype(c, n->re)) : NO;
    case K_HEAD:
    case K_HEADQ:
    case K_HEADS:
        return is_http(x) ? UNKNOWN : NO;
    case K_BODY:
    case K_BODYQ:
    case K_BODYS:
    case K_COMMENT:
    case K_META:
    case K_SRC:
    case K_DST:
        return UNKNOWN;
    case K_NOT: {
        int r = eval(c, n->kids[0]);
        return r == UNKNOWN ? UNKNOWN : !r;
    }
    case K_AND: {
        int r = YES;
        for (size_t i = 0; i < n->n && r != NO; i++) {
            int k = eval(c, n->kids[i]);
            if (k != YES)
                r = k;
        }
        return r;
    }
    case K_OR: {
        int r = NO;
        for (size_t i = 0; i < n->n && r != YES; i++)
            r = or2(r, eval(c, n->kids[i]));
        return r;
    }
    }
    return UNKNOWN;
}

int mitm_filter_match_facts(const struct mitm_filter *f, const struct mitm_filter_facts *facts)
{
    struct fctx c = {.flt = f, .x = facts};
    int r = eval(&c, f->root);
    if (c.md)
        pcre2_match_data_free(c.md);
    return r;
}

void mitm_filter_request_facts(const struct mitm_http_request *r, size_t path_max, bool *host_is_pretty,
                               bool *url_is_pretty)
{
    const char *ph;
    size_t pl;
    const char *host = r->host ? r->host : "";
    *host_is_pretty = !filter_pretty_host(r, &ph, &pl) || (strlen(host) == pl && memcmp(host, ph, pl) == 0);
    *url_is_pretty = false;
    if (r->form == MITM_TARGET_AUTHORITY || !r->scheme || !r->path || strlen(r->path) > path_max ||
        strlen(r->scheme) > 255 || strlen(host) > 255)
        return;
    /* the URL ~u searches (pretty) is the one the summary rebuilds (plain): compare them */
    size_t hl = 0;
    mitm_http_request_host_header(r, &hl);
    if (hl > 512) /* longer than any rebuilt URL's authority: not the same */
        return;
    char plain[1200], pretty[1200];
    mitm_http_request_url(r, false, plain, sizeof(plain));
    mitm_http_request_url(r, true, pretty, sizeof(pretty));
    *url_is_pretty = strcmp(plain, pretty) == 0;
}
