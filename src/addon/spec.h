/* The option syntax of mitmproxy's modify/map/block addons (mitmproxy/utils/spec.py,
 * addons/modifyheaders.py parse_modify_spec), and the bits of Python they lean on:
 * bytes-literal escapes (codecs.escape_decode), repr() for messages, OSError texts for
 * files. Used on the main thread at configure time only.
 *
 * A spec is "SEP [filter SEP] subject SEP replacement": its first character (a whole UTF-8
 * sequence if it is not ASCII) is the separator, and the rest is split on it at most
 * twice, as Python's rem.split(sep, 2): a third separator stays in the replacement. */
#ifndef MITM_ADDON_SPEC_H
#define MITM_ADDON_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/slice.h"

struct mitm_filter;

/* Split option as mitmproxy's parse_spec does: the parts after the separator, at most 3
 * (views into option). Returns the number of parts (1..3); an empty option has 0. */
size_t mitm_spec_split(const char *option, struct mitm_slice parts[3]);

/* Compile the filter part of a spec. mitmproxy's messages: "Empty filter expression", or
 * "Invalid filter expression: '~x'" followed by mitmc's reason in parentheses. Returns
 * the filter (caller frees), or NULL with err set. */
struct mitm_filter *mitm_spec_filter(struct mitm_slice patt, char *err, size_t errlen);

/* parse_spec(): the filter (NULL when the spec has two parts: match every flow), the
 * subject and the replacement (views into option). Refuses anything but 2 or 3 parts
 * ("Invalid number of parameters (2 or 3 are expected)") and a bad filter. Returns 0, or
 * -1 with err set (then *filter is NULL). */
int mitm_spec_parse(const char *option, struct mitm_filter **filter, struct mitm_slice *subject,
                    struct mitm_slice *replacement, char *err, size_t errlen);

/* Python's codecs.escape_decode of the UTF-8 text s[0..n), appended to out: \\ \' \" \a
 * \b \f \n \r \t \v, \ooo (1-3 octal digits, taken modulo 256), \xhh, backslash-newline
 * (dropped); any other "\c" is kept as it is. Refuses "\x" without two hex digits
 * ("invalid \x escape at position N", N the offset of the backslash) and a trailing
 * backslash ("Trailing \ in string"). Returns 0, or -1 with err set. */
int mitm_py_unescape(const char *s, size_t n, struct mitm_buf *out, char *err, size_t errlen);

/* Python's int(text) for a decimal: surrounding whitespace, a sign, digits with single
 * underscores between them, at most 9 digits. Returns false if t is not one. */
bool mitm_py_int(struct mitm_slice t, long *out);

/* repr() of a Python str (text, UTF-8; invalid bytes shown as '\udcXX' as surrogateescape
 * does) or of bytes (b'...'), appended to out. Quotes as Python picks them. */
void mitm_py_repr(const void *s, size_t n, bool bytes, struct mitm_buf *out);

/* Read the whole file at path ("~" expanded; as Path(path).expanduser().read_bytes()),
 * at most cap bytes, appending to out. Errors in Python's OSError words:
 * "[Errno 2] No such file or directory: '/x'", "[Errno 21] Is a directory: '/x'", and
 * "file larger than N bytes: '/x'". Returns 0, or -1 with err set (out unchanged). */
int mitm_spec_read_file(const char *path, size_t cap, struct mitm_buf *out, char *err, size_t errlen);

/* The largest @file value or local file an addon loads into memory: body_buffer_limit
 * of o (mitmc's cap on a body held in memory), or 64 MiB if it is not set. */
struct mitm_options;
size_t mitm_spec_file_cap(const struct mitm_options *o);

#endif
