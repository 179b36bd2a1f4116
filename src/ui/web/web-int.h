/* The parts of `mitmc web` (docs/internals/web.md): the front end on the master (web.c), the
 * HTTP/1 and WebSocket server on the main loop (server.c), the routes of mitmweb's API
 * (api.c), flows, options and commands as mitmproxy 12's JSON (json.c), authentication and the
 * Host / Origin checks (auth.c), the embedded static files (assets.c, generated), and the
 * proxy-side guard that keeps proxied requests away from the web server (guard.c). Main
 * thread only, except the guard (workers) and the log tap (any thread, under its lock). */
#ifndef MITM_UI_WEB_WEB_INT_H
#define MITM_UI_WEB_WEB_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "proto/http/http-t.h"
#include "ui/master.h"

struct mitm_filter;
struct mitm_cmd_registry;
struct mitm_opt_info;

/* Caps (docs/internals/web.md). */
#define WEB_HEAD_MAX        ((size_t)64 * 1024) /* a request head */
#define WEB_BODY_MAX        ((size_t)256 << 20) /* a request body (flow file uploads) */
#define WEB_CONNS_MAX       64                  /* connections at once (browser tabs, scripts) */
#define WEB_UNAUTH_BODY_MAX ((size_t)64 * 1024) /* a body before credentials are shown */
#define WEB_WS_MSG_MAX      ((size_t)64 * 1024) /* a message from a browser (flows/updateFilter) */
#define WEB_WS_QUEUE_MAX    ((size_t)32 << 20)  /* unsent bytes to one client before it is dropped */
#define WEB_HEAD_TIMEOUT_MS 15000               /* from a request's first byte to its blank line */
#define WEB_BODY_TIMEOUT_MS 120000              /* from the head to the body's last byte */
#define WEB_IDLE_TIMEOUT_MS 120000              /* a keep-alive connection without a request */
#define WEB_EVENTS_MAX      10000               /* mitmproxy's EventStore size */
#define WEB_FILTERS_MAX     8                   /* named filters per /updates client */
#define WEB_PAGE_MAX        10000               /* flows one paged /flows answer holds at most */
#define WEB_WS_FLUSH_MS     20                  /* /updates messages are written together this often */

struct web_conn;

struct web_event {
    uint64_t id;
    char level[8];
    char *msg;
};

/* The log lines taken from any thread, moved to the ring on the main loop. */
struct web_pending_event {
    int level;
    char *msg;
    struct web_pending_event *next;
};

struct web {
    struct mitm_master m;
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t flush; /* writes the /updates clients' queued messages */
    bool listening;
    char host[256]; /* web_host as bound */
    uint16_t port;  /* the bound port (web_port, or the kernel's pick for 0) */
    struct web_conn *conns;
    size_t nconns;
    size_t nclients; /* /updates clients */
    /* auth */
    char token[33]; /* the random token (hex) when web_password is empty */
    char *password; /* a copy of web_password (as at start), or of token */
    bool argon2;
    uint8_t secret[32]; /* the cookie signing key, new each run */
    char cookie_name[64];
    /* flows the clients were told about: store index -> 1 */
    uint8_t *seen;
    size_t seen_n;
    /* events */
    struct web_event *events; /* ring of WEB_EVENTS_MAX */
    size_t ev_head, ev_n;
    uint64_t ev_next_id;
    pthread_mutex_t ev_mu;
    struct web_pending_event *ev_pending, **ev_tail;
    uv_async_t ev_wake;
    bool wake_on;
    uv_signal_t sigint, sigterm;
    bool handles_on;
    bool exiting;
    /* the guard's copy of where the web server is (read by workers; set before they start) */
    char guard_host[256];
    uint16_t guard_port;
};

/* A parsed request the routes answer. */
struct web_request {
    struct web_conn *conn;
    const struct mitm_http_request *req;
    const char *method;
    char *path;  /* decoded path without the query */
    char *query; /* raw query (without '?'), "" if none */
    const uint8_t *body;
    size_t body_len;
    bool authed;       /* a valid cookie or credentials came with it */
    bool set_cookie;   /* credentials were accepted: the answer sets the cookie */
    bool bad_password; /* credentials were given and were wrong */
};

/* ---- server.c ---- */

/* Bind web_host:web_port and listen. Returns 0, or -1 with err. */
int web_server_listen(struct web *w, char *err, size_t errlen);
/* Stop listening and close every connection. */
void web_server_close(struct web *w);

/* Answer r: status, Content-Type ctype (NULL: none), extra header lines (each "Name: value\r\n";
 * NULL: none), the body. The security headers and the auth cookie (r->set_cookie) are added. */
