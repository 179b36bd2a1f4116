/* `mitmc`: the console (mitmproxy's tools/console). A front end on the shared master: the
 * master owns the store, the view, the live flows and intercept; this file owns the
 * terminal. Input is read from the libuv loop (stdin polled, every pending key taken);
 * drawing is coalesced: a change marks the screen dirty and a one-shot timer draws at most
 * every REDRAW_MS, so 10,000 flows a second cost 20 redraws, each drawing only the rows on
 * screen from the store's summaries. Log lines land in an event log ring through the log
 * tap, from any thread. */
#include "ui/console/console.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "core/command.h"
#include "ui/commands.h"
#include "core/options.h"
#include "flow/flow.h"
#include "flow/store.h"
#include "io/io.h"
#include "ui/cli.h"
#include "ui/console/console-int.h"
#include "ui/console/row.h"

#include <curses.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REDRAW_MS        50
#define SHUTDOWN_GRACE_S 1.0

/* The one console of the process: atexit needs it to restore the terminal. */
static struct console *the_console;

/* ---- styled documents ---- */

void doc_clear(struct con_doc *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].text);
        free(d->v[i].segs);
    }
    free(d->v);
    memset(d, 0, sizeof(*d));
}

void doc_line(struct con_doc *d, const char *s, size_t n, enum mitm_con_style st)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->v = mitm_realloc(d->v, d->cap * sizeof(*d->v));
    }
    d->v[d->n++] = (struct con_line){0};
    doc_add(d, s, n, st);
}

void doc_add(struct con_doc *d, const char *s, size_t n, enum mitm_con_style st)
{
    if (!d->n) {
        doc_line(d, s, n, st);
        return;
    }
    struct con_line *l = &d->v[d->n - 1];
    if (!n)
        return;
    l->text = mitm_realloc(l->text, l->len + n + 1);
    memcpy(l->text + l->len, s, n);
    l->text[l->len + n] = 0;
    if (l->nsegs && l->segs[l->nsegs - 1].style == st) {
        l->segs[l->nsegs - 1].len += (uint32_t)n;
    } else {
        l->segs = mitm_realloc(l->segs, (l->nsegs + 1) * sizeof(*l->segs));
        l->segs[l->nsegs++] = (struct con_seg){(uint32_t)l->len, (uint32_t)n, (uint8_t)st};
    }
    l->len += n;
}

void doc_printf(struct con_doc *d, enum mitm_con_style st, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    doc_line(d, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1, st);
}

/* ---- palettes (mitmproxy's palettes.py, reduced to what curses can show) ---- */

struct pal_entry {
    short fg, bg;
    attr_t attr;
};

static attr_t style_attr[MITM_ST_COUNT];

/* Solarized in xterm-256 colours (the nearest of each of its 16 colours). */
enum {
    S_BASE03 = 234,
    S_BASE02 = 235,
    S_BASE01 = 240,
    S_BASE00 = 241,
    S_BASE0 = 244,
    S_BASE1 = 245,
    S_BASE2 = 254,
    S_YELLOW = 136,
    S_ORANGE = 166,
    S_RED = 160,
    S_MAGENTA = 125,
    S_BLUE = 33,
    S_CYAN = 37,
    S_GREEN = 64
};

