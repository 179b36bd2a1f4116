/* The message line's prompts (mitmproxy's statusbar.ActionBar and commander) and the chooser
 * overlay (overlay.Chooser). The command prompt edits wide characters, keeps a history
 * (up/down) and completes command names with tab, cycling through the matches. */
#include "base/alloc.h"
#include "base/buf.h"
#include "core/command.h"
#include "core/options.h"
#include "ui/console/console-int.h"
#include "ui/console/row.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- wide <-> UTF-8 ---- */

static size_t to_wide(const char *s, wchar_t *out, size_t cap)
{
    mbstate_t st = {0};
    size_t n = 0;
    const char *p = s;
    while (*p && n + 1 < cap) {
        wchar_t wc;
        size_t k = mbrtowc(&wc, p, strlen(p), &st);
        if (k == (size_t)-1 || k == (size_t)-2) {
            wc = (unsigned char)*p;
            k = 1;
            memset(&st, 0, sizeof(st));
        }
        out[n++] = wc;
        p += k;
    }
    out[n] = 0;
    return n;
}

/* The prompt's text as UTF-8 (a new string). */
static char *to_utf8(const wchar_t *w, size_t n)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mbstate_t st = {0};
    for (size_t i = 0; i < n; i++) {
        char t[MB_LEN_MAX];
        size_t k = wcrtomb(t, w[i], &st);
        if (k != (size_t)-1)
            mitm_buf_append(&b, t, k);
    }
    mitm_buf_append(&b, "", 1);
    size_t len;
    return (char *)mitm_buf_steal(&b, &len);
}

/* ---- opening and closing ---- */

void prompt_close(struct console *c)
{
    struct con_prompt *p = &c->prompt;
    if (p->free_arg && p->arg)
        p->free_arg(p->arg);
    memset(p, 0, sizeof(*p));
    con_dirty(c);
}

static void prompt_open(struct console *c, enum con_prompt_kind kind, const char *label, const char *initial)
{
    prompt_close(c);
    struct con_prompt *p = &c->prompt;
    p->kind = kind;
    snprintf(p->label, sizeof(p->label), "%s", label);
    p->len = p->cur = initial ? to_wide(initial, p->buf, PROMPT_MAX) : 0;
    p->hist_pos = -1;
    c->message[0] = 0;
    con_dirty(c);
}

void prompt_command(struct console *c, const char *initial)
{
    prompt_open(c, PROMPT_COMMAND, ":", initial);
}

void prompt_onekey(struct console *c, const char *label, const char *keys, con_key_cb cb, void *arg,
                   void (*free_arg)(void *))
{
    prompt_open(c, PROMPT_ONEKEY, label, NULL);
    snprintf(c->prompt.keys, sizeof(c->prompt.keys), "%s", keys);
    c->prompt.on_key = cb;
    c->prompt.arg = arg;
    c->prompt.free_arg = free_arg;
}

void prompt_text(struct console *c, const char *label, const char *initial, con_text_cb cb, void *arg,
                 void (*free_arg)(void *))
{
    prompt_open(c, PROMPT_TEXT, label, initial);
    c->prompt.on_text = cb;
    c->prompt.arg = arg;
    c->prompt.free_arg = free_arg;
}

/* ---- history ---- */

static char *history_path(void)
{
    char *confdir = mitm_options_confdir(&mitm_options);
    size_t n = strlen(confdir) + 32;
    char *p = mitm_alloc(n);
    snprintf(p, n, "%s/command_history", confdir);
    free(confdir);
    return p;
}

static void history_push(struct console *c, const char *line)
{
    if (c->nhistory == HISTORY_MAX) {
        free(c->history[0]);
        memmove(c->history, c->history + 1, (HISTORY_MAX - 1) * sizeof(c->history[0]));
        c->nhistory--;
    }
    c->history[c->nhistory++] = mitm_strdup(line);
}

