/* Recursive-descent parser for the filter language (grammar in filter.h). It follows
 * what mitmproxy's pyparsing grammar accepts, including its backtracking quirks, but
 * reports the first error with its position instead of pyparsing's last alternative. */
#include "filter/filter.h"
#include "base/alloc.h"
#include "filter/node.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PCRE2's backtracking budget per match: a pathological regex fails (no match) instead
 * of hanging the caller; ordinary regexes over megabyte bodies stay far below it. */
#define MATCH_LIMIT 10000000u

enum arg { A_NONE, A_REGEX, A_INT };

#define F_BIN       1u /* bytes pattern (Python _BinRex): no UTF mode */
#define F_MULTILINE 2u
#define F_DOTALL    4u

struct opdef {
    const char *name;
    enum fkind kind;
    enum arg arg;
    unsigned flags;
};

/* Sorted by name; help_table below lists the same operators. */
static const struct opdef ops[] = {
    {"a", K_ASSET, A_NONE, 0},
    {"all", K_ALL, A_NONE, 0},
    {"b", K_BODY, A_REGEX, F_BIN | F_DOTALL},
    {"bq", K_BODYQ, A_REGEX, F_BIN | F_DOTALL},
    {"bs", K_BODYS, A_REGEX, F_BIN | F_DOTALL},
    {"c", K_CODE, A_INT, 0},
    {"comment", K_COMMENT, A_REGEX, F_MULTILINE},
    {"d", K_DOMAIN, A_REGEX, 0},
    {"dns", K_DNS, A_NONE, 0},
    {"dst", K_DST, A_REGEX, 0},
    {"e", K_ERR, A_NONE, 0},
    {"h", K_HEAD, A_REGEX, F_BIN | F_MULTILINE},
    {"hq", K_HEADQ, A_REGEX, F_BIN | F_MULTILINE},
    {"hs", K_HEADS, A_REGEX, F_BIN | F_MULTILINE},
    {"http", K_HTTP, A_NONE, 0},
    {"m", K_METHOD, A_REGEX, F_BIN},
    {"marked", K_MARKED, A_NONE, 0},
    {"marker", K_MARKER, A_REGEX, 0},
    {"meta", K_META, A_REGEX, F_MULTILINE},
    {"q", K_REQ, A_NONE, 0},
    {"replay", K_REPLAY, A_NONE, 0},
    {"replayq", K_REPLAYQ, A_NONE, 0},
    {"replays", K_REPLAYS, A_NONE, 0},
    {"s", K_RESP, A_NONE, 0},
    {"src", K_SRC, A_REGEX, 0},
    {"t", K_CTYPE, A_REGEX, F_BIN},
    {"tcp", K_TCP, A_NONE, 0},
    {"tq", K_CTYPEQ, A_REGEX, F_BIN},
    {"ts", K_CTYPES, A_REGEX, F_BIN},
    {"u", K_URL, A_REGEX, 0},
    {"udp", K_UDP, A_NONE, 0},
    {"websocket", K_WEBSOCKET, A_NONE, 0},
};
#define N_OPS (sizeof(ops) / sizeof(ops[0]))

static const struct opdef url_op = {"u", K_URL, A_REGEX, 0};

struct parser {
    const char *s;
    size_t len, pos;
    int depth;
    bool caseless;
    char *err;
    size_t errlen;
};

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r'; /* pyparsing's DEFAULT_WHITE_CHARS */
}

/* Characters a bare regex word cannot hold (pyparsing CharsNotIn("()~'\"" + whitespace)). */
static bool is_word(char c)
{
    return !is_ws(c) && c != '(' && c != ')' && c != '~' && c != '\'' && c != '"';
}

/* What may follow an operator name (see filter.h for where this is wider than mitmproxy). */
static bool is_word_end(char c)
{
    return is_ws(c) || c == '(' || c == ')' || c == '&' || c == '|';
}

