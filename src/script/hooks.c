/* The argument each hook hands to Lua: one row per hook of MITM_HOOKS. A hook added to the
 * core later (tls_clienthello, tcp_message, websocket_message, ...) plugs in with one row
 * here and, if its argument is a new type, one push function in a bind_*.c file; a hook
 * without a row is called with no argument (and the unit tests fail until it has one). */
#include "script/script-int.h"

#include "layer/layer.h"
#include "proto/socks5/layer.h"
#include "proto/tls/clienthello.h"
#include "proto/tls/tls.h"

typedef int (*push_fn)(struct lstate *ls, void *arg);

/* HTTPFlow: the HTTP hooks (requestheaders ... error, http_connect). */
static int push_http_flow(struct lstate *ls, void *arg)
{
    bind_push_flow(ls, arg);
    return 1;
}

/* mitmproxy's Client: client_connected / client_disconnected get the connection itself
 * (the layer's struct mitm_conn); `client.error = "..."` in client_connected kills it. */
static int push_client(struct lstate *ls, void *arg)
{
    bind_push_conn(ls, arg);
    return 1;
}

/* mitmproxy's ServerConnectionHookData: {client = Client, server = Server};
 * `data.server.error = "..."` in server_connect kills the connection before it is made. */
static int push_server_data(struct lstate *ls, void *arg)
{
    struct mitm_server_hook_data *d = arg;
    lua_createtable(ls->L, 0, 2);
    bind_push_conn(ls, d->server);
    lua_setfield(ls->L, -2, "server");
    if (d->client) {
        bind_push_conn(ls, d->client);
        lua_setfield(ls->L, -2, "client");
    }
    return 1;
}

/* tls_clienthello (ClientHelloData): sni, alpn_protocols and the two flags an addon may set;
 * they are read back after the hook (script_pull_hook_args). */
static int push_clienthello(struct lstate *ls, void *arg)
{
    struct mitm_tls_clienthello_data *d = arg;
    lua_State *L = ls->L;
    lua_createtable(L, 0, 5);
    if (d->clienthello->sni) {
        lua_pushstring(L, d->clienthello->sni);
        lua_setfield(L, -2, "sni");
    }
    lua_createtable(L, (int)d->clienthello->alpn_count, 0);
    for (size_t i = 0; i < d->clienthello->alpn_count; i++) {
        lua_pushlstring(L, (const char *)d->clienthello->alpn[i].base, d->clienthello->alpn[i].len);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "alpn_protocols");
    lua_pushboolean(L, d->ignore_connection);
    lua_setfield(L, -2, "ignore_connection");
    lua_pushboolean(L, d->establish_server_tls_first);
    lua_setfield(L, -2, "establish_server_tls_first");
    bind_push_conn(ls, d->client);
    lua_setfield(L, -2, "client");
    return 1;
}

static void pull_clienthello(struct lstate *ls, void *arg, int idx)
{
    struct mitm_tls_clienthello_data *d = arg;
    lua_getfield(ls->L, idx, "ignore_connection");
    d->ignore_connection = lua_toboolean(ls->L, -1);
    lua_getfield(ls->L, idx, "establish_server_tls_first");
    d->establish_server_tls_first = lua_toboolean(ls->L, -1);
    lua_pop(ls->L, 2);
}

/* TlsData of tls_established_client / tls_failed_client: {conn = Client, error = str}. */
static int push_tlsdata(struct lstate *ls, void *arg)
{
    struct mitm_tls_hook_data *d = arg;
    lua_createtable(ls->L, 0, 2);
    bind_push_conn(ls, d->conn);
    lua_setfield(ls->L, -2, "conn");
    if (d->error[0]) {
        lua_pushstring(ls->L, d->error);
        lua_setfield(ls->L, -2, "error");
    }
    return 1;
}

/* Socks5AuthData: username, password, and valid, which an addon sets. */
static int push_socks5(struct lstate *ls, void *arg)
{
    struct mitm_socks5_auth_data *d = arg;
    lua_createtable(ls->L, 0, 4);
    lua_pushstring(ls->L, d->username);
    lua_setfield(ls->L, -2, "username");
    lua_pushstring(ls->L, d->password);
    lua_setfield(ls->L, -2, "password");
    lua_pushboolean(ls->L, d->valid);
    lua_setfield(ls->L, -2, "valid");
    bind_push_conn(ls, d->client);
    lua_setfield(ls->L, -2, "client_conn");
    return 1;
}

static void pull_socks5(struct lstate *ls, void *arg, int idx)
{
    lua_getfield(ls->L, idx, "valid");
    ((struct mitm_socks5_auth_data *)arg)->valid = lua_toboolean(ls->L, -1);
    lua_pop(ls->L, 1);
}

static const push_fn pushers[MITM_HOOK__COUNT] = {
    [MITM_HOOK_CLIENT_CONNECTED] = push_client,
    [MITM_HOOK_CLIENT_DISCONNECTED] = push_client,
    [MITM_HOOK_SERVER_CONNECT] = push_server_data,
    [MITM_HOOK_SERVER_CONNECTED] = push_server_data,
    [MITM_HOOK_SERVER_CONNECT_ERROR] = push_server_data,
    [MITM_HOOK_SERVER_DISCONNECTED] = push_server_data,
    [MITM_HOOK_HTTP_CONNECT] = push_http_flow,
    [MITM_HOOK_REQUESTHEADERS] = push_http_flow,
    [MITM_HOOK_REQUEST] = push_http_flow,
    [MITM_HOOK_RESPONSEHEADERS] = push_http_flow,
    [MITM_HOOK_RESPONSE] = push_http_flow,
    [MITM_HOOK_ERROR] = push_http_flow,
    [MITM_HOOK_TLS_CLIENTHELLO] = push_clienthello,
    [MITM_HOOK_TLS_ESTABLISHED_CLIENT] = push_tlsdata,
    [MITM_HOOK_TLS_FAILED_CLIENT] = push_tlsdata,
    [MITM_HOOK_TCP_START] = push_http_flow, /* a TCPFlow: the same flow object */
    [MITM_HOOK_TCP_MESSAGE] = push_http_flow,
    [MITM_HOOK_TCP_END] = push_http_flow,
    [MITM_HOOK_TCP_ERROR] = push_http_flow,
    [MITM_HOOK_WEBSOCKET_START] = push_http_flow, /* flow.websocket holds the messages */
    [MITM_HOOK_WEBSOCKET_MESSAGE] = push_http_flow,
    [MITM_HOOK_WEBSOCKET_END] = push_http_flow,
    [MITM_HOOK_SOCKS5_AUTH] = push_socks5,
};

/* Hooks whose argument is a plain table the script may change: read it back. */
typedef void (*pull_fn)(struct lstate *ls, void *arg, int idx);
static const pull_fn pullers[MITM_HOOK__COUNT] = {
    [MITM_HOOK_TLS_CLIENTHELLO] = pull_clienthello,
    [MITM_HOOK_SOCKS5_AUTH] = pull_socks5,
};

void script_pull_hook_args(struct lstate *ls, enum mitm_hook h, void *arg, int idx)
{
    if ((unsigned)h < MITM_HOOK__COUNT && pullers[h] && arg)
        pullers[h](ls, arg, idx);
}

int script_push_hook_args(struct lstate *ls, enum mitm_hook h, void *arg)
{
    if ((unsigned)h >= MITM_HOOK__COUNT || !pushers[h] || !arg)
        return 0;
    return pushers[h](ls, arg);
}

bool script_hook_bound(enum mitm_hook h)
{
    return (unsigned)h < MITM_HOOK__COUNT && pushers[h];
}
