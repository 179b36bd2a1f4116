/* browser.start (mitmproxy's addons/browser.py): an isolated Chrome/Chromium or Firefox
 * that uses the running proxy, with a profile of its own in a temporary directory. The
 * browsers are stopped and their profiles removed when the master goes away, as
 * mitmproxy's done() does. Main thread only. */
#include "ui/browser.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"
#include "core/options.h"
#include "io/io.h"
#include "ui/commands.h"
#include "ui/master.h"

extern char **environ;

struct browser {
    pid_t pid;
    char *dir; /* its profile */
};

struct mitm_browsers {
    struct browser *v;
    size_t n;
};

/* The first of names found as an executable file in PATH (shutil.which); caller frees. */
static char *which(const char *const *names)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *const *n = names; *n; n++) {
        for (const char *p = path; *p;) {
            size_t k = strcspn(p, ":");
            char *full = mitm_alloc(k + strlen(*n) + 2);
            snprintf(full, k + strlen(*n) + 2, "%.*s/%s", (int)k, k ? p : ".", *n);
            struct stat st;
            if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0)
                return full;
            free(full);
            p += k + (p[k] ? 1 : 0);
        }
    }
    return NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Reap the browsers that ended by themselves (their profiles go with them). */
static void reap(struct mitm_browsers *b)
{
    for (size_t i = 0; i < b->n;) {
        if (waitpid(b->v[i].pid, NULL, WNOHANG) == b->v[i].pid) {
            rm_tree(b->v[i].dir);
            free(b->v[i].dir);
            b->v[i] = b->v[--b->n];
        } else {
            i++;
        }
    }
}