static struct pal_entry pal_for(const char *palette, enum mitm_con_style st, bool c256)
{
    bool sol = strncmp(palette, "solarized", 9) == 0 && c256, light = strstr(palette, "light") != NULL;
    short red = sol ? S_RED : COLOR_RED, green = sol ? S_GREEN : COLOR_GREEN,
          blue = sol ? S_BLUE : COLOR_BLUE;
    short yellow = sol ? S_YELLOW : COLOR_YELLOW, magenta = sol ? S_MAGENTA : COLOR_MAGENTA;
    short cyan = sol ? S_CYAN : COLOR_CYAN, orange = sol ? S_ORANGE : COLOR_YELLOW;
    short dim = sol ? S_BASE01 : (c256 ? 244 : -1);
    short text = sol ? (light ? S_BASE01 : S_BASE1) : -1;
    struct pal_entry e = {text, -1, 0};
    switch (st) {
    case MITM_ST_TITLE:
        e.fg = light && !sol ? COLOR_BLUE : blue;
        e.attr = A_BOLD;
        break;
    case MITM_ST_HEADING:
        if (sol)
            e = (struct pal_entry){light ? S_BASE02 : S_BASE2, light ? S_BASE2 : S_BASE01, 0};
        else
            e = (struct pal_entry){light ? COLOR_BLACK : COLOR_WHITE, light ? COLOR_WHITE : COLOR_BLUE, 0};
        break;
    case MITM_ST_HEADING_KEY:
        e = pal_for(palette, MITM_ST_HEADING, c256);
        e.fg = sol ? blue : (light ? COLOR_BLUE : COLOR_CYAN);
        e.attr = A_BOLD;
        break;
    case MITM_ST_HEADING_INACTIVE:
        e = (struct pal_entry){text, sol ? S_BASE02 : -1, 0};
        break;
    case MITM_ST_KEY:
        e.fg = sol ? blue : COLOR_CYAN;
        e.attr = A_BOLD;
        break;
    case MITM_ST_HEAD:
        e.attr = A_BOLD;
        break;
    case MITM_ST_OPTION_SELECTED:
        e = (struct pal_entry){sol ? S_BASE03 : COLOR_BLACK, sol ? S_BASE00 : COLOR_WHITE, 0};
        break;
    case MITM_ST_OPTION_ACTIVE:
        e.fg = orange;
        break;
    case MITM_ST_FOCUS:
        e.fg = light ? -1 : (sol ? S_BASE1 : COLOR_YELLOW);
        e.attr = A_BOLD;
        break;
    case MITM_ST_SCHEME_HTTP:
        e.fg = cyan;
        break;
    case MITM_ST_SCHEME_HTTPS:
        e.fg = green;
        break;
    case MITM_ST_SCHEME_WS:
        e.fg = magenta;
        break;
    case MITM_ST_SCHEME_WSS:
        e.fg = magenta;
        e.attr = A_BOLD;
        break;
    case MITM_ST_SCHEME_TCP:
        e.fg = magenta;
        break;
    case MITM_ST_SCHEME_OTHER:
        e.fg = magenta;
        break;
    case MITM_ST_METHOD_GET:
        e.fg = green;
        break;
    case MITM_ST_METHOD_POST:
        e.fg = orange;
        break;
    case MITM_ST_METHOD_DELETE:
        e.fg = red;
        break;
    case MITM_ST_METHOD_HEAD:
        e.fg = cyan;
        break;
    case MITM_ST_METHOD_PUT:
        e.fg = red;
        break;
    case MITM_ST_METHOD_OTHER:
        e.fg = magenta;
        break;
    case MITM_ST_URL_DOMAIN:
        e.fg = sol ? 252 : -1;
        if (light)
            e.fg = -1;
        break;
    case MITM_ST_CONTENT_NONE:
        e.fg = dim;
        break;
    case MITM_ST_CONTENT_TEXT:
        break;
    case MITM_ST_CONTENT_SCRIPT:
        e.fg = green;
        break;
    case MITM_ST_CONTENT_MEDIA:
        e.fg = blue;
        break;
    case MITM_ST_CONTENT_DATA:
        e.fg = yellow;
        break;
    case MITM_ST_CONTENT_RAW:
        e.fg = dim;
        break;
    case MITM_ST_CONTENT_OTHER:
        e.fg = dim;
        break;
    case MITM_ST_CODE_200:
        e.fg = green;
        break;
    case MITM_ST_CODE_300:
        e.fg = blue;
        break;
    case MITM_ST_CODE_400:
        e.fg = orange;
        break;
    case MITM_ST_CODE_500:
        e.fg = red;
        break;
    case MITM_ST_CODE_OTHER:
        e.fg = magenta;
        break;
    case MITM_ST_ERROR:
        e.fg = red;
        break;
    case MITM_ST_WARN:
        e.fg = orange;
        break;
    case MITM_ST_ALERT:
        e.fg = magenta;
        break;
    case MITM_ST_HEADER:
        e.fg = blue;
        break;
    case MITM_ST_HIGHLIGHT:
        e.fg = dim;
        e.attr = A_BOLD;
        break;
    case MITM_ST_INTERCEPT:
        e.fg = red;
        e.attr = sol ? 0 : A_BOLD;
        break;
    case MITM_ST_REPLAY:
        e.fg = green;
        break;
    case MITM_ST_MARK:
        e.fg = sol ? S_BASE01 : COLOR_RED;
        break;
    case MITM_ST_STRING:
        e.fg = cyan;
        break;
    case MITM_ST_NUMBER:
        e.fg = blue;
        break;
    case MITM_ST_BOOLEAN:
        e.fg = magenta;
        break;
    case MITM_ST_FROM_CLIENT:
        e.fg = blue;
        break;
    case MITM_ST_TO_CLIENT:
        e.fg = red;
        break;
    case MITM_ST_FOCUSFIELD:
        e = (struct pal_entry){sol ? S_BASE0 : COLOR_BLACK, sol ? S_BASE02 : COLOR_WHITE, 0};
        break;
    case MITM_ST_EDITFIELD:
        break;
    case MITM_ST_COMMANDER_COMMAND:
        e.fg = blue;
        break;
    case MITM_ST_COMMANDER_HINT:
        e.fg = dim;
        break;
    case MITM_ST_GRADIENT_FAST:
        e.fg = green;
        break;
    case MITM_ST_GRADIENT_MID:
        e.fg = yellow;
        break;
    case MITM_ST_GRADIENT_SLOW:
        e.fg = red;
        break;
    default:
        break;
    }
    return e;
}

static void palette_apply(const char *name)
{
    if (!has_colors())
        return;
    bool c256 = COLORS >= 256;
    for (int st = 0; st < MITM_ST_COUNT; st++) {
        struct pal_entry e = pal_for(name ? name : "solarized_dark", (enum mitm_con_style)st, c256);
        if (!mitm_options.console_palette_transparent && e.bg < 0)
            e.bg = strstr(name, "light") ? COLOR_WHITE : COLOR_BLACK;
        if (e.fg >= COLORS)
            e.fg = -1;
        if (e.bg >= COLORS)
            e.bg = -1;
        init_pair((short)(st + 1), e.fg, e.bg);
        style_attr[st] = e.attr;
    }
}

static attr_t attr_of(enum mitm_con_style st)
{
    return (has_colors() ? COLOR_PAIR(st + 1) : (st == MITM_ST_HEADING ? A_REVERSE : 0)) | style_attr[st];
}

/* ---- drawing helpers ---- */

/* The pane being drawn: its first column and width (-1: the whole terminal). A split
 * layout draws each pane with the same screen code, moved and narrowed here. */
static int pane_x, pane_w = -1;

int con_cols(void)
{
    return pane_w >= 0 ? pane_w : COLS;
}

static void con_origin(int x, int w)
{
    pane_x = x;
    pane_w = w;
}

/* Clip a cell to the pane, in terminal columns; returns its width there. */
static int clip(int *col, int width)
{
    int end = *col + width, w = con_cols();
    if (end > w)
        end = w;
    width = end - *col;
    *col += pane_x;
    return width;
}

void con_put(int row, int col, int width, const char *s, size_t n, enum mitm_con_style st)
{
    width = clip(&col, width);
    if (width <= 0)
        return;
    size_t used;
    size_t k = mitm_text_fit(s, n, (size_t)width, &used);
    attrset(attr_of(st));
    mvaddnstr(row, col, s, (int)k);
    for (size_t i = used; i < (size_t)width; i++)
        mvaddch(row, col + (int)i, ' ');
}

void con_put_line(int row, int col, int width, const struct con_line *l, bool selected)
{
    width = clip(&col, width);
    int x = col, end = col + width;
    for (size_t i = 0; l && i < l->nsegs && x < end; i++) {
        const char *s = l->text + l->segs[i].off;
        size_t used, k = mitm_text_fit(s, l->segs[i].len, (size_t)(end - x), &used);
        attrset(attr_of(l->segs[i].style) | (selected ? A_REVERSE : 0));
        mvaddnstr(row, x, s, (int)k);
        x += (int)used;
        if (k < l->segs[i].len)
            break;
    }
    attrset(attr_of(MITM_ST_TEXT) | (selected ? A_REVERSE : 0));
    for (; x < end; x++)
        mvaddch(row, x, ' ');
}

void con_fill(int row, enum mitm_con_style st)
{
    attrset(attr_of(st));
    mvhline(row, pane_x, ' ', con_cols());
}

