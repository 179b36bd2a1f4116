/* Options: defaults from options-table.h, and the three text sources that set them
 * (--set, config.yaml) plus the --options dump. mitmproxy's semantics are the reference:
 * mitmproxy/optmanager.py (_parse_setval, load_paths, dump_defaults) and
 * mitmproxy/utils/human.py (parse_size). */
#include "core/options.h"
#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"

struct mitm_options mitm_options;

static const struct mitm_opt_info table[] = {
#define ROW(type, name, def, choices, help)                                                                  \
    {#name, MITM_OPT_TYPE_##type, choices, help, offsetof(struct mitm_options, name)},
    MITM_OPTIONS_TABLE(ROW)
#undef ROW
};

enum { NOPT = sizeof(table) / sizeof(table[0]) };

/* ---- small helpers ---- */

static void *field(struct mitm_options *o, const struct mitm_opt_info *in)
{
    return (char *)o + in->offset;
}

static const void *cfield(const struct mitm_options *o, const struct mitm_opt_info *in)
{
    return (const char *)o + in->offset;
}

static void strvec_clear(struct mitm_strvec *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = 0;
}

static void strvec_push(struct mitm_strvec *v, const char *s, size_t len)
{
    v->v = mitm_realloc(v->v, (v->n + 1) * sizeof(*v->v));
    v->v[v->n++] = mitm_strndup(s, len);
}

/* Python's int() for option values, minus whitespace and underscores: [+-]digits. The
 * extremes of long are refused (LONG_MIN is MITM_OPT_NONE). */
static int parse_long(const char *s, long *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return -1;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || v == LONG_MIN || v == LONG_MAX)
        return -1;
    *out = v;
    return 0;
}

bool mitm_options_in_choices(const char *choices, const char *v)
{
    size_t vl = strlen(v);
    for (const char *p = choices;;) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == vl && memcmp(p, v, l) == 0)
            return true;
        if (!bar)
            return false;
        p = bar + 1;
    }
}

/* "'a', 'b', 'c'" as mitmproxy prints choices (Python repr of each). */
static void choices_text(struct mitm_buf *b, const char *choices)
{
    for (const char *p = choices;;) {
        const char *bar = strchr(p, '|');
        int l = bar ? (int)(bar - p) : (int)strlen(p);
        mitm_buf_printf(b, "%s'%.*s'", p == choices ? "" : ", ", l, p);
        if (!bar)
            break;
        p = bar + 1;
    }
}

static void bad_choice(const struct mitm_opt_info *in, const char *v, char *err, size_t errlen)
{
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    choices_text(&b, in->choices);
    mitm_errf(err, errlen, "Failed to parse option %s: invalid choice: '%s' (choose from %.*s)", in->name, v,
              (int)b.len, (const char *)mitm_buf_data(&b));
    mitm_buf_free(&b);
}

/* Store a string value (STR, OPT_STR, SIZE) after validating it. v NULL means None and is
 * only passed for the optional types. */
static int store_str(char **p, const struct mitm_opt_info *in, const char *v, char *err, size_t errlen)
{
    if (v && in->choices && !mitm_options_in_choices(in->choices, v)) {
        bad_choice(in, v, err, errlen);
        return -1;
    }
    if (v && in->type == MITM_OPT_TYPE_SIZE && mitm_options_size(v) < 0) {
        mitm_errf(err, errlen, "Failed to parse option %s: invalid size specification: %s", in->name, v);
        return -1;
    }
    free(*p);
    *p = v ? mitm_strdup(v) : NULL;
    return 0;
}

/* ---- table, lifetime ---- */

