/* Option specs of the modify/map/block addons: see spec.h. */
#include "addon/spec.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/slice.h"
#include "core/options.h"
#include "filter/filter.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_FILE_CAP ((size_t)64 << 20)

/* Length of the UTF-8 sequence starting with byte c (1 for ASCII and for stray bytes). */
static size_t utf8_len(unsigned char c)
{
    if (c >= 0xf0 && c < 0xf8)
        return 4;
    if (c >= 0xe0)
        return c < 0xf0 ? 3 : 1;
    if (c >= 0xc0)
        return 2;
    return 1;
}

size_t mitm_spec_split(const char *option, struct mitm_slice parts[3])
{
    size_t n = strlen(option);
    if (n == 0)
        return 0;
    size_t seplen = utf8_len((unsigned char)option[0]);
    if (seplen > n)
        seplen = n;
    const char *sep = option, *p = option + seplen, *end = option + n;
    size_t k = 0;
    while (k < 2) {
        const char *hit = NULL;
        for (const char *q = p; q + seplen <= end; q++)
            if (memcmp(q, sep, seplen) == 0) {
                hit = q;
                break;
            }
        if (!hit)
            break;
        parts[k++] = mitm_slice(p, (size_t)(hit - p));
        p = hit + seplen;
    }
    parts[k++] = mitm_slice(p, (size_t)(end - p));
    return k;
}

struct mitm_filter *mitm_spec_filter(struct mitm_slice patt, char *err, size_t errlen)
{
    if (patt.len == 0) {
        mitm_errf(err, errlen, "Empty filter expression");
        return NULL;
    }
    char *s = mitm_strndup((const char *)patt.base, patt.len);
    char why[512];
    struct mitm_filter *f = memchr(patt.base, 0, patt.len) ? NULL : mitm_filter_parse(s, why, sizeof(why));
    if (!f) {
        struct mitm_buf r;
        mitm_buf_init(&r, 0);
        mitm_py_repr(patt.base, patt.len, false, &r);
        mitm_errf(err, errlen, "Invalid filter expression: %.*s (%s)", (int)r.len,
                  (const char *)mitm_buf_data(&r), memchr(patt.base, 0, patt.len) ? "NUL byte" : why);
        mitm_buf_free(&r);
    }
    free(s);
    return f;
}

int mitm_spec_parse(const char *option, struct mitm_filter **filter, struct mitm_slice *subject,
                    struct mitm_slice *replacement, char *err, size_t errlen)
{
    struct mitm_slice parts[3];
    size_t n = mitm_spec_split(option, parts);
    *filter = NULL;
    if (n == 2) {
        *subject = parts[0];
        *replacement = parts[1];
        return 0;
    }
    if (n != 3) {
        mitm_errf(err, errlen, "Invalid number of parameters (2 or 3 are expected)");
        return -1;
    }
    if (!(*filter = mitm_spec_filter(parts[0], err, errlen)))
        return -1;
    *subject = parts[1];
    *replacement = parts[2];
    return 0;
}

static char simple_escape(char c)
{
    switch (c) {
    case '\\':
    case '\'':
    case '"':
        return c;
    case 'a':
        return '\a';
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'v':
        return '\v';
    default:
        return 0;
    }
}

int mitm_py_unescape(const char *s, size_t n, struct mitm_buf *out, char *err, size_t errlen)
{
    size_t start = out->len;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\') {
            mitm_buf_append(out, &c, 1);
            continue;
        }
        if (i + 1 >= n) {
            mitm_errf(err, errlen, "Trailing \\ in string");
            goto Fail;
        }
        char e = s[++i];
        char v = simple_escape(e);
        if (v) {
            mitm_buf_append(out, &v, 1);
        } else if (e == '\n') {
            /* a line continuation: nothing */
        } else if (e >= '0' && e <= '7') {
            unsigned x = (unsigned)(e - '0');
            for (int k = 0; k < 2 && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7'; k++)
                x = x * 8 + (unsigned)(s[++i] - '0');
            char b = (char)(x & 0xff);
            mitm_buf_append(out, &b, 1);
        } else if (e == 'x') {
            if (i + 2 >= n || mitm_hexval((unsigned char)s[i + 1]) < 0 ||
                mitm_hexval((unsigned char)s[i + 2]) < 0) {
                mitm_errf(err, errlen, "invalid \\x escape at position %zu", i - 1);
                goto Fail;
            }
            char b = (char)(mitm_hexval((unsigned char)s[i + 1]) * 16 + mitm_hexval((unsigned char)s[i + 2]));
            mitm_buf_append(out, &b, 1);
            i += 2;
        } else {
            mitm_buf_append(out, s + i - 1, 2);
        }
    }
    return 0;
