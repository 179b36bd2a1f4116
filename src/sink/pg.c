/* PostgreSQL store: one row per flow in mitmc_flows (schema version 1), written by COPY into
 * a per-connection staging table and moved over with INSERT ... ON CONFLICT (instance,
 * flow_id) DO NOTHING, so a batch re-sent after a lost commit adds nothing. */
#include "sink/pg.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "core/options.h"
#include "flow/flow.h"
#include "flow/flowfile.h"
#include "proto/http/http.h"

#define SCHEMA_VERSION "1"
#define SCHEMA_LOCK    "7166430536335548259" /* pg_advisory_xact_lock key: two instances create once */

/* clang-format off */
static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS mitmc_flows ("
    " instance text NOT NULL,"
    " flow_id text NOT NULL,"
    " type text NOT NULL,"
    " ts timestamptz,"
    " client text,"
    " server text,"
    " method text,"
    " scheme text,"
    " host text,"
    " host_header text,"
    " port integer,"
    " path text,"
    " http_version text,"
    " status integer,"
    " reason text,"
    " request_content_type text,"
    " response_content_type text,"
    " request_size bigint,"
    " response_size bigint,"
    " duration_ms double precision,"
    " error text,"
    " marked text,"
    " comment text,"
    " websocket boolean NOT NULL DEFAULT false,"
    " request_headers jsonb,"
    " response_headers jsonb,"
    " request_body bytea,"
    " response_body bytea,"
    " record bytea NOT NULL,"
    " inserted_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (instance, flow_id));"
    "CREATE INDEX IF NOT EXISTS mitmc_flows_ts ON mitmc_flows (ts);"
    "CREATE INDEX IF NOT EXISTS mitmc_flows_instance_ts ON mitmc_flows (instance, ts);"
    "CREATE INDEX IF NOT EXISTS mitmc_flows_client ON mitmc_flows (client);"
    "CREATE INDEX IF NOT EXISTS mitmc_flows_server ON mitmc_flows (server);"
    "CREATE INDEX IF NOT EXISTS mitmc_flows_host ON mitmc_flows (host);"
    "CREATE INDEX IF NOT EXISTS mitmc_flows_method ON mitmc_flows (method);"
    "CREATE INDEX IF NOT EXISTS mitmc_flows_scheme_port ON mitmc_flows (scheme, port);"
    "CREATE INDEX IF NOT EXISTS mitmc_flows_path ON mitmc_flows (path);"
    "CREATE INDEX IF NOT EXISTS mitmc_flows_status ON mitmc_flows (status);"
    "CREATE INDEX IF NOT EXISTS mitmc_flows_ctypes ON mitmc_flows (request_content_type, response_content_type);"
    "CREATE INDEX IF NOT EXISTS mitmc_flows_sizes ON mitmc_flows (request_size, response_size);"
    "CREATE INDEX IF NOT EXISTS mitmc_flows_duration ON mitmc_flows (duration_ms);"
    "CREATE INDEX IF NOT EXISTS mitmc_flows_error ON mitmc_flows (error) WHERE error IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS mitmc_flows_marked ON mitmc_flows (marked) WHERE marked <> '';"
    "CREATE INDEX IF NOT EXISTS mitmc_flows_comment ON mitmc_flows (comment) WHERE comment <> '';"
    "INSERT INTO mitmc_meta (key, value) VALUES ('schema_version', '" SCHEMA_VERSION "');";

#define COLUMNS \
    "instance, flow_id, type, ts, client, server, method, scheme, host, host_header, port, path, " \
    "http_version, status, reason, request_content_type, response_content_type, request_size, " \
    "response_size, duration_ms, error, marked, comment, websocket, request_headers, response_headers, " \
    "request_body, response_body, record"
/* clang-format on */

struct pg {
    char *uri;
    char *shown;
    PGconn *c;
};

void *mitm_sink_pg_new(const char *uri)
{
    struct pg *p = mitm_alloc(sizeof(*p));
    p->uri = mitm_strdup(uri);
    p->shown = mitm_sink_redact(uri);
    p->c = NULL;
    return p;
}

bool mitm_sink_pg_is_uri(const char *path)
{
    return !strncmp(path, "postgresql://", 13) || !strncmp(path, "postgres://", 11);
}

/* libpq's message, one line, without the trailing newline. libpq never puts the password in
 * it; the URI is never added. */
static void pq_err(char *err, size_t errlen, const char *what, const char *msg)
{
    char line[512];
    snprintf(line, sizeof(line), "%s", msg ? msg : "");
    size_t o = 0; /* whitespace runs (libpq's "\n\t") to one space, none at the end */
    for (size_t i = 0; line[i]; i++) {
        bool ws = line[i] == '\n' || line[i] == '\r' || line[i] == '\t' || line[i] == ' ';
        if (!ws)
            line[o++] = line[i];
        else if (o && line[o - 1] != ' ')
            line[o++] = ' ';
    }
    while (o && line[o - 1] == ' ')
        o--;
    line[o] = 0;
    mitm_errf(err, errlen, "%s: %s", what, line[0] ? line : "unknown error");
}

static PGconn *connect_db(const char *uri, char *err, size_t errlen)
{
    /* the URI's own connect_timeout wins: it comes later */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const vals[] = {"10", "mitmc", uri, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        pq_err(err, errlen, "cannot connect", c ? PQerrorMessage(c) : "out of memory");
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, NULL, NULL);
    return c;
}

static int exec_ok(PGconn *c, const char *sql, char *err, size_t errlen, const char *what)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
    if (rc < 0)
        pq_err(err, errlen, what, PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

static void ignore_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Create (once, under an advisory lock) or check the schema, and the staging table. */
static int schema(PGconn *c, char *err, size_t errlen)
{
    PQsetNoticeProcessor(c, ignore_notice, NULL); /* "relation already exists, skipping" */
    if (exec_ok(c,
                "BEGIN; SELECT pg_advisory_xact_lock(" SCHEMA_LOCK "); "
                "CREATE TABLE IF NOT EXISTS mitmc_meta (key text PRIMARY KEY, value text NOT NULL)",
                err, errlen, "cannot create the schema") < 0)
        goto Fail;
    PGresult *r = PQexec(c, "SELECT value FROM mitmc_meta WHERE key = 'schema_version'");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pq_err(err, errlen, "cannot read the schema version", PQresultErrorMessage(r));
        PQclear(r);
        goto Fail;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        if (exec_ok(c, schema_sql, err, errlen, "cannot create the schema") < 0)
            goto Fail;
    } else {
        bool same = !strcmp(PQgetvalue(r, 0, 0), SCHEMA_VERSION);
        if (!same)
            mitm_errf(err, errlen, "the database's mitmc schema is version %s; this mitmc writes version %s",
                      PQgetvalue(r, 0, 0), SCHEMA_VERSION);
        PQclear(r);
        if (!same)
            goto Fail;
    }
    if (exec_ok(c,
                "COMMIT; CREATE TEMP TABLE IF NOT EXISTS mitmc_staging "
                "(LIKE mitmc_flows INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
                err, errlen, "cannot create the staging table") < 0)
        return -1;
    return 0;
Fail : {
    char ignored[64];
    exec_ok(c, "ROLLBACK", ignored, sizeof(ignored), "");
    return -1;
}
}

/* ---- one flow as a COPY text row ------------------------------------------------------------- */

/* Append text as a COPY text field: valid UTF-8 (bad bytes and NUL become U+FFFD: the exact
 * bytes are in the record), with \ TAB LF CR escaped. */
static void put_text(struct mitm_buf *b, const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s, *e = p + len;
    while (p < e) {
        uint8_t c = *p;
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n && p + n <= e && c != 0;
        for (size_t i = 1; ok && i < n; i++)
            ok = (p[i] & 0xC0) == 0x80;
        if (ok && n == 2)
            ok = c >= 0xC2;
        if (ok && n == 3)
            ok = !(c == 0xE0 && p[1] < 0xA0) && !(c == 0xED && p[1] >= 0xA0);
        if (ok && n == 4)
            ok = c <= 0xF4 && !(c == 0xF0 && p[1] < 0x90) && !(c == 0xF4 && p[1] >= 0x90);
        if (!ok) {
            mitm_buf_append(b, "\xEF\xBF\xBD", 3);
            p++;
            continue;
        }
        if (c == '\\')
            mitm_buf_append(b, "\\\\", 2);
        else if (c == '\t')
            mitm_buf_append(b, "\\t", 2);
        else if (c == '\n')
            mitm_buf_append(b, "\\n", 2);
        else if (c == '\r')
            mitm_buf_append(b, "\\r", 2);
        else
            mitm_buf_append(b, p, n);
        p += n;
    }
}

static void put_str(struct mitm_buf *b, const char *s)
{
    if (s)
        put_text(b, s, strlen(s));
    else
        mitm_buf_append(b, "\\N", 2);
}

static void put_fmt(struct mitm_buf *b, const char *fmt, long long v)
{
    char t[32];
    int n = snprintf(t, sizeof(t), fmt, v);
    mitm_buf_append(b, t, (size_t)n);
}

static void put_time(struct mitm_buf *b, double t)
{
    if (t <= 0) {
        mitm_buf_append(b, "\\N", 2);
        return;
    }
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    char out[64];
    int us = (int)((t - (double)s) * 1e6);
    if (us < 0)
        us = 0;
    if (us > 999999)
        us = 999999;
    size_t n = strftime(out, sizeof(out), "%Y-%m-%d %H:%M:%S", &tm);
    n += (size_t)snprintf(out + n, sizeof(out) - n, ".%06d+00", us);
    mitm_buf_append(b, out, n);
}

/* bytea in hex form, its backslash escaped for COPY: \\x0a1b... */
static void put_bytea(struct mitm_buf *b, const uint8_t *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t *t = mitm_buf_extend(b, 3 + 2 * len);
    if (!t)
        return; /* out of memory: the row is cut short, COPY refuses the batch, it is retried */
    memcpy(t, "\\\\x", 3);
    t += 3;
    for (size_t i = 0; i < len; i++) {
        *t++ = (uint8_t)hex[p[i] >> 4];
        *t++ = (uint8_t)hex[p[i] & 15];
    }
}

/* JSON string into a scratch buffer (valid UTF-8, no \u0000: jsonb refuses it). */
static void json_str(struct mitm_buf *j, const char *s, size_t len)
{
    mitm_buf_append(j, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == '"' || c == '\\') {
            char t[2] = {'\\', (char)c};
            mitm_buf_append(j, t, 2);
        } else if (c < 0x20) {
            char t[8];
            snprintf(t, sizeof(t), c ? "\\u%04x" : "\\ufffd", c);
            mitm_buf_append(j, t, 6);
        } else {
            mitm_buf_append(j, &s[i], 1); /* bad UTF-8 is replaced by put_text */
        }
    }
    mitm_buf_append(j, "\"", 1);
}

