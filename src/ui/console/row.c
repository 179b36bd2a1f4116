/* Flow list rows: see row.h. Column widths follow mitmproxy's urwid table: fixed columns,
 * then host, path and content type sharing what is left by weight (0.25, 1, 0.15). */
#include "ui/console/row.h"
#include "ui/dump/dump.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026, one column */

void mitm_row_add(struct mitm_row *r, const char *s, size_t n, enum mitm_con_style st)
{
    if (r->len + n >= sizeof(r->text))
        n = sizeof(r->text) - 1 - r->len;
    if (!n)
        return;
    memcpy(r->text + r->len, s, n);
    if (r->nsegs && r->segs[r->nsegs - 1].style == st &&
        r->segs[r->nsegs - 1].off + r->segs[r->nsegs - 1].len == r->len) {
        r->segs[r->nsegs - 1].len += (uint16_t)n;
    } else if (r->nsegs < MITM_ROW_SEGS_MAX) {
        r->segs[r->nsegs].off = (uint16_t)r->len;
        r->segs[r->nsegs].len = (uint16_t)n;
        r->segs[r->nsegs].style = (uint8_t)st;
        r->nsegs++;
    } else {
        r->segs[r->nsegs - 1].len += (uint16_t)n; /* out of segments: keep the text */
    }
    r->len += n;
    r->text[r->len] = 0;
}

/* Bytes and columns of the character at s (n bytes left). */
static size_t char_at(const char *s, size_t n, size_t *cols)
{
    mbstate_t st = {0};
    wchar_t wc;
    size_t k = mbrtowc(&wc, s, n, &st);
    if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
        *cols = 1;
        return 1;
    }
    int w = wcwidth(wc);
    *cols = w < 0 ? 1 : (size_t)w;
    return k;
}

size_t mitm_text_width(const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        size_t c;
        i += char_at(s + i, n - i, &c);
        w += c;
    }
    return w;
}

static void spaces(struct mitm_row *r, size_t n, enum mitm_con_style st)
{
    static const char sp[] = "                                                                ";
    while (n) {
        size_t k = n < sizeof(sp) - 1 ? n : sizeof(sp) - 1;
        mitm_row_add(r, sp, k, st);
        n -= k;
    }
}

/* How many bytes of s fit in cols columns, from the start. */
size_t mitm_text_fit(const char *s, size_t n, size_t cols, size_t *used)
{
    size_t i = 0, w = 0;
    while (i < n) {
        size_t c, k = char_at(s + i, n - i, &c);
        if (w + c > cols)
            break;
        w += c;
        i += k;
    }
    *used = w;
    return i;
}

/* Where the longest suffix of s fitting in cols columns starts. */
static size_t suffix_fitting(const char *s, size_t n, size_t cols, size_t *used)
{
    size_t total = mitm_text_width(s, n), start = 0, w = total;
    while (start < n && w > cols) {
        size_t c;
        start += char_at(s + start, n - start, &c);
        w -= c;
    }
    *used = w;
    return start;
}

void mitm_row_add_fixed(struct mitm_row *r, const char *s, size_t n, size_t cols, bool pad_left,
                        bool cut_left, enum mitm_con_style st)
{
    if (!cols)
        return;
    size_t w = mitm_text_width(s, n), used;
    if (w <= cols) {
        if (pad_left)
            spaces(r, cols - w, st);
        mitm_row_add(r, s, n, st);
        if (!pad_left)
            spaces(r, cols - w, st);
        return;
    }
    if (cut_left) {
        size_t start = suffix_fitting(s, n, cols - 1, &used);
        mitm_row_add(r, ELLIPSIS, strlen(ELLIPSIS), st);
        mitm_row_add(r, s + start, n - start, st);
    } else {
        size_t k = mitm_text_fit(s, n, cols - 1, &used);
        mitm_row_add(r, s, k, st);
        mitm_row_add(r, ELLIPSIS, strlen(ELLIPSIS), st);
    }
    spaces(r, cols - 1 - used, st);
}

