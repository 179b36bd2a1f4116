/* Options: a struct generated from options-table.h, plus parsing from every source.
 * One process-wide instance, written during startup on the main thread and read-only
 * afterwards (workers read it without locks). */
#ifndef MITM_ADDON_OPTIONS_H
#define MITM_ADDON_OPTIONS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "addon/options-table.h"

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

#endif
