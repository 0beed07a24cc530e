/* Integration test of the HTTP server: the server runs on the main thread's event loop on
 * an ephemeral port; a second thread plays the client over plain blocking sockets and
 * records raw responses; the main thread asserts once the loop has stopped (cmocka
 * assertions are not thread-safe). Checks keep-alive, pipelining, Range/206, 416, HEAD,
 * malformed requests (400 + JSON), async responses, a chunked stream with back-pressure,
 * on_done accounting, max_connections and the 30 s idle rule's cousin: close on EOF. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http/http.h"

#define FILE_SIZE 1000
#define STREAM_PIECE 16384
#define STREAM_PIECES 64 /* 1 MiB */

typedef struct resp {
    int status;
    char head[4096];   /* header block, NUL-terminated */
    char *body;
    size_t body_len;
    int closed;        /* server closed the connection after the response */
} resp;

enum { R_KA1, R_KA2, R_PIPE1, R_PIPE2, R_RANGE, R_SUFFIX, R_OPEN, R_416, R_MULTI, R_HEAD,
       R_BAD, R_NOHOST, R_ASYNC, R_STREAM, R_POST, R_BIGPOST, R_413, R_BUSY1, R_BUSY2,
       R_COUNT };

static struct {
    int port;
    resp r[R_COUNT];
    atomic_int done;
    atomic_int hangs;        /* /hang requests that reached the handler */
    atomic_int closes;       /* on_close callbacks */
    int closes_in_loop;      /* on_close count before sv_http_server_free */
    int pending_fd;          /* client socket left open with a pending request */
    uint64_t infinite_sent;  /* bytes the aborted stream had sent, from on_close */
    /* server side observations */
    int done_status[8];
    uint64_t done_bytes[8];
    int ndone_stream;
    uint64_t stream_done_bytes;
    int drains;
    int max_queued_ok;
    struct event_base *base;
    char tmpfile[64];
} T;

/* ---------------- client side (second thread) ---------------- */

