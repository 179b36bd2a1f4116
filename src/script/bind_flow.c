/* The flow object (mitmproxy's HTTPFlow), its client_conn / server_conn, flow.metadata,
 * and the layer connection that the connection hooks get.
 *
 * A flow box is a root: it views the flow only while its hook runs; afterwards every use
 * raises, so a script that keeps a flow in a global cannot touch freed memory. Boxes made
 * from it (request, headers, ...) hold it as a user value and resolve through it. */
#include "script/script-int.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "flow/flow.h"
#include "layer/layer-t.h"
#include "proto/http/http.h"

/* User values of a flow box: caches of the boxes made from it. */
enum { UV_REQUEST = 1, UV_RESPONSE, UV_CLIENT, UV_SERVER, UV_META, UV__COUNT = UV_META };

struct mitm_flow *bind_check_flow(lua_State *L, int idx)
{
    struct box *b = bind_check(L, idx, CLS_FLOW);
    if (!b->p)
        luaL_error(L, "flow used after its hook returned (keep what you need from it, not the flow)");
    return b->p;
}

void bind_push_flow(struct lstate *ls, struct mitm_flow *f)
{
    bind_new(ls->L, CLS_FLOW, sizeof(struct box), f, UV__COUNT);
    bind_root(ls, -1);
}

/* The box cached in user value uv of the flow box at fidx, made on first use. */
static void *cached(lua_State *L, int fidx, int uv, const struct bind_cls *cls, size_t size, int nuv)
{
    fidx = lua_absindex(L, fidx);
    if (lua_getiuservalue(L, fidx, uv) == LUA_TUSERDATA)
        return lua_touserdata(L, -1);
    lua_pop(L, 1);
    void *b = bind_new(L, cls, size, lua_touserdata(L, fidx), nuv);
    lua_pushvalue(L, fidx);
    lua_setiuservalue(L, -2, 1); /* the parent stays alive as long as the child */
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, fidx, uv);
    return b;
}

/* A client_conn / server_conn box: b.p is the flow box. */
struct cibox {
    struct box b;
    bool server;
};

/* ---- flow ---- */

static int f_id(lua_State *L)
{
    lua_pushstring(L, bind_check_flow(L, 1)->id);
    return 1;
}

static int f_type(lua_State *L)
{
    lua_pushstring(L, bind_check_flow(L, 1)->type == MITM_FLOW_TCP ? "tcp" : "http");
    return 1;
}

static int f_request(lua_State *L)
{
    bind_check_flow(L, 1);
    bind_push_message(L, 1, true);
    return 1;
}

static int f_response(lua_State *L)
{
    if (!bind_check_flow(L, 1)->response) {
        lua_pushnil(L);
        return 1;
    }
    bind_push_message(L, 1, false);
    return 1;
}

static int f_set_response(lua_State *L)
{
    bind_check_flow(L, 1);
    bind_set_response(L, 1, 2);
    return 0;
}

static int f_error(lua_State *L)
{
    struct mitm_flow *f = bind_check_flow(L, 1);
    if (!f->error) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, 2);
    lua_pushstring(L, f->error->msg ? f->error->msg : "");
    lua_setfield(L, -2, "msg");
    lua_pushnumber(L, f->error->timestamp);
    lua_setfield(L, -2, "timestamp");
    return 1;
}

static int f_client_conn(lua_State *L)
{
    bind_check_flow(L, 1);
    ((struct cibox *)cached(L, 1, UV_CLIENT, CLS_CONNINFO, sizeof(struct cibox), 1))->server = false;
    return 1;
}

static int f_server_conn(lua_State *L)
{
    bind_check_flow(L, 1);
    ((struct cibox *)cached(L, 1, UV_SERVER, CLS_CONNINFO, sizeof(struct cibox), 1))->server = true;
    return 1;
}

static int f_metadata(lua_State *L)
{
    bind_check_flow(L, 1);
    cached(L, 1, UV_META, CLS_META, sizeof(struct box), 1);
    return 1;
}

static int f_comment(lua_State *L)
{
    const struct mitm_flow *f = bind_check_flow(L, 1);
    lua_pushstring(L, f->comment ? f->comment : "");
    return 1;
}

static int f_set_comment(lua_State *L)
{
    struct mitm_flow *f = bind_check_flow(L, 1);
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    char *c = mitm_strndup(s, n);
    free(f->comment);
    f->comment = c;
    return 0;
}