const struct mitm_opt_info *mitm_options_info(const char *name)
{
    for (size_t i = 0; i < NOPT; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

const struct mitm_opt_info *mitm_options_all(size_t *n)
{
    *n = NOPT;
    return table;
}

const char *mitm_options_type_name(enum mitm_opt_type type)
{
    switch (type) {
    case MITM_OPT_TYPE_BOOL:
        return "bool";
    case MITM_OPT_TYPE_INT:
        return "int";
    case MITM_OPT_TYPE_OPT_INT:
        return "optional int";
    case MITM_OPT_TYPE_STR:
        return "str";
    case MITM_OPT_TYPE_OPT_STR:
    case MITM_OPT_TYPE_SIZE: /* mitmproxy's sizes are Optional[str] */
        return "optional str";
    case MITM_OPT_TYPE_STRLIST:
        return "sequence of str";
    }
    return "?";
}

void mitm_options_free_field(const struct mitm_opt_info *in, void *f)
{
    switch (in->type) {
    case MITM_OPT_TYPE_STR:
    case MITM_OPT_TYPE_OPT_STR:
    case MITM_OPT_TYPE_SIZE:
        free(*(char **)f);
        *(char **)f = NULL;
        break;
    case MITM_OPT_TYPE_STRLIST:
        strvec_clear(f);
        break;
    default:
        break;
    }
}

void mitm_options_free(struct mitm_options *o)
{
    for (size_t i = 0; i < NOPT; i++)
        mitm_options_free_field(&table[i], field(o, &table[i]));
}

/* Default setters, one per table type, so the X-macro can call init_<TYPE>(&field, def). */
static void init_BOOL(bool *p, bool d)
{
    *p = d;
}
static void init_INT(long *p, long d)
{
    *p = d;
}
static void init_OPT_INT(long *p, long d)
{
    *p = d;
}
static void init_STR(char **p, const char *d)
{
    *p = mitm_strdup(d);
}
static void init_OPT_STR(char **p, const char *d)
{
    *p = d ? mitm_strdup(d) : NULL;
}
static void init_SIZE(char **p, const char *d)
{
    *p = d ? mitm_strdup(d) : NULL;
}
/* A list default is NULL (empty) or a comma-separated list ("regular" = one element). */
static void init_STRLIST(struct mitm_strvec *v, const char *d)
{
    v->v = NULL;
    v->n = 0;
    for (const char *p = d; p;) {
        const char *comma = strchr(p, ',');
        strvec_push(v, p, comma ? (size_t)(comma - p) : strlen(p));
        p = comma ? comma + 1 : NULL;
    }
}

void mitm_options_init(struct mitm_options *o)
{
    mitm_options_free(o);
#define INIT(type, name, def, choices, help) init_##type(&o->name, def);
    MITM_OPTIONS_TABLE(INIT)
#undef INIT
}

void mitm_options_copy(struct mitm_options *dst, const struct mitm_options *src)
{
    *dst = *src;
    for (size_t i = 0; i < NOPT; i++) {
        const struct mitm_opt_info *in = &table[i];
        if (in->type == MITM_OPT_TYPE_STR || in->type == MITM_OPT_TYPE_OPT_STR ||
            in->type == MITM_OPT_TYPE_SIZE) {
            char **p = field(dst, in);
            *p = *p ? mitm_strdup(*p) : NULL;
        } else if (in->type == MITM_OPT_TYPE_STRLIST) {
            struct mitm_strvec *v = field(dst, in);
            const struct mitm_strvec *s = cfield(src, in);
            v->v = NULL;
            v->n = 0;
            for (size_t k = 0; k < s->n; k++)
                strvec_push(v, s->v[k], strlen(s->v[k]));
        }
    }
}

int mitm_options_reset(struct mitm_options *o, const char *name, char *err, size_t errlen)
{
    const struct mitm_opt_info *in = mitm_options_info(name);
    if (!in) {
        snprintf(err, errlen, "Unknown option: %s", name);
        return -1;
    }
    struct mitm_options d = {0}, c; /* init frees what it finds: start from nothing */
    mitm_options_init(&d);
    mitm_options_copy(&c, &d); /* c: the defaults, with the field of name to take over */
    size_t sz = in->type == MITM_OPT_TYPE_BOOL                                       ? sizeof(bool)
                : in->type == MITM_OPT_TYPE_INT || in->type == MITM_OPT_TYPE_OPT_INT ? sizeof(long)
                : in->type == MITM_OPT_TYPE_STRLIST ? sizeof(struct mitm_strvec)
                                                    : sizeof(char *);
    unsigned char tmp[sizeof(struct mitm_strvec)];
    memcpy(tmp, field(o, in), sz);
    memcpy(field(o, in), field(&c, in), sz);
    memcpy(field(&c, in), tmp, sz); /* o's old value is freed with c */
    mitm_options_free(&c);
    mitm_options_free(&d);
    return 0;
}

/* ---- --set ---- */

int64_t mitm_options_size(const char *text)
{
    static const char units[] = "bkmgt"; /* human.SIZE_UNITS: powers of 1024 */
    if (!text)
        return -1;
    size_t n = strlen(text);
    int shift = 0;
    if (n > 0) {
        char c = text[n - 1];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        const char *u = c ? strchr(units, c) : NULL;
        if (u) {
            shift = (int)(u - units) * 10;
            n--;
        }
    }
    size_t i = text[0] == '+' ? 1 : 0;
    if (i >= n)
        return -1;
    int64_t v = 0;
    for (; i < n; i++) {
        if (text[i] < '0' || text[i] > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (text[i] - '0');
    }
    if (v > (INT64_MAX >> shift))
        return -1;
    return v << shift;
}

int mitm_options_set(struct mitm_options *o, const char *name, const char *value, char *err, size_t errlen)
{
    const struct mitm_opt_info *in = mitm_options_info(name);
    if (!in) {
        mitm_errf(err, errlen, "Unknown option: %s", name);
        return -1;
    }
    return mitm_options_set_field(in, field(o, in), value, err, errlen);
}

int mitm_options_set_field(const struct mitm_opt_info *in, void *f, const char *value, char *err,
                           size_t errlen)
{
    const char *name = in->name;
    bool none = !value || !*value;
    long l;
    switch (in->type) {
    case MITM_OPT_TYPE_BOOL: {
        bool *b = f;
        if (none || strcmp(value, "true") == 0) {
            *b = true;
        } else if (strcmp(value, "false") == 0) {
            *b = false;
        } else if (strcmp(value, "toggle") == 0) {
            *b = !*b;
        } else {
            mitm_errf(
                err, errlen,
                "Failed to parse option %s: boolean must be \"true\", \"false\", or have the value omitted "
                "(a synonym for \"true\").",
                name);
            return -1;
        }
        return 0;
    }
    case MITM_OPT_TYPE_INT:
    case MITM_OPT_TYPE_OPT_INT:
        if (none && in->type == MITM_OPT_TYPE_INT) {
            mitm_errf(err, errlen, "Option is required: %s", name);
            return -1;
        }
        if (none) {
            *(long *)f = MITM_OPT_NONE;
            return 0;
        }
        if (parse_long(value, &l) < 0) {
            mitm_errf(err, errlen, "Failed to parse option %s: not an integer: %s", name, value);
            return -1;
        }
        *(long *)f = l;
        return 0;
    case MITM_OPT_TYPE_STR:
        if (!value) {
            mitm_errf(err, errlen, "Option is required: %s", name);
            return -1;
        }
        return store_str(f, in, value, err, errlen);
    case MITM_OPT_TYPE_OPT_STR:
    case MITM_OPT_TYPE_SIZE:
        return store_str(f, in, none ? NULL : value, err, errlen);
    case MITM_OPT_TYPE_STRLIST:
        if (!value)
            strvec_clear(f);
        else
            strvec_push(f, value, strlen(value));
        return 0;
    }
    return -1;
}

int mitm_options_set_list(const struct mitm_opt_info *in, void *field, const char *value, char *err,
                          size_t errlen)
{
    int rc = mitm_options_set_field(in, field, NULL, err, errlen);
    for (const char *p = value ? value : ""; rc == 0 && *p;) {
        size_t k = strcspn(p, "\n");
        char *item = mitm_strndup(p, k);
        rc = mitm_options_set_field(in, field, item, err, errlen);
        free(item);
        p += k + (p[k] ? 1 : 0);
    }
    return rc;
}

/* ---- config.yaml ---- */

/* What a YAML node resolves to under the YAML 1.2 core schema (what mitmproxy's
 * ruamel.yaml safe loader uses); floats stay strings, which no option wants anyway. */
enum ykind { Y_NULL, Y_BOOL, Y_INT, Y_STR, Y_SEQ, Y_MAP };

static const char *ykind_name[] = {"null", "bool", "int", "str", "sequence", "mapping"};

static bool is_one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static enum ykind classify(const yaml_node_t *n, bool *bval)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    if (n->type == YAML_SEQUENCE_NODE)
        return Y_SEQ;
    if (n->type == YAML_MAPPING_NODE)
        return Y_MAP;
    const char *s = (const char *)n->data.scalar.value;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return Y_STR;
    if (strlen(s) != n->data.scalar.length) /* an escaped NUL cannot be plain, but be safe */
        return Y_STR;
    if (is_one_of(s, nulls))
        return Y_NULL;
    if (is_one_of(s, trues) || is_one_of(s, falses)) {
        *bval = s[0] == 't' || s[0] == 'T';
        return Y_BOOL;
    }
    /* Out-of-range integers are still ints (and then a parse error). */
    const char *d = s + (s[0] == '-' || s[0] == '+');
    if (*d && strspn(d, "0123456789") == strlen(d))
        return Y_INT;
    return Y_STR;
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static int wrong_type(const struct mitm_opt_info *in, enum ykind k, char *err, size_t errlen)
{
    mitm_errf(err, errlen, "Expected %s for %s, but got %s.", mitm_options_type_name(in->type), in->name,
              ykind_name[k]);
    return -1;
}

/* A scalar node that a string option accepts: strings, and (leniently) plain integers,
 * whose text is kept as written ("body_size_limit: 1024"). NULL otherwise. */
static const char *str_value(const yaml_node_t *n, enum ykind k)
{
    return k == Y_STR || k == Y_INT ? scalar(n) : NULL;
}

static int apply_list(struct mitm_options *o, const struct mitm_opt_info *in, yaml_document_t *doc,
                      yaml_node_t *n, enum ykind k, char *err, size_t errlen)
{
    bool b;
    struct mitm_strvec *v = field(o, in);
    if (k == Y_NULL) {
        strvec_clear(v);
        return 0;
    }
    if (k == Y_STR || k == Y_INT) { /* lenient: one scalar is a one-element list */
        strvec_clear(v);
        strvec_push(v, scalar(n), strlen(scalar(n)));
        return 0;
    }
    if (k != Y_SEQ)
        return wrong_type(in, k, err, errlen);
    struct mitm_strvec nv = {NULL, 0};
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(doc, *it);
        enum ykind ik = item ? classify(item, &b) : Y_NULL;
        const char *s = item ? str_value(item, ik) : NULL;
        if (s && strlen(s) != item->data.scalar.length) {
            strvec_clear(&nv);
            mitm_errf(err, errlen, "Failed to parse option %s: NUL character in value", in->name);
            return -1;
        }
        if (!s) {
            strvec_clear(&nv);
            mitm_errf(err, errlen, "Expected str items for %s, but got %s.", in->name, ykind_name[ik]);
            return -1;
        }
        strvec_push(&nv, s, strlen(s));
    }
    strvec_clear(v);
    *v = nv;
    return 0;
}

static int apply_node(struct mitm_options *o, const struct mitm_opt_info *in, yaml_document_t *doc,
                      yaml_node_t *n, char *err, size_t errlen)
{
    bool b = false;
    enum ykind k = classify(n, &b);
    if (n->type == YAML_SCALAR_NODE && strlen(scalar(n)) != n->data.scalar.length) {
        mitm_errf(err, errlen, "Failed to parse option %s: NUL character in value", in->name);
        return -1;
    }
    const char *s = str_value(n, k);
    long l;
    switch (in->type) {
    case MITM_OPT_TYPE_BOOL:
        if (k != Y_BOOL)
            return wrong_type(in, k, err, errlen);
        *(bool *)field(o, in) = b;
        return 0;
    case MITM_OPT_TYPE_INT:
    case MITM_OPT_TYPE_OPT_INT:
        if (k == Y_NULL && in->type == MITM_OPT_TYPE_OPT_INT) {
            *(long *)field(o, in) = MITM_OPT_NONE;
            return 0;
        }
        if (k != Y_INT)
            return wrong_type(in, k, err, errlen);
        if (parse_long(scalar(n), &l) < 0) {
            mitm_errf(err, errlen, "Failed to parse option %s: integer out of range: %s", in->name,
                      scalar(n));
            return -1;
        }
        *(long *)field(o, in) = l;
        return 0;
    case MITM_OPT_TYPE_STR:
        if (!s)
            return wrong_type(in, k, err, errlen);
        return store_str(field(o, in), in, s, err, errlen);
    case MITM_OPT_TYPE_OPT_STR:
    case MITM_OPT_TYPE_SIZE:
        if (!s && k != Y_NULL)
            return wrong_type(in, k, err, errlen);
        return store_str(field(o, in), in, s, err, errlen);
    case MITM_OPT_TYPE_STRLIST:
        return apply_list(o, in, doc, n, k, err, errlen);
    }
    return -1;
}

/* Apply every key of the root mapping to o. Returns 0 or -1 (err filled, without prefix). */
static int apply_doc(struct mitm_options *o, yaml_document_t *doc, const char *name, char *err, size_t errlen)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    bool b;
    if (!root)
        return 0; /* empty stream */
    enum ykind rk = classify(root, &b);
    if (rk == Y_NULL)
        return 0;
    if (rk != Y_MAP) {
        mitm_errf(err, errlen, "Config error - no keys found.");
        return -1;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *key = yaml_document_get_node(doc, p->key);
        yaml_node_t *val = yaml_document_get_node(doc, p->value);
        if (!key || !val || key->type != YAML_SCALAR_NODE) {
            mitm_errf(err, errlen, "Config error - option names must be strings.");
            return -1;
        }
        const struct mitm_opt_info *in = mitm_options_info(scalar(key));
        if (!in) {
            mitm_log(MITM_LOG_WARN, NULL, "%s: unknown option '%.100s' ignored", name, scalar(key));
            continue;
        }
        if (apply_node(o, in, doc, val, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int mitm_options_load_yaml_string(struct mitm_options *o, const char *data, size_t len, const char *name,
                                  char *err, size_t errlen)
{
    char msg[512] = "";
    int rc = -1;
    struct mitm_options tmp;
    if (len > MITM_OPTIONS_YAML_MAX) {
        mitm_errf(err, errlen, "Error reading %s: file larger than %u bytes", name, MITM_OPTIONS_YAML_MAX);
        return -1;
    }
    if (len == 0)
        return 0;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        mitm_errf(err, errlen, "Error reading %s: out of memory", name);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        mitm_errf(err, errlen, "Error reading %s: Config error at line %zu: %s", name,
                  parser.problem_mark.line + 1, parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        return -1;
    }
    /* ruamel.yaml's load() refuses a second document; so do we. */
    yaml_document_t next;
    if (!yaml_parser_load(&parser, &next)) {
        mitm_errf(err, errlen, "Error reading %s: Config error at line %zu: %s", name,
                  parser.problem_mark.line + 1, parser.problem ? parser.problem : "invalid YAML");
        goto Exit;
    }
    bool more = yaml_document_get_root_node(&next) != NULL;
    yaml_document_delete(&next);
    if (more) {
        mitm_errf(err, errlen, "Error reading %s: Config error - expected a single document", name);
        goto Exit;
    }
    /* Apply to a copy so that a bad value leaves o untouched (mitmproxy rolls back too). */
    mitm_options_copy(&tmp, o);
    if (apply_doc(&tmp, &doc, name, msg, sizeof(msg)) == 0) {
        mitm_options_free(o);
        *o = tmp;
        rc = 0;
    } else {
        mitm_options_free(&tmp);
        mitm_errf(err, errlen, "Error reading %s: %s", name, msg);
    }
Exit:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

/* Read a regular file of at most MITM_OPTIONS_YAML_MAX bytes. Returns 1 and the bytes,
 * 0 if it does not exist or is not a regular file, -1 on an error (err filled). */
static int read_config(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        mitm_errf(err, errlen, "Error reading %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    size_t cap = MITM_OPTIONS_YAML_MAX + 1, n = 0;
    char *buf = mitm_alloc(cap);
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            mitm_errf(err, errlen, "Error reading %s: %s", path, strerror(errno));
            close(fd);
            free(buf);
            return -1;
        }
        if (r == 0 || (n += (size_t)r) == cap)
            break;
    }
    close(fd);
    *data = buf;
    *len = n; /* n == cap: too large, reported by the loader */
    return 1;
}

static int load_file(struct mitm_options *o, const char *path, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    int r = read_config(path, &data, &len, err, errlen);
    if (r <= 0)
        return r;
    int rc = mitm_options_load_yaml_string(o, data, len, path, err, errlen);
    free(data);
    return rc;
}

int mitm_options_load_yaml(struct mitm_options *o, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        static const char *const names[] = {"config.yaml", "config.yml"};
        for (size_t i = 0; i < 2; i++) {
            size_t n = strlen(path) + strlen(names[i]) + 2;
            char *p = mitm_alloc(n);
            snprintf(p, n, "%s/%s", path, names[i]);
            int rc = load_file(o, p, err, errlen);
            free(p);
            if (rc < 0)
                return -1;
        }
        return 0;
    }
    return load_file(o, path, err, errlen);
}

/* ---- --options ---- */

/* Character classes of textwrap's wordsep_re; non-ASCII bytes count as letters. */
static bool is_word(unsigned char c) /* \w */
{
    return c == '_' || c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

static bool is_letter(unsigned char c) /* [^\d\W] */
{
    return is_word(c) && !(c >= '0' && c <= '9');
}

static bool is_word_punct(unsigned char c) /* [\w!"'&.,?] */
{
    return is_word(c) || (c && strchr("!\"'&.,?", c));
}

/* Does an em-dash ("--", "---", ...) followed by a word character start at s[k]? */
static bool em_dash_at(const unsigned char *u, size_t end, size_t k)
{
    size_t h = k;
    while (h < end && u[h] == '-')
        h++;
    return h - k >= 2 && h < end && is_word(u[h]);
}

/* Index of the character before the one at k (k > start), for UTF-8 text. */
static size_t prev_char(const unsigned char *u, size_t start, size_t k)
{
    do
        k--;
    while (k > start && (u[k] & 0xc0) == 0x80);
    return k;
}

static size_t next_char(const unsigned char *u, size_t end, size_t k)
{
    do
        k++;
    while (k < end && (u[k] & 0xc0) == 0x80);
    return k;
}

/* textwrap's rule for ending a chunk after the hyphen u[k] of a hyphenated word: two
 * letters (or letter-hyphen-letter) before it, and letter [hyphen] letter after it. */
static bool hyphen_break(const unsigned char *u, size_t start, size_t end, size_t k)
{
    if (k < start + 2)
        return false;
    size_t b1 = prev_char(u, start, k), b2 = b1 > start ? prev_char(u, start, b1) : b1;
    if (b2 == b1 || !is_letter(u[b1]))
        return false;
    bool before = is_letter(u[b2]) || (u[b2] == '-' && b2 > start && is_letter(u[prev_char(u, start, b2)]));
    size_t a1 = k + 1, a2 = next_char(u, end, a1);
    if (a1 >= end || a2 >= end || !is_letter(u[a1]))
        return false;
    size_t a3 = next_char(u, end, a2);
    bool after = is_letter(u[a2]) || (u[a2] == '-' && a3 < end && is_letter(u[a3]));
    return before && after;
}

struct chunk {
    size_t off, len;
    bool ws;
};

/* The next chunk of the non-space run u[q..end) (textwrap.TextWrapper.wordsep_re): an
 * em-dash after word punctuation, or the shortest word piece that ends after a breakable
 * hyphen, before an em-dash, or at the end of the run. Returns its length. */
static size_t word_chunk(const unsigned char *u, size_t start, size_t end, size_t q)
{
    if (q > start && is_word_punct(u[q - 1]) && em_dash_at(u, end, q)) {
        size_t h = q;
        while (u[h] == '-')
            h++;
        return h - q;
    }
    for (size_t k = q + 1; k < end; k++) {
        if (u[k] == '-' && hyphen_break(u, start, end, k))
            return k + 1 - q;
        if (is_word_punct(u[k - 1]) && em_dash_at(u, end, k))
            return k - q;
    }
    return end - q;
}

/* Split s into textwrap's chunks: whitespace runs and word pieces. */
static size_t make_chunks(const char *s, size_t n, struct chunk *c)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t nc = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        if (s[i] == ' ') {
            while (j < n && s[j] == ' ')
                j++;
            c[nc++] = (struct chunk){i, j - i, true};
            i = j;
            continue;
        }
        while (j < n && s[j] != ' ')
            j++;
        for (size_t q = i; q < j;) {
            size_t l = word_chunk(u, i, j, q);
            c[nc++] = (struct chunk){q, l, false};
            q += l;
        }
        i = j;
    }
    return nc;
}

/* Width in characters (Python counts code points, not bytes). */
static size_t text_width(const char *p, size_t len)
{
    size_t w = 0;
    for (size_t k = 0; k < len; k++)
        w += ((unsigned char)p[k] & 0xc0) != 0x80;
    return w;
}

/* Bytes taken by the first chars characters of p[0..len). */
static size_t char_offset(const char *p, size_t len, size_t chars)
{
    size_t k = 0;
    for (; k < len; k++)
        if (((unsigned char)p[k] & 0xc0) != 0x80 && chars-- == 0)
            break;
    return k;
}

/* textwrap's _handle_long_word: how many bytes of an over-long chunk fit in space
 * characters, preferring to cut after the last hyphen that has a non-hyphen before it. */
static size_t long_word_cut(const char *p, size_t len, size_t space)
{
    size_t end = char_offset(p, len, space);
    for (size_t h = end; h-- > 1;) {
        if (p[h] == '-') {
            size_t k = 0;
            while (k < h && p[k] == '-')
                k++;
            return k < h ? h + 1 : end;
        }
    }
    return end;
}

/* Write text as "# "-prefixed comment lines wrapped like Python's textwrap.wrap(text, 70):
 * greedy fill, whitespace dropped at line starts and ends, over-long words cut. */
static void write_wrapped(FILE *out, const char *text, size_t n)
{
    enum { WIDTH = 70 };
    struct chunk *c = mitm_calloc(n + 1, sizeof(*c));
    size_t nc = make_chunks(text, n, c), i = 0;
    bool any = false;
    while (i < nc) {
        size_t first = i, cur = 0;
        if (any && c[i].ws)
            first = ++i;
        for (size_t w; i < nc && cur + (w = text_width(text + c[i].off, c[i].len)) <= WIDTH; i++)
            cur += w;
        size_t cut = 0; /* bytes of c[i] taken onto this line (a long word) */
        bool long_word = i < nc && text_width(text + c[i].off, c[i].len) > WIDTH;
        if (long_word)
            cut = long_word_cut(text + c[i].off, c[i].len, WIDTH - cur);
        size_t last = i; /* chunks [first, last) plus cut bytes of c[i] */
        /* A full line before a long word: textwrap adds an empty piece of it and drops that
         * piece as the "trailing whitespace", so the real trailing space stays. */
        if (!long_word && last > first && c[last - 1].ws)
            last--;
        if (last > first || cut) {
            size_t end = cut ? c[i].off + cut : c[last - 1].off + c[last - 1].len;
            fputs("# ", out);
            fwrite(text + c[first].off, 1, end - c[first].off, out);
            fputc('\n', out);
            any = true;
        }
        if (cut) {
            c[i].off += cut;
            c[i].len -= cut;
        }
    }
    free(c);
}

/* Decode one UTF-8 character at p; returns its length (0: invalid or truncated). */
static size_t utf8_decode(const unsigned char *p, uint32_t *cp)
{
    size_t n = p[0] < 0x80             ? 1
               : (p[0] & 0xe0) == 0xc0 ? 2
               : (p[0] & 0xf0) == 0xe0 ? 3
               : (p[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (n == 0)
        return 0;
    uint32_t v = n == 1 ? p[0] : p[0] & (0x7fu >> n);
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[k] & 0x3fu);
    }
    if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* May cp appear as is in a plain or single-quoted scalar? YAML's printable set minus
 * the characters a reader takes as line breaks (NEL, LS, PS) or a byte order mark. */
static bool yaml_literal_ok(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 0x20 && cp != 0x7f;
    if (cp < 0xa0 || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff)
        return false;
    return !(cp >= 0xd800 && cp <= 0xdfff) && cp != 0xfffe && cp != 0xffff;
}

/* Can s be written without double quotes (valid UTF-8, only literal-safe characters)? */
static bool needs_escapes(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        size_t n = utf8_decode(p, &cp);
        if (!n || !yaml_literal_ok(cp))
            return true;
        p += n;
    }
    return false;
}

/* Would a YAML loader read s back, unquoted, as this very string? Conservative version
 * of PyYAML's analyze_scalar plus the 1.1/1.2 implicit resolvers. s has no escapes. */
static bool plain_ok(const char *s)
{
    static const char *const words[] = {"~",     "null",  "Null",  "NULL", "true", "True", "TRUE",
                                        "false", "False", "FALSE", "yes",  "Yes",  "YES",  "no",
                                        "No",    "NO",    "on",    "On",   "ON",   "off",  "Off",
                                        "OFF",   "y",     "Y",     "n",    "N",    NULL};
    size_t n = strlen(s);
    if (n == 0 || s[0] == ' ' || s[n - 1] == ' ' || is_one_of(s, words))
        return false;
    if (strchr(",[]{}#&*!|>'\"%@`", s[0]) || (strchr("-?:", s[0]) && (n == 1 || s[1] == ' ')))
        return false;
    /* Number-like (int, float, octal, hex, sexagesimal, .inf, .nan). */
    size_t d = (s[0] == '+' || s[0] == '-') ? 1 : 0;
    if (s[d] == '.' || (s[d] >= '0' && s[d] <= '9'))
        if (strspn(s + d, "0123456789abcdefABCDEFxXoO_.:+-infINFNa") == n - d)
            return false;
    return !(s[n - 1] == ':' || strstr(s, ": ") || strstr(s, " #"));
}

static void write_double_quoted(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', out);
    while (*p) {
        uint32_t cp;
        size_t n = utf8_decode(p, &cp);
        if (!n) { /* not UTF-8 (argv can be anything): keep the byte's value */
            fprintf(out, "\\x%02x", *p++);
            continue;
        }
        if (cp == '"' || cp == '\\')
            fprintf(out, "\\%c", (char)cp);
        else if (cp == '\n')
            fputs("\\n", out);
        else if (cp == '\t')
            fputs("\\t", out);
        else if (cp < 0xa0 && !yaml_literal_ok(cp))
            fprintf(out, "\\x%02x", (unsigned)cp);
        else if (!yaml_literal_ok(cp))
            fprintf(out, "\\u%04x", (unsigned)cp);
        else
            fwrite(p, 1, n, out);
        p += n;
    }
    fputc('"', out);
}

static void write_scalar(FILE *out, const char *s)
{
    if (needs_escapes(s)) {
        write_double_quoted(out, s);
    } else if (plain_ok(s)) {
        fputs(s, out);
    } else { /* single-quoted: only ' needs doubling */
        fputc('\'', out);
        for (const char *p = s; *p; p++) {
            if (*p == '\'')
                fputc('\'', out);
            fputc(*p, out);
        }
        fputc('\'', out);
    }
}

static void write_value(FILE *out, const struct mitm_opt_info *in, const void *f)
{
    switch (in->type) {
    case MITM_OPT_TYPE_BOOL:
        fputs(*(const bool *)f ? " true" : " false", out);
        break;
    case MITM_OPT_TYPE_INT:
    case MITM_OPT_TYPE_OPT_INT:
        if (*(const long *)f != MITM_OPT_NONE)
            fprintf(out, " %ld", *(const long *)f);
        break; /* None is an empty value, as ruamel.yaml writes it */
    case MITM_OPT_TYPE_STR:
    case MITM_OPT_TYPE_OPT_STR:
    case MITM_OPT_TYPE_SIZE:
        if (*(char *const *)f) {
            fputc(' ', out);
            write_scalar(out, *(char *const *)f);
        }
        break;
    case MITM_OPT_TYPE_STRLIST: {
        const struct mitm_strvec *v = f;
        if (v->n == 0)
            fputs(" []", out);
        for (size_t i = 0; i < v->n; i++) {
            fputs("\n- ", out);
            write_scalar(out, v->v[i]);
        }
        break;
    }
    }
    fputc('\n', out);
}

/* One option to print: its row and where its value is. */
struct dump_row {
    const struct mitm_opt_info *in;
    const void *value;
};

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct dump_row *)a)->in->name, ((const struct dump_row *)b)->in->name);
}

