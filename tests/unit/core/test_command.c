/* The command registry: registration, typed argument parsing, errors, the line splitter, and
 * the export / save.har commands through it. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/command.h"
#include "core/options.h"
#include "flow/export.h"
#include "flow/har.h"
#include "../flow/util.h"

static int echo(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                size_t errlen)
{
    (void)data;
    (void)err;
    (void)errlen;
    for (size_t i = 0; i < n; i++) {
        switch (a[i].type) {
        case MITM_ARG_INT:
            mitm_buf_printf(out, "[%ld]", a[i].i);
            break;
        case MITM_ARG_BOOL:
            mitm_buf_printf(out, "[%s]", a[i].b ? "T" : "F");
            break;
        case MITM_ARG_STRS:
            for (size_t k = 0; k < a[i].nrest; k++)
                mitm_buf_printf(out, "<%s>", a[i].rest[k]);
            break;
        case MITM_ARG_FLOW:
        case MITM_ARG_FLOWS:
            mitm_buf_printf(out, "[%zu flows]", a[i].nflows);
            break;
        default:
            mitm_buf_printf(out, "[%s]", a[i].str);
        }
    }
    return 0;
}

static int failing(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out, char *err,
                   size_t errlen)
{
    (void)data, (void)a, (void)n, (void)out;
    snprintf(err, errlen, "it failed");
    return -1;
}

static const struct mitm_cmd_param p_typed[] = {
    {"count", MITM_ARG_INT, NULL}, {"flag", MITM_ARG_BOOL, NULL}, {"mode", MITM_ARG_CHOICE, "a|bb|c"}};
static const struct mitm_cmd_param p_var[] = {{"first", MITM_ARG_STR, NULL}, {"rest", MITM_ARG_STRS, NULL}};
static const struct mitm_cmd_param p_flow[] = {{"f", MITM_ARG_FLOW, NULL}};
static const struct mitm_cmd_param p_bad[] = {{"rest", MITM_ARG_STRS, NULL}, {"x", MITM_ARG_STR, NULL}};

static struct mitm_flow *flows[3];

/* "@all" -> all 3 flows; "@none" -> 0; anything else an error */
static int resolve(void *ud, const char *spec, struct mitm_flow ***out, size_t *n, char *err, size_t errlen)
{
    (void)ud;
    if (strcmp(spec, "@all") == 0 || strcmp(spec, "@first") == 0) {
        *n = spec[1] == 'a' ? 3 : 1;
        *out = calloc(*n, sizeof(**out));
        for (size_t i = 0; i < *n; i++)
            (*out)[i] = mitm_flow_ref(flows[i]);
        return 0;
    }
    if (strcmp(spec, "@none") == 0) {
        *n = 0;
        *out = NULL;
        return 0;
    }
    snprintf(err, errlen, "Invalid flow filter: %s", spec);
    return -1;
}

static struct mitm_cmd_registry *reg;

