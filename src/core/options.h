/* Options: a struct generated from options-table.h, plus parsing from every source.
 * Written on the main thread; workers never read it directly but a refcounted snapshot
 * (core/services.h) that a later change replaces for new connections. */
#ifndef MITM_CORE_OPTIONS_H
#define MITM_CORE_OPTIONS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/options-table.h"

#define MITM_OPT_NONE LONG_MIN

struct mitm_strvec {
    char **v;
    size_t n;
};

#define MITM_OPT_CTYPE_BOOL    bool
#define MITM_OPT_CTYPE_INT     long
#define MITM_OPT_CTYPE_OPT_INT long
#define MITM_OPT_CTYPE_STR     char *
#define MITM_OPT_CTYPE_OPT_STR char *
#define MITM_OPT_CTYPE_SIZE    char *
#define MITM_OPT_CTYPE_STRLIST struct mitm_strvec

struct mitm_options {
#define MITM_OPT_FIELD(type, name, def, choices, help) MITM_OPT_CTYPE_##type name;
    MITM_OPTIONS_TABLE(MITM_OPT_FIELD)
#undef MITM_OPT_FIELD
};

/* The process-wide options. */
extern struct mitm_options mitm_options;

/* Reset o to the table defaults (frees what it held if it was initialised before). */
void mitm_options_init(struct mitm_options *o);
void mitm_options_free(struct mitm_options *o);

/* Set one option from text as --set name=value does: bool "true|false|toggle" (no value:
 * true), int, size with k/m/g, str; a list option appends (value NULL empties it).
 * Returns 0, or -1 with a message in err (unknown option, bad value, not in choices). */
int mitm_options_set(struct mitm_options *o, const char *name, const char *value, char *err, size_t errlen);

/* Set option name back to its default (options.reset.one). Returns 0, or -1 with "Unknown
 * option: NAME" in err. */
int mitm_options_reset(struct mitm_options *o, const char *name, char *err, size_t errlen);

/* Parse a size ("1024", "10k", "3m", "1g"); -1 if NULL (None) or malformed. */
int64_t mitm_options_size(const char *text);

/* Load confdir/config.yaml (or config.yml) if present. Unknown keys are warned about
 * (log), not fatal. Returns 0, or -1 with a message in err for unreadable YAML or a bad
 * value of a known option. */
int mitm_options_load_yaml(struct mitm_options *o, const char *path, char *err, size_t errlen);

/* Print every option as annotated YAML (mitmproxy --options). */
void mitm_options_dump(const struct mitm_options *o, FILE *out);

/* confdir with "~" expanded; caller frees. */
char *mitm_options_confdir(const struct mitm_options *o);

/* path with a leading "~" or "~user" expanded as Python's os.path.expanduser does (the
 * "@file" and path values of addon options); an unknown user leaves it unchanged. Never
 * NULL; caller frees. */
char *mitm_options_expanduser(const char *path);

/* ---- Table introspection and helpers (used by the CLI, and later the console and web UIs). ---- */

enum mitm_opt_type {
    MITM_OPT_TYPE_BOOL,
    MITM_OPT_TYPE_INT,
    MITM_OPT_TYPE_OPT_INT,
    MITM_OPT_TYPE_STR,
    MITM_OPT_TYPE_OPT_STR,
    MITM_OPT_TYPE_SIZE,
    MITM_OPT_TYPE_STRLIST,
};

/* One row of options-table.h. Static data; never freed. */
struct mitm_opt_info {
    const char *name;
    enum mitm_opt_type type;
    const char *choices; /* NULL, or "a|b|c" */
    const char *help;
    size_t offset; /* offsetof(struct mitm_options, name) */
};

/* The row for name, or NULL for an unknown option (linear scan: the table is small). */
const struct mitm_opt_info *mitm_options_info(const char *name);

/* All rows in table order; *n receives the count. */
const struct mitm_opt_info *mitm_options_all(size_t *n);

