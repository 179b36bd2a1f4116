/* The console's key bindings as data: mitmproxy's default table, key names, lookups and the
 * keys.yaml loader (src/ui/console/keymap.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ui/console/keymap.h"

static char err[512];

static const char *norm(const char *name)
{
    static char out[64];
    err[0] = 0;
    return mitm_key_normalize(name, out, sizeof(out), err, sizeof(err)) == 0 ? out : NULL;
}

Test(keynames, canonical_forms)
{
    cr_assert_str_eq(norm("ctrl f"), "ctrl f");
    cr_assert_str_eq(norm("Ctrl  F"), "ctrl F"); /* the key keeps its case: ctrl F is another key */
    cr_assert_str_eq(norm("shift tab"), "shift tab");
    cr_assert_str_eq(norm("page up"), "page_up");
    cr_assert_str_eq(norm("page_down"), "page_down");
    cr_assert_str_eq(norm("ctrl right"), "ctrl right");
    cr_assert_str_eq(norm("A"), "A");
    cr_assert_str_eq(norm("space"), "space");
    cr_assert_str_eq(norm("f12"), "f12");
    cr_assert_str_eq(norm("\xc3\xa9"), "\xc3\xa9"); /* one UTF-8 character */
    cr_assert_str_eq(norm(":"), ":");
}

Test(keynames, rejected)
{
    cr_assert_null(norm(""));
    cr_assert_str_eq(err, "Unknown key: ");
    cr_assert_null(norm("nosuchkey"));
    cr_assert_str_eq(err, "Unknown key: nosuchkey");
    cr_assert_null(norm("hyper x"));
    cr_assert_null(norm("ab"));
}

Test(keymap, the_80_defaults)
{
    struct mitm_keymap *km = mitm_keymap_new();
    cr_assert_eq(mitm_keymap_count(km), 80);
    const struct mitm_key_binding *b = mitm_keymap_lookup(km, MITM_KCTX_FLOWLIST, "i");
    cr_assert_not_null(b);
    cr_assert_str_eq(b->cmd, "console.command.set intercept");
    cr_assert_str_eq(b->help, "Set intercept");
    /* the context's binding wins over the global one */
    b = mitm_keymap_lookup(km, MITM_KCTX_FLOWVIEW, "space");
    cr_assert_str_eq(b->cmd, "view.focus.next");
    b = mitm_keymap_lookup(km, MITM_KCTX_FLOWLIST, "space");
    cr_assert_str_eq(b->cmd, "console.nav.pagedown");
    b = mitm_keymap_lookup(km, MITM_KCTX_FLOWLIST, "ctrl f");
    cr_assert_str_eq(b->cmd, "console.nav.pagedown");
    cr_assert_null(mitm_keymap_lookup(km, MITM_KCTX_FLOWLIST, "ctrl y"));
    /* q is in commonkey and global: one binding */
    b = mitm_keymap_get(km, MITM_KCTX_COMMONKEY, "q");
    cr_assert_eq(b, mitm_keymap_get(km, MITM_KCTX_GLOBAL, "q"));
    cr_assert_eq(b->ctx, MITM_KCTX_COMMONKEY | MITM_KCTX_GLOBAL);
    /* the help context closes with ? */
    cr_assert_str_eq(mitm_keymap_lookup(km, MITM_KCTX_HELP, "?")->cmd, "console.view.pop");
    mitm_keymap_free(km);
}

Test(keymap, list_orders_single_keys_first)
{
    struct mitm_keymap *km = mitm_keymap_new();
    size_t n = mitm_keymap_list(km, MITM_KCTX_FLOWLIST, NULL, 0);
    const struct mitm_key_binding *v[128];
    cr_assert_leq(n, 128);
    mitm_keymap_list(km, MITM_KCTX_FLOWLIST, v, n);
    cr_assert_str_eq(v[0]->key, ";");
    cr_assert_str_eq(v[n - 1]->key, "ctrl l");
    for (size_t i = 1; i < n; i++) {
        bool a = strchr(v[i - 1]->key, ' '), b = strchr(v[i]->key, ' ');
        cr_assert(a <= b);
        if (a == b)
            cr_assert_leq(strcmp(v[i - 1]->key, v[i]->key), 0);
    }
    mitm_keymap_free(km);
}