void history_load(struct console *c)
{
    char *path = history_path();
    FILE *fp = fopen(path, "r");
    free(path);
    if (!fp)
        return;
    char line[PROMPT_MAX];
    size_t lines = 0;
    while (fgets(line, sizeof(line), fp)) {
        line[strcspn(line, "\r\n")] = 0;
        if (*line)
            history_push(c, line);
        lines++;
    }
    fclose(fp);
    /* keep the file from growing without end: rewrite it with what was kept */
    if (lines > 4 * HISTORY_MAX) {
        char *p = history_path();
        if ((fp = fopen(p, "w"))) {
            for (size_t i = 0; i < c->nhistory; i++)
                fprintf(fp, "%s\n", c->history[i]);
            fclose(fp);
        }
        free(p);
    }
}

static void history_add(struct console *c, const char *line)
{
    if (!*line || (c->nhistory && strcmp(c->history[c->nhistory - 1], line) == 0))
        return;
    char *path = history_path();
    FILE *fp = fopen(path, "a");
    free(path);
    if (fp) { /* best effort: a read-only confdir only loses the history */
        fprintf(fp, "%s\n", line);
        fclose(fp);
    }
    history_push(c, line);
}

static void history_move(struct console *c, int dir)
{
    struct con_prompt *p = &c->prompt;
    if (!c->nhistory)
        return;
    long pos = p->hist_pos < 0 ? (long)c->nhistory : p->hist_pos;
    pos += dir;
    if (pos < 0)
        pos = 0;
    if (pos >= (long)c->nhistory) {
        p->hist_pos = -1;
        p->len = p->cur = 0;
        return;
    }
    p->hist_pos = pos;
    p->len = p->cur = to_wide(c->history[pos], p->buf, PROMPT_MAX);
}

/* ---- completion: command names for the first word ---- */

static void complete(struct console *c)
{
    struct con_prompt *p = &c->prompt;
    size_t first_end = 0;
    while (first_end < p->len && p->buf[first_end] != ' ')
        first_end++;
    if (p->cur > first_end)
        return; /* arguments: no completion of typed values yet */
    if (!c->completing) {
        char *w = to_utf8(p->buf, first_end);
        snprintf(c->complete_prefix, sizeof(c->complete_prefix), "%s", w);
        free(w);
        c->complete_next = 0;
        c->completing = true;
    }
    size_t n, plen = strlen(c->complete_prefix), nmatch = 0;
    const struct mitm_cmd_def *const *defs = mitm_cmd_list(c->m.commands, &n);
    for (size_t i = 0; i < n; i++)
        nmatch += strncmp(defs[i]->name, c->complete_prefix, plen) == 0;
    if (!nmatch)
        return;
    size_t want = c->complete_next++ % nmatch, k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(defs[i]->name, c->complete_prefix, plen) != 0 || k++ != want)
            continue;
        wchar_t name[256];
        size_t wl = to_wide(defs[i]->name, name, 256);
        size_t rest = p->len - first_end;
        if (wl + rest + 1 >= PROMPT_MAX)
            return;
        memmove(p->buf + wl, p->buf + first_end, rest * sizeof(wchar_t));
        memcpy(p->buf, name, wl * sizeof(wchar_t));
        p->len = wl + rest;
        if (rest == 0 && nmatch == 1) {
            p->buf[p->len++] = ' ';
            c->completing = false;
        }
        p->cur = p->len - rest + (rest == 0 && nmatch == 1 ? 0 : 0);
        if (p->cur > p->len)
            p->cur = p->len;
        return;
    }
}

/* ---- keys ---- */

static void insert(struct con_prompt *p, wchar_t wc)
{
    if (p->len + 1 >= PROMPT_MAX)
        return;
    memmove(p->buf + p->cur + 1, p->buf + p->cur, (p->len - p->cur) * sizeof(wchar_t));
    p->buf[p->cur++] = wc;
    p->len++;
}

static void erase_range(struct con_prompt *p, size_t from, size_t to)
{
    memmove(p->buf + from, p->buf + to, (p->len - to) * sizeof(wchar_t));
    p->len -= to - from;
    p->cur = from;
}

