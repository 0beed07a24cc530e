/* libFuzzer target: AMF0 decoding of arbitrary bytes. Whatever decodes must re-encode,
 * and the re-encoding must decode to a value that encodes to the same bytes again
 * (decode/encode is a fixed point after one round). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rtmp/amf0.h"

#define MAXV 8

static size_t encode_all(const sv_amf_value *v, int n, sv_bytes *b)
{
    for (int i = 0; i < n; i++)
        if (sv_amf_encode(b, &v[i]) != 0)
            abort();
    return b->len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sv_amf_value v[MAXV], w[MAXV];
    int n = sv_amf_decode_all(data, size, v, MAXV);
    if (n <= 0)
        return 0;
    sv_bytes b1, b2;
    sv_bytes_init(&b1);
    sv_bytes_init(&b2);
    encode_all(v, n, &b1);
    int n2 = sv_amf_decode_all(b1.p, b1.len, w, MAXV);
    if (n2 != n)
        abort();
    encode_all(w, n2, &b2);
    if (b1.len != b2.len || memcmp(b1.p, b2.p, b1.len) != 0)
        abort();
    sv_amf_free_all(v, n);
    sv_amf_free_all(w, n2);
    sv_bytes_free(&b1);
    sv_bytes_free(&b2);
    return 0;
}
