/* The argument each hook hands to Lua: one row per hook of MITM_HOOKS. A hook added to the
 * core later (tls_clienthello, tcp_message, websocket_message, ...) plugs in with one row
 * here and, if its argument is a new type, one push function in a bind_*.c file; a hook
 * without a row is called with no argument (and the unit tests fail until it has one). */
#include "script/script-int.h"

#include "layer/layer.h"

typedef int (*push_fn)(struct lstate *ls, void *arg);

/* HTTPFlow: the HTTP hooks (requestheaders ... error, http_connect). */
static int push_http_flow(struct lstate *ls, void *arg)
{
    bind_push_flow(ls, arg);
    return 1;
}

/* mitmproxy's Client: client_connected / client_disconnected get the connection itself.
 * The core does not fire these yet; their argument is then the layer's struct mitm_conn. */
static int push_client(struct lstate *ls, void *arg)
{
    bind_push_conn(ls, arg);
    return 1;
}

/* mitmproxy's ServerConnectionHookData: {server = Server}; the client is added once the
 * core passes it along with the server. */
static int push_server_data(struct lstate *ls, void *arg)
{
    lua_createtable(ls->L, 0, 2);
    bind_push_conn(ls, arg);
    lua_setfield(ls->L, -2, "server");
    return 1;
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
};

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
