/* The script runtime: loading, hook dispatch per worker, errors, limits, lifecycle,
 * options, hot reload, commands and script.run. */
#include "helpers.h"

#include "core/command.h"
#include "layer/layer.h"
#include "script/script-int.h"

TestSuite(runtime, .init = helpers_setup, .fini = helpers_teardown);

Test(runtime, hooks_from_a_returned_table_or_globals)
{
    struct mitm_script_rt *rt = rt_with("local M = {}\n"
                                        "function M.request(flow) flow.comment = 'table' end\n"
                                        "function request(flow) flow.comment = 'global' end\n"
                                        "return M\n");
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert_str_eq(f->comment, "table", "a returned table wins over globals");
    mitm_script_rt_free(rt);

    rt = rt_with("function request(flow) flow.comment = 'global' .. mitm.worker end\n");
    hook(rt, MITM_HOOK_REQUEST, f, 3);
    cr_assert_str_eq(f->comment, "global3", "worker 3's state: %s", logbuf);
    hook(rt, MITM_HOOK_REQUEST, f, -1);
    cr_assert_str_eq(f->comment, "global-1", "the main-thread state");
    hook(rt, MITM_HOOK_RESPONSE, f, 0); /* not defined: nothing happens */
    mitm_flow_unref(f);
    mitm_script_rt_free(rt);
}

Test(runtime, every_hook_has_an_argument_binding)
{
    for (int h = 0; h < MITM_HOOK__COUNT; h++)
        cr_assert(script_hook_bound((enum mitm_hook)h), "hook %s has no row in src/script/hooks.c",
                  mitm_hook_name((enum mitm_hook)h));
}

Test(runtime, load_errors_are_reported_like_mitmproxy)
{
    struct mitm_script_rt *rt = rt_new();
    struct mitm_hook_env env = env_for(-1);
    const char *p = write_script("bad.lua", "function request(flow)\n  if then end\nend\n");
    cr_assert_eq(mitm_script_rt_load(rt, p, &env), -1);
    cr_assert(logged("error in script "), "%s", logbuf);
    cr_assert(logged("bad.lua:2:"), "the syntax error names file and line: %s", logbuf);
    cr_assert_eq(mitm_script_rt_count(rt), 0);

    log_clear();
    cr_assert_eq(mitm_script_rt_load(rt, "/nonexistent/x.lua", &env), -1);
    cr_assert(logged("No such script: /nonexistent/x.lua"), "%s", logbuf);

    log_clear();
    p = write_script("boom.lua", "error('at the top')\n");
    cr_assert_eq(mitm_script_rt_load(rt, p, &env), -1);
    cr_assert(logged("at the top") && logged("stack traceback"), "%s", logbuf);

    log_clear();
    p = write_script("ok.lua", "x = 1\n");
    cr_assert_eq(mitm_script_rt_load(rt, p, &env), 0);
    cr_assert(logged("Loading script"), "%s", logbuf);
    cr_assert_eq(mitm_script_rt_load(rt, p, &env), -1);
    cr_assert(logged("Duplicate script"), "%s", logbuf);
    mitm_script_rt_free(rt);
}

Test(runtime, a_hook_error_is_logged_and_the_flow_goes_on)
{
    struct mitm_script_rt *rt = rt_with("function request(flow)\n"
                                        "  flow.request.headers['X-Before'] = '1'\n"
                                        "  local t = nil\n"
                                        "  return t.field\n"
                                        "end\n"
                                        "function response(flow) flow.comment = 'response ran' end\n");
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert(logged("s.lua: error in request:"), "script name and hook: %s", logbuf);
    cr_assert(logged("s.lua:4:") && logged("stack traceback"), "message and traceback: %s", logbuf);
    cr_assert_str_eq(hdr(&f->request->headers, "x-before"), "1", "what ran before the error stays");
    add_resp(f, 200, "text/plain", "ok");
    hook(rt, MITM_HOOK_RESPONSE, f, 0);
    cr_assert_str_eq(f->comment, "response ran", "the script keeps running");
    mitm_flow_unref(f);
    mitm_script_rt_free(rt);
}