/* ---- the event log ---- */

static void log_tap(void *arg, enum mitm_log_level lvl, const char *line, unsigned long len)
{
    struct console *c = arg;
    pthread_mutex_lock(&c->log_mu);
    size_t slot = (c->ev_head + c->ev_n) % EVENTLOG_MAX;
    if (c->ev_n == EVENTLOG_MAX) {
        free(c->events[c->ev_head].text);
        c->ev_head = (c->ev_head + 1) % EVENTLOG_MAX;
        c->ev_n--;
        slot = (c->ev_head + c->ev_n) % EVENTLOG_MAX;
    }
    c->events[slot].lvl = lvl;
    c->events[slot].text = mitm_strndup(line, len);
    c->ev_n++;
    if (lvl == MITM_LOG_ERROR || lvl == MITM_LOG_WARN || lvl == MITM_LOG_ALERT) {
        /* without the "[time][peer]" stamps: the status bar shows the message */
        const char *p = line, *end = line + len;
        while (p < end && *p == '[') {
            const char *q = memchr(p, ']', (size_t)(end - p));
            if (!q)
                break;
            p = q + 1;
        }
        while (p < end && *p == ' ')
            p++;
        snprintf(c->alert, sizeof(c->alert), "%.*s", (int)(end - p), p);
        c->alert_lvl = lvl;
        c->alert_new = true;
    }
    bool wake = c->wake_on;
    pthread_mutex_unlock(&c->log_mu);
    if (wake)
        uv_async_send(&c->log_wake);
}

/* The wake-up handle is about to close: later lines (the master's teardown) only go to
 * the ring. */
static void log_wake_close(struct console *c)
{
    pthread_mutex_lock(&c->log_mu);
    c->wake_on = false;
    pthread_mutex_unlock(&c->log_mu);
    uv_close((uv_handle_t *)&c->log_wake, NULL);
}

/* New log lines: redraw (the event log), and as mitmproxy's console an error, warning or
 * alert also goes to the status bar ("Alert: ..."). */
static void on_log_wake(uv_async_t *h)
{
    struct console *c = h->data;
    char text[sizeof(c->alert)];
    enum mitm_log_level lvl = MITM_LOG_INFO;
    pthread_mutex_lock(&c->log_mu);
    bool show = c->alert_new;
    if (show) {
        memcpy(text, c->alert, sizeof(text));
        lvl = c->alert_lvl;
        c->alert_new = false;
    }
    pthread_mutex_unlock(&c->log_mu);
    if (show)
        con_message(c,
                    lvl == MITM_LOG_ALERT  ? MITM_ST_ALERT
                    : lvl == MITM_LOG_WARN ? MITM_ST_WARN
                                           : MITM_ST_ERROR,
                    "%s: %s",
                    lvl == MITM_LOG_ALERT  ? "Alert"
                    : lvl == MITM_LOG_WARN ? "Warn"
                                           : "Error",
                    text);
    con_dirty(c);
}

/* Startup failed: as mitmproxy's console (errorcheck with repeat_errors_on_stderr), the
 * errors logged are repeated on stderr, since the screen swallowed them. */
static void print_errors(struct console *c)
{
    pthread_mutex_lock(&c->log_mu);
    size_t n = 0;
    for (size_t i = 0; i < c->ev_n; i++)
        n += c->events[(c->ev_head + i) % EVENTLOG_MAX].lvl == MITM_LOG_ERROR;
    if (n)
        fprintf(stderr, "Error%s logged during startup:\n", n > 1 ? "s" : "");
    for (size_t i = 0; i < c->ev_n; i++) {
        const struct con_event *e = &c->events[(c->ev_head + i) % EVENTLOG_MAX];
        if (e->lvl == MITM_LOG_ERROR)
            fprintf(stderr, "%s\n", e->text);
    }
    pthread_mutex_unlock(&c->log_mu);
}

/* ---- the terminal ---- */

static void restore_terminal(void)
{
    if (the_console && the_console->curses_on) {
        the_console->curses_on = false;
        endwin();
    }
}

/* A crash must not leave the user's terminal raw and without echo: put it back, then die
 * of the same signal (SA_RESETHAND restored the default action). */
static void on_fatal(int sig)
{
    restore_terminal();
    raise(sig);
}

