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

#endif
