/* Mode specs: see modespec.h. Follows mitmproxy's mode_specs.py and net/server_spec.py. */
#include "core/modespec.h"
#include "base/alloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(char *err, size_t errlen, const char *fmt, const char *arg)
{
    snprintf(err, errlen, fmt, arg ? arg : "");
    return -1;
}

/* A port of 0..65535 in decimal, all of s. */
static bool parse_port(const char *s, size_t n, long *out)
{
    if (n == 0 || n > 5)
        return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return v <= 65535;
}

/* mitmproxy's net/check.is_valid_host, loosely: letters, digits, "-", "_", "." (names)
 * or an IPv6 literal's characters; not empty, no spaces. */
static bool valid_host(const char *h)
{
    if (!*h || strlen(h) > 253)
        return false;
    for (const char *p = h; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.:%", *p))
            return false;
    return true;
}

/* [scheme://]host[:port][/] as net/server_spec.parse. */
static int parse_server(struct mitm_mode_spec *s, const char *spec, const char *default_scheme, char *err,
                        size_t errlen)
{
    const char *p = spec, *sep = strstr(spec, "://");
    char scheme[16];
    if (sep) {
        size_t n = (size_t)(sep - spec);
        if (n == 0 || n >= sizeof(scheme))
            return fail(err, errlen, "Invalid server specification: %s", spec);
        memcpy(scheme, spec, n);
        scheme[n] = 0;
        p = sep + 3;
    } else {
        snprintf(scheme, sizeof(scheme), "%s", default_scheme);
    }
    size_t len = strlen(p);
    if (len && p[len - 1] == '/')
        len--;
    const char *hs = p, *he, *port = NULL;
    if (*p == '[') {
        he = memchr(p, ']', len);
        if (!he)
            return fail(err, errlen, "Invalid server specification: %s", spec);
        hs = p + 1;
        if (he + 1 < p + len) {
            if (he[1] != ':')
                return fail(err, errlen, "Invalid server specification: %s", spec);
            port = he + 2;
        }
    } else {
        he = memchr(p, ':', len);
        if (he)
            port = he + 1;
        else
            he = p + len;
    }
    if (memchr(hs, '/', (size_t)(he - hs)) || he == hs)
        return fail(err, errlen, "Invalid server specification: %s", spec);
    static const char *const schemes[] = {"http", "https", "http3", "tls", "dtls",
                                          "tcp",  "udp",   "dns",   "quic"};
    bool known = false;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        known |= strcmp(scheme, schemes[i]) == 0;
    if (!known)
        return fail(err, errlen, "Invalid server scheme: %s", scheme);
    s->scheme = mitm_strdup(scheme);
    s->host = mitm_strndup(hs, (size_t)(he - hs));
    if (!valid_host(s->host))
        return fail(err, errlen, "Invalid hostname: %s", s->host);
    long v;
    if (port) {
        if (!parse_port(port, (size_t)(p + len - port), &v) || v == 0)
            return fail(err, errlen, "Invalid server specification: %s", spec);
    } else if (!strcmp(scheme, "http")) {
        v = 80;
    } else if (!strcmp(scheme, "https") || !strcmp(scheme, "quic") || !strcmp(scheme, "http3")) {
        v = 443;
    } else if (!strcmp(scheme, "dns")) {
        v = 53;
    } else {
        return fail(err, errlen, "Port specification missing.", NULL);
    }
    s->port = (uint16_t)v;
    return 0;
}

static int parse_data(struct mitm_mode_spec *s, char *err, size_t errlen)
{
    char d[600];
    switch (s->kind) {
    case MITM_MODE_REGULAR:
    case MITM_MODE_TRANSPARENT:
    case MITM_MODE_SOCKS5:
        if (*s->data)
            return fail(err, errlen, "mode takes no arguments", NULL);
        return 0;
    case MITM_MODE_UPSTREAM:
        if (parse_server(s, s->data, "http", err, errlen) < 0)
            return -1;
        if (strcmp(s->scheme, "http") && strcmp(s->scheme, "https"))
            return fail(err, errlen, "invalid upstream proxy scheme", NULL);
        return 0;
    case MITM_MODE_REVERSE:
        if (parse_server(s, s->data, "https", err, errlen) < 0)
            return -1;
        if (strcmp(s->scheme, "http") && strcmp(s->scheme, "https") && strcmp(s->scheme, "tcp") &&
            strcmp(s->scheme, "tls"))
            return fail(err, errlen, "reverse:%s:// is not supported by mitmc (http, https, tcp, tls are)",
                        s->scheme);
        snprintf(d, sizeof(d), "reverse proxy to %s", s->data);
        free(s->description);
        s->description = mitm_strdup(d);
        return 0;
    }
    return 0;
}

int mitm_mode_spec_parse(const char *spec, struct mitm_mode_spec *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->full = mitm_strdup(spec);
    out->listen_port = -1;
    /* head@listen_at, split at the last "@" */
    const char *at = strrchr(spec, '@');
    size_t head_len = at ? (size_t)(at - spec) : strlen(spec);
    if (at && head_len == 0) { /* "@8080": no mode */
        head_len = strlen(spec);
        at = NULL;
    }
    if (at) {
        const char *la = at + 1, *colon = strrchr(la, ':');
        const char *ps = colon ? colon + 1 : la;
        long port;
        if (!parse_port(ps, strlen(ps), &port)) {
            fail(err, errlen, "invalid port: %s", ps);
            goto Bad;
        }
        out->listen_port = (int)port;
        if (colon) {
            size_t hl = (size_t)(colon - la);
            if (hl >= 2 && la[0] == '[' && la[hl - 1] == ']')
                out->listen_host = mitm_strndup(la + 1, hl - 2);
            else
                out->listen_host = mitm_strndup(la, hl);
        }
    }
    char *head = mitm_strndup(spec, head_len);
    char *colon = strchr(head, ':');
    out->data = mitm_strdup(colon ? colon + 1 : "");
    if (colon)
        *colon = 0;
    static const struct {
        const char *name, *desc;
        enum mitm_mode_kind kind;
    } modes[] = {{"regular", "HTTP(S) proxy", MITM_MODE_REGULAR},
                 {"transparent", "Transparent Proxy", MITM_MODE_TRANSPARENT},
                 {"socks5", "SOCKS v5 proxy", MITM_MODE_SOCKS5},
                 {"reverse", "reverse proxy", MITM_MODE_REVERSE},
                 {"upstream", "HTTP(S) proxy (upstream mode)", MITM_MODE_UPSTREAM}};
    static const char *const unsupported[] = {"wireguard", "local", "tun", "dns", "osproxy"};
    bool found = false;
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcasecmp(head, modes[i].name) == 0) {
            out->kind = modes[i].kind;
            out->description = mitm_strdup(modes[i].desc);
            found = true;
        }
    }
    for (size_t i = 0; !found && i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        if (strcasecmp(head, unsupported[i]) == 0) {
            fail(err, errlen, "%s mode is not supported by mitmc", head);
            free(head);
            goto Bad;
        }
    }
    free(head);
    if (!found) {
        fail(err, errlen, "unknown mode", NULL);
        goto Bad;
    }
    if (parse_data(out, err, errlen) < 0)
        goto Bad;
    return 0;
Bad:
    mitm_mode_spec_free(out);
    return -1;
}

void mitm_mode_spec_free(struct mitm_mode_spec *s)
{
    free(s->full);
    free(s->data);
    free(s->scheme);
    free(s->host);
    free(s->listen_host);
    free(s->description);
    memset(s, 0, sizeof(*s));
    s->listen_port = -1;
}

const char *mitm_mode_spec_listen_host(const struct mitm_mode_spec *s, const char *listen_host)
{
    return s->listen_host ? s->listen_host : listen_host ? listen_host : "";
}

int mitm_mode_spec_listen_port(const struct mitm_mode_spec *s, long listen_port)
{
    if (s->listen_port >= 0)
        return s->listen_port;
    if (listen_port >= 0)
        return (int)listen_port;
    return s->kind == MITM_MODE_SOCKS5 ? 1080 : 8080;
}