/* Headers as a JSON array of [name, value] pairs: order, case and duplicates kept. */
static void put_headers(struct mitm_buf *b, const struct mitm_headers *h)
{
    if (!h) {
        mitm_buf_append(b, "\\N", 2);
        return;
    }
    struct mitm_buf j;
    mitm_buf_init(&j, 0);
    mitm_buf_append(&j, "[", 1);
    for (size_t i = 0; i < h->n; i++) {
        mitm_buf_append(&j, i ? ",[" : "[", i ? 2 : 1);
        json_str(&j, h->v[i].name, h->v[i].name_len);
        mitm_buf_append(&j, ",", 1);
        json_str(&j, h->v[i].value, h->v[i].value_len);
        mitm_buf_append(&j, "]", 1);
    }
    mitm_buf_append(&j, "]", 1);
    put_text(b, (const char *)mitm_buf_data(&j), j.len);
    mitm_buf_free(&j);
}

static void put_body(struct mitm_buf *b, const struct mitm_buf *content, bool missing, int64_t max)
{
    if (missing || (max >= 0 && content->len > (uint64_t)max))
        mitm_buf_append(b, "\\N", 2);
    else
        put_bytea(b, mitm_buf_data(content), content->len);
}

static void put_addr(struct mitm_buf *b, const char *host, uint16_t port)
{
    if (!host) {
        mitm_buf_append(b, "\\N", 2);
        return;
    }
    char t[300];
    snprintf(t, sizeof(t), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
    put_str(b, t);
}

static void put_ctype(struct mitm_buf *b, const struct mitm_headers *h)
{
    size_t len = 0;
    const char *v = h ? mitm_headers_get(h, "content-type", &len) : NULL;
    if (v)
        put_text(b, v, len);
    else
        mitm_buf_append(b, "\\N", 2);
}

#define TAB() mitm_buf_append(b, "\t", 1)

static void row(struct mitm_buf *b, const char *instance, const struct mitm_sink_item *it, int64_t body_max)
{
    const struct mitm_flow *f = it->flow;
    const struct mitm_http_request *q = f->type == MITM_FLOW_HTTP ? f->request : NULL;
    const struct mitm_http_response *s = q ? f->response : NULL;
    put_str(b, instance), TAB();
    put_str(b, f->id), TAB();
    put_str(b, f->type == MITM_FLOW_TCP ? "tcp" : "http"), TAB();
    double start = q && q->timestamp_start > 0 ? q->timestamp_start : f->client_conn.timestamp_start;
    put_time(b, start > 0 ? start : f->timestamp_created), TAB();
    put_addr(b, f->client_conn.peer_host, f->client_conn.peer_port), TAB();
    put_addr(b, f->server_conn.address_host, f->server_conn.address_port), TAB();
    put_str(b, q ? q->method : NULL), TAB();
    put_str(b, q ? q->scheme : NULL), TAB();
    put_str(b, q ? q->host : NULL), TAB();
    size_t hl = 0;
    const char *hh = q ? mitm_headers_get(&q->headers, "host", &hl) : NULL;
    if (hh)
        put_text(b, hh, hl);
    else
        mitm_buf_append(b, "\\N", 2);
    TAB();
    if (q)
        put_fmt(b, "%lld", q->port);
    else
        mitm_buf_append(b, "\\N", 2);
    TAB();
    put_str(b, q ? q->path : NULL), TAB();
    put_str(b, q ? q->http_version : NULL), TAB();
    if (s)
        put_fmt(b, "%lld", s->status_code);
    else
        mitm_buf_append(b, "\\N", 2);
    TAB();
    put_str(b, s ? s->reason : NULL), TAB();
    put_ctype(b, q ? &q->headers : NULL), TAB();
    put_ctype(b, s ? &s->headers : NULL), TAB();
    if (q)
        put_fmt(b, "%lld", (long long)q->content.len);
    else
        mitm_buf_append(b, "\\N", 2);
    TAB();
    if (s)
        put_fmt(b, "%lld", (long long)s->content.len);
    else
        mitm_buf_append(b, "\\N", 2);
    TAB();
    double end = s && s->timestamp_end > 0      ? s->timestamp_end
                 : f->error                     ? f->error->timestamp
                 : f->client_conn.timestamp_end ? f->client_conn.timestamp_end
                                                : 0;
    if (start > 0 && end >= start) {
        char t[64];
        int n = snprintf(t, sizeof(t), "%.3f", (end - start) * 1000.0);
        mitm_buf_append(b, t, (size_t)n);
    } else {
        mitm_buf_append(b, "\\N", 2);
    }
    TAB();
    put_str(b, f->error ? f->error->msg : NULL), TAB();
    put_str(b, f->marked ? f->marked : ""), TAB();
    put_str(b, f->comment ? f->comment : ""), TAB();
    put_str(b, f->websocket ? "t" : "f"), TAB();
    put_headers(b, q ? &q->headers : NULL), TAB();
    put_headers(b, s ? &s->headers : NULL), TAB();
    if (q)
        put_body(b, &q->content, q->content_missing, body_max);
    else
        mitm_buf_append(b, "\\N", 2);
    TAB();
    if (s)
        put_body(b, &s->content, s->content_missing, body_max);
    else
        mitm_buf_append(b, "\\N", 2);
    TAB();
    put_bytea(b, it->rec, it->rec_len);
    mitm_buf_append(b, "\n", 1);
}

static int copy_batch(PGconn *c, const char *instance, const struct mitm_sink_item *items, size_t n,
                      char *err, size_t errlen)
{
    if (exec_ok(c, "BEGIN", err, errlen, "cannot begin") < 0)
        return -1;
    PGresult *r = PQexec(c, "COPY mitmc_staging (" COLUMNS ") FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        pq_err(err, errlen, "COPY failed", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    int64_t body_max = mitm_options_size(mitm_sink_options()->flow_sink_body_max);
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        row(&b, instance, &items[i], body_max);
        if (b.len >= (1u << 20) || i + 1 == n) {
            if (PQputCopyData(c, (const char *)mitm_buf_data(&b), (int)b.len) != 1)
                rc = -1;
            mitm_buf_consume(&b, b.len); /* the memory is kept for the next rows */
        }
    }
    mitm_buf_free(&b);
    if (PQputCopyEnd(c, rc ? "mitmc: send failed" : NULL) != 1)
        rc = -1;
    bool failed = rc < 0;
    while ((r = PQgetResult(c))) { /* bounded: libpq ends the sequence with NULL */
        if (PQresultStatus(r) != PGRES_COMMAND_OK && !failed) {
            pq_err(err, errlen, "COPY failed", PQresultErrorMessage(r));
            failed = true;
        }
        PQclear(r);
    }
    if (failed) {
        if (rc < 0)
            pq_err(err, errlen, "COPY failed", PQerrorMessage(c));
        return -1;
    }
    return exec_ok(c,
                   "INSERT INTO mitmc_flows (" COLUMNS ") SELECT " COLUMNS
                   " FROM mitmc_staging ON CONFLICT (instance, flow_id) DO NOTHING; COMMIT",
                   err, errlen, "INSERT failed");
}

static int pg_deliver(void *st, const char *instance, const struct mitm_sink_item *items, size_t n, char *err,
                      size_t errlen)
{
    struct pg *p = st;
    if (p->c && PQstatus(p->c) != CONNECTION_OK) {
        PQfinish(p->c);
        p->c = NULL;
    }
    if (!p->c) {
        if (!(p->c = connect_db(p->uri, err, errlen)))
            return -1;
        if (schema(p->c, err, errlen) < 0) {
            PQfinish(p->c);
            p->c = NULL;
            return -1;
        }
    }
    if (copy_batch(p->c, instance, items, n, err, errlen) == 0)
        return 0;
    if (PQstatus(p->c) != CONNECTION_OK) { /* the server went away: reconnect next time */
        PQfinish(p->c);
        p->c = NULL;
    } else {
        char ignored[64];
        exec_ok(p->c, "ROLLBACK", ignored, sizeof(ignored), "");
    }
    return -1;
}

static void pg_free(void *st)
{
    struct pg *p = st;
    PQfinish(p->c);
    free(p->uri);
    free(p->shown);
    free(p);
}

const struct mitm_sink_vt mitm_sink_pg_vt = {"postgresql", pg_deliver, pg_free};

/* ---- reading back --------------------------------------------------------------------------- */

char *mitm_sink_pg_where(const struct mitm_filter *filter, char **params, int *n, int cap)
{
    struct mitm_filter_term t[16];
    size_t k = mitm_filter_terms(filter, t, 16);
    struct mitm_buf b;
    mitm_buf_init(&b, 0);
    *n = 0;
    for (size_t i = 0; i < k && *n < cap; i++) {
        char clause[160];
        if (t[i].kind == 'c') {
            char num[32];
            snprintf(num, sizeof(num), "%ld", t[i].num);
            params[*n] = mitm_strdup(num);
            snprintf(clause, sizeof(clause), "status = $%d::integer", *n + 1);
        } else if (t[i].kind == 'd') {
            params[*n] = mitm_strdup(t[i].like);
            snprintf(clause, sizeof(clause),
                     "(lower(host) LIKE $%d OR lower(coalesce(host_header, '')) LIKE $%d)", *n + 1, *n + 1);
        } else {
            params[*n] = mitm_strdup(t[i].like);
            snprintf(clause, sizeof(clause), "lower(method) LIKE $%d", *n + 1);
        }
        (*n)++;
        if (b.len)
            mitm_buf_append(&b, " AND ", 5);
        mitm_buf_append(&b, clause, strlen(clause));
    }
    if (!b.len)
        mitm_buf_append(&b, "true", 4);
    mitm_buf_append(&b, "", 1);
    size_t len;
    return (char *)mitm_buf_steal(&b, &len);
}

long mitm_sink_pg_read(const char *uri, const struct mitm_filter *filter,
                       void (*fn)(void *, struct mitm_flow *), void *arg, char *err, size_t errlen)
{
    PGconn *c = connect_db(uri, err, errlen);
    if (!c)
        return -1;
    char *params[16];
    int np = 0;
    char *where = mitm_sink_pg_where(filter, params, &np, 16);
    size_t ql = strlen(where) + 128;
    char *sql = mitm_alloc(ql);
    snprintf(sql, ql, "SELECT record FROM mitmc_flows WHERE %s ORDER BY ts, instance, flow_id", where);
    long count = -1;
    if (!PQsendQueryParams(c, sql, np, NULL, (const char *const *)params, NULL, NULL, 1) ||
        !PQsetSingleRowMode(c)) {
        pq_err(err, errlen, "query failed", PQerrorMessage(c));
        goto Exit;
    }
    count = 0;
    PGresult *r;
    while ((r = PQgetResult(c))) { /* one row at a time: memory stays flat */
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE) {
            struct mitm_flowfile_reader *rd =
                mitm_flowfile_open_mem(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
            struct mitm_flow *f = NULL;
            char ferr[256];
            if (mitm_flowfile_next(rd, &f, ferr, sizeof(ferr)) == MITM_FLOWFILE_FLOW) {
                fn(arg, f);
                count++;
            } else {
                mitm_log(MITM_LOG_WARN, NULL, "Skipping a flow from the database: %s", ferr);
            }
            mitm_flowfile_close(rd);
        } else if (st != PGRES_TUPLES_OK && count >= 0) {
            pq_err(err, errlen, "query failed", PQresultErrorMessage(r));
            count = -1;
        }
        PQclear(r);
    }
Exit:
    for (int i = 0; i < np; i++)
        free(params[i]);
    free(where);
    free(sql);
    PQfinish(c);
    return count;
}