/* host:port of the running proxy: the first mode's bound port (listen_port 0 included). */
static void proxy_address(const struct mitm_master *m, char *out, size_t cap)
{
    const char *host =
        mitm_options.listen_host && *mitm_options.listen_host ? mitm_options.listen_host : "127.0.0.1";
    long port = m->proxy ? mitm_proxy_port(m->proxy) : mitm_options.listen_port;
    if (port <= 0)
        port = 8080;
    bool v6 = strchr(host, ':') != NULL;
    snprintf(out, cap, "%s%s%s:%ld", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

/* Firefox's profile: the proxy for every protocol, and none of its own traffic. */
static int firefox_prefs(const char *dir, const struct mitm_master *m)
{
    char path[4200], addr[300];
    snprintf(path, sizeof(path), "%s/prefs.js", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    proxy_address(m, addr, sizeof(addr));
    char *colon = strrchr(addr, ':');
    *colon = 0;
    const char *host = addr[0] == '[' ? addr + 1 : addr;
    if (addr[0] == '[')
        colon[-1] = 0;
    static const char *const prefs[] = {
        "datareporting.policy.firstRunURL\", \"\"",
        "network.proxy.type\", 1",
        "network.proxy.share_proxy_settings\", true",
        "datareporting.healthreport.uploadEnabled\", false",
        "app.normandy.enabled\", false",
        "app.update.auto\", false",
        "app.update.enabled\", false",
        "app.update.autoInstallEnabled\", false",
        "app.shield.optoutstudies.enabled\", false",
        "extensions.blocklist.enabled\", false",
        "browser.safebrowsing.downloads.remote.enabled\", false",
        "browser.region.network.url\", \"\"",
        "browser.region.update.enabled\", false",
        "browser.region.local-geocoding\", false",
        "extensions.pocket.enabled\", false",
        "network.captive-portal-service.enabled\", false",
        "network.connectivity-service.enabled\", false",
        "toolkit.telemetry.server\", \"\"",
        "dom.push.serverURL\", \"\"",
        "services.settings.enabled\", false",
        "browser.newtab.preload\", false",
        "browser.safebrowsing.provider.google4.updateURL\", \"\"",
        "browser.safebrowsing.provider.mozilla.updateURL\", \"\"",
        "browser.newtabpage.activity-stream.feeds.topsites\", false",
        "browser.newtabpage.activity-stream.default.sites\", \"\"",
        "browser.newtabpage.activity-stream.showSponsoredTopSites\", false",
        "browser.bookmarks.restore_default_bookmarks\", false",
        "browser.bookmarks.file\", \"\"",
    };
    for (size_t i = 0; i < sizeof(prefs) / sizeof(prefs[0]); i++)
        fprintf(f, "user_pref(\"%s);\n", prefs[i]);
    fprintf(f, "user_pref(\"network.proxy.http\", \"%s\");\n", host);
    fprintf(f, "user_pref(\"network.proxy.http_port\", %s);\n", colon + 1);
    return fclose(f) == 0 ? 0 : -1;
}

static int cmd_browser_start(void *data, const struct mitm_cmd_arg *a, size_t n, struct mitm_buf *out,
                             char *err, size_t errlen)
{
    (void)n, (void)out, (void)err, (void)errlen;
    struct mitm_master *m = data;
    const char *kind = a[0].nrest ? a[0].rest[0] : "chrome";
    if (!m->browsers)
        m->browsers = mitm_calloc(1, sizeof(*m->browsers));
    struct mitm_browsers *b = m->browsers;
    reap(b);
    if (b->n)
        mitm_log(MITM_LOG_ALERT, NULL, "Starting additional browser");
    bool chrome = strcmp(kind, "chrome") == 0 || strcmp(kind, "chromium") == 0;
    if (!chrome && strcmp(kind, "firefox") != 0) {
        mitm_log(MITM_LOG_ALERT, NULL, "Invalid browser name.");
        return 0;
    }
    static const char *const chromes[] = {"google-chrome",    "google-chrome-stable",   "chrome", "chromium",
                                          "chromium-browser", "google-chrome-unstable", NULL};
    static const char *const firefoxes[] = {"firefox", "mozilla-firefox", "mozilla", NULL};
    char *exe = which(chrome ? chromes : firefoxes);
    if (!exe) {
        mitm_log(MITM_LOG_ALERT, NULL, "Your platform is not supported yet - please submit a patch.");
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/mitmc-browser-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir) || (!chrome && firefox_prefs(dir, m) < 0)) {
        mitm_log(MITM_LOG_ERROR, NULL, "browser.start: cannot make a profile in %s: %s", dir,
                 strerror(errno));
        if (dir[strlen(dir) - 1] != 'X')
            rm_tree(dir);
        free(exe);
        return 0;
    }
    char addr[300], a_dir[4200], a_proxy[320];
    proxy_address(m, addr, sizeof(addr));
    snprintf(a_dir, sizeof(a_dir), "--user-data-dir=%s", dir);
    snprintf(a_proxy, sizeof(a_proxy), "--proxy-server=%s", addr);
    char *chrome_argv[] = {exe,
                           a_dir,
                           a_proxy,
                           "--disable-fre",
                           "--no-default-browser-check",
                           "--no-first-run",
                           "--disable-extensions",
                           "about:blank",
                           NULL};
    char *firefox_argv[] = {exe, "--profile", dir, "--new-instance", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none; /* the browser starts with default signals, not the console's */
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    sigset_t deflt;
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGPIPE);
    sigaddset(&deflt, SIGINT);
    sigaddset(&deflt, SIGTERM);
    posix_spawnattr_setsigdefault(&at, &deflt);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0); /* its own group: the terminal's ^C is the console's */
    pid_t pid;
    int rc = posix_spawn(&pid, exe, &fa, &at, chrome ? chrome_argv : firefox_argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        mitm_log(MITM_LOG_ERROR, NULL, "browser.start: cannot start %s: %s", exe, strerror(rc));
        rm_tree(dir);
        free(exe);
        return 0;
    }
    mitm_log(MITM_LOG_INFO, NULL, "browser.start: %s (pid %d) uses the proxy at %s", exe, (int)pid, addr);
    free(exe);
    b->v = mitm_realloc(b->v, (b->n + 1) * sizeof(*b->v));
    b->v[b->n++] = (struct browser){pid, mitm_strdup(dir)};
    return 0;
}

static const struct mitm_cmd_param p_browser[] = {{"browser", MITM_ARG_STRS, NULL}};

int mitm_ui_browser_register(struct mitm_master *m, char *err, size_t errlen)
{
    const struct mitm_cmd_def defs[] = {
        {"browser.start", p_browser, 1, NULL,
         "Start an isolated instance of Chrome that points to the currently running proxy.",
         cmd_browser_start, m},
    };
    return mitm_ui_register_defs(m, defs, 1, err, errlen);
}

void mitm_ui_browser_free(struct mitm_master *m)
{
    struct mitm_browsers *b = m->browsers;
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) /* the whole group: a browser's helper processes too */
        kill(-b->v[i].pid, SIGTERM);
    for (size_t i = 0; i < b->n; i++) {
        /* bounded: 2 s each, then SIGKILL */
        struct timespec step = {0, 20 * 1000 * 1000};
        int tries = 100;
        while (waitpid(b->v[i].pid, NULL, WNOHANG) == 0 && tries-- > 0)
            nanosleep(&step, NULL);
        if (tries < 0) {
            kill(-b->v[i].pid, SIGKILL);
            waitpid(b->v[i].pid, NULL, 0);
        }
        rm_tree(b->v[i].dir);
        free(b->v[i].dir);
    }
    free(b->v);
    free(b);
    m->browsers = NULL;
}