static void *perror_at(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void *perror_at(struct parser *p, size_t pos, const char *fmt, ...)
{
    if (p->err && p->errlen) {
        char what[384];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        snprintf(p->err, p->errlen, "filter error at position %zu: %s", pos, what);
    }
    return NULL;
}

static size_t skip_ws(const struct parser *p, size_t i)
{
    while (i < p->len && is_ws(p->s[i]))
        i++;
    return i;
}

/* pyparsing backtracks when "&", "|" or "!" has no operand after it, and reads the
 * character as a regex word instead. An operand can start anywhere but at ")" or the
 * end; an operand that starts and then fails is an error in both parsers. */
static bool operand_follows(const struct parser *p, size_t i)
{
    i = skip_ws(p, i);
    return i < p->len && p->s[i] != ')';
}

static void node_free(struct fnode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        node_free(n->kids[i]);
    free(n->kids);
    if (n->re)
        pcre2_code_free(n->re);
    free(n->src);
    free(n);
}

static struct fnode *node_new(enum fkind kind)
{
    struct fnode *n = mitm_calloc(1, sizeof(*n));
    n->kind = kind;
    return n;
}

static void node_add(struct fnode *parent, struct fnode *kid)
{
    parent->kids = mitm_realloc(parent->kids, (parent->n + 1) * sizeof(*parent->kids));
    parent->kids[parent->n++] = kid;
}

static struct fnode *compile_regex(struct parser *p, const struct opdef *op, const char *pat, size_t patlen,
                                   size_t at)
{
    uint32_t opts = 0;
    if (p->caseless)
        opts |= PCRE2_CASELESS;
    if (op->flags & F_MULTILINE)
        opts |= PCRE2_MULTILINE;
    if (op->flags & F_DOTALL)
        opts |= PCRE2_DOTALL;
    if (!(op->flags & F_BIN)) /* Python str patterns: Unicode classes and case folding */
        opts |= PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_ALT_BSUX;
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, patlen, opts, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", code);
        return perror_at(p, at, "invalid regex \"%.*s\": %s at offset %zu", patlen > 64 ? 64 : (int)patlen,
                         pat, (const char *)msg, (size_t)off);
    }
    /* JIT is an optimisation: when unavailable (no executable memory), the interpreter
     * gives the same results */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    struct fnode *n = node_new(op->kind);
    n->re = re;
    n->src = mitm_strndup(pat, patlen);
    return n;
}

/* A '...' or "..." string at p->pos. Returns the unescaped bytes (owned by the caller,
 * NUL-terminated, *outlen set), or NULL on an unterminated string. Like pyparsing's
 * QuotedString, a raw newline ends nothing: it makes the string unterminated. */
static char *quoted(struct parser *p, size_t *outlen)
{
    char q = p->s[p->pos];
    size_t start = p->pos, i = p->pos + 1, o = 0;
    char *out = mitm_alloc(p->len - start + 1);
    while (i < p->len && p->s[i] != q && p->s[i] != '\n' && p->s[i] != '\r') {
        char c = p->s[i++];
        if (c == '\\') {
            if (i >= p->len)
                break;
            c = p->s[i++];
            c = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 'f' ? '\f' : c;
        }
        out[o++] = c;
    }
    if (i >= p->len || p->s[i] != q) {
        free(out);
        return perror_at(p, start, "unterminated string");
    }
    p->pos = i + 1;
    out[o] = 0;
    *outlen = o;
    return out;
}

/* The regex argument of op (or a bare regex when op is the implicit ~u). */
static struct fnode *regex_arg(struct parser *p, const struct opdef *op, bool bare)
{
    p->pos = skip_ws(p, p->pos);
    size_t at = p->pos;
    if (at < p->len && (p->s[at] == '"' || p->s[at] == '\'')) {
        size_t n = 0;
        char *pat = quoted(p, &n);
        if (!pat)
            return NULL;
        struct fnode *node = compile_regex(p, op, pat, n, at);
        free(pat);
        return node;
    }
    while (p->pos < p->len && is_word(p->s[p->pos]))
        p->pos++;
    if (p->pos == at) {
        if (bare)
            return perror_at(p, at, "expected expression");
        return perror_at(p, at, "expected regex after ~%s", op->name);
    }
    return compile_regex(p, op, p->s + at, p->pos - at, at);
}

