/* Content types from file names, as Python's mimetypes.guess_type(path)[0] (strict),
 * which mitmproxy's map_local uses: Python's built-in table (3.11), overridden by the
 * system's mime.types files in Python's order (/etc/mime.types first); the suffix aliases
 * (.tgz = .tar.gz, .svgz = .svg.gz, ...) and compression suffixes (.gz, .bz2, .xz, .br, .Z:
 * the type is the one of the name without them). The table is immutable once made. */
#ifndef MITM_ADDON_MIMETYPES_H
#define MITM_ADDON_MIMETYPES_H

#include <stdbool.h>

struct mitm_mimetypes;

/* The table; with system_files, the mime.types files are read now (a missing file is
 * skipped, as Python does). Never NULL. */
struct mitm_mimetypes *mitm_mimetypes_new(bool system_files);
/* Add one "type ext1 ext2 ..." mime.types line (comments from a word starting with '#'). */
void mitm_mimetypes_add_line(struct mitm_mimetypes *m, const char *line);
void mitm_mimetypes_free(struct mitm_mimetypes *m); /* accepts NULL */

/* The type of path, or NULL if none is known (borrowed from m). */
const char *mitm_mimetypes_guess(const struct mitm_mimetypes *m, const char *path);

/* Python's guess_extension(type): the first extension (".html") known for type (compared
 * case-insensitively, parameters after ';' ignored), or NULL. Borrowed from m. */
const char *mitm_mimetypes_guess_extension(const struct mitm_mimetypes *m, const char *type);

#endif
