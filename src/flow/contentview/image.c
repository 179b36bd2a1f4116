/* The image view (mitmproxy's image/): format, size and the metadata of PNG, GIF, JPEG and ICO
 * images; other image types by name. */
#include "flow/contentview/contentview-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "flow/encoding.h"
#include "flow/export.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[1] << 8 | p[0]);
}

/* Key/value list where a repeated key keeps its first value (format_dict(MultiDict(...))). */
static void meta_add(struct mitm_kv **kv, size_t *n, const char *k, size_t kl, const char *v, size_t vl)
{
    for (size_t i = 0; i < *n; i++)
        if ((*kv)[i].klen == kl && memcmp((*kv)[i].k, k, kl) == 0)
            return;
    mitm_cv_kv_add(kv, n, k, kl, v, vl);
}

static void meta_addf(struct mitm_kv **kv, size_t *n, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void meta_addf(struct mitm_kv **kv, size_t *n, const char *k, const char *fmt, ...)
{
    char v[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    meta_add(kv, n, k, strlen(k), v, strlen(v));
}

/* Python's repr() of bytes: b'...' (b"..." when it holds ' and no "). */
static void py_bytes_repr(const uint8_t *p, size_t n, struct mitm_buf *o)
{
    bool sq = memchr(p, '\'', n) != NULL, dq = memchr(p, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    mitm_buf_printf(o, "b%c", q);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == (uint8_t)q || c == '\\')
            mitm_buf_printf(o, "\\%c", c);
        else if (c == '\t' || c == '\n' || c == '\r')
            mitm_buf_printf(o, "\\%c", c == '\t' ? 't' : c == '\n' ? 'n' : 'r');
        else if (c < 0x20 || c >= 0x7f)
            mitm_buf_printf(o, "\\x%02x", c);
        else
            mitm_buf_append(o, &c, 1);
    }
    mitm_buf_append(o, &q, 1);
}

/* Python str() of a float: repr. */
static void meta_float(struct mitm_kv **kv, size_t *n, const char *k, double v)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mitm_cv_py_float(v, &b);
    meta_add(kv, n, k, strlen(k), (const char *)mitm_buf_data(&b), b.len);
    mitm_buf_free(&b);
}

static int parse_png(const uint8_t *d, size_t n, struct mitm_kv **kv, size_t *k)
{
    if (n < 8 + 8 + 13 || memcmp(d + 12, "IHDR", 4) != 0)
        return -1;
    meta_addf(kv, k, "Format", "Portable network graphics");
    meta_addf(kv, k, "Size", "%u x %u px", be32(d + 16), be32(d + 20));
    size_t p = 8;
    bool iend = false;
    while (p < n && !iend) {
        if (n - p < 12)
            return -1; /* a chunk cut short (kaitai's parse fails) */
        uint32_t len = be32(d + p);
        const uint8_t *type = d + p + 4, *body = d + p + 8;
        if (len > n - p - 8 || n - p - 8 - len < 4)
            return -1; /* truncated chunk (kaitai fails) */
        if (memcmp(type, "gAMA", 4) == 0 && len >= 4) {
            meta_float(kv, k, "gamma", be32(body) / 100000.0);
        } else if (memcmp(type, "pHYs", 4) == 0 && len >= 9) {
            meta_addf(kv, k, "aspect", "%u x %u", be32(body), be32(body + 4));
        } else if (memcmp(type, "tEXt", 4) == 0 || memcmp(type, "zTXt", 4) == 0 ||
                   memcmp(type, "iTXt", 4) == 0) {
            const uint8_t *nul = memchr(body, 0, len);
            if (!nul)
                return -1;
            size_t kl = (size_t)(nul - body);
            const uint8_t *t = nul + 1, *te = body + len;
            struct mitm_buf text, raw;
            mitm_buf_init(&text, 0);
            mitm_buf_init(&raw, 0);
            int ok = 0;
            if (type[0] == 't') {
                mitm_charset_decode(MITM_CHARSET_LATIN1, t, (size_t)(te - t), &text);
            } else if (type[0] == 'z') {
                char why[64];
                ok = t < te &&
                     mitm_decode("deflate", t + 1, (size_t)(te - t - 1), 1 << 20, &raw, why, sizeof(why));
                mitm_charset_decode(MITM_CHARSET_LATIN1, mitm_buf_data(&raw), raw.len, &text);
            } else {
                /* compression flag, method, language tag NUL, translated keyword NUL, text */
                const uint8_t *q = t + 2 <= te ? t + 2 : te;
                for (int z = 0; z < 2 && q < te; z++) {
                    const uint8_t *nz = memchr(q, 0, (size_t)(te - q));
                    q = nz ? nz + 1 : te;
                }
                mitm_buf_append(&text, q, (size_t)(te - q));
            }
            struct mitm_buf key;
            mitm_buf_init(&key, 0);
            mitm_charset_decode(MITM_CHARSET_LATIN1, body, kl, &key);
            if (ok == 0)
                meta_add(kv, k, (const char *)mitm_buf_data(&key), key.len,
                         (const char *)mitm_buf_data(&text), text.len);
            mitm_buf_free(&key);
            mitm_buf_free(&text);
            mitm_buf_free(&raw);
            if (ok != 0)
                return -1;
        }
        p += 12 + (size_t)len;
        iend = memcmp(type, "IEND", 4) == 0;
    }
    return 0;
}

