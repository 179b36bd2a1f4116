/* Python's re module as the modify/map addons use it, on PCRE2: compile, search, and
 * re.sub() with Python's replacement templates (map_remote) or a literal replacement
 * (modify_body, as mitmproxy's `lambda _: replacement`).
 *
 * Text patterns (Python str) run in UTF mode with Unicode classes (\w, \d, case folding)
 * and tolerate invalid UTF-8 in the subject; byte patterns (Python bytes) match raw
 * bytes. PCRE2 and Python agree on the syntax the addons' users write; where they do not
 * (\Z, some error texts) PCRE2's meaning wins (docs/internals/addons.md).
 *
 * A compiled pattern is immutable and may be used by many threads at once. */
#ifndef MITM_ADDON_PYRE_H
#define MITM_ADDON_PYRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct mitm_pyre;
struct mitm_pytemplate;

#define MITM_PYRE_BYTES  1u /* a bytes pattern (else str) */
#define MITM_PYRE_DOTALL 2u /* re.DOTALL */

/* Backtracking steps one match may take before it is given up as no match (a pattern
 * that backtracks catastrophically must not stall a worker). */
#define MITM_PYRE_MATCH_LIMIT 10000000u

/* Compile pat[0..len) (may hold NUL bytes). Returns the pattern (caller frees), or NULL
 * with err "<PCRE2 message> at position N". */
struct mitm_pyre *mitm_pyre_compile(const void *pat, size_t len, unsigned flags, char *err, size_t errlen);
void mitm_pyre_free(struct mitm_pyre *re); /* accepts NULL */

/* Number of capturing groups. */
unsigned mitm_pyre_groups(const struct mitm_pyre *re);

/* re.search from offset 0: returns 1 and fills ov[0..2*(ngroups+1)) with start/end
 * offsets (a group that did not take part: both SIZE_MAX), 0 for no match, -1 when the
 * match limit was hit (counts as no match for callers that do not care). ov may be NULL;
 * ngroups is how many groups' offsets ov has room for (excluding group 0). */
int mitm_pyre_search(const struct mitm_pyre *re, const void *s, size_t n, size_t *ov, unsigned ngroups);

/* A replacement template compiled for re: Python's re.sub template language for text
 * patterns (\1..\99, \g<name>, \g<N>, \n-style escapes, octal \0 / \ooo; unknown escapes of
 * ASCII letters are errors, others stay as written), checked against re's groups now
 * rather than at the first substitution. Errors in Python's words ("bad escape \q at
 * position 0", "invalid group reference 3 at position 1", "unknown group name 'x'", ...).
 * Returns the template (caller frees), or NULL with err set. */
struct mitm_pytemplate *mitm_pytemplate_compile(const char *tpl, size_t len, const struct mitm_pyre *re,
                                                char *err, size_t errlen);
/* A template that inserts lit[0..len) as it is (no escapes, no group references). */
struct mitm_pytemplate *mitm_pytemplate_literal(const void *lit, size_t len);
void mitm_pytemplate_free(struct mitm_pytemplate *t); /* accepts NULL */

/* re.sub(re, t, s) (every match, Python 3.7+ empty-match rules) appended to out. Returns
 * the number of substitutions (0: out holds a copy of s), or -1 (out unchanged) when the
 * match limit was hit or out's cap was exceeded. */
long mitm_pyre_sub(const struct mitm_pyre *re, const struct mitm_pytemplate *t, const void *s, size_t n,
                   struct mitm_buf *out);

#endif