static struct fnode *int_arg(struct parser *p, const struct opdef *op)
{
    p->pos = skip_ws(p, p->pos);
    size_t at = p->pos;
    long v = 0;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        /* saturate: no status code is that large, so it simply never matches */
        if (v < 100000000)
            v = v * 10 + (p->s[p->pos] - '0');
        p->pos++;
    }
    if (p->pos == at)
        return perror_at(p, at, "expected integer after ~%s", op->name);
    struct fnode *n = node_new(op->kind);
    n->num = v;
    return n;
}

static struct fnode *operator(struct parser *p)
{
    size_t at = p->pos++; /* the '~' */
    size_t start = p->pos;
    while (p->pos < p->len && !is_word_end(p->s[p->pos]))
        p->pos++;
    size_t nlen = p->pos - start;
    if (nlen == 0)
        return perror_at(p, at, "expected operator name after ~");
    const struct opdef *op = NULL;
    for (size_t i = 0; i < N_OPS && !op; i++)
        if (strlen(ops[i].name) == nlen && memcmp(ops[i].name, p->s + start, nlen) == 0)
            op = &ops[i];
    if (!op)
        return perror_at(p, at, "unknown operator ~%.*s", nlen > 32 ? 32 : (int)nlen, p->s + start);
    if (op->arg == A_REGEX)
        return regex_arg(p, op, false);
    if (op->arg == A_INT)
        return int_arg(p, op);
    return node_new(op->kind);
}

static struct fnode *parse_expr(struct parser *p, bool in_paren);

static struct fnode *parse_atom(struct parser *p)
{
    p->pos = skip_ws(p, p->pos);
    if (p->pos >= p->len || p->s[p->pos] == ')')
        return perror_at(p, p->pos, "expected expression");
    char c = p->s[p->pos];
    if (c == '~')
        return operator(p);
    if (c != '(')
        return regex_arg(p, &url_op, true);
    size_t open = p->pos++;
    if (++p->depth > MITM_FILTER_MAX_DEPTH)
        return perror_at(p, open, "nesting too deep");
    struct fnode *n = parse_expr(p, true);
    p->depth--;
    if (!n)
        return NULL;
    if (p->pos >= p->len || p->s[p->pos] != ')') {
        node_free(n);
        return perror_at(p, open, "unbalanced parenthesis");
    }
    p->pos++;
    return n;
}

static struct fnode *parse_not(struct parser *p)
{
    p->pos = skip_ws(p, p->pos);
    if (p->pos < p->len && p->s[p->pos] == '!' && operand_follows(p, p->pos + 1)) {
        size_t at = p->pos++;
        if (++p->depth > MITM_FILTER_MAX_DEPTH)
            return perror_at(p, at, "nesting too deep");
        struct fnode *kid = parse_not(p);
        p->depth--;
        if (!kid)
            return NULL;
        struct fnode *n = node_new(K_NOT);
        node_add(n, kid);
        return n;
    }
    return parse_atom(p);
}

/* One left-associative binary level: "&" over parse_not, "|" over the "&" level. */
static struct fnode *parse_binary(struct parser *p, char opch)
{
    struct fnode *first = opch == '&' ? parse_not(p) : parse_binary(p, '&');
    if (!first)
        return NULL;
    struct fnode *list = NULL;
    for (;;) {
        size_t i = skip_ws(p, p->pos);
        if (i >= p->len || p->s[i] != opch || !operand_follows(p, i + 1))
            break;
        p->pos = i + 1;
        struct fnode *next = opch == '&' ? parse_not(p) : parse_binary(p, '&');
        if (!next) {
            node_free(list ? list : first);
            return NULL;
        }
        if (!list) {
            list = node_new(opch == '&' ? K_AND : K_OR);
            node_add(list, first);
        }
        node_add(list, next);
    }
    return list ? list : first;
}

