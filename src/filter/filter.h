/* mitmproxy's flow filter language (mitmproxy/flowfilter.py, reference §5): parse an
 * expression once, match it against many flows.
 *
 * Grammar, loosest binding first:
 *   expr   := or-expr { or-expr }           juxtaposition = and
 *   or     := and { "|" and }
 *   and    := not { "&" not }
 *   not    := "!" not | atom
 *   atom   := "(" expr ")" | "~"op [arg] | regex            a bare regex is "~u regex"
 *   regex  := word | "..." | '...'
 * A word is any run of bytes other than whitespace and ( ) ~ ' ". A quoted string takes
 * backslash escapes like pyparsing's QuotedString: \t \n \r \f are whitespace, any other
 * \c is c. An operator name runs to a word end, so "~bq" is ~bq, never "~b q". As in
 * pyparsing, "&", "|" and "!" that are not followed by an operand are plain regex words
 * ("a | | b" is (a or "|") and b).
 *
 * Where we accept more than mitmproxy: "(", ")", "&" and "|" also end an operator name
 * (mitmproxy rejects "(~q)" and "~q&~s" because its word end only accepts whitespace),
 * and juxtaposition also works inside parentheses. Every expression mitmproxy accepts
 * parses here with the same meaning.
 *
 * Regexes are PCRE2 (JIT-compiled), case-insensitive unless the environment variable
 * MITMPROXY_CASE_SENSITIVE_FILTERS is "1" at parse time (mitmproxy >= 11.1). Body,
 * header, method and content-type operators match raw bytes (Python bytes patterns);
 * the others (~u ~d ~src ~dst ~meta ~marker ~comment) are UTF-8 text patterns with
 * Unicode case folding, and tolerate invalid UTF-8 in the subject. */
#ifndef MITM_FILTER_FILTER_H
#define MITM_FILTER_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "flow/flow-t.h"

struct mitm_filter; /* opaque, immutable after parse */

/* Nesting of parentheses and "!" deeper than this is refused (bounds the recursion of
 * both the parser and the matcher). */
#define MITM_FILTER_MAX_DEPTH 100

/* Bodies are decoded (Content-Encoding) for ~b/~bq/~bs up to this many bytes; a body
 * that decodes to more is matched in its raw form, as a body that fails to decode. */
#define MITM_FILTER_DECODE_CAP (64u << 20)

/* Parse and compile expr (NUL-terminated). Returns a filter owned by the caller (free
 * with mitm_filter_free), or NULL with a NUL-terminated message in err (if not NULL):
 * "empty filter expression", or "filter error at position N: <what>" where N is the
 * 0-based byte offset, e.g. "expected regex after ~u", "expected integer after ~c",
 * "unknown operator ~x", "unbalanced parenthesis", "unterminated string",
 * "expected expression", "nesting too deep", "invalid regex \"...\": <pcre2 message>". */
struct mitm_filter *mitm_filter_parse(const char *expr, char *err, size_t errlen);

/* Does flow match? The filter is only read, so one filter may be matched on many
 * threads at once. The flow must not change during the call. Never fails: a regex that
 * hits PCRE2's match limit (catastrophic backtracking) counts as no match. */
bool mitm_filter_match(const struct mitm_filter *f, const struct mitm_flow *flow);

/* Free a filter and its compiled regexes. Accepts NULL. */
void mitm_filter_free(struct mitm_filter *f);

/* The expression the filter was parsed from (owned by the filter). */
const char *mitm_filter_pattern(const struct mitm_filter *f);

/* One line of the operator help (mitmproxy's flowfilter.help): e.g. {"~b regex", "Body"}. */
struct mitm_filter_help {
    const char *syntax;
    const char *help;
};

/* The help table, sorted like mitmproxy's (operators, then ! & | (...)); *n receives
 * its length. Static storage. */
const struct mitm_filter_help *mitm_filter_help(size_t *n);

/* Conditions every flow the filter matches certainly meets, for narrowing a query in a store
 * before the filter itself is applied (-r postgresql://...). Only operators of the top-level
 * AND chain (or the whole expression) are looked at; others are left out, which only widens.
 * kind: 'd' (~d: the request host or Host header), 'm' (~m: the method), each with like: a SQL
 * LIKE pattern (case-insensitive use: lower() both sides) that every regex match is inside
 * (literals with % _ \ escaped, "." as _, anchors dropped); or 'c' (~c: status == num). */
struct mitm_filter_term {
    char kind;
    char like[256];
    long num;
};

/* Fill out[0..cap) with the terms of f; returns how many. */
size_t mitm_filter_terms(const struct mitm_filter *f, struct mitm_filter_term *out, size_t cap);

/* What a flow store keeps of each flow in RAM (src/flow/store.h's summaries), enough to
 * decide most filters without reading the flow back: ~d ~u ~m ~c ~t ~ts ~tq ~a ~q ~s ~e
 * ~marked ~replay ~http ~tcp ~websocket ~all and their combinations. A NULL string is a
 * value the store does not hold whole (truncated, or not kept). */
struct mitm_filter_facts {
    int type; /* enum mitm_flow_type */
    bool has_response, error, marked, replay, websocket;
    const char *method;  /* request method */
    const char *host;    /* request.host */
    bool host_is_pretty; /* ~d's other subject (the Host/:authority host) is absent or equals host */
    const char *scheme;  /* with port and path: the URL, when url_is_pretty */
    unsigned port;
    const char *path;
    bool url_is_pretty;     /* pretty_url (what ~u searches) is scheme://host[:port]path */
    long status;            /* response status code; -1 = not known */
    int req_ctypes;         /* Content-Type fields in the request: 0, 1, 2 = two or more */
    int resp_ctypes;        /* in the response */
    const char *resp_ctype; /* the response's one Content-Type value, whole */
};

/* How a request fills host_is_pretty and url_is_pretty (the store calls it once per flow).
 * path_max: paths longer than this are not kept whole (url_is_pretty false). */
void mitm_filter_request_facts(const struct mitm_http_request *r, size_t path_max, bool *host_is_pretty,
                               bool *url_is_pretty);

/* Three-valued match on facts: 1 = the flow matches, 0 = it does not (the same answer
 * mitm_filter_match gives on the whole flow), -1 = the facts do not tell (load the flow). */
int mitm_filter_match_facts(const struct mitm_filter *f, const struct mitm_filter_facts *facts);

#endif