/* Returns 0, or -1 if the terminal cannot be used (unknown TERM). */
static int terminal_on(struct console *c)
{
    /* the terminal's own size, also after a resize: curses would believe COLUMNS and LINES
     * from the environment over it (make test sets COLUMNS for mitmc dump) */
    unsetenv("COLUMNS");
    unsetenv("LINES");
    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (!scr)
        return -1;
    set_term(scr);
    struct sigaction sa = {.sa_handler = on_fatal, .sa_flags = (int)SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        sigaction(fatal[i], &sa, NULL);
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    if (has_colors()) {
        start_color();
        use_default_colors();
    }
    palette_apply(mitm_options.console_palette);
    if (mitm_options.console_mouse)
        mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
    c->curses_on = true;
    getmaxyx(stdscr, c->rows, c->cols);
    return 0;
}

void con_suspend(struct console *c)
{
    if (!c->curses_on)
        return;
    def_prog_mode();
    endwin();
}

void con_resume(struct console *c)
{
    if (!c->curses_on)
        return;
    reset_prog_mode();
    refresh();
    clearok(stdscr, TRUE);
    con_dirty(c);
}

/* ---- screens stack ---- */

struct con_screen *con_top(struct console *c)
{
    return &c->stack[c->depth - 1];
}

struct con_screen *con_push(struct console *c, enum con_screen_kind kind)
{
    /* a screen already open is brought back rather than stacked twice (mitmproxy's
     * window stack keeps one of each) */
    for (size_t i = 1; i < c->depth; i++) {
        if (c->stack[i].kind == kind && kind != SCR_GRID) {
            while (c->depth > i + 1)
                con_pop(c);
            return con_top(c);
        }
    }
    if (c->depth == STACK_MAX)
        con_pop(c);
    struct con_screen *s = &c->stack[c->depth++];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->stale = true;
    s->doc_index = -1;
    s->follow = true;
    con_dirty(c);
    return s;
}

static void swap_panes(struct console *c)
{
    struct con_screen tmp[STACK_MAX];
    memcpy(tmp, c->stack, sizeof(tmp));
    memcpy(c->stack, c->other, sizeof(tmp));
    memcpy(c->other, tmp, sizeof(tmp));
    size_t d = c->depth;
    c->depth = c->other_depth;
    c->other_depth = d;
    c->pane ^= 1;
}

void con_pane_switch(struct console *c)
{
    /* mitmproxy's Window.switch: the single layout has pane 0 only */
    if (strcmp(mitm_options.console_layout, "single") == 0) {
        if (c->pane)
            swap_panes(c);
        return;
    }
    swap_panes(c);
    con_top(c)->stale = true;
    con_dirty(c);
}

void con_pop(struct console *c)
{
    if (c->depth <= 1)
        return;
    struct con_screen *s = con_top(c);
    if (s->kind == SCR_GRID)
        grid_commit(c, &s->grid);
    screens_free(s);
    c->depth--;
    con_top(c)->stale = true;
    con_dirty(c);
}

unsigned con_context(const struct console *c)
{
    if (c->chooser.on)
        return MITM_KCTX_CHOOSER;
    switch (c->stack[c->depth - 1].kind) {
    case SCR_FLOWLIST:
        return MITM_KCTX_FLOWLIST;
    case SCR_FLOWVIEW:
        return MITM_KCTX_FLOWVIEW;
    case SCR_EVENTLOG:
        return MITM_KCTX_EVENTLOG;
    case SCR_HELP:
        return MITM_KCTX_HELP;
    case SCR_OPTIONS:
        return MITM_KCTX_OPTIONS;
    case SCR_KEYBINDINGS:
        return MITM_KCTX_KEYBINDINGS;
    case SCR_COMMANDS:
        return MITM_KCTX_COMMANDS;
    case SCR_GRID:
        return MITM_KCTX_GRIDEDITOR;
    }
    return MITM_KCTX_GLOBAL;
}

/* ---- messages and commands ---- */

void con_message(struct console *c, enum mitm_con_style st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof(c->message), fmt, ap);
    va_end(ap);
    /* one line: the message line has no room for more */
    for (char *p = c->message; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    c->message_style = st;
    con_dirty(c);
}

int con_run(struct console *c, const char *line)
{
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    char err[1024] = "";
    int rc = mitm_cmd_call_line(c->m.commands, line, &out, err, sizeof(err));
    if (rc < 0)
        con_message(c, MITM_ST_ERROR, "%s", err);
    else if (out.len) /* as mitmproxy: a result opens in a data viewer over the screen */
        chooser_view(c, "Command result", (const char *)mitm_buf_data(&out), out.len);
    mitm_buf_free(&out);
    con_dirty(c);
    return rc;
}

static void on_stopped(void *arg)
{
    struct console *c = arg;
    if (!c->handles_on)
        return;
    c->handles_on = false;
    uv_poll_stop(&c->input);
    uv_close((uv_handle_t *)&c->input, NULL);
    uv_close((uv_handle_t *)&c->sigwinch, NULL);
    uv_close((uv_handle_t *)&c->sigint, NULL);
    uv_close((uv_handle_t *)&c->sigterm, NULL);
    uv_close((uv_handle_t *)&c->redraw, NULL);
    log_wake_close(c);
}

void con_exit(struct console *c)
{
    if (c->exiting)
        return;
    c->exiting = true;
    restore_terminal(); /* at once: the proxy's grace period is not the user's to wait for */
    mitm_master_stop(&c->m, SHUTDOWN_GRACE_S, on_stopped, c);
}

static void quit_key(struct console *c, char key, void *arg)
{
    (void)arg;
    if (key == 'y')
        con_exit(c);
}

void con_prompt_exit(struct console *c)
{
    prompt_onekey(c, "Quit", "yn", quit_key, NULL, NULL);
}

/* ---- drawing ---- */

static const char *screen_title(struct console *c)
{
    switch (con_top(c)->kind) {
    case SCR_FLOWLIST:
        return "Flows";
    case SCR_FLOWVIEW:
        return "Flow Details";
    case SCR_EVENTLOG:
        return "Events";
    case SCR_HELP:
        return "Help";
    case SCR_OPTIONS:
        return "Options";
    case SCR_KEYBINDINGS:
        return "Key Bindings";
    case SCR_COMMANDS:
        return "Commands";
    case SCR_GRID:
        return con_top(c)->grid.title;
    }
    return "";
}

/* One "[name:value]" item with the key letter highlighted as mitmproxy's status bar. */
static void status_item(struct con_doc *d, const char *pre, const char *key, const char *rest)
{
    doc_add(d, "[", 1, MITM_ST_HEADING);
    if (pre)
        doc_add(d, pre, strlen(pre), MITM_ST_HEADING);
    doc_add(d, key, strlen(key), MITM_ST_HEADING_KEY);
    doc_add(d, rest, strlen(rest), MITM_ST_HEADING);
    doc_add(d, "]", 1, MITM_ST_HEADING);
}

static void status_line(struct console *c, int row)
{
    struct con_doc d = {0};
    struct mitm_store_view *v = c->m.view;
    size_t count = v ? mitm_store_view_count(v) : 0;
    ssize_t f = v ? mitm_store_view_focus(v) : -1;
    ssize_t pos = f >= 0 ? mitm_store_view_pos(v, (size_t)f) : -1;
    const struct mitm_opt_info *rev = mitm_options_info("view_order_reversed");
    bool reversed = rev && *(bool *)((char *)&mitm_options + rev->offset);
    char t[512];
    snprintf(t, sizeof(t), "%s [%zd/%zu]", reversed ? "\xe2\x87\xa7" : "\xe2\x87\xa9", pos + 1, count);
    size_t w = mitm_text_width(t, strlen(t));
    doc_line(&d, t, strlen(t), MITM_ST_HEADING);
    for (; w < 11; w++)
        doc_add(&d, " ", 1, MITM_ST_HEADING);
    if (mitm_options.modify_headers.n)
        status_item(&d, NULL, "H", "eaders");
    if (mitm_options.modify_body.n) {
        snprintf(t, sizeof(t), "[%zu body modifications]", mitm_options.modify_body.n);
        doc_add(&d, t, strlen(t), MITM_ST_HEADING);
    }
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    char err[256];
    if (mitm_cmd_call(c->m.commands, "replay.client.count", NULL, 0, &out, err, sizeof(err)) == 0 &&
        out.len && strncmp((const char *)mitm_buf_data(&out), "0", out.len) != 0) {
        snprintf(t, sizeof(t), ":%.*s", (int)out.len, (const char *)mitm_buf_data(&out));
        status_item(&d, NULL, "cplayback", t);
    }
    mitm_buf_free(&out);
    if (mitm_options.ignore_hosts.n) {
        snprintf(t, sizeof(t), "gnore:%zu", mitm_options.ignore_hosts.n);
        status_item(&d, NULL, "I", t);
    }
    if (mitm_options.allow_hosts.n) {
        snprintf(t, sizeof(t), "llow:%zu", mitm_options.allow_hosts.n);
        status_item(&d, NULL, "A", t);
    }
    if (mitm_options.tcp_hosts.n) {
        snprintf(t, sizeof(t), "CP:%zu", mitm_options.tcp_hosts.n);
        status_item(&d, NULL, "T", t);
    }
    if (mitm_options.intercept && *mitm_options.intercept) {
        snprintf(t, sizeof(t), ":%s", mitm_options.intercept);
        status_item(&d, mitm_options.intercept_active ? NULL : "X", "i", t);
    }
    if (mitm_options.view_filter && *mitm_options.view_filter) {
        snprintf(t, sizeof(t), ":%s", mitm_options.view_filter);
        status_item(&d, NULL, "f", t);
    }
    if (mitm_options.stickycookie && *mitm_options.stickycookie) {
        snprintf(t, sizeof(t), ":%s", mitm_options.stickycookie);
        status_item(&d, NULL, "t", t);
    }
    if (mitm_options.stickyauth && *mitm_options.stickyauth) {
        snprintf(t, sizeof(t), ":%s", mitm_options.stickyauth);
        status_item(&d, NULL, "u", t);
    }
    const char *cv = c->flowview_mode ? c->flowview_mode : mitm_options.console_default_contentview;
    if (cv && strcmp(cv, "auto") != 0) {
        snprintf(t, sizeof(t), "[contentview:%s]", cv);
        doc_add(&d, t, strlen(t), MITM_ST_HEADING);
    }
    char flags[256] = "";
    const char *names[] = {
        mitm_options.anticache ? "anticache" : NULL, mitm_options.anticomp ? "anticomp" : NULL,
        mitm_options.showhost ? "showhost" : NULL, !mitm_options.upstream_cert ? "no-upstream-cert" : NULL,
        mitm_options.console_focus_follow ? "following" : NULL};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i])
            snprintf(flags + strlen(flags), sizeof(flags) - strlen(flags), "%s%s", flags[0] ? ":" : "",
                     names[i]);
    if (flags[0]) {
        snprintf(t, sizeof(t), "[%s]", flags);
        doc_add(&d, t, strlen(t), MITM_ST_HEADING);
    }
    if (mitm_options.mode.n > 1) {
        snprintf(t, sizeof(t), "[modes:%zu]", mitm_options.mode.n);
        doc_add(&d, t, strlen(t), MITM_ST_HEADING);
    } else if (mitm_options.mode.n == 1 && strcmp(mitm_options.mode.v[0], "regular") != 0) {
        snprintf(t, sizeof(t), "[%s]", mitm_options.mode.v[0]);
        doc_add(&d, t, strlen(t), MITM_ST_HEADING);
    }
    if (mitm_options.scripts.n) {
        snprintf(t, sizeof(t), "[scripts:%zu]", mitm_options.scripts.n);
        doc_add(&d, t, strlen(t), MITM_ST_HEADING);
    }
    if (mitm_options.save_stream_file && *mitm_options.save_stream_file) {
        snprintf(t, sizeof(t), ":%s", mitm_options.save_stream_file);
        status_item(&d, NULL, "W", t);
    }
    con_fill(row, MITM_ST_HEADING);
    con_put_line(row, 0, COLS, &d.v[0], false);
    if (mitm_options.server && c->m.proxy) {
        const char *h =
            mitm_options.listen_host && *mitm_options.listen_host ? mitm_options.listen_host : "*";
        snprintf(t, sizeof(t), "[%s:%d]", h, mitm_proxy_port(c->m.proxy));
        int tw = (int)strlen(t), used = (int)mitm_text_width(d.v[0].text, d.v[0].len);
        if (COLS - tw > used)
            con_put(row, COLS - tw, tw, t, (size_t)tw, MITM_ST_HEADING);
    }
    doc_clear(&d);
}