void mitm_pretty_duration(double secs, char out[16])
{
    if (secs >= 100)
        snprintf(out, 16, "%.0fs", secs);
    else if (secs >= 10)
        snprintf(out, 16, "%2.1fs", secs);
    else if (secs >= 1)
        snprintf(out, 16, "%1.2fs", secs);
    else
        snprintf(out, 16, "%.0fms", secs * 1000);
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

enum mitm_con_style mitm_content_type_style(const char *ct)
{
    if (ends_with(ct, "/javascript"))
        return MITM_ST_CONTENT_SCRIPT;
    if (strncmp(ct, "text/", 5) == 0)
        return MITM_ST_CONTENT_TEXT;
    if (strncmp(ct, "image/", 6) == 0 || strncmp(ct, "video/", 6) == 0 || strncmp(ct, "font/", 5) == 0 ||
        strstr(ct, "/x-font-"))
        return MITM_ST_CONTENT_MEDIA;
    if (ends_with(ct, "/json") || ends_with(ct, "/xml"))
        return MITM_ST_CONTENT_DATA;
    if (strncmp(ct, "application/", 12) == 0)
        return MITM_ST_CONTENT_RAW;
    return MITM_ST_CONTENT_OTHER;
}

static enum mitm_con_style method_style(const char *m)
{
    static const struct {
        const char *m;
        enum mitm_con_style st;
    } t[] = {{"GET", MITM_ST_METHOD_GET},
             {"POST", MITM_ST_METHOD_POST},
             {"DELETE", MITM_ST_METHOD_DELETE},
             {"HEAD", MITM_ST_METHOD_HEAD},
             {"PUT", MITM_ST_METHOD_PUT}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(t[i].m, m) == 0)
            return t[i].st;
    return MITM_ST_METHOD_OTHER;
}

static enum mitm_con_style scheme_style(const char *s)
{
    return strcmp(s, "http") == 0    ? MITM_ST_SCHEME_HTTP
           : strcmp(s, "https") == 0 ? MITM_ST_SCHEME_HTTPS
           : strcmp(s, "ws") == 0    ? MITM_ST_SCHEME_WS
           : strcmp(s, "wss") == 0   ? MITM_ST_SCHEME_WSS
           : strcmp(s, "tcp") == 0   ? MITM_ST_SCHEME_TCP
                                     : MITM_ST_SCHEME_OTHER;
}

static enum mitm_con_style code_style(int code)
{
    switch (code / 100) {
    case 2:
        return MITM_ST_CODE_200;
    case 3:
        return MITM_ST_CODE_300;
    case 4:
        return MITM_ST_CODE_400;
    case 5:
        return MITM_ST_CODE_500;
    default:
        return MITM_ST_CODE_OTHER;
    }
}

/* mitmproxy colours sizes and durations on a gradient; three steps are enough here. */
static enum mitm_con_style gradient(double v, double mid, double high)
{
    return v >= high ? MITM_ST_GRADIENT_SLOW : v >= mid ? MITM_ST_GRADIENT_MID : MITM_ST_GRADIENT_FAST;
}

static void sep(struct mitm_row *r)
{
    mitm_row_add(r, " ", 1, MITM_ST_TEXT);
}

/* ">>" or "  " and the request's time of day (format_left_indicators). */
static void left_indicators(struct mitm_row *r, const struct mitm_store_summary *sm,
                            const struct mitm_row_opts *o)
{
    mitm_row_add(r, o->focused ? ">>" : "  ", 2, MITM_ST_FOCUS);
    char t[16] = "        ";
    double ts = sm->timestamp_start ? sm->timestamp_start : sm->timestamp_created;
    time_t secs = (time_t)ts;
    struct tm tm;
    if (ts > 0 && localtime_r(&secs, &tm))
        strftime(t, sizeof(t), "%H:%M:%S", &tm);
    mitm_row_add_fixed(r, t, strlen(t), 8, false, false, o->intercepted ? MITM_ST_INTERCEPT : MITM_ST_TEXT);
}

/* The replay symbol and the mark (format_right_indicators): 3 columns. */
static void right_indicators(struct mitm_row *r, const struct mitm_store_summary *sm)
{
    if (sm->replay)
        mitm_row_add(r, "\xe2\x86\xba", 3, MITM_ST_REPLAY); /* U+21BA */
    else
        mitm_row_add(r, " ", 1, MITM_ST_TEXT);
    if (sm->marked)
        mitm_row_add(r, "\xe2\x97\x8f ", 4, MITM_ST_MARK); /* U+25CF */
    else
        mitm_row_add(r, "  ", 2, MITM_ST_TEXT);
}

static void size_duration(struct mitm_row *r, const struct mitm_store_summary *sm, uint64_t size, bool timed,
                          enum mitm_con_style over)
{
    char t[16] = "";
    if (size) {
        mitm_pretty_size(size, t);
        mitm_row_add_fixed(r, t, strlen(t), 5, true, false,
                           over ? over : gradient((double)size, 64 * 1024, 1024 * 1024));
    } else {
        spaces(r, 5, MITM_ST_TEXT);
    }
    sep(r);
    double d = sm->timestamp_end - sm->timestamp_start;
    if (timed && sm->timestamp_end && sm->timestamp_start && d > 0) {
        mitm_pretty_duration(d, t);
        mitm_row_add_fixed(r, t, strlen(t), 5, true, false, over ? over : gradient(d, 0.2, 1.0));
    } else {
        spaces(r, 5, MITM_ST_TEXT);
    }
    sep(r);
}

static void tcp_row(const struct mitm_store_summary *sm, const struct mitm_row_opts *o, size_t width,
                    struct mitm_row *r)
{
    left_indicators(r, sm, o);
    sep(r);
    mitm_row_add(r, "TCP  ", 5, MITM_ST_SCHEME_TCP);
    sep(r);
    /* mitmproxy's format_message_flow: "client <-> server" */
    char conn[MITM_STORE_NAME_MAX + MITM_STORE_PATH_MAX + 48];
    bool v6 = strchr(sm->host, ':') != NULL;
    int n = snprintf(conn, sizeof(conn), "%s <-> %s%s%s:%u", sm->path[0] ? sm->path : "?", v6 ? "[" : "",
                     sm->host, v6 ? "]" : "", sm->port);
    if (n < 0 || (size_t)n >= sizeof(conn))
        n = (int)strlen(conn);
    size_t fixed = 10 + 5 + 5 + 5 + 3 + 5;
    size_t rest = width > fixed ? width - fixed : 1;
    mitm_row_add_fixed(r, conn, (size_t)n, rest, false, false, MITM_ST_TEXT);
    sep(r);
    size_duration(r, sm, sm->response_size, true, 0);
    right_indicators(r, sm);
}

void mitm_row_format(const struct mitm_store_summary *sm, const struct mitm_row_opts *o, size_t width,
                     struct mitm_row *r)
{
    r->len = 0;
    r->nsegs = 0;
    r->text[0] = 0;
    if (width < 15)
        width = 15;
    if (sm->type != MITM_FLOW_HTTP) {
        tcp_row(sm, o, width, r);
        return;
    }
    left_indicators(r, sm, o);
    sep(r);
    bool icpt_req = o->intercepted && !sm->has_response, icpt_resp = o->intercepted && sm->has_response;
    enum mitm_con_style rq = icpt_req ? MITM_ST_INTERCEPT : 0;
    const char *scheme = sm->scheme;
    if (sm->websocket)
        scheme = strcmp(scheme, "https") == 0 ? "wss" : strcmp(scheme, "http") == 0 ? "ws" : scheme;
    char up[16];
    size_t k = 0;
    for (; scheme[k] && k < sizeof(up) - 1; k++)
        up[k] = (char)(scheme[k] >= 'a' && scheme[k] <= 'z' ? scheme[k] - 32 : scheme[k]);
    mitm_row_add_fixed(r, up, k, 5, false, false, rq ? rq : scheme_style(scheme));
    sep(r);
    mitm_row_add_fixed(r, sm->method, strlen(sm->method), 4, false, false,
                       rq ? rq : method_style(sm->method));
    sep(r);
    /* 10 + 5 + 4 + 3 + 5 + 5 + 3 fixed columns and 9 one-column gaps */
    size_t fixed = 35 + 9, flex = width > fixed ? width - fixed : 3;
    size_t host_w = (size_t)(flex * 0.25 / 1.4), ct_w = (size_t)(flex * 0.15 / 1.4);
    size_t path_w = flex - host_w - ct_w;
    mitm_row_add_fixed(r, sm->host, strlen(sm->host), host_w, false, true, rq ? rq : MITM_ST_URL_DOMAIN);
    sep(r);
    mitm_row_add_fixed(r, sm->path, strlen(sm->path), path_w, false, false, rq ? rq : MITM_ST_TEXT);
    sep(r);
    enum mitm_con_style rs = icpt_resp ? MITM_ST_INTERCEPT : 0;
    char status[8] = "";
    const char *content = "";
    enum mitm_con_style st_status = MITM_ST_TEXT, st_content = MITM_ST_TEXT;
    if (sm->has_response) {
        snprintf(status, sizeof(status), "%u", sm->status);
        st_status = rs ? rs : code_style(sm->status);
        if (sm->response_size && sm->content_type[0]) {
            content = sm->content_type;
            st_content = rs ? rs : mitm_content_type_style(content);
        } else if (!sm->response_size) {
            content = "[no content]";
            st_content = MITM_ST_CONTENT_NONE;
        }
    } else if (sm->error) {
        snprintf(status, sizeof(status), "err");
        st_status = st_content = MITM_ST_ERROR;
        content = "error"; /* the summary has no message; the flow view shows it */
    }
    mitm_row_add_fixed(r, status, strlen(status), 3, false, false, st_status);
    sep(r);
    mitm_row_add_fixed(r, content, strlen(content), ct_w, true, false, st_content);
    sep(r);
    size_duration(r, sm, sm->has_response ? sm->response_size : 0, sm->has_response, rs);
    right_indicators(r, sm);
}

bool mitm_row_list_layout(const char *layout, size_t width)
{
    return layout && (strcmp(layout, "list") == 0 || (strcmp(layout, "default") == 0 && width < 100));
}

void mitm_row_format_list(const struct mitm_store_summary *sm, const struct mitm_row_opts *o, size_t width,
                          struct mitm_row *a, struct mitm_row *b)
{
    a->len = b->len = a->nsegs = b->nsegs = 0;
    a->text[0] = b->text[0] = 0;
    if (width < 15)
        width = 15;
    mitm_row_add(a, o->focused ? ">>" : "  ", 2, MITM_ST_FOCUS);
    sep(a);
    char url[MITM_STORE_PATH_MAX + MITM_STORE_NAME_MAX * 2 + 32];
    int n;
    const char *method = sm->method;
    if (sm->type != MITM_FLOW_HTTP) {
        method = "TCP";
        n = snprintf(url, sizeof(url), "%s:%u", sm->host, sm->port);
    } else {
        bool dflt = (strcmp(sm->scheme, "http") == 0 && sm->port == 80) ||
                    (strcmp(sm->scheme, "https") == 0 && sm->port == 443) || sm->port == 0;
        bool v6 = strchr(sm->host, ':') != NULL;
        n = dflt ? snprintf(url, sizeof(url), "%s://%s%s%s%s", sm->scheme, v6 ? "[" : "", sm->host,
                            v6 ? "]" : "", sm->path)
                 : snprintf(url, sizeof(url), "%s://%s%s%s:%u%s", sm->scheme, v6 ? "[" : "", sm->host,
                            v6 ? "]" : "", sm->port, sm->path);
    }
    size_t ml = strlen(method);
    mitm_row_add(a, method, ml, sm->type != MITM_FLOW_HTTP ? MITM_ST_SCHEME_TCP : method_style(method));
    sep(a);
    enum mitm_con_style us = o->intercepted && !sm->has_response ? MITM_ST_INTERCEPT
                             : sm->has_response || sm->error     ? MITM_ST_TEXT
                                                                 : MITM_ST_TITLE;
    size_t used = 2 + 1 + ml + 1, rest = width > used + 4 ? width - used - 4 : 1;
    mitm_row_add_fixed(a, url, n < 0 ? 0 : (size_t)n, rest, false, false, us);
    sep(a);
    right_indicators(a, sm);
    /* the response line starts under the URL */
    spaces(b, used, MITM_ST_TEXT);
    enum mitm_con_style over = o->intercepted && sm->has_response ? MITM_ST_INTERCEPT : 0;
    char t[64];
    if (sm->has_response) {
        enum mitm_con_style st = over ? over : code_style(sm->status);
        mitm_row_add(b, "\xe2\x86\x90 ", 4, st); /* U+2190 */
        snprintf(t, sizeof(t), "%u", sm->status);
        mitm_row_add(b, t, strlen(t), st);
        if (sm->content_type[0]) {
            sep(b);
            mitm_row_add(b, sm->content_type, strlen(sm->content_type),
                         over ? over : mitm_content_type_style(sm->content_type));
        }
        sep(b);
        if (sm->response_size) {
            mitm_pretty_size(sm->response_size, t);
            mitm_row_add(b, t, strlen(t),
                         over ? over : gradient((double)sm->response_size, 64 * 1024, 1024 * 1024));
        } else {
            mitm_row_add(b, "[no content]", 12, MITM_ST_TEXT);
        }
        double d = sm->timestamp_end - sm->timestamp_start;
        if (sm->timestamp_end && sm->timestamp_start && d > 0) {
            sep(b);
            mitm_pretty_duration(d, t);
            mitm_row_add(b, t, strlen(t), over ? over : gradient(d, 0.2, 1.0));
        }
    } else if (sm->error) {
        mitm_row_add(b, "\xe2\x86\x90 error", 10, MITM_ST_ERROR);
    }
}