void mitm_options_dump(const struct mitm_options *o, FILE *out)
{
    mitm_options_dump_extra(o, NULL, NULL, 0, out);
}

void mitm_options_dump_extra(const struct mitm_options *o, const struct mitm_opt_info *const *extra,
                             const void *const *values, size_t n, FILE *out)
{
    size_t total = NOPT + n;
    struct dump_row *rows = mitm_calloc(total, sizeof(*rows));
    for (size_t i = 0; i < NOPT; i++)
        rows[i] = (struct dump_row){&table[i], cfield(o, &table[i])};
    for (size_t i = 0; i < n; i++)
        rows[NOPT + i] = (struct dump_row){extra[i], values[i]};
    qsort(rows, total, sizeof(rows[0]), by_name);
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    for (size_t i = 0; i < total; i++) {
        const struct mitm_opt_info *in = rows[i].in;
        mitm_buf_consume(&b, b.len);
        mitm_buf_printf(&b, "%s", in->help);
        if (in->choices) {
            mitm_buf_printf(&b, " Valid values are ");
            choices_text(&b, in->choices);
            mitm_buf_printf(&b, ".");
        } else {
            mitm_buf_printf(&b, " Type %s.", mitm_options_type_name(in->type));
        }
        fputc('\n', out);
        write_wrapped(out, (const char *)mitm_buf_data(&b), b.len);
        fprintf(out, "%s:", in->name);
        write_value(out, in, rows[i].value);
    }
    mitm_buf_free(&b);
    free(rows);
}