/* The keys worth knowing in this context (mitmproxy 12's quick help). */
static void quickhelp_line(struct console *c, int row)
{
    static const char *const flowlist[][2] = {{"?", "help"},      {"enter", "view"}, {":", "cmd"},
                                              {"i", "intercept"}, {"f", "filter"},   {"a", "resume"},
                                              {"r", "replay"},    {"e", "edit"},     {"q", "quit"}};
    static const char *const other[][2] = {{"?", "help"}, {"tab", "next"}, {":", "cmd"}, {"q", "back"}};
    bool fl = con_top(c)->kind == SCR_FLOWLIST;
    size_t n = fl ? sizeof(flowlist) / sizeof(flowlist[0]) : sizeof(other) / sizeof(other[0]);
    struct con_doc d = {0};
    doc_line(&d, "", 0, MITM_ST_TEXT);
    for (size_t i = 0; i < n; i++) {
        const char *k = fl ? flowlist[i][0] : other[i][0], *h = fl ? flowlist[i][1] : other[i][1];
        doc_add(&d, " ", 1, MITM_ST_TEXT);
        doc_add(&d, k, strlen(k), MITM_ST_KEY);
        doc_add(&d, " ", 1, MITM_ST_TEXT);
        doc_add(&d, h, strlen(h), MITM_ST_TEXT);
        doc_add(&d, " ", 1, MITM_ST_TEXT);
    }
    con_put_line(row, 0, COLS, &d.v[0], false);
    doc_clear(&d);
}

/* One pane of a split layout at (y, x), h by w: its title (heading when focused) over its
 * top screen. The other pane's stack is swapped in for the time of the drawing. */
