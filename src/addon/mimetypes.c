/* mimetypes.guess_type: see mimetypes.h. */
#include "addon/mimetypes.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Python 3.11's mimetypes._types_map_default, in its order. */
/* clang-format off */
static const char *const defaults[][2] = {
    {".js", "application/javascript"},
    {".mjs", "application/javascript"},
    {".json", "application/json"},
    {".webmanifest", "application/manifest+json"},
    {".doc", "application/msword"},
    {".dot", "application/msword"},
    {".wiz", "application/msword"},
    {".nq", "application/n-quads"},
    {".nt", "application/n-triples"},
    {".bin", "application/octet-stream"},
    {".a", "application/octet-stream"},
    {".dll", "application/octet-stream"},
    {".exe", "application/octet-stream"},
    {".o", "application/octet-stream"},
    {".obj", "application/octet-stream"},
    {".so", "application/octet-stream"},
    {".oda", "application/oda"},
    {".pdf", "application/pdf"},
    {".p7c", "application/pkcs7-mime"},
    {".ps", "application/postscript"},
    {".ai", "application/postscript"},
    {".eps", "application/postscript"},
    {".trig", "application/trig"},
    {".m3u", "application/vnd.apple.mpegurl"},
    {".m3u8", "application/vnd.apple.mpegurl"},
    {".xls", "application/vnd.ms-excel"},
    {".xlb", "application/vnd.ms-excel"},
    {".ppt", "application/vnd.ms-powerpoint"},
    {".pot", "application/vnd.ms-powerpoint"},
    {".ppa", "application/vnd.ms-powerpoint"},
    {".pps", "application/vnd.ms-powerpoint"},
    {".pwz", "application/vnd.ms-powerpoint"},
    {".wasm", "application/wasm"},
    {".bcpio", "application/x-bcpio"},
    {".cpio", "application/x-cpio"},
    {".csh", "application/x-csh"},
    {".dvi", "application/x-dvi"},
    {".gtar", "application/x-gtar"},
    {".hdf", "application/x-hdf"},
    {".h5", "application/x-hdf5"},
    {".latex", "application/x-latex"},
    {".mif", "application/x-mif"},
    {".cdf", "application/x-netcdf"},
    {".nc", "application/x-netcdf"},
    {".p12", "application/x-pkcs12"},
    {".pfx", "application/x-pkcs12"},
    {".ram", "application/x-pn-realaudio"},
    {".pyc", "application/x-python-code"},
    {".pyo", "application/x-python-code"},
    {".sh", "application/x-sh"},
    {".shar", "application/x-shar"},
    {".swf", "application/x-shockwave-flash"},
    {".sv4cpio", "application/x-sv4cpio"},
    {".sv4crc", "application/x-sv4crc"},
    {".tar", "application/x-tar"},
    {".tcl", "application/x-tcl"},
    {".tex", "application/x-tex"},
    {".texi", "application/x-texinfo"},
    {".texinfo", "application/x-texinfo"},
    {".roff", "application/x-troff"},
    {".t", "application/x-troff"},
    {".tr", "application/x-troff"},
    {".man", "application/x-troff-man"},
    {".me", "application/x-troff-me"},
    {".ms", "application/x-troff-ms"},
    {".ustar", "application/x-ustar"},
    {".src", "application/x-wais-source"},
    {".xsl", "application/xml"},
    {".rdf", "application/xml"},
    {".wsdl", "application/xml"},
    {".xpdl", "application/xml"},
    {".zip", "application/zip"},
    {".3gp", "audio/3gpp"},
    {".3gpp", "audio/3gpp"},
    {".3g2", "audio/3gpp2"},
    {".3gpp2", "audio/3gpp2"},
    {".aac", "audio/aac"},
    {".adts", "audio/aac"},
    {".loas", "audio/aac"},
    {".ass", "audio/aac"},
    {".au", "audio/basic"},
    {".snd", "audio/basic"},
    {".mp3", "audio/mpeg"},
    {".mp2", "audio/mpeg"},
    {".opus", "audio/opus"},
    {".aif", "audio/x-aiff"},
    {".aifc", "audio/x-aiff"},
    {".aiff", "audio/x-aiff"},
    {".ra", "audio/x-pn-realaudio"},
    {".wav", "audio/x-wav"},
    {".avif", "image/avif"},
    {".bmp", "image/bmp"},
    {".gif", "image/gif"},
    {".ief", "image/ief"},
    {".jpg", "image/jpeg"},
    {".jpe", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".heic", "image/heic"},
    {".heif", "image/heif"},
    {".png", "image/png"},
    {".svg", "image/svg+xml"},
    {".tiff", "image/tiff"},
    {".tif", "image/tiff"},
    {".ico", "image/vnd.microsoft.icon"},
    {".ras", "image/x-cmu-raster"},
    {".pnm", "image/x-portable-anymap"},
    {".pbm", "image/x-portable-bitmap"},
    {".pgm", "image/x-portable-graymap"},
    {".ppm", "image/x-portable-pixmap"},
    {".rgb", "image/x-rgb"},
    {".xbm", "image/x-xbitmap"},
    {".xpm", "image/x-xpixmap"},
    {".xwd", "image/x-xwindowdump"},
    {".eml", "message/rfc822"},
    {".mht", "message/rfc822"},
    {".mhtml", "message/rfc822"},
    {".nws", "message/rfc822"},
    {".css", "text/css"},
    {".csv", "text/csv"},
    {".html", "text/html"},
    {".htm", "text/html"},
    {".n3", "text/n3"},
    {".txt", "text/plain"},
    {".bat", "text/plain"},
    {".c", "text/plain"},
    {".h", "text/plain"},
    {".ksh", "text/plain"},
    {".pl", "text/plain"},
    {".srt", "text/plain"},
    {".rtx", "text/richtext"},
    {".tsv", "text/tab-separated-values"},
    {".vtt", "text/vtt"},
    {".py", "text/x-python"},
    {".etx", "text/x-setext"},
    {".sgm", "text/x-sgml"},
    {".sgml", "text/x-sgml"},
    {".vcf", "text/x-vcard"},
    {".xml", "text/xml"},
    {".mp4", "video/mp4"},
    {".mpeg", "video/mpeg"},
    {".m1v", "video/mpeg"},
    {".mpa", "video/mpeg"},
    {".mpe", "video/mpeg"},
    {".mpg", "video/mpeg"},
    {".mov", "video/quicktime"},
    {".qt", "video/quicktime"},
    {".webm", "video/webm"},
    {".avi", "video/x-msvideo"},
    {".movie", "video/x-sgi-movie"},
};
/* clang-format on */

