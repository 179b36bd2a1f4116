/* The console's key bindings as data (mitmproxy's tools/console/keymap.py and defaultkeys.py):
 * a binding is a key name, the contexts it applies in, a command line and a help text. A key
 * pressed in a context runs the binding of that context, else the "global" one; the command
 * line goes to the command registry like anything typed at the ":" prompt. Pure: no terminal,
 * no master, so the table, the key names and the keys.yaml loader are unit-tested. */
#ifndef MITM_UI_CONSOLE_KEYMAP_H
#define MITM_UI_CONSOLE_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>

/* mitmproxy's contexts, one bit each, in its (sorted) order. */
enum mitm_key_ctx {
    MITM_KCTX_CHOOSER = 1u << 0,
    MITM_KCTX_COMMANDS = 1u << 1,
    MITM_KCTX_COMMONKEY = 1u << 2,
    MITM_KCTX_DATAVIEWER = 1u << 3,
    MITM_KCTX_EVENTLOG = 1u << 4,
    MITM_KCTX_FLOWLIST = 1u << 5,
    MITM_KCTX_FLOWVIEW = 1u << 6,
    MITM_KCTX_GLOBAL = 1u << 7,
    MITM_KCTX_GRIDEDITOR = 1u << 8,
    MITM_KCTX_HELP = 1u << 9,
    MITM_KCTX_KEYBINDINGS = 1u << 10,
    MITM_KCTX_OPTIONS = 1u << 11,
};
#define MITM_KCTX_COUNT 12

/* The context's bit for name ("flowlist"), or 0 for an unknown name. */
unsigned mitm_key_ctx_parse(const char *name);
/* The name of context index i (0..MITM_KCTX_COUNT-1), NULL beyond. Static. */
const char *mitm_key_ctx_name(size_t i);
/* "flowlist,flowview" for a mask, into out (cap bytes, NUL-terminated). */
void mitm_key_ctx_format(unsigned mask, char *out, size_t cap);

/* Normalise a key name as users write it in keys.yaml and console.key.bind ("ctrl f",
 * "space", "enter", "shift tab", "A", "ctrl right"): modifiers ("ctrl", "meta", "shift")
 * lower-cased and separated by one space, then either one character (UTF-8) or a named key
 * (enter, esc, tab, space, backspace, delete, insert, up, down, left, right, home, end,
 * page_up/"page up", page_down/"page down", f1..f12). Returns 0 with the canonical name in
 * out, or -1 with a reason in err ("Unknown key: NAME"). */
int mitm_key_normalize(const char *name, char *out, size_t cap, char *err, size_t errlen);

struct mitm_key_binding {
    char *key;  /* canonical name */
    char *cmd;  /* the command line (may hold newlines: the lexer treats them as spaces) */
    char *help; /* "" when none */
    unsigned ctx;
};

struct mitm_keymap; /* opaque */

/* A keymap holding mitmproxy's 80 default bindings. Never NULL; free with mitm_keymap_free. */
struct mitm_keymap *mitm_keymap_new(void);
/* An empty keymap (tests). */
struct mitm_keymap *mitm_keymap_new_empty(void);
void mitm_keymap_free(struct mitm_keymap *km);

/* Bind key in contexts ctx (non-zero) to cmd, as mitmproxy's Keymap.add: a binding with the
 * same key and command gains the contexts (and the help, if given); otherwise the key is
 * first removed from those contexts. help NULL = "". Returns 0, or -1 with err set (no
 * context, a bad key name). */
int mitm_keymap_add(struct mitm_keymap *km, const char *key, unsigned ctx, const char *cmd, const char *help,
                    char *err, size_t errlen);

/* Remove key from contexts ctx; bindings left with no context go away. Returns how many
 * bindings lost a context. */
size_t mitm_keymap_remove(struct mitm_keymap *km, const char *key, unsigned ctx);

/* The binding of key (canonical) in exactly the context bit ctx, or NULL. */
const struct mitm_key_binding *mitm_keymap_get(const struct mitm_keymap *km, unsigned ctx, const char *key);

/* What a key press in context ctx runs (mitmproxy's handle): the context's binding, else
 * the global one, else NULL. */
const struct mitm_key_binding *mitm_keymap_lookup(const struct mitm_keymap *km, unsigned ctx,
                                                  const char *key);

/* The bindings that apply in ctx (0 = all), as mitmproxy's list(): single-word keys first,
 * each group sorted by key then contexts. Returns the count; out[0..count) points into the
 * keymap (valid until it changes) when out is not NULL and cap is large enough. */
size_t mitm_keymap_list(const struct mitm_keymap *km, unsigned ctx, const struct mitm_key_binding **out,
                        size_t cap);

/* Number of bindings. */
size_t mitm_keymap_count(const struct mitm_keymap *km);

/* Load a keys.yaml text (mitmproxy's format: a list of {key, cmd, ctx: [contexts], help};
 * ctx defaults to ["global"]). Everything is checked before anything is applied, so an
 * error changes nothing. Returns the number of bindings applied, or -1 with err set
 * ("Key binding config error at line N: ...", "Invalid keybinding config - expected a list
 * of keys", "Unknown key attributes: x", "Missing required key attributes: cmd", "Invalid
 * type for ctx", "Unsupported context: x", "Unknown key: x"). */
long mitm_keymap_load_text(struct mitm_keymap *km, const char *text, size_t len, char *err, size_t errlen);

/* Load path (as mitm_keymap_load_text; a read error is "Could not read PATH: REASON"); errors
 * are prefixed with "Error reading PATH: ". A missing file is not an error (returns 0). */
long mitm_keymap_load_file(struct mitm_keymap *km, const char *path, char *err, size_t errlen);

#endif