static void draw_pane(struct console *c, int idx, int y, int x, int h, int w)
{
    bool away = idx != c->pane;
    if (away)
        swap_panes(c);
    con_origin(x, w);
    if (mitm_options.console_layout_headers && h > 1) {
        const char *t = screen_title(c);
        con_put(y, 0, w, t, strlen(t), away ? MITM_ST_HEADING_INACTIVE : MITM_ST_HEADING);
        y++, h--;
    }
    if (h > 0)
        screens_draw(c, y, h);
    con_origin(0, -1);
    if (away)
        swap_panes(c);
}

/* Where pane idx (0, 1) of a split layout is in a body of that many rows: one above the
 * other (vertical, urwid's Pile) or side by side with a column between (horizontal, urwid's
 * Columns). False in the single layout. */
static bool pane_rect(int idx, int body, int *y, int *x, int *h, int *w)
{
    const char *lay = mitm_options.console_layout;
    if (strcmp(lay, "vertical") == 0) {
        int h0 = body / 2;
        *y = idx ? h0 : 0, *h = idx ? body - h0 : h0, *x = 0, *w = COLS;
        return true;
    }
    if (strcmp(lay, "horizontal") == 0) {
        int w0 = (COLS - 1) / 2;
        *y = 0, *h = body, *x = idx ? w0 + 1 : 0, *w = idx ? COLS - w0 - 1 : w0;
        return true;
    }
    return false;
}

/* Rows of the body (between the title line and the quick help, message and status lines). */
static int body_rows(const struct console *c)
{
    bool qh = mitm_options.console_quickhelp_visible && c->rows > 6;
    return c->rows - 2 - (qh ? 1 : 0);
}

/* The body: one pane, or the two of a split layout. */
static void draw_body(struct console *c, int body)
{
    int r[2][4];
    bool split = pane_rect(0, body, &r[0][0], &r[0][1], &r[0][2], &r[0][3]) &&
                 pane_rect(1, body, &r[1][0], &r[1][1], &r[1][2], &r[1][3]);
    if (!split) {
        if (c->pane)
            swap_panes(c);
        int top = 0;
        if (mitm_options.console_layout_headers) {
            con_fill(0, MITM_ST_HEADING);
            const char *t = screen_title(c);
            con_put(0, 0, COLS, t, strlen(t), MITM_ST_HEADING);
            top = 1;
        }
        if (body - top > 0)
            screens_draw(c, top, body - top);
        return;
    }
    for (int i = 0; i < 2; i++)
        draw_pane(c, i, r[i][0], r[i][1], r[i][2], r[i][3]);
}

static void draw(struct console *c)
{
    c->dirty = false;
    if (!c->curses_on || c->exiting)
        return;
    getmaxyx(stdscr, c->rows, c->cols);
    int rows = c->rows;
    erase();
    bool qh = mitm_options.console_quickhelp_visible && rows > 6;
    int body = body_rows(c);
    int top = mitm_options.console_layout_headers ? 1 : 0;
    if (body > 0)
        draw_body(c, body);
    if (qh)
        quickhelp_line(c, rows - 3);
    if (c->prompt.kind != PROMPT_NONE) {
        prompt_draw(c, rows - 2);
    } else {
        attrset(attr_of(MITM_ST_TEXT));
        con_put(rows - 2, 0, COLS, c->message, strlen(c->message), c->message_style);
    }
    status_line(c, rows - 1);
    if (c->chooser.on && body - top > 2)
        chooser_draw(c, top, body - top);
    if (c->prompt.kind != PROMPT_NONE)
        curs_set(1);
    else
        curs_set(0);
    if (c->prompt.kind != PROMPT_NONE)
        prompt_draw(c, rows - 2); /* leaves the cursor in the prompt */
    refresh();
}

static void on_redraw(uv_timer_t *t)
{
    struct console *c = t->data;
    c->redraw_armed = false;
    if (c->dirty)
        draw(c);
}

void con_dirty(struct console *c)
{
    c->dirty = true;
    if (!c->redraw_armed && c->handles_on && !c->exiting) {
        c->redraw_armed = true;
        uv_timer_start(&c->redraw, on_redraw, REDRAW_MS, 0);
    }
}

/* ---- input ---- */

/* urwid's name for a key read by wget_wch. */
static void key_label(int rc, wint_t ch, char *out, size_t cap)
{
    out[0] = 0;
    if (rc == KEY_CODE_YES) {
        switch (ch) {
        case KEY_UP:
            snprintf(out, cap, "up");
            return;
        case KEY_DOWN:
            snprintf(out, cap, "down");
            return;
        case KEY_LEFT:
            snprintf(out, cap, "left");
            return;
        case KEY_RIGHT:
            snprintf(out, cap, "right");
            return;
        case KEY_HOME:
            snprintf(out, cap, "home");
            return;
        case KEY_END:
            snprintf(out, cap, "end");
            return;
        case KEY_NPAGE:
            snprintf(out, cap, "page_down");
            return;
        case KEY_PPAGE:
            snprintf(out, cap, "page_up");
            return;
        case KEY_BTAB:
            snprintf(out, cap, "shift tab");
            return;
        case KEY_BACKSPACE:
            snprintf(out, cap, "backspace");
            return;
        case KEY_DC:
            snprintf(out, cap, "delete");
            return;
        case KEY_IC:
            snprintf(out, cap, "insert");
            return;
        case KEY_ENTER:
            snprintf(out, cap, "enter");
            return;
        case KEY_MOUSE:
            snprintf(out, cap, "mouse");
            return;
        case KEY_RESIZE:
            snprintf(out, cap, "resize");
            return;
        default:
            break;
        }
        if (ch >= KEY_F(1) && ch <= KEY_F(12)) {
            snprintf(out, cap, "f%d", (int)(ch - KEY_F0));
            return;
        }
        const char *kn = keyname((int)ch);
        if (kn && strncmp(kn, "kRIT5", 5) == 0)
            snprintf(out, cap, "ctrl right");
        else if (kn && strncmp(kn, "kLFT5", 5) == 0)
            snprintf(out, cap, "ctrl left");
        else if (kn && strncmp(kn, "kUP5", 4) == 0)
            snprintf(out, cap, "ctrl up");
        else if (kn && strncmp(kn, "kDN5", 4) == 0)
            snprintf(out, cap, "ctrl down");
        return;
    }
    if (ch == '\r' || ch == '\n')
        snprintf(out, cap, "enter");
    else if (ch == 27)
        snprintf(out, cap, "esc");
    else if (ch == '\t')
        snprintf(out, cap, "tab");
    else if (ch == ' ')
        snprintf(out, cap, "space");
    else if (ch == 127 || ch == 8)
        snprintf(out, cap, "backspace");
    else if (ch >= 1 && ch <= 26)
        snprintf(out, cap, "ctrl %c", (char)('a' + ch - 1));
    else if (ch < 32)
        return;
    else {
        mbstate_t st = {0};
        size_t n = wcrtomb(out, (wchar_t)ch, &st);
        out[n == (size_t)-1 ? 0 : n] = 0;
    }
}

