/* The one options table (DESIGN §3). Every option mitmc knows, with mitmproxy's name,
 * type and default where mitmproxy has it (reference §3). The CLI, --set, config.yaml,
 * --options (and later the console and web UIs) all read this table.
 *
 * X(TYPE, name, default, choices, help)
 *   TYPE:    BOOL (bool), INT (long), OPT_INT (long, MITM_OPT_NONE = None),
 *            STR (char *, never NULL), OPT_STR (char *, NULL = None),
 *            SIZE (char *, NULL = None; "10k", "5m", "1g" or bytes; parsed by
 *                  mitm_options_size()), STRLIST (struct mitm_strvec).
 *   choices: NULL, or a "|"-separated list the value must be one of.
 * mitmc-only options say so in their help. */
#ifndef MITM_ADDON_OPTIONS_TABLE_H
#define MITM_ADDON_OPTIONS_TABLE_H

#define MITM_OPTIONS_TABLE(X) \
    X(STR, confdir, "~/.mitmproxy", NULL, "Location of the default mitmproxy configuration files.") \
    X(STRLIST, mode, "regular", NULL, \
      "The proxy server type(s) to spawn: MODE[:DATA][@[HOST:]PORT]. mitmc supports: regular.") \
    X(STR, listen_host, "", NULL, "Address to bind proxy server(s) to (may be overridden for individual modes).") \
    X(OPT_INT, listen_port, MITM_OPT_NONE, NULL, \
      "Port to bind proxy server(s) to (may be overridden for individual modes). By default, the port is mode-specific.") \
    X(BOOL, server, true, NULL, "Start a proxy server. Enabled by default.") \
    X(OPT_STR, rfile, NULL, NULL, "Read flows from file.") \
    X(OPT_STR, save_stream_file, NULL, NULL, \
      "Stream flows to file as they arrive. Prefix path with + to append. The full path can use " \
      "python strftime() formating, missing directories are created as needed. A new file is opened " \
      "every time the formatted string changes.") \
    X(BOOL, ssl_insecure, false, NULL, \
      "Do not verify upstream server SSL/TLS certificates. If this option is enabled, certificate " \
      "validation is skipped and mitmproxy itself will be vulnerable to TLS interception.") \
    X(BOOL, block_global, true, NULL, \
      "Block connections from public IP addresses.") \
    X(BOOL, block_private, false, NULL, \
      "Block connections from local (private) IP addresses. This option does not affect loopback addresses.") \
    X(BOOL, anticache, false, NULL, \
      "Strip out request headers that might cause the server to return 304-not-modified.") \
    X(BOOL, anticomp, false, NULL, "Try to convince servers to send us un-compressed data.") \
    X(BOOL, showhost, false, NULL, "Use the Host header to construct URLs for display.") \
    X(SIZE, body_size_limit, NULL, NULL, \
      "Byte size limit of HTTP request and response bodies. Understands k/m/g suffixes, i.e. 3m for 3 megabytes.") \
    X(SIZE, stream_large_bodies, NULL, NULL, \
      "Stream data to the client if response body exceeds the given threshold. If streamed, the body will not be " \
      "stored in any way, and such responses cannot be modified. Understands k/m/g suffixes, i.e. 3m for 3 " \
      "megabytes.") \
    X(BOOL, validate_inbound_headers, true, NULL, \
      "Make sure that incoming HTTP requests are not malformed. Disabling this option makes mitmproxy vulnerable " \
      "to HTTP smuggling attacks.") \
    X(INT, flow_detail, 1, NULL, \
      "The display detail level for flows in mitmdump: 0 (quiet) to 4 (very verbose). 0: no output; 1: shortened " \
      "request URL with response status code; 2: full request URL with response status code and HTTP headers; " \
      "3: 2 + truncated response content, content of WebSocket and TCP messages; 4: 3 + nothing is truncated.") \
    X(STR, termlog_verbosity, "info", "error|warn|info|alert|debug", "Log verbosity.") \
    X(SIZE, body_buffer_limit, "64m", NULL, \
      "mitmc: largest body kept in memory. A larger body is streamed (as with stream_large_bodies) so that one " \
      "message can never exhaust memory.") \
    X(SIZE, http_max_line_size, "16k", NULL, \
      "mitmc: longest HTTP/1 request line or status line accepted (longer: 414 / 502).") \
    X(SIZE, http_max_header_size, "64k", NULL, \
      "mitmc: largest HTTP/1 header block accepted (larger: 431 / 502).") \
    X(INT, connect_timeout, 30, NULL, \
      "mitmc: seconds to wait for an upstream TCP connection before answering 504.") \
    X(INT, workers, 0, NULL, "mitmc: number of proxy worker threads (0 = one per CPU core).")

#endif