static void setup(void)
{
    reg = mitm_cmd_registry_new();
    char err[256];
    const struct mitm_cmd_def defs[] = {
        {"test.typed", p_typed, 3, "str", "Typed.", echo, NULL},
        {"test.var", p_var, 2, "str", "Variadic.", echo, NULL},
        {"test.flow", p_flow, 1, "str", "A flow.", echo, NULL},
        {"test.fail", NULL, 0, NULL, "Fails.", failing, NULL},
    };
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(mitm_cmd_register(reg, &defs[i], err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(mitm_export_register_commands(reg, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(mitm_har_register_commands(reg, err, sizeof(err)), 0, "%s", err);
    mitm_cmd_set_resolver(reg, resolve, NULL);
    for (int i = 0; i < 3; i++)
        flows[i] = t_flow("GET", "http", "example.com", 80, i == 0 ? "/a" : "/b", NULL, 0, "Host",
                          "example.com", NULL);
    mitm_options_init(&mitm_options);
}

static void teardown(void)
{
    mitm_cmd_registry_free(reg);
    for (int i = 0; i < 3; i++)
        mitm_flow_unref(flows[i]);
    mitm_options_free(&mitm_options);
}

static void call_ok(const char *line, const char *want)
{
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    char err[256] = "";
    int rc = mitm_cmd_call_line(reg, line, &out, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s: %s", line, err);
    cr_assert_eq(out.len, strlen(want), "%s: got %.*s", line, (int)out.len,
                 (const char *)mitm_buf_data(&out));
    cr_assert(memcmp(mitm_buf_data(&out), want, out.len) == 0, "%s: got %.*s", line, (int)out.len,
              (const char *)mitm_buf_data(&out));
    mitm_buf_free(&out);
}

static void call_err(const char *line, const char *want)
{
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    char err[256] = "";
    cr_assert_eq(mitm_cmd_call_line(reg, line, &out, err, sizeof(err)), -1, "%s succeeded", line);
    cr_assert_str_eq(err, want);
    mitm_buf_free(&out);
}

TestSuite(command, .init = setup, .fini = teardown);

Test(command, typed_arguments)
{
    call_ok("test.typed 42 true bb", "[42][T][bb]");
    call_ok("test.typed ' -7 ' false a", "[-7][F][a]");
    call_ok("test.typed 1_000 false c", "[1000][F][c]");
    call_err("test.typed x true a", "Invalid value for argument count: Not an integer: x");
    call_err("test.typed 1_ true a", "Invalid value for argument count: Not an integer: 1_");
    call_err("test.typed 99999999999999999999999 true a",
             "Invalid value for argument count: Not an integer: 99999999999999999999999");
    call_err("test.typed 1 yes a",
             "Invalid value for argument flag: Booleans are 'true' or 'false', got yes");
    call_err("test.typed 1 true d", "Invalid value for argument mode: Invalid choice.");
    call_err("test.typed 1 true", "Command argument mismatch: expected 3 arguments, got 2");
    call_err("test.typed 1 true a b", "Command argument mismatch: expected 3 arguments, got 4");
}

Test(command, variadic_and_quoting)
{
    call_ok("test.var one", "[one]");
    call_ok("test.var one \"two three\" 'four \"five\"' six", "[one]<two three><four \"five\"><six>");
    call_ok("  test.var\t'unterminated quote", "[unterminated quote]");
    call_err("test.var", "Command argument mismatch: expected at least 1 arguments, got 0");
}

Test(command, flows_and_errors)
{
    call_ok("test.flow @first", "[1 flows]");
    call_err("test.flow @all",
             "Invalid value for argument f: Command requires one flow, specification matched 3.");
    call_err("test.flow @none",
             "Invalid value for argument f: Command requires one flow, specification matched 0.");
    call_err("test.flow ~q", "Invalid value for argument f: Invalid flow filter: ~q");
    call_err("test.fail", "it failed");
    call_err("no.such.command", "Unknown command: no.such.command");
    call_err("   ", "Empty command");
}

Test(command, registration_rules)
{
    char err[256];
    struct mitm_cmd_def d = {"test.typed", p_typed, 3, NULL, "dup", echo, NULL};
    cr_assert_eq(mitm_cmd_register(reg, &d, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "Command already registered: test.typed");
    struct mitm_cmd_def bad = {"test.bad", p_bad, 2, NULL, "bad", echo, NULL};
    cr_assert_eq(mitm_cmd_register(reg, &bad, err, sizeof(err)), -1);
    size_t n;
    const struct mitm_cmd_def *const *all = mitm_cmd_list(reg, &n);
    cr_assert_eq(n, 8);
    cr_assert_str_eq(all[0]->name, "export");
    cr_assert_str_eq(all[n - 1]->name, "test.var");
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    mitm_cmd_signature(mitm_cmd_lookup(reg, "export.file"), &b);
    mitm_cmd_signature(mitm_cmd_lookup(reg, "test.var"), &b);
    cr_assert_eq(b.len,
                 strlen("export.file format:str flow:flow path:pathtest.var first:str *rest:str -> str"));
    cr_assert(memcmp(mitm_buf_data(&b),
                     "export.file format:str flow:flow path:pathtest.var first:str *rest:str -> str",
                     b.len) == 0);
    mitm_buf_free(&b);
}

Test(command, export_commands)
{
    call_ok("export.formats", "curl\nhttpie\nraw\nraw_request\nraw_response");
    call_ok("export curl @first", "curl http://example.com/a");
    call_err("export nope @first", "No such export format: nope");
    char path[] = "/tmp/mitmc-test-export-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    char line[128];
    snprintf(line, sizeof(line), "export.file raw_request @first %s", path);
    call_ok(line, "");
    size_t len;
    char *got = t_read_file(path, &len);
    cr_assert_str_eq(got, "GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n");
    free(got);
    snprintf(line, sizeof(line), "save.har @all %s", path);
    call_ok(line, "");
    got = t_read_file(path, &len);
    struct mitm_flow **v;
    size_t n;
    char err[256];
    cr_assert_eq(mitm_har_read((const uint8_t *)got, len, &v, &n, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(v[0]->request->path, "/a");
    for (size_t i = 0; i < n; i++)
        mitm_flow_unref(v[i]);
    free(v);
    free(got);
    unlink(path);
    call_err("export.file curl @first /nonexistent-dir/x", "/nonexistent-dir/x: No such file or directory");
}

Test(command, split_limits)
{
    char err[128];
    size_t n;
    char *big = malloc(MITM_CMD_LINE_MAX + 2);
    memset(big, 'a', MITM_CMD_LINE_MAX + 1);
    big[MITM_CMD_LINE_MAX + 1] = 0;
    cr_assert_null(mitm_cmd_split(big, &n, err, sizeof(err)));
    memset(big, ' ', MITM_CMD_LINE_MAX);
    for (size_t i = 0; i < MITM_CMD_LINE_MAX; i += 2)
        big[i] = 'x';
    big[MITM_CMD_LINE_MAX] = 0;
    cr_assert_null(mitm_cmd_split(big, &n, err, sizeof(err)));
    cr_assert_str_eq(err, "more than 1024 words in a command line");
    free(big);
    char **v = mitm_cmd_split("a \"\" 'b c'", &n, err, sizeof(err));
    cr_assert_eq(n, 3);
    cr_assert_str_eq(v[1], "");
    cr_assert_str_eq(v[2], "b c");
    mitm_cmd_argv_free(v);
}