/* What urwid's widgets do with keys no binding takes. */
static const char *builtin_nav(const char *name)
{
    static const char *const map[][2] = {
        {"up", "console.nav.up"},          {"down", "console.nav.down"},
        {"page_up", "console.nav.pageup"}, {"page_down", "console.nav.pagedown"},
        {"home", "console.nav.start"},     {"end", "console.nav.end"},
        {"left", "console.nav.left"},      {"right", "console.nav.right"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i][0], name) == 0)
            return map[i][1];
    return NULL;
}

static void on_mouse(struct console *c)
{
    MEVENT ev;
    if (getmouse(&ev) != OK)
        return;
    if (ev.bstate & BUTTON4_PRESSED) {
        screens_nav(c, "up");
        return;
    }
    if (ev.bstate & BUTTON5_PRESSED) {
        screens_nav(c, "down");
        return;
    }
    int top = mitm_options.console_layout_headers ? 1 : 0, y0 = 0;
    int py, px, ph, pw;
    for (int i = 0; i < 2 && pane_rect(i, body_rows(c), &py, &px, &ph, &pw); i++) {
        if (ev.y < py || ev.y >= py + ph || ev.x < px || ev.x >= px + pw)
            continue;
        if (i != c->pane) /* a click in the other pane focuses it, as urwid does */
            con_pane_switch(c);
        y0 = py;
        con_dirty(c);
    }
    struct con_screen *s = con_top(c);
    if (s->kind != SCR_FLOWLIST || ev.y < y0 + top || ev.y >= body_rows(c) || !c->m.view)
        return;
    size_t pos = s->top + (size_t)(ev.y - y0 - top) / flowlist_row_height();
    ssize_t idx = mitm_store_view_at(c->m.view, pos);
    if (idx >= 0) {
        mitm_store_view_set_focus(c->m.view, (size_t)idx);
        con_dirty(c);
    }
}

static void handle_key(struct console *c, int rc, wint_t ch)
{
    char name[64];
    key_label(rc, ch, name, sizeof(name));
    if (!name[0] || strcmp(name, "resize") == 0)
        return;
    if (strcmp(name, "mouse") == 0) {
        on_mouse(c);
        return;
    }
    if (c->prompt.kind != PROMPT_NONE) {
        prompt_key(c, name, rc == KEY_CODE_YES ? 0 : ch);
        return;
    }
    c->message[0] = 0; /* a key press clears the last message, as mitmproxy's status bar */
    if (strcmp(name, "ctrl c") == 0) {
        con_exit(c);
        return;
    }
    if (c->chooser.on) {
        chooser_key(c, name);
        return;
    }
    if (con_top(c)->kind == SCR_GRID && (strcmp(name, "enter") == 0 || strcmp(name, "tab") == 0 ||
                                         strcmp(name, "left") == 0 || strcmp(name, "right") == 0)) {
        grid_key(c, name);
        return;
    }
    const struct mitm_key_binding *b = mitm_keymap_lookup(c->keys, con_context(c), name);
    if (b) {
        con_run(c, b->cmd);
        return;
    }
    const char *nav = builtin_nav(name);
    if (nav)
        con_run(c, nav);
}

static void on_input(uv_poll_t *h, int status, int events)
{
    struct console *c = h->data;
    (void)events;
    if (status < 0 || c->exiting)
        return;
    wint_t ch;
    int rc, n = 0;
    /* every key already typed: a paste arrives as one burst */
    while (!c->exiting && (rc = wget_wch(stdscr, &ch)) != ERR && n++ < 4096)
        handle_key(c, rc, ch);
    if (!c->exiting) {
        uv_timer_stop(&c->redraw);
        c->redraw_armed = false;
        draw(c);
    }
}

static void on_winch(uv_signal_t *h, int sig)
{
    struct console *c = h->data;
    (void)sig;
    if (!c->curses_on)
        return;
    endwin(); /* ncurses re-reads the size on the next refresh */
    refresh();
    getmaxyx(stdscr, c->rows, c->cols);
    clearok(stdscr, TRUE);
    draw(c);
}

static void on_term(uv_signal_t *h, int sig)
{
    (void)sig;
    con_exit(h->data);
}

/* ---- the master's callbacks ---- */

static void on_flow(void *arg, const struct mitm_pub *ev, bool loaded, ssize_t index)
{
    struct console *c = arg;
    (void)loaded;
    mitm_flow_unref(ev->flow); /* the list draws from the store's summaries */
    if (index >= 0)
        flowview_stale(c, index);
    con_dirty(c);
    if (c->loading) { /* reading -r: no loop, no timer; draw every REDRAW_MS by hand */
        uint64_t now = uv_hrtime();
        if (now - c->last_draw >= (uint64_t)REDRAW_MS * 1000000) {
            c->last_draw = now;
            draw(c);
        }
    }
}

static void on_changed(void *arg, ssize_t index)
{
    struct console *c = arg;
    flowview_stale(c, index);
    con_dirty(c);
}

static void on_option(void *arg, const char *name)
{
    struct console *c = arg;
    if (strcmp(name, "console_palette") == 0 || strcmp(name, "console_palette_transparent") == 0) {
        if (c->curses_on)
            palette_apply(mitm_options.console_palette);
    } else if (strcmp(name, "console_eventlog_verbosity") == 0) {
        int lvl = mitm_log_level_parse(mitm_options.console_eventlog_verbosity);
        mitm_log_set_level(lvl < 0 ? MITM_LOG_INFO : (enum mitm_log_level)lvl);
    } else if (strcmp(name, "console_mouse") == 0 && c->curses_on) {
        mousemask(mitm_options.console_mouse
                      ? BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED
                      : 0,
                  NULL);
    }
    flowview_stale(c, -1);
    con_dirty(c);
}

/* ---- start and end ---- */