static void submit(struct console *c)
{
    struct con_prompt *p = &c->prompt;
    char *text = to_utf8(p->buf, p->len);
    enum con_prompt_kind kind = p->kind;
    con_text_cb cb = p->on_text;
    void *arg = p->arg;
    void (*free_arg)(void *) = p->free_arg;
    p->free_arg = NULL; /* the callback runs with arg; we free it after */
    prompt_close(c);
    if (kind == PROMPT_COMMAND) {
        history_add(c, text);
        if (*text)
            con_run(c, text);
    } else if (cb) {
        cb(c, text, arg);
    }
    if (free_arg && arg)
        free_arg(arg);
    free(text);
}

void prompt_key(struct console *c, const char *name, wint_t wc)
{
    struct con_prompt *p = &c->prompt;
    bool was_completing = c->completing;
    c->completing = false;
    if (p->kind == PROMPT_ONEKEY) {
        if (strlen(name) == 1 && strchr(p->keys, name[0])) {
            con_key_cb cb = p->on_key;
            void *arg = p->arg;
            void (*free_arg)(void *) = p->free_arg;
            p->free_arg = NULL;
            prompt_close(c);
            cb(c, name[0], arg);
            if (free_arg && arg)
                free_arg(arg);
        } else {
            prompt_close(c); /* any other key says no */
        }
        return;
    }
    if (strcmp(name, "enter") == 0)
        submit(c);
    else if (strcmp(name, "esc") == 0 || strcmp(name, "ctrl c") == 0)
        prompt_close(c);
    else if (strcmp(name, "left") == 0 || strcmp(name, "ctrl b") == 0)
        p->cur -= p->cur > 0;
    else if (strcmp(name, "right") == 0 || strcmp(name, "ctrl f") == 0)
        p->cur += p->cur < p->len;
    else if (strcmp(name, "home") == 0 || strcmp(name, "ctrl a") == 0)
        p->cur = 0;
    else if (strcmp(name, "end") == 0 || strcmp(name, "ctrl e") == 0)
        p->cur = p->len;
    else if (strcmp(name, "backspace") == 0) {
        if (p->cur > 0)
            erase_range(p, p->cur - 1, p->cur);
        else if (p->len == 0)
            prompt_close(c); /* as mitmproxy: backspace on an empty prompt leaves it */
    } else if (strcmp(name, "delete") == 0 || strcmp(name, "ctrl d") == 0) {
        if (p->cur < p->len)
            erase_range(p, p->cur, p->cur + 1);
    } else if (strcmp(name, "ctrl k") == 0)
        p->len = p->cur;
    else if (strcmp(name, "ctrl u") == 0)
        erase_range(p, 0, p->cur);
    else if (strcmp(name, "ctrl w") == 0) {
        size_t i = p->cur;
        while (i > 0 && p->buf[i - 1] == ' ')
            i--;
        while (i > 0 && p->buf[i - 1] != ' ')
            i--;
        erase_range(p, i, p->cur);
    } else if (p->kind == PROMPT_COMMAND && strcmp(name, "up") == 0)
        history_move(c, -1);
    else if (p->kind == PROMPT_COMMAND && strcmp(name, "down") == 0)
        history_move(c, 1);
    else if (p->kind == PROMPT_COMMAND && strcmp(name, "tab") == 0) {
        c->completing = was_completing;
        complete(c);
    } else if (wc >= 32 && wc != 127)
        insert(p, (wchar_t)wc);
    con_dirty(c);
}

/* "Quit (yes,no)? " with each key letter highlighted. */
static void draw_onekey(struct console *c, int row)
{
    struct con_doc d = {0};
    doc_line(&d, c->prompt.label, strlen(c->prompt.label), MITM_ST_TEXT);
    doc_add(&d, " (", 2, MITM_ST_TEXT);
    static const char *const words[] = {"yes", "no"};
    for (size_t i = 0; i < 2; i++) {
        if (i)
            doc_add(&d, ",", 1, MITM_ST_TEXT);
        doc_add(&d, words[i], 1, MITM_ST_KEY);
        doc_add(&d, words[i] + 1, strlen(words[i]) - 1, MITM_ST_TEXT);
    }
    doc_add(&d, ")? ", 3, MITM_ST_TEXT);
    con_put_line(row, 0, COLS, &d.v[0], false);
    move(row, (int)mitm_text_width(d.v[0].text, d.v[0].len));
    doc_clear(&d);
}