void web_reply(struct web_request *r, int status, const char *ctype, const char *extra, const void *body,
               size_t len);
/* web_reply with a body taken over (malloc'd; freed once written: no copy). */
void web_reply_owned(struct web_request *r, int status, const char *ctype, const char *extra, uint8_t *body,
                     size_t len);
/* Answer r with j (taken over) as JSON. */
void web_reply_json(struct web_request *r, int status, json_t *j);
/* Answer r with {"error": msg} and status. */
void web_reply_error(struct web_request *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Make r's connection a /updates client: the 101 answer, then WebSocket frames. Returns 0, or
 * -1 after answering 400 (not a valid WebSocket handshake). */
int web_upgrade(struct web_request *r);

/* Send a text message to every /updates client (the JSON is dumped once). */
void web_broadcast(struct web *w, json_t *msg);
/* Send a flows/add or flows/update of f (store index i) to every client, with each client's
 * matching_filters. Nothing is encoded when no client is connected. */
void web_broadcast_flow(struct web *w, const char *type, const struct mitm_flow *f, ssize_t i);
/* Every client's filters are re-announced after a reset (flows/filterUpdate). */
void web_clients_refilter(struct web *w);
/* The query argument name of r (decoded, caller frees), or NULL. */
char *web_query_arg(const char *query, const char *name);

/* ---- api.c ---- */

/* Route r (authenticated or not: the routes check). */
void web_api_handle(struct web *w, struct web_request *r);
/* flows/filterUpdate for one client's filter: the ids matching filt in the view (filt NULL: none). */
json_t *web_api_matching_ids(struct web *w, const struct mitm_filter *filt);

/* ---- json.c ---- */

/* mitmproxy 12's flow_to_json (no bodies: their length and SHA-256) appended to out as JSON
 * text. modified: the flow has a backup. */
void web_flow_json(const struct mitm_flow *f, bool modified, struct mitm_buf *out);
/* Free the certificates kept parsed (at exit). */
void web_json_free(void);
/* optmanager.dump_dicts for one option, or for all (name NULL) as {name: {...}}: mitmc's
 * and the scripts' (loader:add_option). */
json_t *web_options_json(struct mitm_master *m, const char *name);
/* /commands as mitmproxy's Commands handler. */
json_t *web_commands_json(struct mitm_cmd_registry *reg);
/* A JSON value as the text mitm_master_set_option takes (NULL for null). Returns 0, or -1 (a
 * value of the wrong kind). *out is the caller's to free. */
int web_option_value_text(const struct mitm_opt_info *in, const json_t *v, char **out, char *err,
                          size_t errlen);

/* ---- auth.c ---- */

/* Set up the token or password. Returns 0 or -1 (logged: an invalid argon2 hash). */
int web_auth_init(struct web *w);
/* Is password right (constant time; argon2 when web_password is a hash)? */
bool web_auth_check(const struct web *w, const char *password, size_t len);
/* The signed cookie value (written to out, NUL-terminated) and its check. */
void web_auth_cookie(const struct web *w, char out[80]);
bool web_auth_cookie_valid(const struct web *w, const struct mitm_headers *h);
/* Does a request head carry valid credentials (cookie, Bearer, ?token=)? A body beyond
 * WEB_UNAUTH_BODY_MAX is read only then (the login form's is small). */
bool web_api_head_authenticated(struct web *w, const struct mitm_http_request *req);
/* DNS rebinding: is the Host header one of the web server's names? */
bool web_host_allowed(const struct web *w, const struct mitm_headers *h);
/* Cross-site: Origin (if any) is the web server itself and Sec-Fetch-Site (if any) is
 * same-origin or none. */
bool web_same_origin(const struct web *w, const struct mitm_headers *h);
/* Is host (no brackets) a loopback name or address, or one of the web server's own? */
bool web_is_local_host(const char *host, size_t len);

/* ---- web.c ---- */
/* /clear: the event log too (events/reset to the clients). */
void web_events_clear(struct web *w);

/* ---- guard.c ---- */
extern const struct mitm_addon web_guard_addon;

/* ---- assets.c (generated by scripts/embed-assets from web/assets.list) ---- */
struct web_asset {
    const char *path;  /* URL path */
    const char *ctype; /* Content-Type */
    const char *etag;  /* quoted */
    const uint8_t *data;
    size_t len;
    const uint8_t *gz; /* gzip copy, NULL when it would not be smaller */
    size_t gz_len;
};
extern const struct web_asset web_assets[];
extern const size_t web_assets_n;

#endif