/* GIF (GIF89a spec): header, logical screen descriptor, then blocks; comment extensions
 * (0x21 0xfe) give "comment" entries (Python repr of each sub-block's bytes). */
static int parse_gif(const uint8_t *d, size_t n, struct mitm_kv **kv, size_t *k)
{
    if (n < 13)
        return -1;
    meta_addf(kv, k, "Format", "Compuserve GIF");
    meta_addf(kv, k, "Version", "GIF%.3s", (const char *)d + 3);
    meta_addf(kv, k, "Size", "%u x %u px", le16(d + 6), le16(d + 8));
    meta_addf(kv, k, "background", "%u", d[11]);
    size_t p = 13;
    if (d[10] & 0x80)
        p += (size_t)3 << ((d[10] & 7) + 1);
    for (int guard = 0; p < n && guard < 100000; guard++) {
        uint8_t kind = d[p++];
        if (kind == 0x3b)
            return 0;
        bool comment = false;
        if (kind == 0x21) {
            if (p >= n)
                return -1;
            comment = d[p++] == 0xfe;
        } else if (kind == 0x2c) {
            if (p + 9 > n)
                return -1;
            uint8_t flags = d[p + 8];
            p += 9;
            if (flags & 0x80)
                p += (size_t)3 << ((flags & 7) + 1);
            p++; /* LZW minimum code size */
        } else {
            return -1;
        }
        /* data sub-blocks */
        while (p < n) {
            uint8_t len = d[p++];
            if (len == 0)
                break;
            if (p + len > n)
                return -1;
            if (comment) {
                struct mitm_buf b;
                mitm_buf_init(&b, 0);
                py_bytes_repr(d + p, len, &b);
                meta_add(kv, k, "comment", 7, (const char *)mitm_buf_data(&b), b.len);
                mitm_buf_free(&b);
            }
            p += len;
        }
    }
    return p <= n ? 0 : -1;
}

/* JPEG (ISO 10918-1 Annex B): markers up to the start of scan. */
static int parse_jpeg(const uint8_t *d, size_t n, struct mitm_kv **kv, size_t *k)
{
    meta_addf(kv, k, "Format", "JPEG (ISO 10918)");
    size_t p = 2;
    while (p + 4 <= n) {
        if (d[p] != 0xff)
            return -1;
        uint8_t mk = d[p + 1];
        if (mk == 0xd9 || mk == 0xda)
            break;
        if (mk == 0x01 || (mk >= 0xd0 && mk <= 0xd7)) {
            p += 2;
            continue;
        }
        size_t len = be16(d + p + 2);
        if (len < 2 || p + 2 + len > n)
            return -1;
        const uint8_t *s = d + p + 4;
        size_t sl = len - 2;
        if (mk == 0xc0 && sl >= 5) {
            meta_addf(kv, k, "Size", "%u x %u px", be16(s + 3), be16(s + 1));
        } else if (mk == 0xe0 && sl >= 12 && memcmp(s, "JFIF\0", 5) == 0) {
            meta_addf(kv, k, "jfif_version", "(%u, %u)", s[5], s[6]);
            meta_addf(kv, k, "jfif_density", "(%u, %u)", be16(s + 8), be16(s + 10));
            meta_addf(kv, k, "jfif_unit", "%u", s[7]);
        } else if (mk == 0xfe) {
            struct mitm_buf b;
            mitm_buf_init(&b, 0);
            py_bytes_repr(s, sl, &b);
            meta_add(kv, k, "comment", 7, (const char *)mitm_buf_data(&b), b.len);
            mitm_buf_free(&b);
        }
        p += 2 + len;
    }
    return 0;
}

