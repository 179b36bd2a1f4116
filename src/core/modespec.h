/* Proxy mode specs (mitmproxy's mode_specs.py): MODE[:DATA][@[LISTEN_HOST:]LISTEN_PORT],
 * e.g. "regular", "socks5@1080", "reverse:https://example.com@127.0.0.1:8443",
 * "upstream:http://proxy:3128". Parsed once at startup; every connection of a listener
 * points at its spec (ctx->mode). */
#ifndef MITM_CORE_MODESPEC_H
#define MITM_CORE_MODESPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mitm_mode_kind {
    MITM_MODE_REGULAR = 0,
    MITM_MODE_TRANSPARENT,
    MITM_MODE_SOCKS5,
    MITM_MODE_REVERSE,
    MITM_MODE_UPSTREAM,
};

struct mitm_mode_spec {
    enum mitm_mode_kind kind;
    char *full;        /* the spec as given (flows record it as client_conn.proxy_mode) */
    char *data;        /* after "MODE:" and before "@" ("" if none) */
    char *scheme;      /* reverse/upstream: "http", "https", "tcp", "tls"; else NULL */
    char *host;        /* reverse/upstream target (no brackets); else NULL */
    uint16_t port;     /* reverse/upstream target port */
    char *listen_host; /* from "@HOST:PORT" (no brackets), NULL if not given */
    int listen_port;   /* from "@PORT", -1 if not given */
    char *description; /* mitmproxy's, for logs: "HTTP(S) proxy", "reverse proxy to https://x" */
};

/* Parse spec. Returns 0, or -1 with mitmproxy's reason in err ("unknown mode", "invalid
 * port: x", "mode takes no arguments", "Invalid server specification: x", "invalid
 * upstream proxy scheme", "Port specification missing.", ...); modes mitmproxy has and
 * mitmc does not (wireguard, local, tun, dns, reverse:http3/quic/udp/dtls/dns) are refused
 * with "not supported by mitmc". out is filled on success (free with mitm_mode_spec_free). */
int mitm_mode_spec_parse(const char *spec, struct mitm_mode_spec *out, char *err, size_t errlen);
void mitm_mode_spec_free(struct mitm_mode_spec *s);

/* Where a server for s listens: its own @HOST, else listen_host (the option); its own
 * @PORT, else listen_port (the option, < 0 = unset), else the mode's default (8080, socks5
 * 1080). */
const char *mitm_mode_spec_listen_host(const struct mitm_mode_spec *s, const char *listen_host);
int mitm_mode_spec_listen_port(const struct mitm_mode_spec *s, long listen_port);

#endif
