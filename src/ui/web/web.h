/* `mitmc web`: mitmweb's proxy and web UI (docs/internals/web.md). */
#ifndef MITM_UI_WEB_WEB_H
#define MITM_UI_WEB_WEB_H

struct mitm_cli;

/* Run the proxy with the web server on web_host:web_port until SIGINT or SIGTERM. Returns
 * the exit status (1: a start-up error was logged, such as a web port in use). */
int mitm_web_main(const struct mitm_cli *cli);

#endif
