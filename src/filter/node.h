/* Internal to src/filter/: the compiled expression tree shared by parse.c and match.c. */
#ifndef MITM_FILTER_NODE_H
#define MITM_FILTER_NODE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>

enum fkind {
    /* no argument */
    K_ALL,
    K_ASSET,
    K_DNS,
    K_ERR,
    K_HTTP,
    K_MARKED,
    K_REQ, /* ~q */
    K_REPLAY,
    K_REPLAYQ,
    K_REPLAYS,
    K_RESP, /* ~s */
    K_TCP,
    K_UDP,
    K_WEBSOCKET,
    /* regex argument */
    K_BODY,
    K_BODYQ,
    K_BODYS,
    K_COMMENT,
    K_DOMAIN,
    K_DST,
    K_HEAD,
    K_HEADQ,
    K_HEADS,
    K_METHOD,
    K_MARKER,
    K_META,
    K_SRC,
    K_CTYPE,
    K_CTYPEQ,
    K_CTYPES,
    K_URL,
    /* integer argument */
    K_CODE,
    /* operators */
    K_NOT,
    K_AND,
    K_OR,
};

struct fnode {
    enum fkind kind;
    pcre2_code *re;      /* regex operators */
    char *src;           /* regex operators: the regex as written, unescaped (for describing) */
    long num;            /* ~c */
    struct fnode **kids; /* NOT: one; AND/OR: n >= 2 */
    size_t n;
};

struct mitm_filter {
    struct fnode *root;
    pcre2_match_context *mctx; /* limits only; never written after parse, so shareable */
    char *pattern;
};

struct mitm_http_request;

/* match.c's subjects, shared with facts.c so both read a flow the same way */
bool filter_asset_ctype(const char *v, size_t len);
bool filter_pretty_host(const struct mitm_http_request *r, const char **host, size_t *hl);

#endif