static int connect_srv(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)T.port)};
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t n = strlen(s), off = 0;
    while (off < n) {
        ssize_t w = send(fd, s + off, n - off, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

/* Buffered reader over a socket, so pipelined responses can be split. */
typedef struct rd {
    int fd;
    char buf[65536];
    size_t len;
    int eof;
} rd;

static int rd_fill(rd *r)
{
    if (r->len == sizeof r->buf)
        return 0;
    ssize_t n = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
    if (n <= 0) {
        r->eof = 1;
        return -1;
    }
    r->len += (size_t)n;
    return 0;
}

static void rd_take(rd *r, char *dst, size_t n)
{
    if (dst)
        memcpy(dst, r->buf, n);
    memmove(r->buf, r->buf + n, r->len - n);
    r->len -= n;
}

/* Reads a line (without CRLF) into dst. */
static int rd_line(rd *r, char *dst, size_t cap)
{
    for (;;) {
        char *nl = memchr(r->buf, '\n', r->len);
        if (nl) {
            size_t n = (size_t)(nl - r->buf) + 1, k = n - 2 < cap - 1 ? n - 2 : cap - 1;
            memcpy(dst, r->buf, k);
            dst[k] = '\0';
            rd_take(r, NULL, n);
            return 0;
        }
        if (rd_fill(r) < 0)
            return -1;
    }
}

static int rd_exact(rd *r, char *dst, size_t n)
{
    while (n) {
        if (!r->len && rd_fill(r) < 0)
            return -1;
        size_t k = r->len < n ? r->len : n;
        rd_take(r, dst, k);
        dst += k;
        n -= k;
    }
    return 0;
}

static const char *hdr(const resp *x, const char *name)
{
    static __thread char val[256];
    const char *p = x->head;
    size_t nl = strlen(name);
    while ((p = strstr(p, "\r\n"))) {
        p += 2;
        if (!strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1, *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            size_t n = (size_t)(e - v) < sizeof val - 1 ? (size_t)(e - v) : sizeof val - 1;
            memcpy(val, v, n);
            val[n] = '\0';
            return val;
        }
    }
    return NULL;
}

/* Reads one response; no_body for HEAD. Handles Content-Length, chunked, close. */
static void read_resp(rd *r, resp *x, int no_body)
{
    char line[1024];
    size_t hl = 0;
    x->status = -1;
    if (rd_line(r, line, sizeof line) < 0)
        return;
    if (!strncmp(line, "HTTP/1.1 100", 12) && rd_line(r, line, sizeof line) == 0 &&
        rd_line(r, line, sizeof line) < 0)
        return;
    sscanf(line, "HTTP/1.1 %d", &x->status);
    hl = (size_t)snprintf(x->head, sizeof x->head, "%s\r\n", line);
    while (rd_line(r, line, sizeof line) == 0 && line[0])
        hl += (size_t)snprintf(x->head + hl, sizeof x->head - hl, "%s\r\n", line);
    const char *cl = hdr(x, "Content-Length"), *te = hdr(x, "Transfer-Encoding");
    if (no_body)
        return;
    if (te && !strcmp(te, "chunked")) {
        x->body = malloc(2 * 1024 * 1024);
        for (;;) {
            if (rd_line(r, line, sizeof line) < 0)
                return;
            size_t n = strtoul(line, NULL, 16);
            if (n == 0) {
                rd_line(r, line, sizeof line);
                return;
            }
            if (x->body_len + n > 2 * 1024 * 1024 || rd_exact(r, x->body + x->body_len, n) < 0)
                return;
            x->body_len += n;
            rd_line(r, line, sizeof line);
        }
    }
    if (cl) {
        x->body_len = strtoul(cl, NULL, 10);
        x->body = calloc(1, x->body_len + 1);
        rd_exact(r, x->body, x->body_len);
        return;
    }
    x->body = calloc(1, 65536);
    while (rd_fill(r) == 0)
        ;
    x->body_len = r->len;
    rd_take(r, x->body, r->len);
}

/* Whether the server closes the connection (EOF) with nothing more to read. */
static int closed_after(rd *r)
{
    if (r->len)
        return 0;
    return rd_fill(r) < 0 && r->eof;
}

static void exchange(const char *req, resp *x, int no_body, int check_close)
{
    rd *r = calloc(1, sizeof *r);
    r->fd = connect_srv();
    send_all(r->fd, req);
    read_resp(r, x, no_body);
    if (check_close)
        x->closed = closed_after(r);
    close(r->fd);
    free(r);
}

/* Waits (up to 5 s) until a server-side counter reaches n. */
static void wait_for(atomic_int *v, int n)
{
    for (int i = 0; i < 500 && atomic_load(v) < n; i++)
        usleep(10000);
}

static void *client_main(void *arg)
{
    rd *r = calloc(1, sizeof *r);
    /* keep-alive pair, then a pipelined pair, on one connection */
    r->fd = connect_srv();
    send_all(r->fd, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    read_resp(r, &T.r[R_KA1], 0);
    send_all(r->fd, "GET /hello?name=second%20one HTTP/1.1\r\nHost: t\r\n\r\n");
    read_resp(r, &T.r[R_KA2], 0);
    send_all(r->fd, "GET /async HTTP/1.1\r\nHost: t\r\n\r\nGET /hello?name=p2 HTTP/1.1\r\n"
                    "Host: t\r\nConnection: close\r\n\r\n");
    read_resp(r, &T.r[R_PIPE1], 0);
    read_resp(r, &T.r[R_PIPE2], 0);
    T.r[R_PIPE2].closed = closed_after(r);
    close(r->fd);
    free(r);

    exchange("GET /file HTTP/1.1\r\nHost: t\r\nRange: bytes=10-19\r\n\r\n", &T.r[R_RANGE], 0, 0);
    exchange("GET /file HTTP/1.1\r\nHost: t\r\nRange: bytes=-5\r\n\r\n", &T.r[R_SUFFIX], 0, 0);
    exchange("GET /file HTTP/1.1\r\nHost: t\r\nRange: bytes=990-5000\r\n\r\n", &T.r[R_OPEN], 0, 0);
    exchange("GET /file HTTP/1.1\r\nHost: t\r\nRange: bytes=1000-\r\n\r\n", &T.r[R_416], 0, 0);
    exchange("GET /file HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1,5-6\r\n\r\n", &T.r[R_MULTI], 0, 0);
    exchange("HEAD /file HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &T.r[R_HEAD], 1, 1);
    exchange("GET /hello HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n folded\r\n\r\n", &T.r[R_BAD], 0, 1);
    exchange("GET /hello HTTP/1.1\r\n\r\n", &T.r[R_NOHOST], 0, 1);
    exchange("GET /async HTTP/1.0\r\n\r\n", &T.r[R_ASYNC], 0, 1);
    exchange("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n", &T.r[R_STREAM], 0, 0);
    exchange("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 11\r\n"
             "\r\nhello world", &T.r[R_POST], 0, 0);

    /* 1 MiB body is accepted (and echoed), 1 MiB + 1 is refused with 413 */
    char *big = malloc(1024 * 1024 + 128);
    int n = snprintf(big, 128, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n",
                     1024 * 1024);
    memset(big + n, 'b', 1024 * 1024);
    big[n + 1024 * 1024] = '\0';
    exchange(big, &T.r[R_BIGPOST], 0, 0);
    free(big);
    exchange("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\n\r\n", &T.r[R_413],
             0, 1);

    /* the client leaves while the handler is still working: on_close fires */
    int fd = connect_srv();
    send_all(fd, "GET /hang HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for(&T.hangs, 1);
    close(fd);
    wait_for(&T.closes, 1);
    /* the client leaves in the middle of an endless stream: on_close fires */
    rd *s = calloc(1, sizeof *s);
    s->fd = connect_srv();
    send_all(s->fd, "GET /infinite HTTP/1.1\r\nHost: t\r\n\r\n");
    for (size_t got = 0; got < 300000 && rd_fill(s) == 0; s->len = 0)
        got += s->len;
    close(s->fd);
    free(s);
    wait_for(&T.closes, 2);
    /* a request still pending when the server shuts down */
    T.pending_fd = connect_srv();
    send_all(T.pending_fd, "GET /hang HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for(&T.hangs, 2);

    /* max_connections = 4: the pending one + 3 idle ones; the 5th is refused with 503 */
    int held[3];
    for (int i = 0; i < 3; i++) {
        held[i] = connect_srv();
        send_all(held[i], "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
        rd *h = calloc(1, sizeof *h);
        h->fd = held[i];
        read_resp(h, &T.r[R_BUSY1], 0); /* answered, stays open */
        free(T.r[R_BUSY1].body);
        T.r[R_BUSY1].body = NULL;
        free(h);
    }
    exchange("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &T.r[R_BUSY2], 0, 1);
    for (int i = 0; i < 3; i++)
        close(held[i]);
    atomic_store(&T.done, 1);
    return NULL;
}

/* ---------------- server side (main thread) ---------------- */

static void on_done(sv_http_req *req, int status, uint64_t bytes, void *ctx)
{
    if (!strcmp(sv_http_path(req), "/stream")) {
        T.ndone_stream++;
        T.stream_done_bytes = bytes;
    }
}

typedef struct producer {
    sv_http_req *req;
    int sent;
} producer;

static void produce(sv_http_req *req, void *ctx)
{
    producer *p = ctx;
    static char piece[STREAM_PIECE];
    T.drains++;
    while (p->sent < STREAM_PIECES) {
        memset(piece, 'a' + p->sent % 26, sizeof piece);
        size_t queued = sv_http_stream_write(req, piece, sizeof piece);
        p->sent++;
        if (queued > 256 * 1024)
            return; /* resume from on_drain */
        T.max_queued_ok = 1;
    }
    sv_http_req_on_drain(req, NULL, NULL);
    sv_http_stream_end(req);
    free(p);
}

static void on_close(sv_http_req *req, void *ctx)
{
    if (ctx) {
        T.infinite_sent = sv_http_req_bytes_sent(req);
        free(ctx);
    }
    atomic_fetch_add(&T.closes, 1);
}

static void produce_forever(sv_http_req *req, void *ctx)
{
    static char piece[STREAM_PIECE];
    memset(piece, 'i', sizeof piece);
    while (sv_http_stream_write(req, piece, sizeof piece) < 256 * 1024)
        ;
}

static void async_cb(evutil_socket_t fd, short what, void *arg)
{
    sv_http_respond(arg, 200, "text/plain", "later", 5);
}

static void handler(sv_http_req *req, void *ctx)
{
    const char *path = sv_http_path(req);
    char buf[256];
    sv_http_req_on_done(req, on_done, NULL);
    if (!strcmp(path, "/hello")) {
        const char *name = sv_http_query_param(req, "name");
        int n = snprintf(buf, sizeof buf, "hello %s from %s", name ? name : "world",
                         sv_http_client_ip(req));
        sv_http_add_header(req, "X-Req-Id", "1");
        sv_http_add_header(req, "Bad\r\nHeader", "x"); /* dropped */
        sv_http_respond(req, 200, "text/plain", buf, (size_t)n);
    } else if (!strcmp(path, "/file")) {
        FILE *f = fopen(T.tmpfile, "rb");
        sv_http_respond_file(req, "video/mp2t", dup(fileno(f)), 0, -1);
        fclose(f);
    } else if (!strcmp(path, "/async")) {
        struct timeval tv = {0, 50000};
        event_base_once(T.base, -1, EV_TIMEOUT, async_cb, req, &tv);
    } else if (!strcmp(path, "/stream")) {
        producer *p = calloc(1, sizeof *p);
        sv_http_stream_begin(req, 200, "application/octet-stream", -1);
        sv_http_req_on_drain(req, produce, p);
    } else if (!strcmp(path, "/hang")) {
        sv_http_req_on_close(req, on_close, NULL);
        atomic_fetch_add(&T.hangs, 1);
    } else if (!strcmp(path, "/infinite")) {
        sv_http_stream_begin(req, 200, "application/octet-stream", -1);
        sv_http_req_on_close(req, on_close, malloc(1));
        sv_http_req_on_drain(req, produce_forever, NULL);
    } else if (!strcmp(path, "/echo")) {
        size_t len;
        const uint8_t *b = sv_http_body(req, &len);
        sv_http_respond(req, 200, "text/plain", b, len);
    } else {
        sv_http_error(req, 404, "not_found", "no such route");
    }
}

static void check_done(evutil_socket_t fd, short what, void *arg)
{
    static int ticks;
    if (atomic_load(&T.done) || ++ticks > 3000)
        event_base_loopbreak(T.base);
}

static void run_server(void)
{
    snprintf(T.tmpfile, sizeof T.tmpfile, "/tmp/sv_http_test_XXXXXX");
    int fd = mkstemp(T.tmpfile);
    assert_true(fd >= 0);
    for (int i = 0; i < FILE_SIZE; i++) {
        char ch = (char)('0' + i % 10);
        assert_int_equal(write(fd, &ch, 1), 1);
    }
    close(fd);
    T.base = event_base_new();
    sv_http_config cfg = {.bind_addr = "127.0.0.1", .port = 0, .max_connections = 4};
    sv_http_server *srv = sv_http_server_new(T.base, &cfg, handler, NULL);
    assert_non_null(srv);
    T.port = sv_http_server_port(srv);
    assert_true(T.port > 0);
    struct event *tick = event_new(T.base, -1, EV_PERSIST, check_done, NULL);
    struct timeval tv = {0, 10000};
    event_add(tick, &tv);
    pthread_t th;
    pthread_create(&th, NULL, client_main, NULL);
    event_base_dispatch(T.base);
    pthread_join(th, NULL);
    assert_true(atomic_load(&T.done));
    event_free(tick);
    T.closes_in_loop = atomic_load(&T.closes);
    sv_http_server_free(srv);
    close(T.pending_fd);
    event_base_free(T.base);
    unlink(T.tmpfile);
}

static int setup(void **state)
{
    run_server();
    return 0;
}

static int teardown(void **state)
{
    for (int i = 0; i < R_COUNT; i++)
        free(T.r[i].body);
    return 0;
}

static void test_keep_alive_and_pipelining(void **state)
{
    assert_int_equal(T.r[R_KA1].status, 200);
    assert_string_equal(T.r[R_KA1].body, "hello world from 127.0.0.1");
    assert_string_equal(hdr(&T.r[R_KA1], "Server"), "StreamVault");
    assert_non_null(strstr(hdr(&T.r[R_KA1], "Date"), " GMT"));
    assert_string_equal(hdr(&T.r[R_KA1], "X-Req-Id"), "1");
    assert_null(hdr(&T.r[R_KA1], "Bad"));
    assert_null(hdr(&T.r[R_KA1], "Connection"));
    assert_int_equal(T.r[R_KA2].status, 200);
    assert_string_equal(T.r[R_KA2].body, "hello second one from 127.0.0.1");
    /* the async first response came before the pipelined second one */
    assert_int_equal(T.r[R_PIPE1].status, 200);
    assert_string_equal(T.r[R_PIPE1].body, "later");
    assert_int_equal(T.r[R_PIPE2].status, 200);
    assert_string_equal(T.r[R_PIPE2].body, "hello p2 from 127.0.0.1");
    assert_string_equal(hdr(&T.r[R_PIPE2], "Connection"), "close");
    assert_true(T.r[R_PIPE2].closed);
}

static void test_ranges(void **state)
{
    resp *x = &T.r[R_RANGE];
    assert_int_equal(x->status, 206);
    assert_string_equal(hdr(x, "Content-Range"), "bytes 10-19/1000");
    assert_string_equal(hdr(x, "Content-Length"), "10");
    assert_string_equal(hdr(x, "Accept-Ranges"), "bytes");
    assert_string_equal(hdr(x, "Content-Type"), "video/mp2t");
    assert_memory_equal(x->body, "0123456789", 10);
    x = &T.r[R_SUFFIX];
    assert_int_equal(x->status, 206);
    assert_string_equal(hdr(x, "Content-Range"), "bytes 995-999/1000");
    assert_memory_equal(x->body, "56789", 5);
    x = &T.r[R_OPEN];
    assert_int_equal(x->status, 206);
    assert_string_equal(hdr(x, "Content-Range"), "bytes 990-999/1000");
    assert_int_equal(x->body_len, 10);
    x = &T.r[R_416];
    assert_int_equal(x->status, 416);
    assert_string_equal(hdr(x, "Content-Range"), "bytes */1000");
    assert_string_equal(hdr(x, "Content-Type"), "application/json");
    assert_non_null(strstr(x->body, "\"code\":\"range_not_satisfiable\""));
    x = &T.r[R_MULTI];
    assert_int_equal(x->status, 200);
    assert_int_equal(x->body_len, FILE_SIZE);
    for (size_t i = 0; i < FILE_SIZE; i++)
        assert_int_equal(x->body[i], '0' + i % 10);
}

static void test_head(void **state)
{
    resp *x = &T.r[R_HEAD];
    assert_int_equal(x->status, 200);
    assert_string_equal(hdr(x, "Content-Length"), "1000");
    assert_true(x->closed); /* and no body bytes came before the close */
}

static void test_malformed(void **state)
{
    resp *x = &T.r[R_BAD];
    assert_int_equal(x->status, 400);
    assert_string_equal(hdr(x, "Content-Type"), "application/json");
    assert_string_equal(hdr(x, "Connection"), "close");
    assert_non_null(strstr(x->body, "{\"error\":{\"code\":\"bad_request\",\"message\":\""));
    assert_true(x->closed);
    x = &T.r[R_NOHOST];
    assert_int_equal(x->status, 400);
    assert_non_null(strstr(x->body, "Host"));
    assert_true(x->closed);
}

static void test_async_http10(void **state)
{
    resp *x = &T.r[R_ASYNC];
    assert_int_equal(x->status, 200);
    assert_string_equal(x->body, "later");
    assert_string_equal(hdr(x, "Connection"), "close");
    assert_true(x->closed);
}

static void test_stream(void **state)
{
    resp *x = &T.r[R_STREAM];
    assert_int_equal(x->status, 200);
    assert_string_equal(hdr(x, "Transfer-Encoding"), "chunked");
    assert_null(hdr(x, "Content-Length"));
    assert_int_equal(x->body_len, STREAM_PIECE * STREAM_PIECES);
    for (size_t i = 0; i < STREAM_PIECES; i++)
        assert_int_equal(x->body[i * STREAM_PIECE + 77], 'a' + i % 26);
    assert_true(T.drains > 1); /* back-pressure paused and resumed the producer */
    assert_int_equal(T.ndone_stream, 1);
    assert_int_equal(T.stream_done_bytes, STREAM_PIECE * STREAM_PIECES);
}

static void test_post_continue(void **state)
{
    assert_int_equal(T.r[R_POST].status, 200);
    assert_string_equal(T.r[R_POST].body, "hello world");
}

static void test_body_limits(void **state)
{
    assert_int_equal(T.r[R_BIGPOST].status, 200);
    assert_int_equal(T.r[R_BIGPOST].body_len, 1024 * 1024);
    assert_int_equal(T.r[R_BIGPOST].body[1024 * 1024 - 1], 'b');
    assert_int_equal(T.r[R_413].status, 413);
    assert_non_null(strstr(T.r[R_413].body, "payload_too_large"));
    assert_true(T.r[R_413].closed);
}

static void test_on_close(void **state)
{
    assert_int_equal(T.closes_in_loop, 2);        /* hung request + aborted stream */
    assert_true(T.infinite_sent >= 300000);       /* what the client read went out */
    assert_int_equal(atomic_load(&T.closes), 3);  /* + the one pending at shutdown */
}

static void test_max_connections(void **state)
{
    resp *x = &T.r[R_BUSY2];
    assert_int_equal(x->status, 503);
    assert_non_null(strstr(x->body, "service_unavailable"));
    assert_true(x->closed);
}

static void test_status_text(void **state)
{
    assert_string_equal(sv_http_status_text(206), "Partial Content");
    assert_string_equal(sv_http_status_text(416), "Range Not Satisfiable");
    assert_string_equal(sv_http_status_text(431), "Request Header Fields Too Large");
    assert_string_equal(sv_http_status_text(799), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_alive_and_pipelining),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_async_http10),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_post_continue),
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_on_close),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_status_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
