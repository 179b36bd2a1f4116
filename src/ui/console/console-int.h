/* The console's insides, shared by its files: the terminal and loop (console.c), the screens
 * (screens.c), the prompt and chooser (prompt.c), the console.* commands (cmds.c) and flow
 * editing (edit.c). Main thread only, except the event log ring (its own mutex). */
#ifndef MITM_UI_CONSOLE_INT_H
#define MITM_UI_CONSOLE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>
#include <wchar.h>

#include "base/log.h"
#include "ui/console/keymap.h"
#include "ui/console/style.h"
#include "ui/master.h"

/* ---- styled text documents (what the scrolling screens show) ---- */

struct con_seg {
    uint32_t off, len;
    uint8_t style;
};

struct con_line {
    char *text;
    size_t len;
    struct con_seg *segs;
    size_t nsegs;
};

struct con_doc {
    struct con_line *v;
    size_t n, cap;
};

void doc_clear(struct con_doc *d);
/* Start a new line holding s (n bytes) in style st. */
void doc_line(struct con_doc *d, const char *s, size_t n, enum mitm_con_style st);
/* Append to the last line (a new one if there is none). */
void doc_add(struct con_doc *d, const char *s, size_t n, enum mitm_con_style st);
void doc_printf(struct con_doc *d, enum mitm_con_style st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the event log ring (filled by the log tap from any thread) ---- */

#define EVENTLOG_MAX 10000

struct con_event {
    enum mitm_log_level lvl;
    char *text;
};

/* ---- screens ---- */

enum con_screen_kind {
    SCR_FLOWLIST,
    SCR_FLOWVIEW,
    SCR_EVENTLOG,
    SCR_HELP,
    SCR_OPTIONS,
    SCR_KEYBINDINGS,
    SCR_COMMANDS,
    SCR_GRID,
};

/* What a grid edits, so the rows go back into the right part of the flow. */
enum con_grid_kind {
    GRID_HEADERS,    /* request or response headers (response says which) */
    GRID_QUERY,      /* the request path's query, URL-encoded pairs */
    GRID_FORM,       /* an application/x-www-form-urlencoded request body */
    GRID_MULTIPART,  /* a multipart/form-data request body */
    GRID_COOKIES,    /* the request's Cookie header */
    GRID_SETCOOKIES, /* the response's Set-Cookie headers: name, value, attributes */
    GRID_ATTRS,      /* one set-cookie row's attributes (mitmproxy's subgrid): the grid below
                      * it on the stack, row parent_row, gets them back */
};

#define GRID_COLS 3

struct con_grid {
    enum con_grid_kind kind;
    char *title;
    char *(*cells)[GRID_COLS]; /* rows of ncols owned strings (unused columns NULL) */
    size_t n, cap;
    size_t col, ncols;
    const char *heads[GRID_COLS]; /* column titles */
    char flow_id[MITM_UUID_LEN + 1];
    bool response;     /* the headers of the response (else the request) */
    size_t parent_row; /* GRID_ATTRS */
};

struct con_screen {
    enum con_screen_kind kind;
    size_t cursor; /* selected line (lists), or top line (documents) */
    size_t top;    /* first line shown */
    /* flow view */
    int tab;
    bool stale; /* the document must be rebuilt */
    ssize_t doc_index;
    struct con_doc doc;
    /* grid editor */
    struct con_grid grid;
    bool follow; /* event log: stay at the end */
};

#define STACK_MAX 16

/* ---- the prompt (message line) ---- */

enum con_prompt_kind {
    PROMPT_NONE,
    PROMPT_COMMAND, /* ":" - a command line, with history and completion */
    PROMPT_ONEKEY,  /* "Quit (yes,no)? " */
    PROMPT_TEXT,    /* a value for an edit: the callback gets the text */
};

struct console;
typedef void (*con_text_cb)(struct console *c, const char *text, void *arg);
typedef void (*con_key_cb)(struct console *c, char key, void *arg);

#define PROMPT_MAX  4096
#define HISTORY_MAX 200

struct con_prompt {
    enum con_prompt_kind kind;
    char label[256];
    wchar_t buf[PROMPT_MAX];
    size_t len, cur;
    char keys[8]; /* onekey: accepted keys */
    con_text_cb on_text;
    con_key_cb on_key;
    void *arg;
    void (*free_arg)(void *);
    long hist_pos; /* -1: editing a new line */
};

/* ---- the chooser overlay ---- */

struct con_chooser {
    bool on;
    char title[256];
    char **items;
    size_t n, cursor;
    /* run on choice: cmd with args, {choice} replaced */
    char *cmd;
    char **args;
    size_t nargs;
};

struct console {
    uv_loop_t *loop;
    struct mitm_master m;
    bool started;
    uv_poll_t input;
    uv_signal_t sigwinch, sigint, sigterm;
    uv_timer_t redraw;
    uv_async_t log_wake;
    bool handles_on;
    bool dirty, redraw_armed;
    bool curses_on;
    bool exiting;
    bool loading;       /* reading -r before the loop runs */
    uint64_t last_draw; /* uv_hrtime of the last frame while loading */
    int rc;
    struct mitm_keymap *keys;
    struct con_screen stack[STACK_MAX]; /* the focused pane's screens */
    size_t depth;
    /* the other pane of the split layouts (mitmproxy's second window stack, the event log
     * at its base): swapped with stack when the focus moves, so keys always reach stack */
    struct con_screen other[STACK_MAX];
    size_t other_depth;
    int pane; /* which pane stack is: 0 (left or top) or 1 */
    struct con_prompt prompt;
    struct con_chooser chooser;
    char message[1024];
    enum mitm_con_style message_style;
    char *history[HISTORY_MAX];
    size_t nhistory;
    /* tab completion: the word typed before the first tab, and which match is next */
    char complete_prefix[256];
    size_t complete_next;
    bool completing;
    /* event log */
    pthread_mutex_t log_mu;
    struct con_event events[EVENTLOG_MAX];
    size_t ev_head, ev_n; /* oldest at ev_head */
    bool wake_on;         /* log_wake may be sent (not closed yet) */
    /* the newest error, warning or alert not shown in the status bar yet (under log_mu) */
    char alert[512];
    enum mitm_log_level alert_lvl;
    bool alert_new;
    /* flow view */
    char *flowview_mode; /* console.flowview.mode.set; NULL: console_default_contentview */
    int rows, cols;
};

/* console.c */
void con_dirty(struct console *c);
void con_message(struct console *c, enum mitm_con_style st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Run a command line as a key binding does: errors go to the message line; a result is
 * shown there too. Returns 0 or -1. */
int con_run(struct console *c, const char *line);
void con_exit(struct console *c);
/* "Quit (yes,no)? ": y exits. */
void con_prompt_exit(struct console *c);
struct con_screen *con_top(struct console *c);
struct con_screen *con_push(struct console *c, enum con_screen_kind kind);
void con_pop(struct console *c);
/* The terminal is handed to another program (an editor) and back. */
void con_suspend(struct console *c);
void con_resume(struct console *c);
unsigned con_context(const struct console *c);
/* Move the focus to the other pane (console.panes.next/prev); nothing in the single layout. */
void con_pane_switch(struct console *c);
/* The width the screens draw in: the pane's, or the terminal's. con_put, con_put_line and
 * con_fill take columns relative to the pane. */
int con_cols(void);

/* screens.c */
void screens_draw(struct console *c, int top, int height);
/* Number of lines of the top screen (for navigation). */
size_t screens_lines(struct console *c);
void screens_nav(struct console *c, const char *what);
void screens_free(struct con_screen *s);
void flowview_stale(struct console *c, ssize_t index);
const char *flowview_tab_name(struct console *c, int tab, bool *intercepted);
int flowview_tabs(struct console *c);
/* The option row under the options screen's cursor, or NULL. */
const char *options_focus(struct console *c);
const struct mitm_key_binding *keybindings_focus(struct console *c);
void flowlist_draw(struct console *c, int top, int height);
/* Screen lines per flow in the flow list (2 in the list layout). */
size_t flowlist_row_height(void);
size_t help_build(struct console *c, struct con_doc *d);

/* prompt.c */
void prompt_command(struct console *c, const char *initial);
void prompt_onekey(struct console *c, const char *label, const char *keys, con_key_cb cb, void *arg,
                   void (*free_arg)(void *));
void prompt_text(struct console *c, const char *label, const char *initial, con_text_cb cb, void *arg,
                 void (*free_arg)(void *));
void prompt_close(struct console *c);
/* A key while the prompt is open. name: the key's name; wc: its character (0 if none). */
void prompt_key(struct console *c, const char *name, wint_t wc);
void prompt_draw(struct console *c, int row);
void chooser_open(struct console *c, const char *title, char **items, size_t n, const char *cmd,
                  const char *const *args, size_t nargs);
void chooser_close(struct console *c);
/* The data viewer: text (one item per line) in the overlay, closed by enter, esc or q. */
void chooser_view(struct console *c, const char *title, const char *text, size_t len);
void chooser_key(struct console *c, const char *name);
void chooser_draw(struct console *c, int top, int height);

/* prompt.c: the command history in confdir/command_history (as mitmproxy's
 * command_history addon): read at start, each command appended. */
void history_load(struct console *c);

/* cmds.c */
int con_commands_register(struct console *c, char *err, size_t errlen);

/* edit.c */
/* The parts console.edit.focus takes for the focused flow, one per line. */
void edit_options(struct console *c, struct mitm_buf *out);
int edit_focus(struct console *c, const char *part, char *err, size_t errlen);
/* console.bodyview: the decoded body of f's part ("request", "response") in $PAGER. */
int edit_bodyview(struct console *c, const struct mitm_flow *f, const char *part, char *err, size_t errlen);
/* The grid editor is left: write its rows back into the flow. */
void grid_commit(struct console *c, struct con_grid *g);
void grid_key(struct console *c, const char *what);
/* console.grideditor.load(_escaped) and .save on the grid on top. Return 0 or -1 (err). */
int grid_load(struct console *c, const char *path, bool escaped, char *err, size_t errlen);
int grid_save(struct console *c, const char *path, char *err, size_t errlen);

/* drawing helpers (console.c) */
void con_put(int row, int col, int width, const char *s, size_t n, enum mitm_con_style st);
/* Draw a styled line clipped to width columns from column col, padded with spaces. */
void con_put_line(int row, int col, int width, const struct con_line *l, bool selected);
void con_fill(int row, enum mitm_con_style st);

#endif