/* mitmproxy 11+: marked is a string, "" = unmarked; Lua gets false for "" (an empty string
 * is true in Lua) and may assign a boolean (true = ":default:"). */
static int f_marked(lua_State *L)
{
    struct mitm_flow *f = bind_check_flow(L, 1);
    if (!f->marked || !*f->marked)
        lua_pushboolean(L, 0);
    else
        lua_pushstring(L, f->marked);
    return 1;
}

static int f_set_marked(lua_State *L)
{
    struct mitm_flow *f = bind_check_flow(L, 1);
    const char *v;
    if (lua_type(L, 2) == LUA_TBOOLEAN)
        v = lua_toboolean(L, 2) ? ":default:" : "";
    else if (lua_isnil(L, 2))
        v = "";
    else
        v = luaL_checkstring(L, 2);
    char *m = mitm_strdup(v);
    free(f->marked);
    f->marked = m;
    return 0;
}

static int f_intercepted(lua_State *L)
{
    lua_pushboolean(L, bind_check_flow(L, 1)->intercepted);
    return 1;
}

static int f_live(lua_State *L)
{
    lua_pushboolean(L, !bind_check_flow(L, 1)->loaded);
    return 1;
}

static int f_is_replay(lua_State *L)
{
    bind_push_opt(L, bind_check_flow(L, 1)->is_replay);
    return 1;
}

static int f_timestamp_created(lua_State *L)
{
    lua_pushnumber(L, bind_check_flow(L, 1)->timestamp_created);
    return 1;
}

static int f_killable(lua_State *L)
{
    struct mitm_flow *f = bind_check_flow(L, 1);
    lua_pushboolean(L, !f->killed && !f->error);
    return 1;
}

/* flow:kill(): mitmproxy's Flow.kill (error "Connection killed.", the client connection
 * closes without a response). The HTTP layer acts on it after the request hooks and after
 * the response hook. */
static int f_kill(lua_State *L)
{
    struct mitm_flow *f = bind_check_flow(L, 1);
    f->killed = true;
    f->intercepted = false;
    return 0;
}

/* flow:intercept() / flow:resume(): mark the flow; a flow still marked when its hook returns
 * is held by the driver until the user resumes or kills it (docs/internals/interactive.md). */
static int f_intercept(lua_State *L)
{
    bind_check_flow(L, 1)->intercepted = true;
    return 0;
}

static int f_resume(lua_State *L)
{
    bind_check_flow(L, 1)->intercepted = false;
    return 0;
}

static int f_tostring(lua_State *L)
{
    struct box *b = bind_check(L, 1, CLS_FLOW);
    if (!b->p)
        lua_pushstring(L, "<flow (its hook returned)>");
    else
        lua_pushfstring(L, "<flow %s>", ((struct mitm_flow *)b->p)->id);
    return 1;
}

/* ---- flow.messages (TCP flows): mitmproxy's TCPMessage list ---- */

/* A message box: b.p is the flow box (kept alive as user value 1), index the message. */
struct msgbox {
    struct box b;
    size_t index;
};

static struct mitm_tcp_message *check_msg(lua_State *L)
{
    struct msgbox *m = bind_check(L, 1, CLS_TCPMSG);
    struct box *fb = m->b.p;
    if (!fb || !fb->p)
        luaL_error(L, "message used after its flow's hook returned");
    struct mitm_flow *f = fb->p;
    if (m->index >= f->n_messages)
        luaL_error(L, "message %d is gone", (int)m->index + 1);
    return &f->messages[m->index];
}

static int m_content(lua_State *L)
{
    struct mitm_tcp_message *m = check_msg(L);
    lua_pushlstring(L, (const char *)m->content, m->len);
    return 1;
}

/* A message's content := argument 2 (any bytes; content is never NULL). */
static void set_content(lua_State *L, uint8_t **content, size_t *len)
{
    size_t n;
    const char *s = luaL_checklstring(L, 2, &n);
    uint8_t *c = mitm_memdup(s, n ? n : 1);
    free(*content);
    *content = c;
    *len = n;
}

/* The last message may be edited in tcp_message before it is forwarded (any bytes). */
static int m_set_content(lua_State *L)
{
    struct mitm_tcp_message *m = check_msg(L);
    set_content(L, &m->content, &m->len);
    return 0;
}

