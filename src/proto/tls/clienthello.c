#include "proto/tls/clienthello.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

#define CT_HANDSHAKE         22 /* RFC 8446 §5.1 ContentType.handshake */
#define HS_CLIENT_HELLO      1  /* RFC 8446 §4 HandshakeType.client_hello */
#define RECORD_HEADER_LEN    5
#define HANDSHAKE_HEADER_LEN 4

bool mitm_tls_is_clienthello_start(const uint8_t *buf, size_t len)
{
    return len >= 3 && buf[0] == CT_HANDSHAKE && buf[1] == 0x03 && buf[2] <= 0x03;
}

/* A bounds-checked reader over the reassembled handshake body. Every read fails once
 * the data runs out, and the failure sticks, so callers check once per block. */
struct rd {
    const uint8_t *p;
    size_t len;
    bool bad;
};

static bool take(struct rd *r, size_t n, const uint8_t **out)
{
    if (r->bad || r->len < n) {
        r->bad = true;
        return false;
    }
    *out = r->p;
    r->p += n;
    r->len -= n;
    return true;
}

static unsigned u8(struct rd *r)
{
    const uint8_t *p;
    return take(r, 1, &p) ? p[0] : 0;
}

static unsigned u16(struct rd *r)
{
    const uint8_t *p;
    return take(r, 2, &p) ? (unsigned)(p[0] << 8 | p[1]) : 0;
}

/* A length-prefixed vector (prefix of 1 or 2 bytes) as a sub-reader. */
static struct rd vec(struct rd *r, int prefix)
{
    size_t n = prefix == 1 ? u8(r) : u16(r);
    struct rd sub = {0};
    if (!take(r, n, &sub.p))
        sub.bad = true;
    sub.len = r->bad ? 0 : n;
    return sub;
}

static const char *parse_sni(struct rd ext, struct mitm_clienthello *out)
{
    /* RFC 6066 §3: ServerNameList server_name_list<1..2^16-1> */
    struct rd list = vec(&ext, 2);
    if (ext.bad || list.bad || ext.len != 0 || list.len == 0)
        return "malformed server_name extension";
    while (list.len > 0) {
        unsigned type = u8(&list);
        struct rd name = vec(&list, 2);
        if (list.bad || name.bad)
            return "malformed server_name entry";
        if (type != 0)
            continue; /* unknown NameType: skip, as RFC 6066 §3 lets future types exist */
        if (out->sni)
            return "two host_name entries in server_name (RFC 6066 §3)";
        if (name.len == 0 || name.len > MITM_TLS_SNI_MAX)
            return "server_name host_name empty or too long";
        for (size_t i = 0; i < name.len; i++) {
            if (name.p[i] < 0x21 || name.p[i] > 0x7e)
                return "server_name host_name holds a non-printable byte";
        }
        out->sni = mitm_strndup((const char *)name.p, name.len);
    }
    return NULL;
}

static const char *parse_alpn(struct rd ext, struct mitm_clienthello *out)
{
    /* RFC 7301 §3.1: ProtocolName protocol_name_list<2..2^16-1>, names <1..2^8-1> */
    struct rd list = vec(&ext, 2);
    if (ext.bad || list.bad || ext.len != 0 || list.len < 2)
        return "malformed ALPN extension";
    out->alpn_raw = mitm_memdup(list.p, list.len);
    struct rd own = {out->alpn_raw, list.len, false};
    while (own.len > 0) {
        struct rd name = vec(&own, 1);
        if (own.bad || name.bad || name.len == 0)
            return "empty or truncated ALPN protocol name";
        if (out->alpn_count == MITM_TLS_ALPN_MAX)
            return "too many ALPN protocols";
        out->alpn[out->alpn_count++] = mitm_slice(name.p, name.len);
    }
    return NULL;
}