/* The signature of the command being typed, right-aligned in the hint style, as
 * mitmproxy's commander shows what the arguments are. */
static void draw_hint(struct console *c, int row, int used)
{
    struct con_prompt *p = &c->prompt;
    size_t end = 0;
    while (end < p->len && p->buf[end] != ' ')
        end++;
    char *name = to_utf8(p->buf, end);
    const struct mitm_cmd_def *def = mitm_cmd_lookup(c->m.commands, name);
    free(name);
    if (!def)
        return;
    struct mitm_buf sig;
    mitm_buf_init(&sig, 0);
    mitm_cmd_signature(def, &sig);
    int w = (int)mitm_text_width((const char *)mitm_buf_data(&sig), sig.len);
    if (used + 2 + w <= COLS)
        con_put(row, COLS - w, w, (const char *)mitm_buf_data(&sig), sig.len, MITM_ST_COMMANDER_HINT);
    mitm_buf_free(&sig);
}

void prompt_draw(struct console *c, int row)
{
    struct con_prompt *p = &c->prompt;
    if (p->kind == PROMPT_ONEKEY) {
        draw_onekey(c, row);
        return;
    }
    size_t lw = mitm_text_width(p->label, strlen(p->label));
    int avail = COLS - (int)lw - 1;
    if (avail < 1)
        return;
    /* scroll so the cursor stays visible */
    size_t start = 0, wcur = 0;
    for (size_t i = 0; i < p->cur; i++) {
        int w = wcwidth(p->buf[i]);
        wcur += w < 0 ? 1 : (size_t)w;
    }
    while ((int)wcur >= avail && start < p->cur) {
        int w = wcwidth(p->buf[start++]);
        wcur -= w < 0 ? 1 : (size_t)w;
    }
    char *text = to_utf8(p->buf + start, p->len - start);
    con_put(row, 0, (int)lw, p->label, strlen(p->label), MITM_ST_TEXT);
    con_put(row, (int)lw, COLS - (int)lw, text, strlen(text),
            p->kind == PROMPT_COMMAND ? MITM_ST_COMMANDER_COMMAND : MITM_ST_EDITFIELD);
    if (p->kind == PROMPT_COMMAND)
        draw_hint(c, row, (int)(lw + mitm_text_width(text, strlen(text))));
    free(text);
    move(row, (int)(lw + wcur));
}

/* ---- the chooser ---- */

void chooser_close(struct console *c)
{
    struct con_chooser *ch = &c->chooser;
    for (size_t i = 0; i < ch->n; i++)
        free(ch->items[i]);
    free(ch->items);
    for (size_t i = 0; i < ch->nargs; i++)
        free(ch->args[i]);
    free(ch->args);
    free(ch->cmd);
    memset(ch, 0, sizeof(*ch));
    con_dirty(c);
}

void chooser_open(struct console *c, const char *title, char **items, size_t n, const char *cmd,
                  const char *const *args, size_t nargs)
{
    chooser_close(c);
    struct con_chooser *ch = &c->chooser;
    ch->on = true;
    snprintf(ch->title, sizeof(ch->title), "%s", title);
    ch->items = items;
    ch->n = n;
    ch->cmd = cmd ? mitm_strdup(cmd) : NULL;
    ch->args = mitm_calloc(nargs + 1, sizeof(*ch->args));
    for (size_t i = 0; i < nargs; i++)
        ch->args[i] = mitm_strdup(args[i]);
    ch->nargs = nargs;
}

/* s with every "{choice}" replaced. */
static char *replace_choice(const char *s, const char *choice)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    for (const char *p = s; *p;) {
        const char *hit = strstr(p, "{choice}");
        size_t n = hit ? (size_t)(hit - p) : strlen(p);
        mitm_buf_append(&b, p, n);
        if (!hit)
            break;
        mitm_buf_append(&b, choice, strlen(choice));
        p = hit + 8;
    }
    mitm_buf_append(&b, "", 1);
    size_t len;
    return (char *)mitm_buf_steal(&b, &len);
}