static int m_from_client(lua_State *L)
{
    lua_pushboolean(L, check_msg(L)->from_client);
    return 1;
}

static int m_timestamp(lua_State *L)
{
    lua_pushnumber(L, check_msg(L)->timestamp);
    return 1;
}

static const struct prop msg_props[] = {
    {"content", m_content, m_set_content},
    {"from_client", m_from_client, NULL},
    {"timestamp", m_timestamp, NULL},
    {NULL, NULL, NULL},
};

/* A new table of message boxes each time (messages come and go between hooks). */
static int f_messages(lua_State *L)
{
    struct mitm_flow *f = bind_check_flow(L, 1);
    lua_createtable(L, (int)f->n_messages, 0);
    for (size_t i = 0; i < f->n_messages; i++) {
        struct msgbox *m = bind_new(L, CLS_TCPMSG, sizeof(*m), lua_touserdata(L, 1), 1);
        m->index = i;
        lua_pushvalue(L, 1);
        lua_setiuservalue(L, -2, 1);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* ---- flow.websocket: mitmproxy's WebSocketData and WebSocketMessage ---- */

static void push_ts(lua_State *L, double t);

/* A WebSocketData box: b.p is the flow box (kept alive as user value 1). */
static struct mitm_websocket_data *check_ws(lua_State *L)
{
    struct box *b = bind_check(L, 1, CLS_WSDATA);
    struct box *fb = b->p;
    if (!fb || !fb->p || !((struct mitm_flow *)fb->p)->websocket)
        luaL_error(L, "websocket data used after its flow's hook returned");
    return ((struct mitm_flow *)fb->p)->websocket;
}

static struct mitm_websocket_message *check_wsmsg(lua_State *L)
{
    struct msgbox *m = bind_check(L, 1, CLS_WSMSG);
    struct box *fb = m->b.p;
    if (!fb || !fb->p || !((struct mitm_flow *)fb->p)->websocket)
        luaL_error(L, "message used after its flow's hook returned");
    struct mitm_websocket_data *ws = ((struct mitm_flow *)fb->p)->websocket;
    if (m->index >= ws->n_messages)
        luaL_error(L, "message %d is gone", (int)m->index + 1);
    return &ws->messages[m->index];
}

static int wm_content(lua_State *L)
{
    struct mitm_websocket_message *m = check_wsmsg(L);
    lua_pushlstring(L, (const char *)m->content, m->len);
    return 1;
}

/* The last message may be edited in websocket_message before it is forwarded. */
static int wm_set_content(lua_State *L)
{
    struct mitm_websocket_message *m = check_wsmsg(L);
    set_content(L, &m->content, &m->len);
    return 0;
}

static int wm_from_client(lua_State *L)
{
    lua_pushboolean(L, check_wsmsg(L)->from_client);
    return 1;
}

static int wm_type(lua_State *L)
{
    lua_pushinteger(L, check_wsmsg(L)->type);
    return 1;
}

static int wm_is_text(lua_State *L)
{
    lua_pushboolean(L, check_wsmsg(L)->type == 1);
    return 1;
}

static int wm_timestamp(lua_State *L)
{
    lua_pushnumber(L, check_wsmsg(L)->timestamp);
    return 1;
}

static int wm_dropped(lua_State *L)
{
    lua_pushboolean(L, check_wsmsg(L)->dropped);
    return 1;
}

static int wm_injected(lua_State *L)
{
    lua_pushboolean(L, check_wsmsg(L)->injected);
    return 1;
}

/* mitmproxy's message.drop(): the message is recorded but not forwarded. */
static int wm_drop(lua_State *L)
{
    check_wsmsg(L)->dropped = true;
    return 0;
}

static const struct prop wsmsg_props[] = {
    {"content", wm_content, wm_set_content},
    {"text", wm_content, wm_set_content},
    {"from_client", wm_from_client, NULL},
    {"type", wm_type, NULL},
    {"is_text", wm_is_text, NULL},
    {"timestamp", wm_timestamp, NULL},
    {"dropped", wm_dropped, NULL},
    {"injected", wm_injected, NULL},
    {NULL, NULL, NULL},
};

static const luaL_Reg wsmsg_methods[] = {
    {"drop", wm_drop},
    {NULL, NULL},
};

/* A new table of message boxes each time (messages come and go between hooks). */
static int ws_messages(lua_State *L)
{
    struct mitm_websocket_data *ws = check_ws(L);
    struct box *b = lua_touserdata(L, 1);
    lua_createtable(L, (int)ws->n_messages, 0);
    for (size_t i = 0; i < ws->n_messages; i++) {
        struct msgbox *m = bind_new(L, CLS_WSMSG, sizeof(*m), b->p, 1);
        m->index = i;
        lua_getiuservalue(L, 1, 1); /* the flow box stays alive as long as the message */
        lua_setiuservalue(L, -2, 1);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int ws_closed_by_client(lua_State *L)
{
    struct mitm_websocket_data *ws = check_ws(L);
    if (ws->closed_by_client < 0)
        lua_pushnil(L);
    else
        lua_pushboolean(L, ws->closed_by_client > 0);
    return 1;
}

static int ws_close_code(lua_State *L)
{
    struct mitm_websocket_data *ws = check_ws(L);
    if (ws->close_code < 0)
        lua_pushnil(L);
    else
        lua_pushinteger(L, ws->close_code);
    return 1;
}

static int ws_close_reason(lua_State *L)
{
    struct mitm_websocket_data *ws = check_ws(L);
    if (!ws->close_reason)
        lua_pushnil(L);
    else
        lua_pushlstring(L, ws->close_reason, ws->close_reason_len);
    return 1;
}

static int ws_timestamp_end(lua_State *L)
{
    push_ts(L, check_ws(L)->timestamp_end);
    return 1;
}

static const struct prop ws_props[] = {
    {"messages", ws_messages, NULL},           {"closed_by_client", ws_closed_by_client, NULL},
    {"close_code", ws_close_code, NULL},       {"close_reason", ws_close_reason, NULL},
    {"timestamp_end", ws_timestamp_end, NULL}, {NULL, NULL, NULL},
};

static int f_websocket(lua_State *L)
{
    if (!bind_check_flow(L, 1)->websocket) {
        lua_pushnil(L);
        return 1;
    }
    bind_new(L, CLS_WSDATA, sizeof(struct box), lua_touserdata(L, 1), 1);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    return 1;
}

static const struct prop flow_props[] = {
    {"id", f_id, NULL},
    {"type", f_type, NULL},
    {"request", f_request, NULL},
    {"response", f_response, f_set_response},
    {"error", f_error, NULL},
    {"client_conn", f_client_conn, NULL},
    {"server_conn", f_server_conn, NULL},
    {"metadata", f_metadata, NULL},
    {"comment", f_comment, f_set_comment},
    {"marked", f_marked, f_set_marked},
    {"intercepted", f_intercepted, NULL},
    {"is_replay", f_is_replay, NULL},
    {"live", f_live, NULL},
    {"timestamp_created", f_timestamp_created, NULL},
    {"killable", f_killable, NULL},
    {"messages", f_messages, NULL},
    {"websocket", f_websocket, NULL},
    {NULL, NULL, NULL},
};

static const luaL_Reg flow_methods[] = {
    {"kill", f_kill},
    {"intercept", f_intercept},
    {"resume", f_resume},
    {NULL, NULL},
};

static const luaL_Reg flow_meta[] = {
    {"__tostring", f_tostring},
    {NULL, NULL},
};

/* ---- client_conn / server_conn ---- */

static const struct mitm_conn_info *check_info(lua_State *L)
{
    struct cibox *b = bind_check(L, 1, CLS_CONNINFO);
    struct box *fb = b->b.p;
    if (!fb || !fb->p)
        luaL_error(L, "connection used after its flow's hook returned");
    struct mitm_flow *f = fb->p;
    return b->server ? &f->server_conn : &f->client_conn;
}

static int ci_id(lua_State *L)
{
    lua_pushstring(L, check_info(L)->id);
    return 1;
}

static int ci_peername(lua_State *L)
{
    const struct mitm_conn_info *c = check_info(L);
    bind_push_addr(L, c->peer_host, c->peer_port);
    return 1;
}

static int ci_sockname(lua_State *L)
{
    const struct mitm_conn_info *c = check_info(L);
    bind_push_addr(L, c->sock_host, c->sock_port);
    return 1;
}

static int ci_address(lua_State *L)
{
    const struct mitm_conn_info *c = check_info(L);
    bind_push_addr(L, c->address_host, c->address_port);
    return 1;
}

static int ci_error(lua_State *L)
{
    bind_push_opt(L, check_info(L)->error);
    return 1;
}

static int ci_tls_established(lua_State *L)
{
    lua_pushboolean(L, check_info(L)->tls);
    return 1;
}

static int ci_sni(lua_State *L)
{
    bind_push_opt(L, check_info(L)->sni);
    return 1;
}

static int ci_alpn(lua_State *L)
{
    const struct mitm_conn_info *c = check_info(L);
    if (c->alpn)
        lua_pushlstring(L, c->alpn, c->alpn_len);
    else
        lua_pushnil(L);
    return 1;
}

static int ci_tls_version(lua_State *L)
{
    bind_push_opt(L, check_info(L)->tls_version);
    return 1;
}

static int ci_cipher(lua_State *L)
{
    bind_push_opt(L, check_info(L)->cipher);
    return 1;
}

static int ci_proxy_mode(lua_State *L)
{
    bind_push_opt(L, check_info(L)->proxy_mode);
    return 1;
}

static void push_ts(lua_State *L, double t)
{
    if (t)
        lua_pushnumber(L, t);
    else
        lua_pushnil(L);
}

static int ci_timestamp_start(lua_State *L)
{
    push_ts(L, check_info(L)->timestamp_start);
    return 1;
}

static int ci_timestamp_end(lua_State *L)
{
    push_ts(L, check_info(L)->timestamp_end);
    return 1;
}

static int ci_timestamp_tls_setup(lua_State *L)
{
    push_ts(L, check_info(L)->timestamp_tls_setup);
    return 1;
}

static int ci_timestamp_tcp_setup(lua_State *L)
{
    push_ts(L, check_info(L)->timestamp_tcp_setup);
    return 1;
}

static const struct prop info_props[] = {
    {"id", ci_id, NULL},
    {"peername", ci_peername, NULL},
    {"sockname", ci_sockname, NULL},
    {"address", ci_address, NULL},
    {"error", ci_error, NULL},
    {"tls_established", ci_tls_established, NULL},
    {"sni", ci_sni, NULL},
    {"alpn", ci_alpn, NULL},
    {"tls_version", ci_tls_version, NULL},
    {"cipher", ci_cipher, NULL},
    {"proxy_mode", ci_proxy_mode, NULL},
    {"timestamp_start", ci_timestamp_start, NULL},
    {"timestamp_end", ci_timestamp_end, NULL},
    {"timestamp_tls_setup", ci_timestamp_tls_setup, NULL},
    {"timestamp_tcp_setup", ci_timestamp_tcp_setup, NULL},
    {NULL, NULL, NULL},
};

/* ---- flow.metadata: string keys, values kept as tnetstrings in the flow (so they are
 * saved in flow files as mitmproxy saves its metadata dict) ---- */

static struct mitm_flow *check_meta(lua_State *L)
{
    struct box *b = bind_check(L, 1, CLS_META);
    struct box *fb = b->p;
    if (!fb || !fb->p)
        luaL_error(L, "metadata used after its flow's hook returned");
    return fb->p;
}

static long meta_find(const struct mitm_flow *f, const char *k)
{
    for (size_t i = 0; i < f->n_metadata; i++)
        if (strcmp(f->metadata[i].key, k) == 0)
            return (long)i;
    return -1;
}

static int meta_index(lua_State *L)
{
    struct mitm_flow *f = check_meta(L);
    long i = meta_find(f, luaL_checkstring(L, 2));
    if (i < 0)
        lua_pushnil(L);
    else
        bind_push_tns(L, f->metadata[i].tns, f->metadata[i].tns_len);
    return 1;
}

static int meta_newindex(lua_State *L)
{
    struct mitm_flow *f = check_meta(L);
    size_t klen;
    const char *k = luaL_checklstring(L, 2, &klen);
    if (strlen(k) != klen)
        return luaL_error(L, "metadata keys cannot hold NUL bytes");
    long i = meta_find(f, k);
    if (lua_isnil(L, 3)) {
        if (i >= 0) {
            free(f->metadata[i].key);
            free(f->metadata[i].tns);
            memmove(&f->metadata[i], &f->metadata[i + 1],
                    (f->n_metadata - (size_t)i - 1) * sizeof(*f->metadata));
            f->n_metadata--;
        }
        return 0;
    }
    char err[128];
    struct mitm_buf b;
    mitm_buf_init(&b, SCRIPT_DECODE_CAP);
    if (bind_to_tns(L, 3, &b, err, sizeof(err)) < 0) {
        mitm_buf_free(&b);
        return luaL_error(L, "flow.metadata[%s]: %s", k, err);
    }
    size_t n;
    uint8_t *tns = mitm_buf_steal(&b, &n);
    if (i < 0) {
        f->metadata = mitm_realloc(f->metadata, (f->n_metadata + 1) * sizeof(*f->metadata));
        i = (long)f->n_metadata++;
        f->metadata[i].key = mitm_strdup(k);
    } else {
        free(f->metadata[i].tns);
    }
    f->metadata[i].tns = tns;
    f->metadata[i].tns_len = n;
    return 0;
}

static int meta_next(lua_State *L)
{
    struct mitm_flow *f = check_meta(L);
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(1));
    if ((size_t)i >= f->n_metadata)
        return 0;
    lua_pushinteger(L, i + 1);
    lua_replace(L, lua_upvalueindex(1));
    lua_pushstring(L, f->metadata[i].key);
    bind_push_tns(L, f->metadata[i].tns, f->metadata[i].tns_len);
    return 2;
}

static int meta_pairs(lua_State *L)
{
    check_meta(L);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, meta_next, 1);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int meta_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_meta(L)->n_metadata);
    return 1;
}

static const luaL_Reg meta_meta[] = {
    {"__pairs", meta_pairs},
    {"__len", meta_len},
    {NULL, NULL},
};

/* ---- the layer connection (client_connected, server_connect, ...) ---- */

static const struct mitm_conn *check_conn(lua_State *L)
{
    struct box *b = bind_check(L, 1, CLS_CONN);
    if (!b->p)
        luaL_error(L, "connection used after its hook returned");
    return b->p;
}

void bind_push_conn(struct lstate *ls, struct mitm_conn *c)
{
    bind_new(ls->L, CLS_CONN, sizeof(struct box), c, 0);
    bind_root(ls, -1);
}

static int c_id(lua_State *L)
{
    lua_pushinteger(L, check_conn(L)->id);
    return 1;
}

static int c_peername(lua_State *L)
{
    const struct mitm_conn *c = check_conn(L);
    bind_push_addr(L, c->peer_host[0] ? c->peer_host : NULL, c->peer_port);
    return 1;
}

static int c_sockname(lua_State *L)
{
    const struct mitm_conn *c = check_conn(L);
    bind_push_addr(L, c->sock_host[0] ? c->sock_host : NULL, c->sock_port);
    return 1;
}

static int c_address(lua_State *L)
{
    const struct mitm_conn *c = check_conn(L);
    bind_push_addr(L, c->side == MITM_CONN_SERVER ? c->host : NULL, c->port);
    return 1;
}

static int c_error(lua_State *L)
{
    bind_push_opt(L, check_conn(L)->error);
    return 1;
}

/* Setting error in client_connected / server_connect kills the connection (mitmproxy's
 * `client.error = ...`); nil clears it. */
static int c_set_error(lua_State *L)
{
    struct mitm_conn *c = (struct mitm_conn *)check_conn(L); /* a live box owns a writable conn */
    const char *e = luaL_optstring(L, 2, NULL);
    free(c->error);
    c->error = e ? mitm_strdup(e) : NULL;
    return 0;
}

static int c_tls_established(lua_State *L)
{
    lua_pushboolean(L, check_conn(L)->tls);
    return 1;
}

static int c_sni(lua_State *L)
{
    bind_push_opt(L, check_conn(L)->sni);
    return 1;
}

static int c_alpn(lua_State *L)
{
    bind_push_opt(L, check_conn(L)->alpn);
    return 1;
}

static int c_tls_version(lua_State *L)
{
    bind_push_opt(L, check_conn(L)->tls_version);
    return 1;
}

static int c_cipher(lua_State *L)
{
    bind_push_opt(L, check_conn(L)->cipher);
    return 1;
}

static int c_timestamp_start(lua_State *L)
{
    push_ts(L, check_conn(L)->timestamp_start);
    return 1;
}

static int c_timestamp_end(lua_State *L)
{
    push_ts(L, check_conn(L)->timestamp_end);
    return 1;
}

static int c_timestamp_tcp_setup(lua_State *L)
{
    push_ts(L, check_conn(L)->timestamp_tcp_setup);
    return 1;
}

static const struct prop conn_props[] = {
    {"id", c_id, NULL},
    {"peername", c_peername, NULL},
    {"sockname", c_sockname, NULL},
    {"address", c_address, NULL},
    {"error", c_error, c_set_error},
    {"tls_established", c_tls_established, NULL},
    {"sni", c_sni, NULL},
    {"alpn", c_alpn, NULL},
    {"tls_version", c_tls_version, NULL},
    {"cipher", c_cipher, NULL},
    {"timestamp_start", c_timestamp_start, NULL},
    {"timestamp_end", c_timestamp_end, NULL},
    {"timestamp_tcp_setup", c_timestamp_tcp_setup, NULL},
    {NULL, NULL, NULL},
};

void bind_flow_open(lua_State *L)
{
    bind_class(L, CLS_FLOW, flow_props, flow_methods, flow_meta, NULL, NULL);
    bind_class(L, CLS_CONNINFO, info_props, NULL, NULL, NULL, NULL);
    bind_class(L, CLS_META, NULL, NULL, meta_meta, meta_index, meta_newindex);
    bind_class(L, CLS_TCPMSG, msg_props, NULL, NULL, NULL, NULL);
    bind_class(L, CLS_WSDATA, ws_props, NULL, NULL, NULL, NULL);
    bind_class(L, CLS_WSMSG, wsmsg_props, wsmsg_methods, NULL, NULL, NULL);
}

void bind_conn_open(lua_State *L)
{
    bind_class(L, CLS_CONN, conn_props, NULL, NULL, NULL, NULL);
}

/* ---- flow.request / flow.response boxes ---- */

void bind_push_message(lua_State *L, int flowidx, bool request)
{
    struct mbox *m = cached(L, flowidx, request ? UV_REQUEST : UV_RESPONSE,
                            request ? CLS_REQUEST : CLS_RESPONSE, sizeof(struct mbox), 4);
    m->request = request;
}

static struct mitm_headers *headers_copy(const struct mitm_headers *src)
{
    struct mitm_headers *h = mitm_calloc(1, sizeof(*h));
    mitm_headers_copy(h, src);
    return h;
}

static struct mitm_http_response *response_copy(const struct mitm_http_response *s)
{
    struct mitm_http_response *r = mitm_http_response_new();
    r->http_version = mitm_strdup(s->http_version ? s->http_version : "HTTP/1.1");
    r->status_code = s->status_code;
    r->reason = mitm_strdup(s->reason ? s->reason : "");
    mitm_headers_free(&r->headers);
    mitm_headers_copy(&r->headers, &s->headers);
    mitm_buf_append(&r->content, mitm_buf_data(&s->content), s->content.len);
    r->content_missing = s->content_missing;
    r->trailers = s->trailers ? headers_copy(s->trailers) : NULL;
    r->timestamp_start = s->timestamp_start;
    r->timestamp_end = s->timestamp_end;
    return r;
}

/* flow.response = r: a response the script made moves into the flow (r then views the
 * flow's response, as in Python); one of another flow is copied; nil removes it. */
void bind_set_response(lua_State *L, int fidx, int idx)
{
    fidx = lua_absindex(L, fidx);
    idx = lua_absindex(L, idx);
    struct box *fb = lua_touserdata(L, fidx);
    struct mitm_flow *f = fb->p;
    if (lua_isnil(L, idx)) {
        mitm_http_response_free(f->response);
        f->response = NULL;
        return;
    }
    struct mbox *m = bind_check(L, idx, CLS_RESPONSE);
    struct mitm_http_response *src = bind_response(L, m);
    if (src == f->response)
        return;
    bool moved = m->own != NULL;
    struct mitm_http_response *r = moved ? src : response_copy(src);
    m->own = NULL;
    if (!r->timestamp_start) {
        struct lstate *ls = lstate_of(L);
        r->timestamp_start = r->timestamp_end = ls->env ? ls->env->now : 0;
    }
    mitm_http_response_free(f->response);
    f->response = r;
    if (moved) {
        m->b.p = fb;
        lua_pushvalue(L, fidx);
        lua_setiuservalue(L, idx, 1);
        lua_pushvalue(L, idx);
    } else {
        lua_pushnil(L); /* a fresh box on next access */
    }
    lua_setiuservalue(L, fidx, UV_RESPONSE);
}
