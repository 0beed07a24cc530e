/* AMF0 (Action Message Format 0) decoder and encoder for RTMP commands and metadata.
 *
 * Decoding builds a small DOM (sv_amf_value) from (buf, len): number, boolean, string,
 * long string, object, ECMA array, strict array, null, undefined and date. It is a pure
 * function: no I/O, every length is checked against the input, nesting is capped at
 * SV_AMF_MAX_DEPTH and the number of values one decode may create at SV_AMF_MAX_NODES, so
 * a message of n bytes costs O(n) memory whatever it claims. Strings are copied and
 * NUL-terminated (embedded NULs are kept; `len` is authoritative).
 *
 * Encoding appends to a sv_bytes builder (sticky failure, check once at the end), either
 * value by value with the sv_amf_put_* helpers or from a DOM with sv_amf_encode.
 *
 * Not supported: AMF3 (the avmplus switch marker decodes as SV_EUNSUPPORTED), references,
 * typed objects, XML documents, movie clips. */
#ifndef SV_INGEST_RTMP_AMF0_H
#define SV_INGEST_RTMP_AMF0_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define SV_AMF_MAX_DEPTH 16     /* objects/arrays nested deeper are rejected */
#define SV_AMF_MAX_NODES 16384  /* values created by one sv_amf_decode call */

typedef enum {
    SV_AMF_NUMBER = 0x00,
    SV_AMF_BOOLEAN = 0x01,
    SV_AMF_STRING = 0x02, /* also long strings (0x0c) once decoded */
    SV_AMF_OBJECT = 0x03,
    SV_AMF_NULL = 0x05,
    SV_AMF_UNDEFINED = 0x06,
    SV_AMF_ECMA_ARRAY = 0x08,
    SV_AMF_OBJECT_END = 0x09, /* marker only, never a decoded value */
    SV_AMF_STRICT_ARRAY = 0x0a,
    SV_AMF_DATE = 0x0b,
    SV_AMF_LONG_STRING = 0x0c, /* marker only, decoded as SV_AMF_STRING */
} sv_amf_type;

typedef struct sv_amf_prop sv_amf_prop;

typedef struct sv_amf_value {
    sv_amf_type type;
    double num;   /* NUMBER; DATE: milliseconds since the epoch */
    int16_t tz;   /* DATE: time zone field (ignored by everyone) */
    bool boolean; /* BOOLEAN */
    char *str;    /* STRING: owned, NUL-terminated */
    size_t len;   /* STRING: bytes; OBJECT/ECMA_ARRAY: props; STRICT_ARRAY: items */
    sv_amf_prop *props;         /* OBJECT, ECMA_ARRAY: owned */
    struct sv_amf_value *items; /* STRICT_ARRAY: owned */
} sv_amf_value;

struct sv_amf_prop {
    char *key; /* owned, NUL-terminated */
    size_t key_len;
    sv_amf_value val;
};

/* Decodes one value from buf. On success returns bytes consumed (> 0) and *out owns the
 * tree (free with sv_amf_free). Returns SV_ENEEDMORE if buf is a truncated value,
 * SV_EINVAL for a bad marker, SV_ETOOBIG past the depth/node caps, SV_EUNSUPPORTED for
 * AMF3/reference/typed markers, SV_ENOMEM. *out is zeroed on failure. */
int sv_amf_decode(const uint8_t *buf, size_t len, sv_amf_value *out);
/* Decodes up to max consecutive values (a command: name, transaction id, args...).
 * Stops cleanly at the end of buf. Returns the number decoded (>= 0) or SV_E*; on
 * failure every value is freed. */
int sv_amf_decode_all(const uint8_t *buf, size_t len, sv_amf_value *vals, int max);
/* Frees the tree under v and zeroes v. NULL-safe. */
void sv_amf_free(sv_amf_value *v);
void sv_amf_free_all(sv_amf_value *vals, int n);

/* Property of an OBJECT or ECMA_ARRAY by key (first match), borrowed; NULL if absent or
 * v is not an object. NULL-safe. */
const sv_amf_value *sv_amf_get(const sv_amf_value *v, const char *key);
/* Typed lookups: the string (borrowed) or number of property key, or NULL / false. */
const char *sv_amf_get_string(const sv_amf_value *v, const char *key);
bool sv_amf_get_number(const sv_amf_value *v, const char *key, double *out);

/* Encoding. Strings longer than 65535 bytes are written as long strings. */
void sv_amf_put_number(sv_bytes *b, double d);
void sv_amf_put_bool(sv_bytes *b, bool v);
void sv_amf_put_string(sv_bytes *b, const char *s); /* s NUL-terminated */
void sv_amf_put_string_len(sv_bytes *b, const char *s, size_t len);
void sv_amf_put_null(sv_bytes *b);
void sv_amf_put_undefined(sv_bytes *b);
void sv_amf_put_object_start(sv_bytes *b);
void sv_amf_put_ecma_start(sv_bytes *b, uint32_t count);
void sv_amf_put_key(sv_bytes *b, const char *key); /* property name inside an object */
void sv_amf_put_object_end(sv_bytes *b);           /* 00 00 09, for objects and ECMA */
/* key + value shorthands for building objects */
void sv_amf_put_prop_string(sv_bytes *b, const char *key, const char *s);
void sv_amf_put_prop_number(sv_bytes *b, const char *key, double d);
void sv_amf_put_prop_bool(sv_bytes *b, const char *key, bool v);
/* Encodes a DOM value (as decoded; long strings by length). Returns 0, or SV_ETOOBIG when
 * nesting passes SV_AMF_MAX_DEPTH, SV_EINVAL for a bad type, SV_ENOMEM if b failed. */
int sv_amf_encode(sv_bytes *b, const sv_amf_value *v);

#endif
