/* The console's display styles: mitmproxy's palette names (tools/console/palettes.py), one
 * enum value each, mapped to curses colour pairs by the palette (palette.c). */
#ifndef MITM_UI_CONSOLE_STYLE_H
#define MITM_UI_CONSOLE_STYLE_H

#define MITM_CON_STYLES(X)                                                                                   \
    X(TEXT, "text")                                                                                          \
    X(TITLE, "title")                                                                                        \
    X(FOCUS, "focus")                                                                                        \
    X(HEADING, "heading")                                                                                    \
    X(HEADING_KEY, "heading_key")                                                                            \
    X(HEADING_INACTIVE, "heading_inactive")                                                                  \
    X(KEY, "key")                                                                                            \
    X(HEAD, "head")                                                                                          \
    X(OPTION_SELECTED, "option_selected")                                                                    \
    X(OPTION_ACTIVE, "option_active")                                                                        \
    X(SCHEME_HTTP, "scheme_http")                                                                            \
    X(SCHEME_HTTPS, "scheme_https")                                                                          \
    X(SCHEME_WS, "scheme_ws")                                                                                \
    X(SCHEME_WSS, "scheme_wss")                                                                              \
    X(SCHEME_TCP, "scheme_tcp")                                                                              \
    X(SCHEME_OTHER, "scheme_other")                                                                          \
    X(METHOD_GET, "method_get")                                                                              \
    X(METHOD_POST, "method_post")                                                                            \
    X(METHOD_DELETE, "method_delete")                                                                        \
    X(METHOD_HEAD, "method_head")                                                                            \
    X(METHOD_PUT, "method_put")                                                                              \
    X(METHOD_OTHER, "method_other")                                                                          \
    X(URL_DOMAIN, "url_domain")                                                                              \
    X(CONTENT_NONE, "content_none")                                                                          \
    X(CONTENT_TEXT, "content_text")                                                                          \
    X(CONTENT_SCRIPT, "content_script")                                                                      \
    X(CONTENT_MEDIA, "content_media")                                                                        \
    X(CONTENT_DATA, "content_data")                                                                          \
    X(CONTENT_RAW, "content_raw")                                                                            \
    X(CONTENT_OTHER, "content_other")                                                                        \
    X(CODE_200, "code_200")                                                                                  \
    X(CODE_300, "code_300")                                                                                  \
    X(CODE_400, "code_400")                                                                                  \
    X(CODE_500, "code_500")                                                                                  \
    X(CODE_OTHER, "code_other")                                                                              \
    X(ERROR, "error")                                                                                        \
    X(WARN, "warn")                                                                                          \
    X(ALERT, "alert")                                                                                        \
    X(HEADER, "header")                                                                                      \
    X(HIGHLIGHT, "highlight")                                                                                \
    X(INTERCEPT, "intercept")                                                                                \
    X(REPLAY, "replay")                                                                                      \
    X(MARK, "mark")                                                                                          \
    X(STRING, "string")                                                                                      \
    X(NUMBER, "number")                                                                                      \
    X(BOOLEAN, "boolean")                                                                                    \
    X(FROM_CLIENT, "from_client")                                                                            \
    X(TO_CLIENT, "to_client")                                                                                \
    X(FOCUSFIELD, "focusfield")                                                                              \
    X(EDITFIELD, "editfield")                                                                                \
    X(COMMANDER_COMMAND, "commander_command")                                                                \
    X(COMMANDER_HINT, "commander_hint")                                                                      \
    X(GRADIENT_FAST, "gradient_fast")                                                                        \
    X(GRADIENT_MID, "gradient_mid")                                                                          \
    X(GRADIENT_SLOW, "gradient_slow")

enum mitm_con_style {
#define MITM_CON_STYLE_ENUM(name, str) MITM_ST_##name,
    MITM_CON_STYLES(MITM_CON_STYLE_ENUM)
#undef MITM_CON_STYLE_ENUM
        MITM_ST_COUNT
};

#endif