Test(runtime, an_infinite_loop_is_interrupted)
{
    mitm_options.script_timeout = 100;
    struct mitm_script_rt *rt =
        rt_with("n = 0\n"
                "function request(flow)\n"
                "  n = n + 1\n"
                "  flow.comment = tostring(n)\n"
                "  if n == 1 then while true do end end\n"
                "  if n == 2 then while true do pcall(function() while true do end end) end end\n"
                "  if n == 3 then\n"
                "    local co = coroutine.wrap(function() while true do end end)\n"
                "    while true do pcall(co) end\n"
                "  end\n"
                "end\n");
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert(logged("script_timeout: request ran longer than 100 ms"), "%s", logbuf);
    log_clear();
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert(logged("script_timeout"), "a pcall inside the script does not keep it going: %s", logbuf);
    log_clear();
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert(logged("script_timeout"), "nor does a loop in a coroutine: %s", logbuf);
    log_clear();
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert_str_eq(f->comment, "4", "the state works on afterwards");
    cr_assert_eq(loglen, 0, "%s", logbuf);
    mitm_flow_unref(f);
    mitm_script_rt_free(rt);
}

Test(runtime, memory_is_capped_per_state)
{
    mitm_options_set(&mitm_options, "script_memory_limit", "2m", NULL, 0);
    struct mitm_script_rt *rt =
        rt_with("calls = 0\n"
                "function request(flow)\n"
                "  calls = calls + 1\n"
                "  flow.comment = tostring(calls)\n"
                "  if calls == 1 then local t = {} for i = 1, 1e7 do t[i] = ('x'):rep(64) .. i end end\n"
                "end\n");
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert(logged("not enough memory") && logged("script_memory_limit"), "%s", logbuf);
    log_clear();
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert_str_eq(f->comment, "2", "the garbage was collected: %s", logbuf);
    mitm_flow_unref(f);
    mitm_script_rt_free(rt);
}

Test(runtime, lifecycle_order_and_configure_argument)
{
    struct mitm_script_rt *rt = rt_new();
    struct mitm_hook_env env = env_for(-1);
    const char *p =
        write_script("life.lua", "function load(l) mitm.log.info('load', mitm.worker) end\n"
                                 "function configure(u)\n"
                                 "  assert(u.scripts and u.flow_detail and u.mine, 'all options')\n"
                                 "  mitm.log.info('configure', mitm.worker)\n"
                                 "end\n"
                                 "function running() mitm.log.info('running') end\n"
                                 "function done() mitm.log.info('done') end\n"
                                 "function load(l) l:add_option('mine', 'bool', false, 'Mine.')\n"
                                 "  mitm.log.info('load', mitm.worker) end\n");
    cr_assert_eq(mitm_script_rt_load(rt, p, &env), 0, "%s", logbuf);
    cr_assert_eq(mitm_script_rt_configure(rt, &env), 0, "%s", logbuf);
    cr_assert_eq(mitm_script_rt_workers(rt, 2, &env), 0, "%s", logbuf);
    cr_assert_eq(mitm_script_rt_running(rt, &env), 0, "%s", logbuf);
    mitm_script_rt_done(rt, &env);
    const char *want[] = {"load -1", "configure -1", "load 0",  "configure 0",
                          "load 1",  "configure 1",  "running", "done"};
    const char *at = logbuf;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *hit = strstr(at, want[i]);
        cr_assert(hit, "'%s' missing or out of order in:\n%s", want[i], logbuf);
        at = hit + strlen(want[i]);
    }
    mitm_script_rt_free(rt);
}

