/* bench-upstream: a small, fast HTTP/1.1 origin server for the benchmark (bench/run) and for
 * tests that want a real keep-alive peer. Every request gets the same "200 OK" with a fixed
 * body. Pipelined requests are answered in order, in one write per read batch.
 *
 *   bench-upstream [-H host] [-p port] [-b body_bytes]
 *
 * Defaults: 127.0.0.1, port 0 (ephemeral), 13-byte body. Prints one line on stdout once it
 * listens: "bench-upstream listening at HOST:PORT" so callers never guess a free port.
 * SIGINT/SIGTERM stop it with exit status 0.
 *
 * Limits (every buffer has a cap): a request head must fit in IN_CAP bytes, otherwise the
 * connection gets a 431 and is closed; request bodies are only delimited by Content-Length
 * (RFC 9112 §6.3) and skipped without being stored; chunked request bodies are answered
 * 501 and the connection is closed, since the benchmark never sends them. When the client
 * does not read its responses, reading stops once OUT_CAP bytes are queued. */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <uv.h>

#define IN_CAP  16384
#define OUT_CAP (1 << 20)

struct conn {
    uv_tcp_t tcp;
    size_t len;              /* bytes buffered in in[] */
    unsigned long long skip; /* request body bytes still to discard */
    int reading;             /* uv_read_start is active */
    int closing;
    char in[IN_CAP];
};

struct wreq {
    uv_write_t req;
    int close_after;
    char data[];
};

static char *response;
static size_t response_len;

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void close_conn(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)suggested;
    buf->base = c->in + c->len;
    buf->len = IN_CAP - c->len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = req->handle->data;
    if (status < 0 || w->close_after) {
        close_conn(c);
    } else if (!c->reading && !c->closing && uv_stream_get_write_queue_size(req->handle) < OUT_CAP) {
        c->reading = 1;
        uv_read_start(req->handle, on_alloc, on_read);
    }
    free(w);
}

/* Case-insensitive search for header `name` in a head of `len` bytes; returns a pointer to
 * its value (after optional whitespace) or NULL. */
static const char *find_header(const char *head, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = memchr(head, '\n', len);
    const char *end = head + len;
    while (p && p + 1 + nlen + 1 < end) {
        p++;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            p += nlen + 1;
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            return p;
        }
        p = memchr(p, '\n', (size_t)(end - p));
    }
    return NULL;
}

enum { REQ_OK, REQ_CLOSE, REQ_CHUNKED };

/* Inspect one complete head: sets *body to its Content-Length and returns whether the
 * connection stays open after the response. */
static int inspect(const char *head, size_t len, unsigned long long *body)
{
    const char *v;
    const char *eol = memchr(head, '\r', len);
    int keep = !(eol && eol - head >= 8 && memcmp(eol - 8, "HTTP/1.0", 8) == 0);
    *body = 0;
    if ((v = find_header(head, len, "content-length")) != NULL)
        *body = strtoull(v, NULL, 10);
    if ((v = find_header(head, len, "transfer-encoding")) != NULL)
        return REQ_CHUNKED;
    if ((v = find_header(head, len, "connection")) != NULL) {
        if (strncasecmp(v, "close", 5) == 0)
            keep = 0;
        else if (strncasecmp(v, "keep-alive", 10) == 0)
            keep = 1;
    }
    return keep ? REQ_OK : REQ_CLOSE;
}

static void send_batch(struct conn *c, size_t n, const char *tail, size_t tail_len, int close_after)
{
    struct wreq *w = malloc(sizeof(*w) + n * response_len + tail_len);
    uv_buf_t buf;
    if (w == NULL) {
        close_conn(c);
        return;
    }
    for (size_t i = 0; i < n; i++)
        memcpy(w->data + i * response_len, response, response_len);
    memcpy(w->data + n * response_len, tail, tail_len);
    w->close_after = close_after;
    buf = uv_buf_init(w->data, (unsigned)(n * response_len + tail_len));
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) < 0) {
        free(w);
        close_conn(c);
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) >= OUT_CAP && c->reading) {
        c->reading = 0;
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    static const char e431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n";
    static const char e501[] =
        "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    struct conn *c = s->data;
    size_t pos = 0, n = 0;
    const char *tail = "";
    size_t tail_len = 0;
    int close_after = 0;
    (void)buf;
    if (nread < 0) {
        close_conn(c);
        return;
    }
    c->len += (size_t)nread;
    while (pos < c->len && !close_after) {
        char *head = c->in + pos, *end;
        unsigned long long body;
        int kind;
        if (c->skip > 0) {
            size_t k = c->len - pos < c->skip ? c->len - pos : (size_t)c->skip;
            pos += k;
            c->skip -= k;
            continue;
        }
        end = memmem(head, c->len - pos, "\r\n\r\n", 4);
        if (end == NULL)
            break;
        kind = inspect(head, (size_t)(end + 4 - head), &body);
        pos = (size_t)(end + 4 - c->in);
        if (kind == REQ_CHUNKED) {
            tail = e501, tail_len = sizeof(e501) - 1, close_after = 1;
            break;
        }
        c->skip = body;
        n++;
        close_after = kind == REQ_CLOSE;
    }
    memmove(c->in, c->in + pos, c->len - pos);
    c->len -= pos;
    if (c->len == IN_CAP && !close_after) {
        tail = e431, tail_len = sizeof(e431) - 1, close_after = 1;
    }
    if (n > 0 || tail_len > 0)
        send_batch(c, n, tail, tail_len, close_after);
    if (close_after && c->reading) {
        c->reading = 0;
        uv_read_stop(s);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct conn *c;
    if (status < 0)
        return;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        close_conn(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->reading = 1;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    uv_stop(h->loop);
}

static int build_response(size_t body)
{
    char head[128];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n", body);
    response_len = (size_t)n + body;
    response = malloc(response_len);
    if (response == NULL)
        return -1;
    memcpy(response, head, (size_t)n);
    for (size_t i = 0; i < body; i++)
        response[(size_t)n + i] = i + 1 == body ? '\n' : "Hello, world"[i % 12];
    return 0;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 0, opt, namelen, rc;
    long body = 13;
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    uv_signal_t sigint, sigterm;
    struct sockaddr_storage addr;
    char name[64];

    while ((opt = getopt(argc, argv, "H:p:b:")) != -1) {
        switch (opt) {
        case 'H':
            host = optarg;
            break;
        case 'p':
            port = atoi(optarg);
            break;
        case 'b':
            body = atol(optarg);
            break;
        default:
            fprintf(stderr, "usage: %s [-H host] [-p port] [-b body_bytes]\n", argv[0]);
            return 2;
        }
    }
    if (body < 0 || body > (1 << 20) || build_response((size_t)body) < 0) {
        fprintf(stderr, "bench-upstream: body size must be 0..1048576\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0) {
        fprintf(stderr, "bench-upstream: bad address %s\n", host);
        return 2;
    }
    uv_tcp_init(loop, &server);
    if ((rc = uv_tcp_bind(&server, (struct sockaddr *)&addr, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&server, 1024, on_connection)) < 0) {
        fprintf(stderr, "bench-upstream: %s:%d: %s\n", host, port, uv_strerror(rc));
        return 1;
    }
    namelen = sizeof(addr);
    uv_tcp_getsockname(&server, (struct sockaddr *)&addr, &namelen);
    uv_ip_name((struct sockaddr *)&addr, name, sizeof(name));
    printf("bench-upstream listening at %s:%d\n", name, ntohs(((struct sockaddr_in *)&addr)->sin_port));
    fflush(stdout);

    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    free(response);
    return 0;
}
