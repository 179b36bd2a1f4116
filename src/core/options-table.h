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
#ifndef MITM_CORE_OPTIONS_TABLE_H
#define MITM_CORE_OPTIONS_TABLE_H

/* One option per entry, aligned by hand. */
/* clang-format off */
#define MITM_OPTIONS_TABLE(X) \
    X(STR, confdir, "~/.mitmproxy", NULL, "Location of the default mitmproxy configuration files.") \
    X(STRLIST, mode, "regular", NULL, \
      "The proxy server type(s) to spawn. Can be passed multiple times. mitmc supports \"regular\" (HTTP), " \
      "\"transparent\", \"socks5\", \"reverse:SPEC\", and \"upstream:SPEC\" proxy servers. For reverse and upstream " \
      "proxy modes, SPEC is host specification in the form of \"http[s]://host[:port]\" (reverse also takes " \
      "tcp:// and tls://). You may append `@listen_port` or `@listen_host:listen_port` to override `listen_host` " \
      "or `listen_port` for a specific proxy mode. Features such as client playback will use the first mode to " \
      "determine which upstream server to use.") \
    X(STR, listen_host, "", NULL, "Address to bind proxy server(s) to (may be overridden for individual modes).") \
    X(OPT_INT, listen_port, MITM_OPT_NONE, NULL, \
      "Port to bind proxy server(s) to (may be overridden for individual modes). By default, the port is mode-specific.") \
    X(BOOL, server, true, NULL, "Start a proxy server. Enabled by default.") \
    X(OPT_STR, rfile, NULL, NULL, "Read flows from file.") \
    X(OPT_STR, save_stream_file, NULL, NULL, \
      "Stream flows to file as they arrive. Prefix path with + to append. The full path can use " \
      "python strftime() formating, missing directories are created as needed. A new file is opened " \
      "every time the formatted string changes.") \
    X(OPT_STR, save_stream_filter, NULL, NULL, "Filter which flows are written to file.") \
    X(STR, save_flow_format, "21", "17|21", \
      "mitmc: the flow-file format version that save_stream_file (-w) and save.file write: 21, as mitmproxy 10 " \
      "and later write, or 17, as mitmproxy 8 and 9 write and read (Debian 12's mitmproxy 8.1.1); later " \
      "versions read 17 too.") \
    X(INT, save_stream_fsync, 1, NULL, \
      "mitmc: power-loss safety of save_stream_file. Every flow reaches the kernel (one write per flow) before " \
      "it is printed, so a crash or kill loses no reported flow; the file is also fsync'ed at most this many " \
      "seconds after a flow was written, and when it is closed. 0 = never fsync (the kernel writes back " \
      "within about 30 s, as with mitmproxy).") \
    X(OPT_STR, readfile_filter, NULL, NULL, "Read only matching flows.") \
    /* ---- flow sinks (src/sink, docs/internals/sinks.md) ---- */ \
    X(STRLIST, flow_sink, NULL, NULL, \
      "mitmc: send every finished flow to these stores as well (several at once): postgresql://user@host/db, " \
      "jsonl+https://host/path or jsonl+http://host/path (PostgreSQL: a libpq connection URI; password from " \
      "the URI, PGPASSFILE or PGPASSWORD, never logged). Flows wait in " \
      "a spool file while a store is down and are delivered in order when it is back.") \
    X(STR, flow_sink_instance, "", NULL, \
      "mitmc: the name this proxy's flows carry in the flow sinks (with their flow ids); empty = the host name.") \
    X(STR, flow_sink_spool_dir, "", NULL, "mitmc: where the flow sinks' spool files live; empty = confdir.") \
    X(SIZE, flow_sink_spool_size, "1g", NULL, \
      "mitmc: the most undelivered flow data a sink's spool holds; beyond it flows are dropped, counted and " \
      "logged.") \
    X(SIZE, flow_sink_queue_size, "64m", NULL, \
      "mitmc: the most flow data waiting in memory for a sink's thread to spool it.") \
    X(INT, flow_sink_batch, 500, NULL, "mitmc: the most flows a sink delivers in one batch (one transaction).") \
    X(STRLIST, flow_sink_headers, NULL, NULL, \
      "mitmc: extra request headers (\"Name: value\", e.g. Authorization) of the JSON Lines sinks' POSTs.") \
    X(BOOL, flow_sink_gzip, false, NULL, "mitmc: gzip the JSON Lines sinks' POST bodies.") \
    X(INT, flow_sink_timeout, 30, NULL, \
      "mitmc: seconds a JSON Lines sink waits for its receiver's answer before the batch is retried.") \
    X(SIZE, flow_sink_body_max, "64k", NULL, \
      "mitmc: request and response bodies up to this size get their own columns in PostgreSQL (every body " \
      "is in the row's flow record in any case).") \
    X(BOOL, ssl_insecure, false, NULL, \
      "Do not verify upstream server SSL/TLS certificates. If this option is enabled, certificate " \
      "validation is skipped and mitmproxy itself will be vulnerable to TLS interception.") \
    /* ---- TLS (src/proto/tls) ---- */ \
    X(BOOL, add_upstream_certs_to_client_chain, false, NULL, \
      "Add all certificates of the upstream server to the certificate chain that will be served to the proxy " \
      "client, as extras.") \
    X(STRLIST, allow_hosts, NULL, NULL, "Opposite of --ignore-hosts.") \
    X(OPT_STR, cert_passphrase, NULL, NULL, \
      "Passphrase for decrypting the private key provided in the --cert option.  Note that passing " \
      "cert_passphrase on the command line makes your passphrase visible in your system's process list. " \
      "Specify it in config.yaml to avoid this.") \
    X(STRLIST, certs, NULL, NULL, \
      "SSL certificates of the form \"[domain=]path\". The domain may include a wildcard, and is equal to \"*\" " \
      "if not specified. The file at path is a certificate in PEM format. If a private key is included in the " \
      "PEM, it is used, else the default key in the conf dir is used. The PEM file should contain the full " \
      "certificate chain, with the leaf certificate as the first entry.") \
    X(OPT_STR, ciphers_client, NULL, NULL, \
      "Set supported ciphers for client <-> mitmproxy connections using OpenSSL syntax.") \
    X(OPT_STR, ciphers_server, NULL, NULL, \
      "Set supported ciphers for mitmproxy <-> server connections using OpenSSL syntax.") \
    X(STR, connection_strategy, "eager", "eager|lazy", \
      "Determine when server connections should be established. When set to lazy, mitmproxy tries to defer " \
      "establishing an upstream connection as long as possible. This makes it possible to use server replay " \
      "while being offline. When set to eager, mitmproxy can detect protocols with server-side greetings, as " \
      "well as accurately mirror TLS ALPN negotiation.") \
    X(STRLIST, ignore_hosts, NULL, NULL, \
      "Ignore host and forward all traffic without processing it. In transparent mode, it is recommended to " \
      "use an IP address (range), not the hostname. In regular mode, only SSL traffic is ignored and the " \
      "hostname should be used. The supplied value is interpreted as a regular expression and matched on the " \
      "ip or the hostname.") \
    X(INT, key_size, 2048, NULL, "TLS key size for certificates and CA.") \
    X(BOOL, onboarding, true, NULL, "Toggle the mitmproxy onboarding app.") \
    X(STR, onboarding_host, "mitm.it", NULL, \
      "Onboarding app domain. For transparent mode, use an IP when a DNS entry for the app domain is not " \
      "present.") \
    X(OPT_STR, ssl_verify_upstream_trusted_ca, NULL, NULL, "Path to a PEM formatted trusted CA certificate.") \
    X(OPT_STR, ssl_verify_upstream_trusted_confdir, NULL, NULL, \
      "Path to a directory of trusted CA certificates for upstream server verification prepared using the " \
      "c_rehash tool.") \
    X(STR, tls_version_client_max, "UNBOUNDED", "UNBOUNDED|SSL3|TLS1|TLS1_1|TLS1_2|TLS1_3", \
      "Set the maximum TLS version for client connections.") \
    X(STR, tls_version_client_min, "TLS1_2", "UNBOUNDED|SSL3|TLS1|TLS1_1|TLS1_2|TLS1_3", \
      "Set the minimum TLS version for client connections.") \
    X(STR, tls_version_server_max, "UNBOUNDED", "UNBOUNDED|SSL3|TLS1|TLS1_1|TLS1_2|TLS1_3", \
      "Set the maximum TLS version for server connections.") \
    X(STR, tls_version_server_min, "TLS1_2", "UNBOUNDED|SSL3|TLS1|TLS1_1|TLS1_2|TLS1_3", \
      "Set the minimum TLS version for server connections.") \
    X(BOOL, upstream_cert, true, NULL, "Connect to upstream server to look up certificate details.") \
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
    X(OPT_STR, dumper_filter, NULL, NULL, "Limit which flows are dumped.") \
    X(BOOL, keepserving, false, NULL, \
      "Continue serving after client playback, server playback or file read. This option is ignored by " \
      "interactive tools, which always keep serving.") \
    X(STR, store_dir, "", NULL, \
      "mitmc: directory of the flow store's spool file (an unlinked temporary file holding the flows of " \
      "the session, so that memory stays flat). Empty: $TMPDIR, else /tmp.") \
    X(STR, termlog_verbosity, "info", "error|warn|info|alert|debug", "Log verbosity.") \
    X(SIZE, body_buffer_limit, "64m", NULL, \
      "mitmc: largest body kept in memory. A larger body is streamed (as with stream_large_bodies) so that one " \
      "message can never exhaust memory; keep_streamed_bodies says whether the flow still keeps it.") \
    X(STR, keep_streamed_bodies, "large", "large|all|none", \
      "mitmc: streamed bodies written to a temporary file in store_dir as they pass, so that the flow keeps its " \
      "whole body (for -w, the flow store, the UIs and scripts) without it taking memory. large: those " \
      "streamed because they outgrew body_buffer_limit; all: also those streamed because of " \
      "stream_large_bodies or a script (which mitmproxy does not keep); none: keep no streamed body.") \
    X(SIZE, http_max_line_size, "16k", NULL, \
      "mitmc: longest HTTP/1 request line or status line accepted (longer: 414 / 502).") \
    X(SIZE, http_max_header_size, "64k", NULL, \
      "mitmc: largest HTTP/1 header block accepted (larger: 431 / 502).") \
    X(INT, connect_timeout, 30, NULL, \
      "mitmc: seconds to wait for an upstream TCP connection before answering 504.") \
    X(INT, workers, 0, NULL, "mitmc: number of proxy worker threads (0 = one per CPU core).") \
    X(BOOL, keep_alt_svc_header, false, NULL, \
      "Reverse Proxy: Keep Alt-Svc headers as-is, even if they do not point to mitmproxy. Enabling this option " \
      "may cause clients to bypass the proxy.") \
    X(BOOL, http_connect_send_host_header, true, NULL, \
      "Include host header with CONNECT requests. Enabled by default.") \
    X(STRLIST, tcp_hosts, NULL, NULL, \
      "Generic TCP SSL proxy mode for all hosts that match the pattern. Similar to --ignore-hosts, but SSL " \
      "connections are intercepted. The communication contents are printed to the log in verbose mode.") \
    X(BOOL, rawtcp, true, NULL, "Enable/disable raw TCP connections. TCP connections are enabled by default. ") \
    X(BOOL, http2, true, NULL, "Enable/disable HTTP/2 support. HTTP/2 support is enabled by default.") \
    X(INT, http2_ping_keepalive, 58, NULL, \
      "Send a PING frame if an HTTP/2 connection is idle for more than the specified number of seconds to " \
      "prevent the remote site from closing it. Set to 0 to disable this feature.") \
    X(BOOL, http2_prior_knowledge, false, NULL, \
      "mitmc: serve cleartext HTTP/2 (h2c) to clients that start with the HTTP/2 connection preface (prior " \
      "knowledge, RFC 9113 §3.3): on the plain proxy port, in reverse mode and inside CONNECT tunnels; needs " \
      "http2. Off: the preface is refused, as mitmproxy does.") \
    X(INT, http2_max_concurrent_streams, 100, NULL, \
      "mitmc: SETTINGS_MAX_CONCURRENT_STREAMS announced to HTTP/2 peers (1..1000).") \
    X(SIZE, http2_max_header_list_size, "64k", NULL, \
      "mitmc: SETTINGS_MAX_HEADER_LIST_SIZE announced to HTTP/2 peers (1k..1m).") \
    X(SIZE, http2_max_frame_size, "16k", NULL, \
      "mitmc: SETTINGS_MAX_FRAME_SIZE announced to HTTP/2 peers (16k..16m-1, RFC 9113 §6.5.2).") \
    X(BOOL, websocket, true, NULL, "Enable/disable WebSocket support. WebSocket support is enabled by default.") \
    X(SIZE, websocket_max_message_size, "256m", NULL, \
      "mitmc: largest WebSocket message accepted, after inflating (larger: the connection is closed with " \
      "1009).") \
    X(INT, tcp_timeout, 600, NULL, \
      "Timeout in seconds for inactive TCP connections. Connections will be closed after this period of " \
      "inactivity.") \
    X(BOOL, show_ignored_hosts, false, NULL, \
      "Record ignored flows in the UI even if we do not perform TLS interception. This option will keep " \
      "ignored flows' contents in memory, which can greatly increase memory usage. A future release will fix " \
      "this issue, record ignored flows by default, and remove this option.") \
    X(INT, http_idle_timeout, 300, NULL, \
      "mitmc: seconds a client connection may sit idle between HTTP requests before it is closed (0 = never).") \
    X(INT, http_header_timeout, 60, NULL, \
      "mitmc: seconds a client may take to send a complete request head once it started one (slowloris " \
      "protection; the client gets 408). 0 = no limit.") \
    X(INT, tls_handshake_timeout, 30, NULL, \
      "mitmc: seconds a TLS handshake with a client may take before the connection is closed (0 = no limit).") \
    X(STR, hardump, "", NULL, \
      "Save a HAR file with all flows on exit. You may select particular flows by setting save_stream_filter. " \
      "For mitmdump, enabling this option will mean that flows are kept in memory.") \
    X(BOOL, export_preserve_original_ip, false, NULL, \
      "When exporting a request as an external command, make an effort to connect to the same IP as in the " \
      "original request. This helps with reproducibility in cases where the behaviour depends on the particular " \
      "host we are connecting to. Currently this only affects curl exports.") \
    X(INT, content_view_lines_cutoff, 512, NULL, \
      "Flow content view lines limit. Limit is enabled by default to speedup flows browsing.") \
    X(STR, dumper_default_contentview, "auto", \
      "auto|css|hex dump|image|javascript|json|multipart form|query|raw|url-encoded|xml/html", \
      "The default content view mode.") \
    X(STRLIST, client_replay, NULL, NULL, "Replay client requests from a saved file.") \
    X(INT, client_replay_concurrency, 1, NULL, \
      "Concurrency limit on in-flight client replay requests. Currently the only valid values are 1 and -1 " \
      "(no limit).") \
    X(STRLIST, server_replay, NULL, NULL, "Replay server responses from a saved file.") \
    X(STR, server_replay_extra, "forward", "forward|kill|204|400|404|500", \
      "Behaviour for extra requests during replay for which no replayable response was found. Setting a " \
      "numeric string value will return an empty HTTP response with the respective status code.") \
    X(BOOL, server_replay_ignore_content, false, NULL, \
      "Ignore request content while searching for a saved flow to replay.") \
    X(BOOL, server_replay_ignore_host, false, NULL, \
      "Ignore request destination host while searching for a saved flow to replay.") \
    X(STRLIST, server_replay_ignore_params, NULL, NULL, \
      "Request parameters to be ignored while searching for a saved flow to replay.") \
    X(STRLIST, server_replay_ignore_payload_params, NULL, NULL, \
      "Request payload parameters (application/x-www-form-urlencoded or multipart/form-data) to be ignored " \
      "while searching for a saved flow to replay.") \
    X(BOOL, server_replay_ignore_port, false, NULL, \
      "Ignore request destination port while searching for a saved flow to replay.") \
    X(BOOL, server_replay_kill_extra, false, NULL, \
      "Kill extra requests during replay (for which no replayable response was found).[Deprecated, prefer " \
      "to use server_replay_extra='kill']") \
    X(BOOL, server_replay_nopop, false, NULL, "Deprecated alias for `server_replay_reuse`.") \
    X(BOOL, server_replay_refresh, true, NULL, \
      "Refresh server replay responses by adjusting date, expires and last-modified headers, as well as " \
      "adjusting cookie expiration.") \
    X(BOOL, server_replay_reuse, false, NULL, \
      "Don't remove flows from server replay state after use. This makes it possible to replay same " \
      "response multiple times.") \
    X(STRLIST, server_replay_use_headers, NULL, NULL, \
      "Request headers that need to match while searching for a saved flow to replay.") \
    /* ---- Lua scripts (src/script) ---- */ \
    X(STRLIST, scripts, NULL, NULL, "Execute a script.") \
    X(INT, script_timeout, 2000, NULL, \
      "mitmc: milliseconds one call of a Lua script hook may run before it is interrupted with an error " \
      "(logged; the flow goes on). 0 = no limit.") \
    X(SIZE, script_memory_limit, "64m", NULL, \
      "mitmc: most memory one Lua state may allocate (every script has one state per worker thread and one " \
      "on the main thread); an allocation beyond it fails with a Lua error. Understands k/m/g suffixes.") \
    X(SIZE, script_shared_size, "16m", NULL, \
      "mitmc: most bytes (keys and values) that Lua scripts may keep in mitm.shared, the store shared by " \
      "all worker threads. Understands k/m/g suffixes.") \
    /* ---- modify, map, block, sticky and auth addons (src/addon, docs/internals/addons.md) ---- */ \
    X(STRLIST, block_list, NULL, NULL, \
      "Block matching requests and return an empty response with the specified HTTP status. Option syntax is " \
      "\"/flow-filter/status-code\", where flow-filter describes which requests this rule should be applied to " \
      "and status-code is the HTTP status code to return for blocked requests. The separator (\"/\" in the " \
      "example) can be any character. Setting a non-standard status code of 444 will close the connection " \
      "without sending a response.") \
    X(OPT_STR, proxyauth, NULL, NULL, \
      "Require proxy authentication. Format: \"username:pass\", \"any\" to accept any user/pass combination, " \
      "\"@path\" to use an Apache htpasswd file, or " \
      "\"ldap[s]:url_server_ldap[:port]:dn_auth:password:dn_subtree[?search_filter_key=...]\" for LDAP " \
      "authentication.") \
    X(STRLIST, map_remote, NULL, NULL, \
      "Map remote resources to another remote URL using a pattern of the form " \
      "\"[/flow-filter]/url-regex/replacement\", where the separator can be any character.") \
    X(STRLIST, map_local, NULL, NULL, \
      "Map remote resources to a local file using a pattern of the form " \
      "\"[/flow-filter]/url-regex/file-or-directory-path\", where the separator can be any character.") \
    X(STRLIST, modify_body, NULL, NULL, \
      "Replacement pattern of the form \"[/flow-filter]/regex/[@]replacement\", where the separator can be any " \
      "character. The @ allows to provide a file path that is used to read the replacement string.") \
    X(STRLIST, modify_headers, NULL, NULL, \
      "Header modify pattern of the form \"[/flow-filter]/header-name/[@]header-value\", where the separator " \
      "can be any character. The @ allows to provide a file path that is used to read the header value " \
      "string. An empty header-value removes existing header-name headers.") \
    X(OPT_STR, stickyauth, NULL, NULL, "Set sticky auth filter. Matched against requests.") \
    X(OPT_STR, stickycookie, NULL, NULL, "Set sticky cookie filter. Matched against requests.") \
    X(OPT_STR, upstream_auth, NULL, NULL, \
      "Add HTTP Basic authentication to upstream proxy and reverse proxy requests. Format: " \
      "username:password.") \
    X(BOOL, keep_host_header, false, NULL, \
      "Reverse Proxy: Keep the original host header instead of rewriting it to the reverse proxy target.") \
    X(OPT_STR, intercept, NULL, NULL, "Intercept filter expression.") \
    X(BOOL, intercept_active, false, NULL, "Intercept toggle") \
    X(OPT_STR, view_filter, NULL, NULL, "Limit the view to matching flows.") \
    X(STR, view_order, "time", "time|method|url|size", "Flow sort order.") \
    X(BOOL, view_order_reversed, false, NULL, "Reverse the sorting order.") \
    X(BOOL, console_focus_follow, false, NULL, "Focus follows new flows.") \
    X(STR, console_layout, "single", "horizontal|single|vertical", "Console layout.") \
    X(BOOL, console_layout_headers, true, NULL, "Show layout component headers") \
    X(STR, console_flowlist_layout, "default", "default|list|table", "Set the flowlist layout") \
    X(STR, console_palette, "solarized_dark", "dark|light|lowdark|lowlight|solarized_dark|solarized_light", \
      "Color palette.") \
    X(BOOL, console_palette_transparent, true, NULL, "Set transparent background for palette.") \
    X(BOOL, console_mouse, true, NULL, "Console mouse interaction.") \
    X(STR, console_default_contentview, "auto", NULL, "The default content view mode.") \
    X(STR, console_eventlog_verbosity, "info", "error|warn|info|alert|debug", "EventLog verbosity.") \
    X(BOOL, console_strip_trailing_newlines, false, NULL, \
      "Strip trailing newlines from edited request/response bodies.") \
    X(BOOL, console_quickhelp_visible, true, NULL, "mitmc: show the quick-help line of the console.") \
    X(BOOL, web_open_browser, true, NULL, "Start a browser.") \
    X(BOOL, web_debug, false, NULL, "Enable mitmweb debugging.") \
    X(INT, web_port, 8081, NULL, "Web UI port.") \
    X(STR, web_host, "127.0.0.1", NULL, "Web UI host.") \
    X(STRLIST, web_columns, "tls,icon,path,method,status,size,time", NULL, \
      "Columns to show in the flow list. Can be one of the following: icon, index, method, version, path, " \
      "quickactions, size, status, time, timestamp, tls, comment") \
    X(STR, web_theme, "system", "system|dark|light", "Preferred color theme for the mitmweb user interface.") \
    X(STR, web_password, "", NULL, \
      "Password to protect the mitmweb user interface. Values starting with `$` are interpreted as an argon2 " \
      "hash, everything else is considered a plaintext password. If no password is provided, a random token is " \
      "generated on startup.For automated calls, you can pass the password as token query parameteror as " \
      "`Authorization: Bearer ...` header.")

/* clang-format on */

#endif
