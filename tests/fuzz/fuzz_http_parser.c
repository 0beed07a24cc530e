/* libFuzzer target for the HTTP request parser. Each input is parsed twice: whole, and
 * fed incrementally in growing prefixes whose step comes from the first byte. Both runs
 * must agree (same consumed length or same error status), and every field of a parsed
 * request must be readable. Pipelined requests in one input are parsed in turn. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "http/http_parser.h"

static void touch(const sv_http_request *r)
{
    volatile size_t sink = strlen(r->method) + strlen(r->target) + strlen(r->path) +
                           strlen(r->query);
    for (size_t i = 0; i < r->nheaders; i++)
        sink += strlen(r->headers[i].name) + strlen(r->headers[i].value);
    for (size_t i = 0; i < r->nparams; i++)
        sink += strlen(r->params[i].name) + strlen(r->params[i].value);
    if (r->body_len)
        sink += r->body[r->body_len - 1];
    (void)sink;
}

static int parse_incremental(const uint8_t *data, size_t size, size_t step, int *status)
{
    sv_http_parser p;
    sv_http_request r;
    sv_http_parser_init(&p);
    for (size_t n = step < size ? step : size;; n = n + step < size ? n + step : size) {
        int rc = sv_http_parse(&p, data, n, &r);
        if (rc > 0) {
            if ((size_t)rc > n)
                abort();
            touch(&r);
            sv_http_request_free(&r);
        }
        if (rc != SV_ENEEDMORE || n == size) {
            *status = rc < 0 && rc != SV_ENEEDMORE ? p.status : 0;
            return rc;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t step = size ? (size_t)data[0] % 17 + 1 : 1;
    size_t off = 0;
    for (int i = 0; i < 8 && off < size; i++) {
        int st_whole = 0, st_inc = 0;
        int whole = parse_incremental(data + off, size - off, size - off, &st_whole);
        int inc = parse_incremental(data + off, size - off, step, &st_inc);
        if (whole != inc || st_whole != st_inc)
            abort();
        if (whole <= 0)
            break;
        off += (size_t)whole;
    }
    char out[64];
    size_t n = size < sizeof out - 1 ? size : sizeof out - 1;
    (void)sv_http_pct_decode((const char *)data, n, 1, out);
    return 0;
}