Test(keymap, add_merges_and_replaces)
{
    struct mitm_keymap *km = mitm_keymap_new_empty();
    cr_assert_eq(mitm_keymap_add(km, "x", MITM_KCTX_FLOWLIST, "a.cmd", "A", err, sizeof(err)), 0);
    /* same key and command: one binding with both contexts */
    cr_assert_eq(mitm_keymap_add(km, "x", MITM_KCTX_FLOWVIEW, "a.cmd ", NULL, err, sizeof(err)), 0);
    cr_assert_eq(mitm_keymap_count(km), 1);
    cr_assert_eq(mitm_keymap_get(km, MITM_KCTX_FLOWVIEW, "x")->ctx, MITM_KCTX_FLOWLIST | MITM_KCTX_FLOWVIEW);
    cr_assert_str_eq(mitm_keymap_get(km, MITM_KCTX_FLOWVIEW, "x")->help, "A");
    /* another command in one context takes it from the first binding */
    cr_assert_eq(mitm_keymap_add(km, "x", MITM_KCTX_FLOWVIEW, "b.cmd", NULL, err, sizeof(err)), 0);
    cr_assert_str_eq(mitm_keymap_get(km, MITM_KCTX_FLOWVIEW, "x")->cmd, "b.cmd");
    cr_assert_str_eq(mitm_keymap_get(km, MITM_KCTX_FLOWLIST, "x")->cmd, "a.cmd");
    cr_assert_eq(mitm_keymap_remove(km, "x", MITM_KCTX_FLOWLIST | MITM_KCTX_FLOWVIEW), 2);
    cr_assert_eq(mitm_keymap_count(km), 0);
    cr_assert_eq(mitm_keymap_add(km, "x", 0, "a", NULL, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "Must specify at least one context.");
    cr_assert_eq(mitm_keymap_add(km, "bogus", MITM_KCTX_GLOBAL, "a", NULL, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "Unknown key: bogus");
    mitm_keymap_free(km);
}

static long load(struct mitm_keymap *km, const char *yaml)
{
    err[0] = 0;
    return mitm_keymap_load_text(km, yaml, strlen(yaml), err, sizeof(err));
}

Test(keysyaml, loads_bindings)
{
    struct mitm_keymap *km = mitm_keymap_new();
    cr_assert_eq(load(km, "- key: ctrl e\n  cmd: console.view.eventlog\n  help: events\n"
                          "- key: i\n  ctx: [flowlist, flowview]\n  cmd: set intercept '~q'\n"),
                 2);
    const struct mitm_key_binding *b = mitm_keymap_lookup(km, MITM_KCTX_FLOWLIST, "ctrl e");
    cr_assert_not_null(b);
    cr_assert_str_eq(b->cmd, "console.view.eventlog");
    cr_assert_eq(b->ctx, MITM_KCTX_GLOBAL); /* ctx defaults to global */
    cr_assert_str_eq(mitm_keymap_lookup(km, MITM_KCTX_FLOWVIEW, "i")->cmd, "set intercept '~q'");
    cr_assert_eq(load(km, ""), 0);
    cr_assert_eq(load(km, "# nothing\n"), 0);
    mitm_keymap_free(km);
}

Test(keysyaml, errors_change_nothing)
{
    struct mitm_keymap *km = mitm_keymap_new();
    static const struct {
        const char *yaml, *err;
    } cases[] = {
        {"key: x\n", "Invalid keybinding config - expected a list of keys"},
        {"- key: x\n  cmd: a\n  ctx: [nosuch]\n", "Unsupported context: nosuch"},
        {"- key: x\n  cmd: a\n  colour: red\n", "Unknown key attributes: colour"},
        {"- key: x\n", "Missing required key attributes: cmd"},
        {"- cmd: a\n", "Missing required key attributes: key"},
        {"- key: x\n  cmd: [a]\n", "Invalid type for cmd"},
        {"- key: x\n  cmd: a\n  ctx: flowlist\n", "Invalid type for ctx"},
        {"- key: nosuchkey\n  cmd: a\n", "Unknown key: nosuchkey"},
        {"- key: x\n  cmd: a\n- [\n", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* the first binding of a bad file is not applied either */
        char yaml[512];
        snprintf(yaml, sizeof(yaml), "- key: z\n  cmd: applied\n%s",
                 cases[i].yaml[0] == '-' ? cases[i].yaml : "");
        const char *text = cases[i].yaml[0] == '-' ? yaml : cases[i].yaml;
        cr_assert_eq(load(km, text), -1, "case %zu", i);
        if (cases[i].err)
            cr_assert_str_eq(err, cases[i].err, "case %zu", i);
        else
            cr_assert(strncmp(err, "Key binding config error at line", 32) == 0, "%s", err);
        cr_assert_neq(strcmp(mitm_keymap_lookup(km, MITM_KCTX_FLOWLIST, "z")->cmd, "applied"), 0, "case %zu",
                      i);
    }
    cr_assert_eq(mitm_keymap_count(km), 80);
    mitm_keymap_free(km);
}

Test(keysyaml, file_errors_name_the_file)
{
    struct mitm_keymap *km = mitm_keymap_new();
    char path[] = "/tmp/mitmc-keys-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "- key: x\n", 9), 9);
    close(fd);
    cr_assert_eq(mitm_keymap_load_file(km, path, err, sizeof(err)), -1);
    char want[600];
    snprintf(want, sizeof(want), "Error reading %s: Missing required key attributes: cmd", path);
    cr_assert_str_eq(err, want);
    unlink(path);
    cr_assert_eq(mitm_keymap_load_file(km, "/nonexistent/keys.yaml", err, sizeof(err)), 0);
    mitm_keymap_free(km);
}