/* ---- confdir ---- */

/* os.path.expanduser: "~" and "~/x" use $HOME (or the passwd entry when HOME is unset),
 * "~user/x" that user's home; an unknown user leaves the path unchanged. */
static char *expand_user(const char *path)
{
    if (path[0] != '~')
        return mitm_strdup(path);
    const char *rest = strchr(path, '/');
    size_t ulen = rest ? (size_t)(rest - path - 1) : strlen(path + 1);
    if (!rest)
        rest = "";
    char pwbuf[16384];
    struct passwd pw, *res = NULL;
    const char *home = NULL;
    if (ulen == 0) {
        home = getenv("HOME");
        if (!home && getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
            home = res->pw_dir;
    } else {
        char *user = mitm_strndup(path + 1, ulen);
        if (getpwnam_r(user, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
            home = res->pw_dir;
        free(user);
    }
    if (!home)
        return mitm_strdup(path);
    size_t hl = strlen(home);
    while (hl > 0 && home[hl - 1] == '/')
        hl--;
    size_t n = hl + strlen(rest);
    if (n == 0)
        return mitm_strdup("/");
    char *out = mitm_alloc(n + 1);
    memcpy(out, home, hl);
    strcpy(out + hl, rest);
    return out;
}

char *mitm_options_expanduser(const char *path)
{
    return expand_user(path);
}

char *mitm_options_confdir(const struct mitm_options *o)
{
    return expand_user(o->confdir);
}

/* ---- options.load / options.save (the ui commands) ---- */

bool mitm_options_equal(const struct mitm_opt_info *in, const struct mitm_options *a,
                        const struct mitm_options *b)
{
    const void *x = cfield(a, in), *y = cfield(b, in);
    switch (in->type) {
    case MITM_OPT_TYPE_BOOL:
        return *(const bool *)x == *(const bool *)y;
    case MITM_OPT_TYPE_INT:
    case MITM_OPT_TYPE_OPT_INT:
        return *(const long *)x == *(const long *)y;
    case MITM_OPT_TYPE_STR:
    case MITM_OPT_TYPE_OPT_STR:
    case MITM_OPT_TYPE_SIZE: {
        const char *s = *(char *const *)x, *t = *(char *const *)y;
        return s == t || (s && t && strcmp(s, t) == 0);
    }
    case MITM_OPT_TYPE_STRLIST: {
        const struct mitm_strvec *v = x, *w = y;
        if (v->n != w->n)
            return false;
        for (size_t i = 0; i < v->n; i++)
            if (strcmp(v->v[i], w->v[i]) != 0)
                return false;
        return true;
    }
    }
    return false;
}

char *mitm_options_value_text(const struct mitm_opt_info *in, const struct mitm_options *o)
{
    return mitm_options_field_text(in, cfield(o, in));
}

char *mitm_options_field_text(const struct mitm_opt_info *in, const void *f)
{
    char num[32];
    switch (in->type) {
    case MITM_OPT_TYPE_BOOL:
        return mitm_strdup(*(const bool *)f ? "true" : "false");
    case MITM_OPT_TYPE_INT:
    case MITM_OPT_TYPE_OPT_INT:
        if (*(const long *)f == MITM_OPT_NONE)
            return NULL;
        snprintf(num, sizeof(num), "%ld", *(const long *)f);
        return mitm_strdup(num);
    case MITM_OPT_TYPE_STR:
    case MITM_OPT_TYPE_OPT_STR:
    case MITM_OPT_TYPE_SIZE:
        return *(char *const *)f ? mitm_strdup(*(char *const *)f) : NULL;
    case MITM_OPT_TYPE_STRLIST: {
        const struct mitm_strvec *v = f;
        struct mitm_buf b;
        mitm_buf_init(&b, 0);
        for (size_t i = 0; i < v->n; i++)
            mitm_buf_printf(&b, "%s%s", i ? "\n" : "", v->v[i]);
        char *s = mitm_strndup((const char *)mitm_buf_data(&b), b.len);
        mitm_buf_free(&b);
        return s;
    }
    }
    return NULL;
}

void mitm_options_save_changed(const struct mitm_options *o, const struct mitm_options *kept, FILE *out)
{
    struct mitm_options d = {0};
    mitm_options_init(&d);
    for (size_t i = 0; i < NOPT; i++) {
        const struct mitm_options *from = o;
        if (mitm_options_equal(&table[i], o, &d))
            from = kept; /* not changed here: what the file said, if anything */
        if (!from || mitm_options_equal(&table[i], from, &d))
            continue;
        fprintf(out, "%s:", table[i].name);
        write_value(out, &table[i], cfield(from, &table[i]));
    }
    mitm_options_free(&d);
}
