/* libFuzzer target: the RTSP message parser and the interleaved frame parser over
 * arbitrary bytes, consumed the way the client does (a '$' frame or a message at the head
 * of the buffer), plus URL parsing/masking and WWW-Authenticate challenges of the header
 * values found. Invariants: consumed counts stay within the input, borrowed strings point
 * into it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "ingest/rtsp/rtsp_proto.h"

static void check_str(sv_rtsp_str s, const uint8_t *data, size_t size)
{
    if (s.p && ((const uint8_t *)s.p < data || (const uint8_t *)s.p + s.len > data + size))
        abort();
}

static void use_message(const sv_rtsp_msg *m, const uint8_t *data, size_t size)
{
    char v[SV_RTSP_URL_MAX], out[SV_RTSP_URL_MAX];
    for (int i = 0; i < m->nheaders; i++) {
        check_str(m->headers[i].name, data, size);
        check_str(m->headers[i].value, data, size);
        sv_rtsp_auth a = {0};
        sv_rtsp_auth_challenge(&a, m->headers[i].value.p, m->headers[i].value.len);
        if (a.kind != SV_RTSP_AUTH_NONE)
            sv_rtsp_auth_header(&a, "u", "p", "DESCRIBE", "rtsp://h/x", "c", out, sizeof out);
    }
    sv_rtsp_str_copy(sv_rtsp_header_get(m, "Location"), v, sizeof v);
    sv_rtsp_url u;
    if (sv_rtsp_url_parse(v, &u) == 0)
        sv_rtsp_url_plain(&u, out, sizeof out);
    sv_rtsp_url_mask(v, out, sizeof out);
    sv_rtsp_url_join("rtsp://cam:554/a/", v, out, sizeof out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        int n;
        if (data[off] == '$') {
            int ch;
            const uint8_t *p;
            size_t pl;
            n = sv_rtsp_interleaved(data + off, size - off, &ch, &p, &pl);
            if (n > 0 && (p != data + off + 4 || 4 + pl != (size_t)n))
                abort();
        } else {
            sv_rtsp_msg m;
            n = sv_rtsp_parse(data + off, size - off, &m);
            if (n > 0)
                use_message(&m, data + off, (size_t)n);
        }
        if (n <= 0)
            break;
        if ((size_t)n > size - off)
            abort();
        off += (size_t)n;
    }
    return 0;
}