Fail:
    out->len = start;
    return -1;
}

/* A valid UTF-8 sequence of 2..4 bytes at s (n left)? Returns its length or 0. */
static size_t valid_utf8(const unsigned char *s, size_t n)
{
    size_t len = utf8_len(s[0]);
    if (len < 2 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    unsigned cp = len == 2 ? s[0] & 0x1fu : len == 3 ? s[0] & 0x0fu : s[0] & 0x07u;
    for (size_t i = 1; i < len; i++)
        cp = (cp << 6) | (s[i] & 0x3fu);
    static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    /* C1 controls and a few non-printables Python escapes as \x.. */
    if (cp < 0xa0 || cp == 0xad)
        return 0;
    return len;
}

void mitm_py_repr(const void *sv, size_t n, bool bytes, struct mitm_buf *out)
{
    const unsigned char *s = sv;
    bool sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    if (bytes)
        mitm_buf_append(out, "b", 1);
    mitm_buf_append(out, &q, 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        size_t u;
        if (c == (unsigned char)q || c == '\\')
            mitm_buf_printf(out, "\\%c", c);
        else if (c == '\n')
            mitm_buf_append(out, "\\n", 2);
        else if (c == '\r')
            mitm_buf_append(out, "\\r", 2);
        else if (c == '\t')
            mitm_buf_append(out, "\\t", 2);
        else if (c >= 0x20 && c < 0x7f)
            mitm_buf_append(out, &c, 1);
        else if (bytes || c < 0x80)
            mitm_buf_printf(out, "\\x%02x", c);
        else if ((u = valid_utf8(s + i, n - i)) > 0) {
            mitm_buf_append(out, s + i, u);
            i += u - 1;
        } else
            mitm_buf_printf(out, "\\udc%02x", c);
    }
    mitm_buf_append(out, &q, 1);
}

/* Python's int(text) for a decimal: surrounding whitespace, a sign, digits with single
 * underscores between them. Returns false if it is not one (or does not fit). */
bool mitm_py_int(struct mitm_slice t, long *out)
{
    const char *s = (const char *)t.base, *e = s + t.len;
    while (s < e && *s && strchr(" \t\n\r\v\f", *s))
        s++;
    while (e > s && e[-1] && strchr(" \t\n\r\v\f", e[-1]))
        e--;
    bool neg = s < e && *s == '-';
    if (s < e && (*s == '+' || *s == '-'))
        s++;
    if (s == e || *s == '_')
        return false;
    long v = 0;
    for (const char *p = s; p < e; p++) {
        if (*p == '_' && p + 1 < e && p[1] != '_')
            continue;
        if (*p < '0' || *p > '9' || v > 100000000)
            return false;
        v = v * 10 + (*p - '0');
    }
    *out = neg ? -v : v;
    return true;
}

static void os_error(char *err, size_t errlen, int errnum, const char *path)
{
    struct mitm_buf r;
    mitm_buf_init(&r, 0);
    mitm_py_repr(path, strlen(path), false, &r);
    mitm_errf(err, errlen, "[Errno %d] %s: %.*s", errnum, strerror(errnum), (int)r.len,
              (const char *)mitm_buf_data(&r));
    mitm_buf_free(&r);
}

int mitm_spec_read_file(const char *path, size_t cap, struct mitm_buf *out, char *err, size_t errlen)
{
    char *full = mitm_options_expanduser(path);
    int rc = -1, fd = open(full, O_RDONLY | O_CLOEXEC);
    size_t start = out->len;
    struct stat st;
    if (fd < 0) {
        os_error(err, errlen, errno, full);
        goto Exit;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        os_error(err, errlen, EISDIR, full);
        goto Exit;
    }
    for (;;) {
        char chunk[65536];
        ssize_t k = read(fd, chunk, sizeof(chunk));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            os_error(err, errlen, errno, full);
            goto Exit;
        }
        if (k == 0)
            break;
        if (out->len - start + (size_t)k > cap || mitm_buf_append(out, chunk, (size_t)k) < 0) {
            mitm_errf(err, errlen, "file larger than %zu bytes: '%s'", cap, full);
            goto Exit;
        }
    }
    rc = 0;
Exit:
    if (rc < 0)
        out->len = start;
    if (fd >= 0)
        close(fd);
    free(full);
    return rc;
}

size_t mitm_spec_file_cap(const struct mitm_options *o)
{
    int64_t n = mitm_options_size(o->body_buffer_limit);
    return n > 0 ? (size_t)n : DEFAULT_FILE_CAP;
}
