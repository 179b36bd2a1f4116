#include "proto/http/event.h"
#include "base/alloc.h"
#include "proto/http/http.h"

#include <stdlib.h>

struct mitm_http_event *mitm_http_event_new(enum mitm_http_ev_type type, uint32_t stream_id)
{
    struct mitm_http_event *e = mitm_calloc(1, sizeof(*e));
    e->type = type;
    e->stream_id = stream_id;
    return e;
}

struct mitm_http_event *mitm_http_event_data(enum mitm_http_ev_type type, uint32_t stream_id,
                                             const uint8_t *data, size_t len)
{
    struct mitm_http_event *e = mitm_http_event_new(type, stream_id);
    e->data = mitm_memdup(data, len);
    e->len = len;
    return e;
}

struct mitm_http_event *mitm_http_event_data_borrowed(enum mitm_http_ev_type type, uint32_t stream_id,
                                                      const uint8_t *data, size_t len)
{
    struct mitm_http_event *e = mitm_http_event_new(type, stream_id);
    e->data = (uint8_t *)data; /* never written or freed through: borrowed */
    e->len = len;
    e->borrowed = true;
    return e;
}

struct mitm_http_event *mitm_http_event_error(enum mitm_http_ev_type type, uint32_t stream_id, int status,
                                              const char *msg)
{
    struct mitm_http_event *e = mitm_http_event_new(type, stream_id);
    e->status = status;
    e->msg = mitm_strdup(msg);
    return e;
}

void mitm_http_event_free(struct mitm_http_event *e)
{
    if (!e)
        return;
    mitm_http_request_free(e->req);
    mitm_http_response_free(e->resp);
    if (!e->borrowed)
        free(e->data);
    if (e->trailers) {
        mitm_headers_free(e->trailers);
        free(e->trailers);
    }
    free(e->msg);
    free(e);
}

const char *mitm_http_event_name(enum mitm_http_ev_type t)
{
    static const char *names[] = {"RequestHeaders",       "RequestData",          "RequestEnd",
                                  "ResponseHeaders",      "ResponseData",         "ResponseEnd",
                                  "RequestProtocolError", "ResponseProtocolError"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

static void payload_free(void *p)
{
    mitm_http_event_free(p);
}

static size_t payload_size(const void *p)
{
    return ((const struct mitm_http_event *)p)->len;
}

static const struct mitm_payload_vt http_payload_vt = {
    .name = "http", .free = payload_free, .size = payload_size};

struct mitm_payload mitm_http_event_payload(struct mitm_http_event *e)
{
    struct mitm_payload p = {.vt = &http_payload_vt, .p = e};
    return p;
}

struct mitm_http_event *mitm_payload_http_take(struct mitm_payload *p)
{
    if (p->vt != &http_payload_vt)
        return NULL;
    struct mitm_http_event *e = p->p;
    p->vt = NULL;
    p->p = NULL;
    return e;
}