/* mitmproxy's type names as printed by --options: "bool", "int", "optional int", "str",
 * "optional str" (SIZE too) and "sequence of str". */
const char *mitm_options_type_name(enum mitm_opt_type type);

/* Deep copy: dst is overwritten without being freed (pass an uninitialised or freed
 * struct); the caller frees dst with mitm_options_free. */
void mitm_options_copy(struct mitm_options *dst, const struct mitm_options *src);

/* mitm_options_load_yaml(path): path names the YAML file itself (a missing path is not an
 * error: returns 0 and changes nothing); if path is a directory, path/config.yaml and then
 * path/config.yml are loaded, as mitmproxy does with confdir.
 *
 * Load YAML text (len bytes, need not be NUL-terminated; at most MITM_OPTIONS_YAML_MAX) as
 * config.yaml: a mapping of option name to scalar (null, bool, int, string) or sequence
 * of scalars. Empty text or a YAML null document is fine. Unknown keys are warned about
 * with mitm_log(MITM_LOG_WARN) and skipped. A list value replaces the list. The update is
 * all-or-nothing: on error o is unchanged. name (e.g. the file path) prefixes every
 * message. Returns 0, or -1 with "Error reading NAME: ..." in err (syntax error with its
 * line, a top level that is not a mapping, a bad value naming the option). */
#define MITM_OPTIONS_YAML_MAX (1u << 20)
int mitm_options_load_yaml_string(struct mitm_options *o, const char *data, size_t len, const char *name,
                                  char *err, size_t errlen);

/* Is option in's value the same in a and b? */
bool mitm_options_equal(const struct mitm_opt_info *in, const struct mitm_options *a,
                        const struct mitm_options *b);

/* Option in's value in o as text for mitm_options_set-style setters: "true"/"false", a
 * number, the string, a list one item per line; NULL for None. Caller frees. */
char *mitm_options_value_text(const struct mitm_opt_info *in, const struct mitm_options *o);

/* The same for the value at field (of in's type: a script option's). */
char *mitm_options_field_text(const struct mitm_opt_info *in, const void *field);

/* mitmproxy's options.save: the options of o that differ from their defaults, as YAML
 * ("name: value", lists as "- item" lines), in table order. kept (NULL: none) is what the
 * file being replaced held (loaded over the defaults): an option at its default in o keeps
 * kept's value, as mitmproxy updates an existing file in place (unknown keys are dropped,
 * and so are keys the file set to their default, which changes nothing). */
void mitm_options_save_changed(const struct mitm_options *o, const struct mitm_options *kept, FILE *out);

/* choices is "a|b|c" (the table's format, also used by command arguments): is v exactly
 * one of them? */
bool mitm_options_in_choices(const char *choices, const char *v);

/* ---- Options that live outside struct mitm_options (added at run time by a script's
 * loader:add_option). Their rows are the caller's (name, type, choices, help; offset unused)
 * and each value is stored in a variable of the row type's C type (MITM_OPT_CTYPE_*). ---- */

/* Set the value at field (of in's type) from text, exactly as mitm_options_set does for a
 * table option. Same returns and messages. */
int mitm_options_set_field(const struct mitm_opt_info *in, void *field, const char *value, char *err,
                           size_t errlen);

/* Replace the list (STRLIST) at field with the items of value, one per line (NULL or "":
 * empty), as the `set` command does. Returns 0, or -1 with err set. */
int mitm_options_set_list(const struct mitm_opt_info *in, void *field, const char *value, char *err,
                          size_t errlen);

/* Free what the value at field holds (a string, a list); it is left empty (NULL, no items). */
void mitm_options_free_field(const struct mitm_opt_info *in, void *field);

/* mitm_options_dump with n more options merged in name order: extra[i] whose value is at
 * values[i] (both borrowed for the call). */
void mitm_options_dump_extra(const struct mitm_options *o, const struct mitm_opt_info *const *extra,
                             const void *const *values, size_t n, FILE *out);

#endif
