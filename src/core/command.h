/* The command registry (DESIGN §3: one registry). A command is a name, a typed parameter
 * list, a help text and a function, like mitmproxy's @command.command (mitmproxy/command.py).
 * Console key bindings, the console's ":" prompt, the web /commands API and Lua scripts all
 * call commands by name with string arguments; the registry converts each string to its
 * parameter's type (mitmproxy/types.py) before calling the function.
 *
 * Threads: commands are registered at startup and called on the main thread only (they
 * touch the flow store and the front end); the registry has no lock. */
#ifndef MITM_CORE_COMMAND_H
#define MITM_CORE_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "flow/flow-t.h"

/* Parameter types, with mitmproxy's display names (types.py) in comments. */
enum mitm_arg_type {
    MITM_ARG_STR,    /* "str": any text */
    MITM_ARG_INT,    /* "int": a decimal integer (Python int(): optional sign, surrounding spaces) */
    MITM_ARG_BOOL,   /* "bool": exactly "true" or "false" */
    MITM_ARG_FLOW,   /* "flow": a flow spec resolving to exactly one flow */
    MITM_ARG_FLOWS,  /* "flow[]": a flow spec resolving to any number of flows */
    MITM_ARG_PATH,   /* "path": a file name; "~" at the start is expanded to $HOME */
    MITM_ARG_CHOICE, /* "choice": one of the parameter's choices ("a|b|c") */
    MITM_ARG_STRS,   /* "str[]": the rest of the arguments (last parameter only, like *args) */
};

/* One parameter of a command. Static data: the registry keeps the pointer. */
struct mitm_cmd_param {
    const char *name;
    enum mitm_arg_type type;
    const char *choices; /* MITM_ARG_CHOICE only: "a|b|c" */
};

/* A parsed argument handed to the command function. Everything it points to is owned by
 * the registry and lives until the function returns. */
struct mitm_cmd_arg {
    enum mitm_arg_type type;
    const char *str;          /* STR, PATH (expanded), CHOICE; also the original text for every type */
    long i;                   /* INT */
    bool b;                   /* BOOL */
    struct mitm_flow **flows; /* FLOW (nflows == 1), FLOWS; borrowed references */
    size_t nflows;
    const char *const *rest; /* STRS */
    size_t nrest;
};

/* A command's function: args has one entry per parameter. It appends its result (if any)
 * to out as text (a list result: one item per line, no trailing newline). Returns 0, or -1
 * with a NUL-terminated reason in err (errlen > 0 always). */
typedef int (*mitm_cmd_fn)(void *data, const struct mitm_cmd_arg *args, size_t nargs, struct mitm_buf *out,
                           char *err, size_t errlen);

/* A command definition. Static data (names, params, help) is borrowed for the registry's life. */
struct mitm_cmd_def {
    const char *name;                    /* "export.file" */
    const struct mitm_cmd_param *params; /* may be NULL when nparams == 0 */
    size_t nparams;
    const char *ret;  /* return type as mitmproxy displays it ("str", "str[]"), or NULL for none */
    const char *help; /* one line */
    mitm_cmd_fn fn;
    void *data; /* passed to fn */
};

/* Resolves a flow spec ("@focus", "@all", "@marked", a filter expression, a flow id) to
 * flows. On success returns 0 and sets *flows to a new array of *n new references (the
 * registry unrefs each and frees the array). Returns -1 with err set for a bad spec. */
typedef int (*mitm_cmd_resolve_fn)(void *ud, const char *spec, struct mitm_flow ***flows, size_t *n,
                                   char *err, size_t errlen);

struct mitm_cmd_registry;

/* A new empty registry. Never NULL. */
struct mitm_cmd_registry *mitm_cmd_registry_new(void);
/* Free the registry (not the static data it borrowed). Accepts NULL. */
void mitm_cmd_registry_free(struct mitm_cmd_registry *reg);

/* Set the flow resolver used for flow and flow[] parameters (without one, such commands
 * fail with "no flows available"). ud is passed back. */
void mitm_cmd_set_resolver(struct mitm_cmd_registry *reg, mitm_cmd_resolve_fn fn, void *ud);

/* Register a command (the struct is copied; what it points to is borrowed).
 * Rejects: a duplicate name, an empty name, a STRS parameter that is not the last, a
 * CHOICE parameter without choices, no function. Returns 0, or -1 with err set. */
int mitm_cmd_register(struct mitm_cmd_registry *reg, const struct mitm_cmd_def *def, char *err,
                      size_t errlen);

/* The command called name, or NULL. */
const struct mitm_cmd_def *mitm_cmd_lookup(const struct mitm_cmd_registry *reg, const char *name);

/* All commands sorted by name; *n receives the count. The array is owned by the registry
 * and valid until the next registration. */
const struct mitm_cmd_def *const *mitm_cmd_list(struct mitm_cmd_registry *reg, size_t *n);

/* Call name with argc string arguments. Errors (err, return -1): "Unknown command: NAME";
 * "Command argument mismatch: expected N arguments, got M" (wrong count); "Invalid value
 * for argument NAME: ..." naming the parameter and why ("Not an integer: x", "Booleans are
 * 'true' or 'false', got x", "Invalid choice.", "Command requires one flow, specification
 * matched N."); or the function's own error. On success the result is appended to out.
 * Returns 0 or -1. */
int mitm_cmd_call(struct mitm_cmd_registry *reg, const char *name, const char *const *argv, size_t argc,
                  struct mitm_buf *out, char *err, size_t errlen);

/* Split a command line as the ":" prompt does (mitmproxy/command_lexer.py): a word is a run
 * of characters other than whitespace and quotes, or a "double" or 'single' quoted string
 * (no escapes inside; the quotes are removed; an unterminated quote runs to the end of the
 * line, as mitmproxy's lexer accepts partial input). Returns the words in a new
 * NULL-terminated array (free with mitm_cmd_argv_free) and their count in *argc, or NULL
 * with err set for a line longer than MITM_CMD_LINE_MAX or more than MITM_CMD_WORDS_MAX words. */
#define MITM_CMD_LINE_MAX  65536
#define MITM_CMD_WORDS_MAX 1024
char **mitm_cmd_split(const char *line, size_t *argc, char *err, size_t errlen);
void mitm_cmd_argv_free(char **argv);

/* Split line and call its first word with the rest. Same returns as mitm_cmd_call; an
 * empty line is "Empty command". */
int mitm_cmd_call_line(struct mitm_cmd_registry *reg, const char *line, struct mitm_buf *out, char *err,
                       size_t errlen);

/* mitmproxy's signature_help: "NAME param:type ... [-> ret]" (a STRS parameter is shown
 * as "*name:str"). Appended to out. */
void mitm_cmd_signature(const struct mitm_cmd_def *def, struct mitm_buf *out);

/* mitmproxy's CommandManager.dump (--commands): for each command sorted by its signature,
 * its help lines as "# line", the signature, a blank line. Appended to out. */
void mitm_cmd_dump(struct mitm_cmd_registry *reg, struct mitm_buf *out);

/* Python's int() as the "int" type reads it: optional surrounding whitespace, optional sign,
 * digits (single underscores between digits allowed); range limited to long. Returns 0 with
 * *out set, or -1. */
int mitm_cmd_parse_int(const char *s, long *out);

/* Display name of a type ("str", "int", "bool", "flow", "flow[]", "path", "choice", "str"). */
const char *mitm_arg_type_name(enum mitm_arg_type t);

#endif