static const char *const suffix_map[][2] = {{".svgz", ".svg.gz"}, {".tgz", ".tar.gz"},   {".taz", ".tar.gz"},
                                            {".tz", ".tar.gz"},   {".tbz2", ".tar.bz2"}, {".txz", ".tar.xz"}};
static const char *const encodings[] = {".gz", ".Z", ".bz2", ".xz", ".br"};

/* Python's knownfiles. */
static const char *const system_files[] = {
    "/etc/mime.types",
    "/etc/httpd/mime.types",
    "/etc/httpd/conf/mime.types",
    "/etc/apache/mime.types",
    "/etc/apache2/mime.types",
    "/usr/local/etc/httpd/conf/mime.types",
    "/usr/local/lib/netscape/mime.types",
    "/usr/local/etc/mime.types",
};

struct entry {
    char *ext, *type;
};

struct mitm_mimetypes {
    struct entry *v;
    size_t n, cap;
};

static struct entry *find_ext(const struct mitm_mimetypes *m, const char *ext, size_t len)
{
    for (size_t i = 0; i < m->n; i++)
        if (strlen(m->v[i].ext) == len && memcmp(m->v[i].ext, ext, len) == 0)
            return &m->v[i];
    return NULL;
}

/* MimeTypes.add_type(type, ext): a later one replaces an earlier one. */
static void add_type(struct mitm_mimetypes *m, const char *type, size_t tlen, const char *ext, size_t elen)
{
    struct entry *e = find_ext(m, ext, elen);
    if (!e) {
        if (m->n == m->cap) {
            m->cap = m->cap ? 2 * m->cap : 256;
            m->v = mitm_realloc(m->v, m->cap * sizeof(*m->v));
        }
        e = &m->v[m->n++];
        e->ext = mitm_strndup(ext, elen);
        e->type = NULL;
    }
    free(e->type);
    e->type = mitm_strndup(type, tlen);
}