/* Juxtaposed or-expressions, ANDed; stops at the end or (inside parentheses) at ")". */
static struct fnode *parse_expr(struct parser *p, bool in_paren)
{
    struct fnode *list = NULL, *first = NULL;
    for (;;) {
        p->pos = skip_ws(p, p->pos);
        if (p->pos >= p->len)
            break;
        if (p->s[p->pos] == ')') {
            if (in_paren)
                break;
            node_free(list ? list : first);
            return perror_at(p, p->pos, "unbalanced parenthesis");
        }
        struct fnode *n = parse_binary(p, '|');
        if (!n) {
            node_free(list ? list : first);
            return NULL;
        }
        if (!first) {
            first = n;
        } else {
            if (!list) {
                list = node_new(K_AND);
                node_add(list, first);
            }
            node_add(list, n);
        }
    }
    if (!first)
        return perror_at(p, p->pos, "expected expression");
    return list ? list : first;
}

struct mitm_filter *mitm_filter_parse(const char *expr, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    struct parser p = {.s = expr ? expr : "", .err = err, .errlen = errlen};
    p.len = strlen(p.s);
    if (skip_ws(&p, 0) == p.len) {
        if (err && errlen)
            snprintf(err, errlen, "empty filter expression");
        return NULL;
    }
    const char *cs = getenv("MITMPROXY_CASE_SENSITIVE_FILTERS");
    p.caseless = !(cs && strcmp(cs, "1") == 0);
    struct fnode *root = parse_expr(&p, false);
    if (!root)
        return NULL;
    struct mitm_filter *f = mitm_calloc(1, sizeof(*f));
    f->root = root;
    f->pattern = mitm_strdup(p.s);
    f->mctx = pcre2_match_context_create(NULL);
    if (!f->mctx) {
        mitm_filter_free(f);
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pcre2_set_match_limit(f->mctx, MATCH_LIMIT);
    return f;
}

void mitm_filter_free(struct mitm_filter *f)
{
    if (!f)
        return;
    node_free(f->root);
    if (f->mctx)
        pcre2_match_context_free(f->mctx);
    free(f->pattern);
    free(f);
}

const char *mitm_filter_pattern(const struct mitm_filter *f)
{
    return f->pattern;
}

/* mitmproxy's help texts, sorted as its flowfilter.help (by "~op [regex|int]"). */
static const struct mitm_filter_help help_table[] = {
    {"~a", "Match asset in response: CSS, JavaScript, images, fonts."},
    {"~all", "Match all flows"},
    {"~b regex", "Body"},
    {"~bq regex", "Request body"},
    {"~bs regex", "Response body"},
    {"~c int", "HTTP response code"},
    {"~comment regex", "Flow comment"},
    {"~d regex", "Domain"},
    {"~dns", "Match DNS flows"},
    {"~dst regex", "Match destination address"},
    {"~e", "Match error"},
    {"~h regex", "Header"},
    {"~hq regex", "Request header"},
    {"~hs regex", "Response header"},
    {"~http", "Match HTTP flows"},
    {"~m regex", "Method"},
    {"~marked", "Match marked flows"},
    {"~marker regex", "Match marked flows with specified marker"},
    {"~meta regex", "Flow metadata"},
    {"~q", "Match request with no response"},
    {"~replay", "Match replayed flows"},
    {"~replayq", "Match replayed client request"},
    {"~replays", "Match replayed server response"},
    {"~s", "Match response"},
    {"~src regex", "Match source address"},
    {"~t regex", "Content-type header"},
    {"~tcp", "Match TCP flows"},
    {"~tq regex", "Request Content-Type header"},
    {"~ts regex", "Response Content-Type header"},
    {"~u regex", "URL"},
    {"~udp", "Match UDP flows"},
    {"~websocket", "Match WebSocket flows"},
    {"!", "unary not"},
    {"&", "and"},
    {"|", "or"},
    {"(...)", "grouping"},
};

const struct mitm_filter_help *mitm_filter_help(size_t *n)
{
    *n = sizeof(help_table) / sizeof(help_table[0]);
    return help_table;
}