void chooser_view(struct console *c, const char *title, const char *text, size_t len)
{
    char **items = NULL;
    size_t n = 0;
    for (size_t i = 0; i <= len;) {
        const char *e = memchr(text + i, '\n', len - i);
        size_t k = e ? (size_t)(e - (text + i)) : len - i;
        items = mitm_realloc(items, (n + 1) * sizeof(*items));
        items[n++] = mitm_strndup(text + i, k);
        i += k + 1;
    }
    chooser_open(c, title, items, n, NULL, NULL, 0);
}

static void choose(struct console *c)
{
    struct con_chooser *ch = &c->chooser;
    if (!ch->cmd) { /* a data viewer: nothing to run */
        chooser_close(c);
        return;
    }
    if (!ch->n)
        return;
    char *choice = mitm_strdup(ch->items[ch->cursor]);
    char *cmd = replace_choice(ch->cmd, choice);
    size_t nargs = ch->nargs;
    char **args = mitm_calloc(nargs + 1, sizeof(*args));
    for (size_t i = 0; i < nargs; i++)
        args[i] = replace_choice(ch->args[i], choice);
    chooser_close(c);
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    char err[1024];
    if (mitm_cmd_call(c->m.commands, cmd, (const char *const *)args, nargs, &out, err, sizeof(err)) < 0)
        con_message(c, MITM_ST_ERROR, "%s", err);
    else if (out.len)
        con_message(c, MITM_ST_TEXT, "%.*s", (int)out.len, (const char *)mitm_buf_data(&out));
    mitm_buf_free(&out);
    for (size_t i = 0; i < nargs; i++)
        free(args[i]);
    free(args);
    free(cmd);
    free(choice);
}

void chooser_key(struct console *c, const char *name)
{
    struct con_chooser *ch = &c->chooser;
    if (strcmp(name, "enter") == 0) {
        choose(c);
    } else if (strcmp(name, "esc") == 0 || strcmp(name, "q") == 0) {
        chooser_close(c);
    } else if (strcmp(name, "up") == 0 || strcmp(name, "k") == 0) {
        ch->cursor -= ch->cursor > 0;
    } else if (strcmp(name, "down") == 0 || strcmp(name, "j") == 0) {
        ch->cursor += ch->cursor + 1 < ch->n;
    } else if (strcmp(name, "g") == 0 || strcmp(name, "home") == 0) {
        ch->cursor = 0;
    } else if (strcmp(name, "G") == 0 || strcmp(name, "end") == 0) {
        ch->cursor = ch->n ? ch->n - 1 : 0;
    }
    con_dirty(c);
}

void chooser_draw(struct console *c, int top, int height)
{
    struct con_chooser *ch = &c->chooser;
    int w = 0;
    for (size_t i = 0; i < ch->n; i++) {
        int iw = (int)mitm_text_width(ch->items[i], strlen(ch->items[i]));
        if (iw > w)
            w = iw;
    }
    int tw = (int)mitm_text_width(ch->title, strlen(ch->title));
    if (tw > w)
        w = tw;
    w += 4;
    if (w > COLS - 4)
        w = COLS - 4;
    int h = (int)ch->n + 2;
    if (h > height)
        h = height;
    int y0 = top + (height - h) / 2, x0 = (COLS - w) / 2;
    int inner = h - 2;
    size_t first = ch->cursor >= (size_t)inner ? ch->cursor - (size_t)inner + 1 : 0;
    con_put(y0, x0, w, "", 0, MITM_ST_HEADING);
    con_put(y0, x0 + 1, w - 2, ch->title, strlen(ch->title), MITM_ST_HEADING);
    for (int i = 0; i < inner; i++) {
        size_t k = first + (size_t)i;
        const char *s = k < ch->n ? ch->items[k] : "";
        con_put(y0 + 1 + i, x0, 2, "  ", 2, MITM_ST_TEXT);
        con_put(y0 + 1 + i, x0 + 2, w - 2, s, strlen(s),
                k == ch->cursor ? MITM_ST_OPTION_SELECTED : MITM_ST_TEXT);
    }
    con_put(y0 + h - 1, x0, w, "", 0, MITM_ST_HEADING);
}