void mitm_mimetypes_add_line(struct mitm_mimetypes *m, const char *line)
{
    const char *words[64];
    size_t lens[64], n = 0;
    for (const char *p = line; *p && n < 64;) {
        p += strspn(p, " \t\r\n\v\f");
        size_t l = strcspn(p, " \t\r\n\v\f");
        if (!l)
            break;
        if (*p == '#')
            break;
        words[n] = p;
        lens[n++] = l;
        p += l;
    }
    for (size_t i = 1; i < n; i++) {
        char ext[256];
        if (lens[i] + 2 > sizeof(ext))
            continue;
        ext[0] = '.';
        memcpy(ext + 1, words[i], lens[i]);
        add_type(m, words[0], lens[0], ext, lens[i] + 1);
    }
}

static void read_file(struct mitm_mimetypes *m, const char *path)
{
    FILE *fp = fopen(path, "re");
    if (!fp)
        return;
    char line[4096];
    while (fgets(line, sizeof(line), fp))
        mitm_mimetypes_add_line(m, line);
    fclose(fp);
}

struct mitm_mimetypes *mitm_mimetypes_new(bool system)
{
    struct mitm_mimetypes *m = mitm_calloc(1, sizeof(*m));
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        add_type(m, defaults[i][1], strlen(defaults[i][1]), defaults[i][0], strlen(defaults[i][0]));
    for (size_t i = 0; system && i < sizeof(system_files) / sizeof(system_files[0]); i++)
        read_file(m, system_files[i]);
    return m;
}

void mitm_mimetypes_free(struct mitm_mimetypes *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].ext);
        free(m->v[i].type);
    }
    free(m->v);
    free(m);
}

/* posixpath.splitext(p[0..n)): the offset of the extension (n if none); leading dots of
 * the last component do not start one. */
static size_t splitext(const char *p, size_t n)
{
    size_t base = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '/')
            base = i + 1;
    size_t dot = n;
    for (size_t i = n; i > base; i--)
        if (p[i - 1] == '.') {
            dot = i - 1;
            break;
        }
    if (dot == n)
        return n;
    for (size_t i = base; i < dot; i++)
        if (p[i] != '.')
            return dot;
    return n; /* only dots before it: ".bashrc" */
}

static bool ieq(const char *a, size_t n, const char *b)
{
    if (strlen(b) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((a[i] | (a[i] >= 'A' && a[i] <= 'Z' ? 0x20 : 0)) != b[i])
            return false;
    return true;
}

const char *mitm_mimetypes_guess(const struct mitm_mimetypes *m, const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof(buf) - 16)
        return NULL;
    memcpy(buf, path, n + 1);
    size_t e = splitext(buf, n);
    for (int guard = 0; guard < 8; guard++) { /* suffix_map (case-insensitive) */
        size_t k, nsuf = sizeof(suffix_map) / sizeof(suffix_map[0]);
        for (k = 0; k < nsuf && !ieq(buf + e, n - e, suffix_map[k][0]); k++)
            ;
        if (k == nsuf)
            break;
        size_t rl = strlen(suffix_map[k][1]);
        memcpy(buf + e, suffix_map[k][1], rl + 1);
        n = e + rl;
        e = splitext(buf, n);
    }
    for (size_t k = 0; k < sizeof(encodings) / sizeof(encodings[0]); k++)
        if (n - e == strlen(encodings[k]) && memcmp(buf + e, encodings[k], n - e) == 0) {
            n = e; /* encodings_map is case-sensitive */
            e = splitext(buf, n);
            break;
        }
    char ext[256];
    if (n - e >= sizeof(ext))
        return NULL;
    for (size_t i = e; i < n; i++)
        ext[i - e] = (char)(buf[i] >= 'A' && buf[i] <= 'Z' ? buf[i] + 0x20 : buf[i]);
    const struct entry *hit = find_ext(m, ext, n - e);
    return hit ? hit->type : NULL;
}

const char *mitm_mimetypes_guess_extension(const struct mitm_mimetypes *m, const char *type)
{
    size_t n = strcspn(type, ";");
    while (n && (type[n - 1] == ' ' || type[n - 1] == '\t'))
        n--;
    /* Python keeps every extension a type was given, the built-in table's first: a system
     * file that gives .pot to text/plain does not make .pot text/plain's first */
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if (ieq(type, n, defaults[i][1]))
            return defaults[i][0];
    for (size_t i = 0; i < m->n; i++)
        if (ieq(type, n, m->v[i].type))
            return m->v[i].ext;
    return NULL;
}