Test(runtime, script_options)
{
    struct mitm_script_rt *rt = rt_new();
    struct mitm_hook_env env = env_for(-1);
    const char *p = write_script(
        "o.lua", "function load(l)\n"
                 "  l:add_option('addheader', 'bool', false, 'Add a count header.')\n"
                 "  l:add_option('tag', 'optional str', nil, 'A tag.')\n"
                 "  l:add_option('level', 'int', 3, 'A level.')\n"
                 "  l:add_option('names', 'sequence of str', {'a'}, 'Names.')\n"
                 "  l:add_option('color', 'str', 'red', 'A color.', {'red', 'blue'})\n"
                 "end\n"
                 "function request(flow)\n"
                 "  local o = mitm.options\n"
                 "  flow.comment = string.format('%s %s %d %s %s %d', tostring(o.addheader),\n"
                 "    tostring(o.tag), o.level, table.concat(o.names, ','), o.color, o.flow_detail)\n"
                 "end\n");
    cr_assert_eq(mitm_script_rt_load(rt, p, &env), 0, "%s", logbuf);
    char err[256];
    const char *bad[] = {"nope=1"};
    cr_assert_eq(mitm_script_rt_set(rt, bad, 1, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "Unknown option: nope");
    const char *twice[] = {"level=1", "level=2"};
    cr_assert_eq(mitm_script_rt_set(rt, twice, 2, err, sizeof(err)), -1);
    cr_assert_str_eq(err, "Received multiple values for level: 1, 2");
    const char *badchoice[] = {"color=green"};
    cr_assert_eq(mitm_script_rt_set(rt, badchoice, 1, err, sizeof(err)), -1);
    cr_assert(strstr(err, "invalid choice"), "%s", err);
    const char *specs[] = {"addheader", "tag=x", "names=b", "level=7", "names=c", "color=blue"};
    cr_assert_eq(mitm_script_rt_set(rt, specs, 6, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(mitm_script_rt_configure(rt, &env), 0);
    cr_assert_eq(mitm_script_rt_workers(rt, 1, &env), 0, "%s", logbuf);
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert_str_eq(f->comment, "true x 7 b,c blue 1", "%s", logbuf);
    cr_assert_eq(mitm_script_rt_set(rt, specs, 1, err, sizeof(err)), -1, "frozen once workers run");

    char *dump = NULL;
    size_t dlen = 0;
    FILE *out = open_memstream(&dump, &dlen);
    struct mitm_options defaults = {0};
    mitm_options_init(&defaults);
    mitm_script_rt_dump_options(rt, &defaults, out);
    fclose(out);
    cr_assert(strstr(dump, "# Add a count header. Type bool.\naddheader: false\n"), "%s", dump);
    cr_assert(strstr(dump, "color: red\n") && strstr(dump, "Valid values are 'red', 'blue'."), "%s", dump);
    cr_assert(strstr(dump, "names:\n- a\n"), "defaults are dumped: %s", dump);
    cr_assert(strstr(dump, "anticache: false\n") < strstr(dump, "color: red"), "in name order");
    free(dump);
    mitm_options_free(&defaults);
    mitm_flow_unref(f);
    mitm_script_rt_free(rt);
}

/* `set` at run time (the console, the web UI): the value reaches the workers' next read,
 * and configure(updated) runs with the changed name in the main-thread state at once and
 * in each worker state at its next hook, with the options given. */
Test(runtime, script_options_set_at_run_time)
{
    struct mitm_script_rt *rt = rt_new();
    struct mitm_hook_env env = env_for(-1);
    const char *p = write_script(
        "o.lua", "local seen = ''\n"
                 "function load(l)\n"
                 "  l:add_option('greeting', 'str', 'hi', 'A greeting.')\n"
                 "  l:add_option('names', 'sequence of str', {'a'}, 'Names.')\n"
                 "end\n"
                 "function configure(updated)\n"
                 "  local k = {}\n"
                 "  for name in pairs(updated) do k[#k + 1] = name end\n"
                 "  table.sort(k)\n"
                 "  seen = #k > 5 and 'all' or table.concat(k, ',')\n"
                 "  seen = seen .. '/' .. tostring(mitm.options.anticache)\n"
                 "end\n"
                 "function request(flow)\n"
                 "  flow.comment = mitm.options.greeting .. ' ' .. table.concat(mitm.options.names, ',')"
                 " .. ' ' .. seen\n"
                 "end\n");
    cr_assert_eq(mitm_script_rt_load(rt, p, &env), 0, "%s", logbuf);
    cr_assert_eq(mitm_script_rt_configure(rt, &env), 0);
    cr_assert_eq(mitm_script_rt_workers(rt, 2, &env), 0, "%s", logbuf);
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert_str_eq(f->comment, "hi a all/false", "%s", logbuf);

    char err[256];
    const void *val, *def;
    const struct mitm_opt_info *in = mitm_script_rt_option(rt, "greeting", &val, &def);
    cr_assert(in && in->type == MITM_OPT_TYPE_STR);
    cr_assert_eq(mitm_script_rt_set_option(rt, "nope", "x", err, sizeof(err)), -1);
    cr_assert_str_eq(err, "Unknown option: nope");
    cr_assert_eq(mitm_script_rt_set_option(rt, "greeting", "hello", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(*(char *const *)val, "hello");
    cr_assert_str_eq(*(char *const *)def, "hi", "the default stays");
    cr_assert_eq(mitm_script_rt_set_option(rt, "names", "x\ny", err, sizeof(err)), 0, "%s", err);
    /* the options the workers' configure reads: anticache on */
    struct mitm_options next;
    mitm_options_copy(&next, &mitm_options);
    next.anticache = true;
    struct mitm_optsnap *snap = mitm_optsnap_new(&next);
    mitm_options_free(&next);
    const char *changed[] = {"greeting", "names"};
    cr_assert_eq(mitm_script_rt_options_changed(rt, changed, 2, snap, &env), 0, "%s", logbuf);
    mitm_optsnap_unref(snap); /* the runtime keeps its own reference */
    hook(rt, MITM_HOOK_REQUEST, f, -1);
    cr_assert_str_eq(f->comment, "hello x,y greeting,names/false", "main thread, at once: %s", f->comment);
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert_str_eq(f->comment, "hello x,y greeting,names/true", "worker 0 at its next hook: %s",
                     f->comment);
    hook(rt, MITM_HOOK_REQUEST, f, 1);
    cr_assert_str_eq(f->comment, "hello x,y greeting,names/true", "worker 1 too: %s", f->comment);
    /* a reset goes back to the default; a second change of the same name is told once;
     * without options given, the hook's own are read */
    cr_assert_eq(mitm_script_rt_set_option(rt, "greeting", NULL, err, sizeof(err)), 0);
    const char *one[] = {"greeting"};
    mitm_script_rt_options_changed(rt, one, 1, NULL, &env);
    mitm_script_rt_options_changed(rt, one, 1, NULL, &env);
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert_str_eq(f->comment, "hi x,y greeting/false", "%s", f->comment);
    /* more changes than the log holds: the worker is told every option */
    for (int i = 0; i < 70; i++)
        mitm_script_rt_options_changed(rt, one, 1, NULL, &env);
    hook(rt, MITM_HOOK_REQUEST, f, 1);
    cr_assert_str_eq(f->comment, "hi x,y all/false", "%s", f->comment);
    cr_assert_eq(mitm_script_rt_set_option(rt, "names", NULL, err, sizeof(err)), 0);
    hook(rt, MITM_HOOK_REQUEST, f, 1);
    cr_assert_str_eq(f->comment, "hi a all/false", "%s", f->comment);
    mitm_flow_unref(f);
    mitm_script_rt_free(rt);
}

Test(runtime, add_option_rejects_bad_definitions)
{
    const char *cases[] = {
        "function load(l) l:add_option('flow_detail', 'int', 1, 'x') end",
        "function load(l) l:add_option('x', 'float', 1, 'x') end",
        "function load(l) l:add_option('x', 'bool', 'no', 'x') end",
        "function load(l) l:add_option('Bad-Name', 'bool', true, 'x') end",
        "function load(l) l:add_option('c', 'str', 'x', 'x', {'a', 'b'}) end",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mitm_script_rt *rt = rt_new();
        struct mitm_hook_env env = env_for(-1);
        log_clear();
        cr_assert_eq(mitm_script_rt_load(rt, write_script("bad.lua", cases[i]), &env), -1, "%s", cases[i]);
        cr_assert(logged("error in load"), "%s: %s", cases[i], logbuf);
        mitm_script_rt_free(rt);
    }
}

Test(runtime, states_per_worker_share_only_mitm_shared)
{
    struct mitm_script_rt *rt = rt_with("local mine = 0\n"
                                        "function request(flow)\n"
                                        "  mine = mine + 1\n"
                                        "  flow.comment = mine .. ' ' .. mitm.shared.incr('all')\n"
                                        "end\n");
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert_str_eq(f->comment, "2 2");
    hook(rt, MITM_HOOK_REQUEST, f, 1);
    cr_assert_str_eq(f->comment, "1 3", "worker 1 has its own state, the counter is shared");
    mitm_flow_unref(f);
    mitm_script_rt_free(rt);
}

Test(runtime, shared_api)
{
    struct mitm_script_rt *rt = rt_with(
        "function request(flow)\n"
        "  local s = mitm.shared\n"
        "  s.set('a', 'x'); s.set('b', 2.5); s.set('c', true); s.set('gone', 1); s.set('gone', nil)\n"
        "  assert(s.get('a') == 'x' and s.get('b') == 2.5 and s.get('c') == true and s.get('gone') == nil)\n"
        "  assert(s.incr('n', 5) == 5 and s.incr('n') == 6 and math.type(s.get('n')) == 'integer')\n"
        "  assert(table.concat(s.keys(), ',') == 'a,b,c,n')\n"
        "  assert(not pcall(s.incr, 'a'))\n"
        "  assert(not pcall(s.set, 'f', {}))\n"
        "  flow.comment = 'ok'\n"
        "end\n");
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert_str_eq(f->comment, "ok", "%s", logbuf);
    mitm_flow_unref(f);
    mitm_script_rt_free(rt);
}

Test(runtime, a_flow_kept_past_its_hook_cannot_be_used)
{
    struct mitm_script_rt *rt =
        rt_with("local kept, hdrs\n"
                "function request(flow)\n"
                "  if kept then\n"
                "    local ok, err = pcall(function() return kept.id end)\n"
                "    local ok2 = pcall(function() return hdrs['host'] end)\n"
                "    flow.comment = tostring(ok) .. ' ' .. tostring(ok2) .. ' ' .. err\n"
                "  end\n"
                "  kept = flow; hdrs = flow.request.headers\n"
                "end\n");
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    struct mitm_flow *g = get_flow("example.org", 80, "/");
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    hook(rt, MITM_HOOK_REQUEST, g, 0);
    cr_assert(strstr(g->comment, "false false") && strstr(g->comment, "flow used after its hook returned"),
              "%s", g->comment);
    mitm_flow_unref(f);
    mitm_flow_unref(g);
    mitm_script_rt_free(rt);
}

/* Rewrite the script file with new text (a different size, so the change shows even within
 * one mtime tick). */
static void rewrite(const char *src)
{
    write_script("s.lua", src);
}

Test(runtime, hot_reload)
{
    struct mitm_script_rt *rt = rt_with("function request(flow) flow.comment = 'v1' end\n"
                                        "function done() mitm.log.info('done v1') end\n");
    struct mitm_hook_env env = env_for(-1);
    cr_assert_eq(mitm_script_rt_workers(rt, 1, &env), 0);
    cr_assert_eq(mitm_script_rt_running(rt, &env), 0);
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    env.now = 2000;
    mitm_script_rt_tick(rt, &env); /* looks, nothing changed */
    rewrite("function request(flow) flow.comment = 'version 2' end\n"
            "function running() mitm.log.info('running v2') end\n");
    env.now = 2000.5;
    mitm_script_rt_tick(rt, &env);
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert_str_eq(f->comment, "v1", "looked at most once a second");
    log_clear();
    env.now = 2001.1;
    mitm_script_rt_tick(rt, &env);
    cr_assert(logged("Loading script") && logged("done v1") && logged("running v2"), "%s", logbuf);
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert_str_eq(f->comment, "version 2", "the worker switched at its next hook");
    hook(rt, MITM_HOOK_REQUEST, f, 5);
    cr_assert_str_eq(f->comment, "version 2", "a new worker starts with the new code");

    log_clear();
    rewrite("function request(flow) flow.comment = 'v3' \n"); /* broken */
    env.now = 2003;
    mitm_script_rt_tick(rt, &env);
    cr_assert(logged("error in script") && logged("reload failed"), "%s", logbuf);
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert_str_eq(f->comment, "version 2", "a failed reload keeps the old code");

    rewrite("function request(flow) flow.comment = 'v4, fixed' end\n");
    env.now = 2005;
    mitm_script_rt_tick(rt, &env);
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert_str_eq(f->comment, "v4, fixed");
    mitm_flow_unref(f);
    mitm_script_rt_free(rt);
}

Test(runtime, print_goes_to_the_log)
{
    struct mitm_script_rt *rt =
        rt_with("function request(flow) print('a', 1, nil) mitm.log.warn('w', 2) end\n");
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert(logged("[2] s.lua: a\t1\tnil"), "%s", logbuf);
    cr_assert(logged("[1] s.lua: w 2"), "%s", logbuf);
    mitm_flow_unref(f);
    mitm_script_rt_free(rt);
}

/* ---- commands ---- */

static struct mitm_flow *run_flows[2];

static int resolve(void *ud, const char *spec, struct mitm_flow ***flows, size_t *n, char *err, size_t errlen)
{
    (void)ud;
    (void)err;
    (void)errlen;
    (void)spec;
    *flows = mitm_calloc(2, sizeof(**flows));
    for (int i = 0; i < 2; i++)
        (*flows)[i] = mitm_flow_ref(run_flows[i]);
    *n = 2;
    return 0;
}

Test(runtime, commands_and_script_run)
{
    struct mitm_script_rt *rt = rt_new();
    struct mitm_hook_env env = env_for(-1);
    struct mitm_cmd_registry *reg = mitm_cmd_registry_new();
    mitm_cmd_set_resolver(reg, resolve, NULL);
    char err[512];
    cr_assert_eq(mitm_script_rt_commands(rt, reg, &env, err, sizeof(err)), 0, "%s", err);
    const char *p = write_script(
        "c.lua", "local n = 0\n"
                 "function load(l)\n"
                 "  l:add_command('myaddon.inc', function(by) n = n + (tonumber(by) or 1); return n end)\n"
                 "  l:add_command('myaddon.list', function() return {'a', 'b'} end)\n"
                 "  l:add_command('myaddon.fail', function() error('no') end)\n"
                 "end\n"
                 "function running() mitm.log.info('cmd:' .. mitm.command('myaddon.inc', 10)) end\n");
    cr_assert_eq(mitm_script_rt_load(rt, p, &env), 0, "%s", logbuf);
    cr_assert_eq(mitm_script_rt_running(rt, &env), 0, "%s", logbuf);
    cr_assert(logged("cmd:10"), "a script calls commands: %s", logbuf);
    struct mitm_buf out;
    mitm_buf_init(&out, 0);
    cr_assert_eq(mitm_cmd_call_line(reg, "myaddon.inc", &out, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(out.len, 2);
    cr_assert_eq(memcmp(mitm_buf_data(&out), "11", 2), 0);
    mitm_buf_consume(&out, out.len);
    cr_assert_eq(mitm_cmd_call_line(reg, "myaddon.list", &out, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(memcmp(mitm_buf_data(&out), "a\nb", 3), 0);
    cr_assert_eq(mitm_cmd_call_line(reg, "myaddon.fail", &out, err, sizeof(err)), -1);
    cr_assert(strstr(err, "myaddon.fail"), "%s", err);

    /* script.run: request then response hooks of each flow, in a state of its own */
    run_flows[0] = get_flow("example.com", 80, "/a");
    run_flows[1] = get_flow("example.org", 80, "/b");
    add_resp(run_flows[1], 404, "text/plain", "nope");
    const char *r = write_script(
        "run.lua",
        "function load(l) error('load is not called by script.run') end\n"
        "function request(flow) flow.comment = flow.comment .. 'req ' end\n"
        "function response(flow) flow.comment = flow.comment .. 'resp ' .. flow.response.status_code end\n");
    char line[600];
    snprintf(line, sizeof(line), "script.run @all %s", r);
    log_clear();
    cr_assert_eq(mitm_cmd_call_line(reg, line, &out, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(run_flows[0]->comment, "req ", "%s", logbuf);
    cr_assert_str_eq(run_flows[1]->comment, "req resp 404");
    snprintf(line, sizeof(line), "script.run @all %s/none.lua", tdir);
    cr_assert_eq(mitm_cmd_call_line(reg, line, &out, err, sizeof(err)), 0);
    cr_assert(logged("No such script"), "%s", logbuf);
    mitm_buf_free(&out);
    mitm_flow_unref(run_flows[0]);
    mitm_flow_unref(run_flows[1]);
    mitm_cmd_registry_free(reg);
    mitm_script_rt_free(rt);
}

Test(runtime, mitm_command_is_main_thread_only)
{
    struct mitm_script_rt *rt = rt_with("function request(flow)\n"
                                        "  local ok, err = pcall(mitm.command, 'x')\n"
                                        "  flow.comment = err\n"
                                        "end\n");
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert(strstr(f->comment, "main thread only"), "%s", f->comment);
    mitm_flow_unref(f);
    mitm_script_rt_free(rt);
}

Test(runtime, two_scripts_run_in_order)
{
    struct mitm_script_rt *rt = rt_new();
    struct mitm_hook_env env = env_for(-1);
    cr_assert_eq(
        mitm_script_rt_load(rt, write_script("one.lua", "function request(f) f.comment = 'one' end"), &env),
        0);
    cr_assert_eq(
        mitm_script_rt_load(
            rt, write_script("two.lua", "function request(f) f.comment = f.comment .. ' two' end"), &env),
        0);
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert_str_eq(f->comment, "one two");
    mitm_flow_unref(f);
    mitm_script_rt_free(rt);
}

Test(runtime, os_exit_cannot_stop_the_proxy)
{
    struct mitm_script_rt *rt = rt_with("function request(flow) os.exit(3) end\n");
    struct mitm_flow *f = get_flow("example.com", 80, "/");
    hook(rt, MITM_HOOK_REQUEST, f, 0);
    cr_assert(logged("os.exit is not available"), "%s", logbuf);
    mitm_flow_unref(f);
    mitm_script_rt_free(rt);
}

static int order_calls[8], norder;

static void order_hook(void *state, enum mitm_hook h, void *arg, const struct mitm_hook_env *env)
{
    (void)h;
    (void)arg;
    (void)env;
    order_calls[norder++] = (int)(intptr_t)state;
}

Test(runtime, the_addon_is_inserted_before_a_given_addon)
{
    static const struct mitm_addon a = {"a", order_hook}, b = {"b", order_hook}, s = {"script", order_hook};
    struct mitm_addons *r = mitm_addons_new();
    mitm_addons_add(r, &a, (void *)1);
    mitm_addons_add(r, &b, (void *)2);
    mitm_addons_insert_before(r, &b, &s, (void *)3);
    mitm_addons_insert_before(r, &mitm_addon_script, &s, (void *)4); /* absent: appended */
    struct mitm_hook_env env = env_for(0);
    norder = 0;
    mitm_addons_run(r, MITM_HOOK_REQUEST, NULL, &env);
    cr_assert_eq(norder, 4);
    cr_assert(order_calls[0] == 1 && order_calls[1] == 3 && order_calls[2] == 2 && order_calls[3] == 4);
    mitm_addons_free(r);
}
