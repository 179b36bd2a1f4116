/* htpasswd files: see htpasswd.h. */
#include "addon/htpasswd.h"
#include "addon/httputil.h"
#include "addon/spec.h"
#include "base/alloc.h"
#include "base/err.h"
#include "core/options.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HTPASSWD_MAX ((size_t)16 << 20)

struct entry {
    char *user, *hash;
    size_t ulen;
};

struct mitm_htpasswd {
    struct entry *v;
    size_t n;
};

void mitm_htpasswd_free(struct mitm_htpasswd *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].user);
        free(h->v[i].hash);
    }
    free(h->v);
    free(h);
}

static bool valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = c < 0x80                   ? 1
                     : (c >= 0xc2 && c <= 0xdf) ? 2
                     : (c >= 0xe0 && c <= 0xef) ? 3
                     : (c >= 0xf0 && c <= 0xf4) ? 4
                                                : 0;
        if (!len || i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] > 0x9f) ||
            (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] > 0x8f))
            return false;
        i += len;
    }
    return true;
}

static bool starts(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && memcmp(s, prefix, k) == 0;
}

/* str.splitlines() separators (ASCII ones; the file is UTF-8, so \x85 and U+2028/9 are
 * not treated as line ends: mitmc reads bytes). */
static size_t line_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && !(s[i] && strchr("\n\r\v\f\x1c\x1d\x1e", s[i])))
        i++;
    return i;
}

static int add_line(struct mitm_htpasswd *h, const char *s, size_t n, char *err, size_t errlen)
{
    while (n && s[0] && strchr(" \t\v\f\x1c\x1d\x1e\x1f", s[0]))
        s++, n--;
    while (n && s[n - 1] && strchr(" \t\v\f\x1c\x1d\x1e\x1f", s[n - 1]))
        n--;
    if (!n || s[0] == '#')
        return 0;
    const char *colon = memchr(s, ':', n);
    struct mitm_buf r;
    mitm_buf_init(&r, 0);
    if (!colon || colon == s) {
        mitm_py_repr(s, n, false, &r);
        mitm_errf(err, errlen, "Malformed htpasswd line: %.*s", (int)r.len, (const char *)mitm_buf_data(&r));
        mitm_buf_free(&r);
        return -1;
    }
    size_t ul = (size_t)(colon - s), hl = n - ul - 1;
    const char *hash = colon + 1;
    if (!starts(hash, hl, "{SHA}") && !starts(hash, hl, "$2y$") && !starts(hash, hl, "$2b$") &&
        !starts(hash, hl, "$2a$")) {
        mitm_py_repr(s, ul, false, &r);
        mitm_errf(err, errlen, "Unsupported htpasswd format for user %.*s", (int)r.len,
                  (const char *)mitm_buf_data(&r));
        mitm_buf_free(&r);
        return -1;
    }
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].ulen == ul && memcmp(h->v[i].user, s, ul) == 0) {
            free(h->v[i].hash);
            h->v[i].hash = mitm_strndup(hash, hl);
            return 0;
        }
    h->v = mitm_realloc(h->v, (h->n + 1) * sizeof(*h->v));
    h->v[h->n++] = (struct entry){mitm_strndup(s, ul), mitm_strndup(hash, hl), ul};
    return 0;
}

struct mitm_htpasswd *mitm_htpasswd_parse(const char *text, size_t n, char *err, size_t errlen)
{
    if (!valid_utf8((const unsigned char *)text, n)) {
        mitm_errf(err, errlen, "not UTF-8");
        return NULL;
    }
    struct mitm_htpasswd *h = mitm_calloc(1, sizeof(*h));
    for (size_t i = 0; i < n;) {
        size_t l = line_len(text + i, n - i);
        if (add_line(h, text + i, l, err, errlen) < 0) {
            mitm_htpasswd_free(h);
            return NULL;
        }
        i += l;
        if (i < n && text[i] == '\r' && i + 1 < n && text[i + 1] == '\n')
            i++;
        i++;
    }
    return h;
}

struct mitm_htpasswd *mitm_htpasswd_load(const char *path, char *err, size_t errlen)
{
    char *full = mitm_options_expanduser(path);
    struct stat st;
    struct mitm_htpasswd *h = NULL;
    if (stat(full, &st) < 0 && errno == ENOENT) {
        mitm_errf(err, errlen, "Htpasswd file not found: %s", full);
        free(full);
        return NULL;
    }
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    if (mitm_spec_read_file(full, HTPASSWD_MAX, &b, err, errlen) == 0)
        h = mitm_htpasswd_parse((const char *)mitm_buf_data(&b), b.len, err, errlen);
    mitm_buf_free(&b);
    free(full);
    return h;
}

static bool check_sha(const char *hash, const char *pass, size_t plen)
{
    unsigned char d[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)pass, plen, d);
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mitm_addon_base64(d, sizeof(d), &b);
    bool ok = strlen(hash) == b.len && CRYPTO_memcmp(hash, mitm_buf_data(&b), b.len) == 0;
    mitm_buf_free(&b);
    return ok;
}

static bool check_bcrypt(const char *hash, const char *pass, size_t plen)
{
    if (memchr(pass, 0, plen))
        return false;
    char *p = mitm_strndup(pass, plen);
    struct crypt_data *cd = mitm_calloc(1, sizeof(*cd)); /* ~32 KiB: not on a worker's stack */
    /* crypt_rn, libxcrypt's variant that returns NULL on failure (and that sanitizers do
     * not intercept: ASan's crypt_r interceptor can miss the real symbol) */
    const char *out = crypt_rn(p, hash, cd, (int)sizeof(*cd));
    bool ok =
        out && out[0] != '*' && strlen(out) == strlen(hash) && CRYPTO_memcmp(out, hash, strlen(hash)) == 0;
    OPENSSL_cleanse(p, plen);
    free(p);
    OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
    return ok;
}

bool mitm_htpasswd_check(const struct mitm_htpasswd *h, const char *user, size_t ulen, const char *pass,
                         size_t plen)
{
    const struct entry *e = NULL;
    for (size_t i = 0; i < h->n && !e; i++)
        if (h->v[i].ulen == ulen && memcmp(h->v[i].user, user, ulen) == 0)
            e = &h->v[i];
    if (!e)
        return false;
    char *hash = mitm_strndup(e->hash, strcspn(e->hash, ":"));
    bool ok =
        strncmp(hash, "{SHA}", 5) == 0 ? check_sha(hash + 5, pass, plen) : check_bcrypt(hash, pass, plen);
    free(hash);
    return ok;
}
