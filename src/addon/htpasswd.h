/* Apache htpasswd files as mitmproxy's utils/htpasswd.py reads them: "user:hash" lines
 * (blank lines and lines starting with '#' skipped, surrounding whitespace dropped; a
 * later line for a user wins), with bcrypt ($2y$, $2b$, $2a$; checked with libxcrypt's
 * crypt_r) or {SHA} (base64 of SHA-1, insecure, as Apache's) hashes. Anything after a
 * second ':' of a line is ignored when checking. Immutable once loaded. */
#ifndef MITM_ADDON_HTPASSWD_H
#define MITM_ADDON_HTPASSWD_H

#include <stdbool.h>
#include <stddef.h>

struct mitm_htpasswd;

/* Parse text[0..n) (UTF-8). Errors in mitmproxy's words: "Malformed htpasswd line: 'x'"
 * (no ':' or no user), "Unsupported htpasswd format for user 'u'", and mitmc's "not
 * UTF-8". Returns the table (caller frees), or NULL with err set. */
struct mitm_htpasswd *mitm_htpasswd_parse(const char *text, size_t n, char *err, size_t errlen);
/* Read and parse the file at path ("~" expanded). Adds "Htpasswd file not found: PATH" and
 * the OSError texts of spec.h to the errors above. */
struct mitm_htpasswd *mitm_htpasswd_load(const char *path, char *err, size_t errlen);
void mitm_htpasswd_free(struct mitm_htpasswd *h); /* accepts NULL */

/* Does pass (plen bytes) match user's hash? False for an unknown user, a password with a
 * NUL byte (bcrypt cannot see past it) and any hash that does not verify. Costs a bcrypt
 * run for bcrypt entries (milliseconds at cost 10). Thread-safe. */
bool mitm_htpasswd_check(const struct mitm_htpasswd *h, const char *user, size_t ulen, const char *pass,
                         size_t plen);

#endif