static int parse_ico(const uint8_t *d, size_t n, struct mitm_kv **kv, size_t *k, struct mitm_cv_result *r)
{
    if (n < 6)
        return -1;
    unsigned count = le16(d + 4);
    if (6 + (size_t)count * 16 > n)
        return -1;
    meta_addf(kv, k, "Format", "ICO");
    meta_addf(kv, k, "Number of images", "%u", count);
    (void)r;
    for (unsigned i = 0; i < count; i++) {
        const uint8_t *e = d + 6 + (size_t)i * 16;
        uint32_t size = (uint32_t)e[8] | (uint32_t)e[9] << 8 | (uint32_t)e[10] << 16 | (uint32_t)e[11] << 24;
        uint32_t off = (uint32_t)e[12] | (uint32_t)e[13] << 8 | (uint32_t)e[14] << 16 | (uint32_t)e[15] << 24;
        if (off > n || size > n - off)
            return -1;
        bool png = size >= 8 && memcmp(d + off, "\x89PNG\r\n\x1a\n", 8) == 0;
        char key[32];
        snprintf(key, sizeof(key), "Image %u", i + 1);
        /* mitmproxy's value spans three lines, continued with 18 spaces */
        meta_addf(kv, k, key, "Size: %u x %u\n%18sBits per pixel: %u\n%18sPNG: %s", e[0] ? e[0] : 256,
                  e[1] ? e[1] : 256, "", le16(e + 6), "", png ? "True" : "False");
    }
    return 0;
}

/* imghdr.what plus mitmproxy's ico test. */
static const char *image_type(const uint8_t *d, size_t n)
{
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "png";
    if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
        return "gif";
    if ((n >= 10 && (memcmp(d + 6, "JFIF", 4) == 0 || memcmp(d + 6, "Exif", 4) == 0)) ||
        (n >= 4 && memcmp(d, "\xff\xd8\xff\xdb", 4) == 0))
        return "jpeg";
    if (n >= 4 && memcmp(d, "\0\0\1\0", 4) == 0)
        return "ico";
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return "webp";
    if (n >= 2 && memcmp(d, "BM", 2) == 0)
        return "bmp";
    if (n >= 4 && (memcmp(d, "MM\0*", 4) == 0 || memcmp(d, "II*\0", 4) == 0))
        return "tiff";
    if (n >= 8 && memcmp(d, "\x76\x2f\x31\x01", 4) == 0)
        return "exr";
    return NULL;
}

static int render(struct mitm_cv_result *r, const uint8_t *d, size_t n, const struct mitm_cv_meta *m)
{
    (void)m;
    const char *t = image_type(d, n);
    struct mitm_kv *kv = NULL;
    size_t k = 0;
    int rc = 0;
    if (t && strcmp(t, "png") == 0)
        rc = parse_png(d, n, &kv, &k);
    else if (t && strcmp(t, "gif") == 0)
        rc = parse_gif(d, n, &kv, &k);
    else if (t && strcmp(t, "jpeg") == 0)
        rc = parse_jpeg(d, n, &kv, &k);
    else if (t && strcmp(t, "ico") == 0)
        rc = parse_ico(d, n, &kv, &k, r);
    else
        meta_addf(&kv, &k, "Image Format", "%s", t ? t : "unknown");
    if (rc == 0)
        mitm_cv_format_pairs(r, kv, k, true);
    mitm_kv_free(kv, k);
    return rc;
}

static double priority(const uint8_t *d, size_t n, const char *t, const struct mitm_cv_meta *m)
{
    (void)d, (void)n, (void)m;
    return strncmp(t, "image/", 6) == 0 && strcmp(t, "image/svg+xml") != 0 ? 1 : 0;
}

const struct mitm_cv_view mitm_cv_view_image = {"image", "Image", render, priority};