static void load_keys(struct console *c)
{
    char *confdir = mitm_options_confdir(&mitm_options);
    size_t n = strlen(confdir) + 16;
    char *path = mitm_alloc(n);
    snprintf(path, n, "%s/keys.yaml", confdir);
    char err[1024];
    if (mitm_keymap_load_file(c->keys, path, err, sizeof(err)) < 0)
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
    free(path);
    free(confdir);
}

static void start_handles(struct console *c)
{
    uv_poll_init(c->loop, &c->input, STDIN_FILENO);
    c->input.data = c;
    uv_poll_start(&c->input, UV_READABLE, on_input);
    uv_signal_init(c->loop, &c->sigwinch);
    uv_signal_init(c->loop, &c->sigint);
    uv_signal_init(c->loop, &c->sigterm);
    c->sigwinch.data = c->sigint.data = c->sigterm.data = c;
    uv_signal_start(&c->sigwinch, on_winch, SIGWINCH);
    uv_signal_start(&c->sigint, on_term, SIGINT);
    uv_signal_start(&c->sigterm, on_term, SIGTERM);
    uv_timer_init(c->loop, &c->redraw);
    c->redraw.data = c;
    c->handles_on = true;
}

static void console_free(struct console *c)
{
    for (size_t i = 0; i < c->depth; i++)
        screens_free(&c->stack[i]);
    for (size_t i = 0; i < c->other_depth; i++)
        screens_free(&c->other[i]);
    prompt_close(c);
    chooser_close(c);
    mitm_keymap_free(c->keys);
    for (size_t i = 0; i < c->nhistory; i++)
        free(c->history[i]);
    for (size_t i = 0; i < c->ev_n; i++)
        free(c->events[(c->ev_head + i) % EVENTLOG_MAX].text);
    free(c->flowview_mode);
    pthread_mutex_destroy(&c->log_mu);
    free(c);
}

static void stopped_early(void *arg)
{
    log_wake_close(arg);
}

/* As mitmproxy's errorcheck: a startup error ends the program before the UI, with what was
 * logged printed to the terminal. Returns rc. */
static int startup_failed(struct console *c, int rc)
{
    restore_terminal();
    mitm_log_set_tap(NULL, NULL);
    print_errors(c);
    mitm_master_stop(&c->m, 0, stopped_early, c);
    uv_run(c->loop, UV_RUN_DEFAULT);
    mitm_master_deinit(&c->m);
    uv_loop_close(c->loop);
    the_console = NULL;
    console_free(c);
    return rc;
}

/* Everything before the screen: the master and its proxy, the commands, -r and -C, the
 * key bindings and the history, the terminal. Returns 0 or the exit status. */
static int start(struct console *c, const struct mitm_cli *cli)
{
    struct mitm_frontend fe = {.arg = c,
                               .flow = on_flow,
                               .changed = on_changed,
                               .option = on_option,
                               .wants_flows = true,
                               .interactive = true};
    mitm_master_init(&c->m, c->loop, cli, &fe);
    c->keys = mitm_keymap_new();
    con_push(c, SCR_FLOWLIST);
    swap_panes(c);
    con_push(c, SCR_EVENTLOG); /* the second pane's base, as mitmproxy's */
    swap_panes(c);
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        mitm_log(MITM_LOG_ERROR, NULL, "The console needs a terminal (use `mitmc dump` without one).");
        return 1;
    }
    char err[512];
    int rc = mitm_master_start(&c->m);
    if (rc)
        return rc;
    if (con_commands_register(c, err, sizeof(err)) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "%s", err);
        return 1;
    }
    load_keys(c);
    history_load(c);
    if (terminal_on(c) < 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "Cannot use the terminal (TERM=%s).",
                 getenv("TERM") ? getenv("TERM") : "");
        return 1;
    }
    /* -r is read with the screen up, drawn as it fills (the loop does not run yet) */
    c->loading = true;
    draw(c);
    bool bad = mitm_options.rfile && mitm_master_read_file(&c->m, mitm_options.rfile) < 0;
    c->loading = false;
    if (bad || mitm_master_client_replay(&c->m) < 0)
        return 1;
    return 0;
}

int mitm_console_dump_commands(const struct mitm_cli *cli, FILE *out)
{
    /* the commands only register themselves (they reach the store and the terminal when
     * called), so a console that never starts can list them */
    struct console *c = mitm_calloc(1, sizeof(*c));
    struct mitm_frontend fe = {.wants_flows = true, .interactive = true};
    mitm_master_init(&c->m, NULL, cli, &fe);
    char err[512];
    int rc = 0;
    if (mitm_ui_commands_register(&c->m, err, sizeof(err)) < 0 ||
        con_commands_register(c, err, sizeof(err)) < 0) {
        fprintf(stderr, "mitmc: error: %s\n", err);
        rc = 1;
    } else {
        struct mitm_buf b;
        mitm_buf_init(&b, 0);
        mitm_cmd_dump(c->m.commands, &b);
        fwrite(mitm_buf_data(&b), 1, b.len, out);
        mitm_buf_free(&b);
    }
    mitm_ui_commands_free(&c->m);
    mitm_cmd_registry_free(c->m.commands);
    free(c);
    return rc;
}

int mitm_console_main(const struct mitm_cli *cli)
{
    setlocale(LC_ALL, "");
    struct console *c = mitm_calloc(1, sizeof(*c));
    the_console = c;
    atexit(restore_terminal);
    c->loop = uv_default_loop();
    pthread_mutex_init(&c->log_mu, NULL);
    uv_async_init(c->loop, &c->log_wake, on_log_wake);
    c->log_wake.data = c;
    c->wake_on = true;
    int lvl = mitm_log_level_parse(mitm_options.console_eventlog_verbosity);
    mitm_log_set_level(lvl < 0 ? MITM_LOG_INFO : (enum mitm_log_level)lvl);
    /* from here every log line goes to the event log, startup errors included */
    mitm_log_set_tap(log_tap, c);
    int rc = start(c, cli);
    if (rc)
        return startup_failed(c, rc);
    start_handles(c);
    draw(c);
    uv_run(c->loop, UV_RUN_DEFAULT);
    restore_terminal();
    mitm_log_set_tap(NULL, NULL);
    rc = c->rc ? c->rc : c->m.rc;
    mitm_master_deinit(&c->m);
    uv_loop_close(c->loop);
    the_console = NULL;
    console_free(c);
    return rc;
}