static const char *parse_versions(struct rd ext, struct mitm_clienthello *out)
{
    /* RFC 8446 §4.2.1: ProtocolVersion versions<2..254> in the ClientHello */
    struct rd list = vec(&ext, 1);
    if (ext.bad || list.bad || ext.len != 0 || list.len < 2 || list.len % 2)
        return "malformed supported_versions extension";
    out->supported_versions = mitm_alloc(list.len / 2 * sizeof(uint16_t));
    while (list.len > 0)
        out->supported_versions[out->supported_version_count++] = (uint16_t)u16(&list);
    return NULL;
}

static const char *parse_extensions(struct rd *r, struct mitm_clienthello *out)
{
    struct rd all = vec(r, 2);
    if (r->bad || all.bad || r->len != 0)
        return "extensions block overruns or does not end the ClientHello";
    /* Each extension takes at least 4 bytes, which bounds the type list. */
    out->extensions = mitm_alloc((all.len / 4 + 1) * sizeof(uint16_t));
    while (all.len > 0) {
        uint16_t type = (uint16_t)u16(&all);
        struct rd body = vec(&all, 2);
        if (all.bad || body.bad)
            return "truncated extension";
        for (size_t i = 0; i < out->extension_count; i++) {
            if (out->extensions[i] == type)
                return "duplicate extension (RFC 8446 §4.2)";
        }
        out->extensions[out->extension_count++] = type;
        const char *err = NULL;
        if (type == MITM_TLS_EXT_SERVER_NAME)
            err = parse_sni(body, out);
        else if (type == MITM_TLS_EXT_ALPN)
            err = parse_alpn(body, out);
        else if (type == MITM_TLS_EXT_SUPPORTED_VERSIONS)
            err = parse_versions(body, out);
        if (err)
            return err;
    }
    return NULL;
}

/* RFC 8446 §4.1.2 / RFC 5246 §7.4.1.2 ClientHello body. */
static const char *parse_body(const uint8_t *p, size_t len, struct mitm_clienthello *out)
{
    struct rd r = {p, len, false};
    const uint8_t *rnd;
    out->legacy_version = (uint16_t)u16(&r);
    if (!take(&r, 32, &rnd))
        return "ClientHello too short";
    memcpy(out->random, rnd, 32);
    struct rd sid = vec(&r, 1);
    if (r.bad || sid.len > 32)
        return "session id longer than 32 bytes";
    out->session_id_len = (uint8_t)sid.len;
    memcpy(out->session_id, sid.p, sid.len);
    if (out->legacy_version >> 8 != 3)
        return "ClientHello version is not 3.x";

    struct rd cs = vec(&r, 2);
    if (r.bad || cs.len < 2 || cs.len % 2)
        return "malformed cipher_suites";
    out->cipher_suites = mitm_alloc(cs.len / 2 * sizeof(uint16_t));
    while (cs.len > 0)
        out->cipher_suites[out->cipher_suite_count++] = (uint16_t)u16(&cs);

    struct rd comp = vec(&r, 1);
    if (r.bad || comp.len < 1)
        return "malformed compression_methods";

    /* RFC 5246 §7.4.1.2: a hello without extensions simply ends here. */
    if (r.len == 0)
        return NULL;
    return parse_extensions(&r, out);
}

/* Walk the records: find where the handshake message ends, collecting its bytes. */
struct scan {
    size_t hello_len; /* body length, once the 4-byte header is known */
    size_t have;      /* handshake bytes seen so far (complete records + partial) */
    size_t end;       /* record-aligned end of the hello, once found */
    uint8_t hdr[HANDSHAKE_HEADER_LEN];
};

