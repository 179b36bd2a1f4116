#include "flow/flow.h"
#include "base/alloc.h"
#include "proto/http/http.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void mitm_uuid4(char out[MITM_UUID_LEN + 1])
{
    uint8_t b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        /* getrandom on Linux >= 3.17 does not fail for 16 bytes once seeded */
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (uint8_t)rand();
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, MITM_UUID_LEN + 1, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

void mitm_strlist_add(struct mitm_strlist *l, const char *s, size_t n)
{
    l->v = mitm_realloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->lens = mitm_realloc(l->lens, (l->n + 1) * sizeof(*l->lens));
    l->v[l->n] = mitm_memdup(s, n);
    l->lens[l->n] = n;
    l->n++;
}

void mitm_strlist_clear(struct mitm_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    free(l->lens);
    memset(l, 0, sizeof(*l));
}

void mitm_conn_info_init(struct mitm_conn_info *c)
{
    memset(c, 0, sizeof(*c));
    mitm_uuid4(c->id);
}

void mitm_conn_info_clear(struct mitm_conn_info *c)
{
    free(c->peer_host);
    free(c->sock_host);
    free(c->address_host);
    free(c->error);
    mitm_strlist_clear(&c->certificate_list);
    free(c->alpn);
    mitm_strlist_clear(&c->alpn_offers);
    free(c->cipher);
    mitm_strlist_clear(&c->cipher_list);
    free(c->tls_version);
    free(c->sni);
    free(c->mitmcert);
    free(c->proxy_mode);
    free(c->via_scheme);
    free(c->via_host);
    memset(c, 0, sizeof(*c));
}

struct mitm_flow *mitm_flow_new(enum mitm_flow_type type, double now)
{
    struct mitm_flow *f = mitm_calloc(1, sizeof(*f));
    f->refs = 1;
    f->type = type;
    mitm_uuid4(f->id);
    mitm_conn_info_init(&f->client_conn);
    mitm_conn_info_init(&f->server_conn);
    f->marked = mitm_strdup("");
    f->comment = mitm_strdup("");
    f->timestamp_created = now;
    return f;
}

struct mitm_flow *mitm_flow_ref(struct mitm_flow *f)
{
    __atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
    return f;
}

void mitm_flow_set_error(struct mitm_flow *f, const char *msg, double now)
{
    if (!f->error)
        f->error = mitm_calloc(1, sizeof(*f->error));
    free(f->error->msg);
    f->error->msg = mitm_strdup(msg);
    f->error->timestamp = now;
}

void mitm_flow_unref(struct mitm_flow *f)
{
    if (!f || __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    mitm_conn_info_clear(&f->client_conn);
    mitm_conn_info_clear(&f->server_conn);
    if (f->error) {
        free(f->error->msg);
        free(f->error);
    }
    free(f->is_replay);
    free(f->marked);
    free(f->comment);
    for (size_t i = 0; i < f->n_metadata; i++) {
        free(f->metadata[i].key);
        free(f->metadata[i].tns);
    }
    free(f->metadata);
    mitm_http_request_free(f->request);
    mitm_http_response_free(f->response);
    for (size_t i = 0; i < f->n_messages; i++)
        free(f->messages[i].content);
    free(f->messages);
    free(f);
}
