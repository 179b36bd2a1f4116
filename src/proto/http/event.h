/* Version-neutral HTTP events (DESIGN §3): what a codec (HTTP/1 now, HTTP/2 later) reports
 * to the per-request logic, and what that logic hands back to a codec to send. */
#ifndef MITM_PROTO_HTTP_EVENT_H
#define MITM_PROTO_HTTP_EVENT_H

#include <stdint.h>

#include "layer/layer-t.h"
#include "proto/http/http-t.h"

enum mitm_http_ev_type {
    MITM_HTTP_REQUEST_HEADERS = 0, /* req */
    MITM_HTTP_REQUEST_DATA,        /* data, len */
    MITM_HTTP_REQUEST_END,         /* trailers (may be NULL) */
    MITM_HTTP_RESPONSE_HEADERS,    /* resp */
    MITM_HTTP_RESPONSE_DATA,
    MITM_HTTP_RESPONSE_END,
    MITM_HTTP_REQUEST_ERROR,  /* the client side failed: status (0 = none to send), msg */
    MITM_HTTP_RESPONSE_ERROR, /* the server side failed: msg */
};

/* Heap object; whoever receives it owns it and frees it with mitm_http_event_free.
 * Taking a payload pointer out (req, resp, trailers, data) means setting it to NULL. */
struct mitm_http_event {
    enum mitm_http_ev_type type;
    uint32_t stream_id;
    struct mitm_http_request *req;
    struct mitm_http_response *resp;
    uint8_t *data;
    size_t len;
    struct mitm_headers *trailers;
    int status;
    char *msg;
    bool end_stream; /* *_HEADERS: no body follows (the END comes next); false = unknown */
    bool borrowed;   /* data is not the event's (mitm_http_event_data_borrowed) */
};

struct mitm_http_event *mitm_http_event_new(enum mitm_http_ev_type type, uint32_t stream_id);
/* Data event with a copy of data. */
struct mitm_http_event *mitm_http_event_data(enum mitm_http_ev_type type, uint32_t stream_id,
                                             const uint8_t *data, size_t len);
/* Data event that points at data without copying it, for a body the sender keeps alive until
 * mitm_http_codec_send returns: the codecs copy what they send before returning (send_response
 * of a buffered body: one copy of the body fewer). */
struct mitm_http_event *mitm_http_event_data_borrowed(enum mitm_http_ev_type type, uint32_t stream_id,
                                                      const uint8_t *data, size_t len);
/* Error event with a copy of msg. */
struct mitm_http_event *mitm_http_event_error(enum mitm_http_ev_type type, uint32_t stream_id, int status,
                                              const char *msg);
void mitm_http_event_free(struct mitm_http_event *e); /* accepts NULL */
const char *mitm_http_event_name(enum mitm_http_ev_type t);

/* An HTTP event as the payload of a MESSAGE event (takes e over; freed with
 * mitm_payload_free unless taken back with mitm_payload_http_take). */
struct mitm_payload mitm_http_event_payload(struct mitm_http_event *e);
/* The HTTP event a payload carries, moved out (the payload is left empty), or NULL if it
 * carries something else. */
struct mitm_http_event *mitm_payload_http_take(struct mitm_payload *p);

#endif