static ssize_t scan_records(const uint8_t *buf, size_t len, struct scan *s, const char **why)
{
    size_t pos = 0;
    bool known = false;
    /* Each record carries at least one byte: the loop runs at most len times. */
    while (pos < len) {
        const uint8_t *h = buf + pos;
        size_t avail = len - pos;
        if (h[0] != CT_HANDSHAKE) {
            *why = pos == 0 ? "not a TLS handshake record" : "non-handshake record inside ClientHello";
            return MITM_PARSE_ERROR;
        }
        if ((avail >= 2 && h[1] != 0x03) || (pos == 0 && avail >= 3 && h[2] > 0x03)) {
            *why = "TLS record version is not 3.x";
            return MITM_PARSE_ERROR;
        }
        if (avail < RECORD_HEADER_LEN)
            return MITM_INCOMPLETE;
        size_t rlen = (size_t)h[3] << 8 | h[4];
        if (rlen == 0 || rlen > MITM_TLS_RECORD_MAX) {
            *why = "empty or oversized handshake record (RFC 8446 §5.1)";
            return MITM_PARSE_ERROR;
        }
        size_t got = avail - RECORD_HEADER_LEN < rlen ? avail - RECORD_HEADER_LEN : rlen;
        for (size_t i = 0; i < got && s->have + i < HANDSHAKE_HEADER_LEN; i++)
            s->hdr[s->have + i] = h[RECORD_HEADER_LEN + i];
        s->have += got;
        if (!known && s->have >= 1 && s->hdr[0] != HS_CLIENT_HELLO) {
            *why = "first handshake message is not a ClientHello";
            return MITM_PARSE_ERROR;
        }
        if (!known && s->have >= HANDSHAKE_HEADER_LEN) {
            known = true;
            s->hello_len = (size_t)s->hdr[1] << 16 | (size_t)s->hdr[2] << 8 | s->hdr[3];
            if (s->hello_len > MITM_TLS_CLIENTHELLO_MAX) {
                *why = "ClientHello larger than the cap";
                return MITM_PARSE_ERROR;
            }
        }
        if (got < rlen)
            return MITM_INCOMPLETE;
        pos += RECORD_HEADER_LEN + rlen;
        if (known && s->have >= HANDSHAKE_HEADER_LEN + s->hello_len) {
            s->end = pos;
            return (ssize_t)pos;
        }
    }
    return MITM_INCOMPLETE;
}

/* Copy the handshake message out of the records into one contiguous buffer. */
static void gather(const uint8_t *buf, size_t end, uint8_t *dst, size_t need)
{
    size_t pos = 0, n = 0;
    while (pos < end && n < need) {
        size_t rlen = (size_t)buf[pos + 3] << 8 | buf[pos + 4];
        size_t k = rlen < need - n ? rlen : need - n;
        memcpy(dst + n, buf + pos + RECORD_HEADER_LEN, k);
        n += k;
        pos += RECORD_HEADER_LEN + rlen;
    }
}

ssize_t mitm_tls_parse_clienthello(const uint8_t *buf, size_t len, struct mitm_clienthello *out)
{
    memset(out, 0, sizeof(*out));
    struct scan s = {0};
    const char *why = NULL;
    ssize_t rc = scan_records(buf, len, &s, &why);
    if (rc <= 0) {
        out->error = why;
        return rc;
    }
    size_t need = HANDSHAKE_HEADER_LEN + s.hello_len;
    size_t first = (size_t)buf[3] << 8 | buf[4];
    if (need <= first) {
        /* The common case: the whole hello sits in the first record; parse in place. */
        why = parse_body(buf + RECORD_HEADER_LEN + HANDSHAKE_HEADER_LEN, s.hello_len, out);
    } else {
        uint8_t *msg = mitm_alloc(need);
        gather(buf, s.end, msg, need);
        why = parse_body(msg + HANDSHAKE_HEADER_LEN, s.hello_len, out);
        free(msg);
    }
    if (why) {
        mitm_tls_clienthello_free(out);
        out->error = why;
        return MITM_PARSE_ERROR;
    }
    out->record_version = (uint16_t)(buf[1] << 8 | buf[2]);
    out->hello_len = s.hello_len;
    return rc;
}

void mitm_tls_clienthello_free(struct mitm_clienthello *ch)
{
    free(ch->sni);
    free(ch->alpn_raw);
    free(ch->cipher_suites);
    free(ch->extensions);
    free(ch->supported_versions);
    memset(ch, 0, sizeof(*ch));
}

bool mitm_tls_clienthello_has_alpn(const struct mitm_clienthello *ch, const char *proto, size_t len)
{
    for (size_t i = 0; i < ch->alpn_count; i++) {
        if (mitm_slice_eq(ch->alpn[i], mitm_slice(proto, len)))
            return true;
    }
    return false;
}
