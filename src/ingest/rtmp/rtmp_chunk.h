/* RTMP chunk stream: reassembling messages from chunks (reader) and cutting messages
 * into chunks (writer).
 *
 * The reader is a pure parser over (buf, len) with explicit state: one call consumes at
 * most one chunk header (which must be complete in buf, else SV_ENEEDMORE and nothing is
 * consumed) or any part of the current chunk's payload, and reports a message once its
 * last byte is in. It implements the four header formats (fmt 0-3), extended timestamps
 * (including on fmt 3 chunks when the csid's previous header carried one), per-csid state
 * for at most SV_RTMP_MAX_CSIDS chunk streams, and applies the protocol control messages
 * that change parsing: Set Chunk Size (1..SV_RTMP_MAX_CHUNK_SIZE) and Abort. It tracks
 * the bytes consumed against the peer's Window Acknowledgement Size so the caller knows
 * when an Acknowledgement is due. Message lengths are capped by `max_msg` (the caller
 * raises it once a publish is accepted) and the bytes buffered for incomplete messages by
 * SV_RTMP_MAX_BUFFERED, so a connection's memory is bounded.
 *
 * The writer appends a message as chunks (fmt 0 then fmt 3 continuations) to a sv_bytes.
 *
 * Neither does I/O, the handshake, or interprets anything but types 1, 2 and 5. */
#ifndef SV_INGEST_RTMP_CHUNK_H
#define SV_INGEST_RTMP_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define SV_RTMP_DEFAULT_CHUNK_SIZE 128
#define SV_RTMP_MAX_CHUNK_SIZE (16u << 20)
#define SV_RTMP_MAX_CSIDS 64            /* chunk streams tracked per connection */
#define SV_RTMP_MAX_MSG (8u << 20)      /* message length cap once publishing */
#define SV_RTMP_MAX_MSG_PRE (64u << 10) /* message length cap before publish/play */
#define SV_RTMP_MAX_BUFFERED (24u << 20) /* payload buffers over all csids */

/* Message types */
enum {
    SV_RTMP_MSG_SET_CHUNK_SIZE = 1,
    SV_RTMP_MSG_ABORT = 2,
    SV_RTMP_MSG_ACK = 3,
    SV_RTMP_MSG_USER_CONTROL = 4,
    SV_RTMP_MSG_WINDOW_ACK_SIZE = 5,
    SV_RTMP_MSG_SET_PEER_BW = 6,
    SV_RTMP_MSG_AUDIO = 8,
    SV_RTMP_MSG_VIDEO = 9,
    SV_RTMP_MSG_DATA_AMF3 = 15,
    SV_RTMP_MSG_COMMAND_AMF3 = 17,
    SV_RTMP_MSG_DATA_AMF0 = 18,
    SV_RTMP_MSG_COMMAND_AMF0 = 20,
    SV_RTMP_MSG_AGGREGATE = 22,
};

/* User control event types */
enum {
    SV_RTMP_UC_STREAM_BEGIN = 0,
    SV_RTMP_UC_STREAM_EOF = 1,
    SV_RTMP_UC_SET_BUFFER_LENGTH = 3,
    SV_RTMP_UC_PING_REQUEST = 6,
    SV_RTMP_UC_PING_RESPONSE = 7,
};

typedef enum {
    SV_RTMP_RD_HEADER = 0, /* expecting a chunk header */
    SV_RTMP_RD_PAYLOAD,    /* inside the payload of chunk `cur` */
} sv_rtmp_rd_state;

/* Per chunk stream state (the "previous header" the compressed formats refer to). */
typedef struct sv_rtmp_csid {
    uint32_t csid;
    uint32_t timestamp;  /* absolute timestamp of the current/last message */
    uint32_t delta;      /* last timestamp field (delta for fmt 1/2; fmt 0: the value) */
    uint32_t length;     /* message length */
    uint8_t type;
    uint32_t stream_id;
    bool ext;            /* last header had an extended timestamp */
    bool seen;           /* a fmt 0 header was received on this csid */
    uint8_t *buf;        /* payload being assembled, owned, capacity `cap` */
    size_t cap;
    size_t got;          /* payload bytes received so far (0: between messages) */
} sv_rtmp_csid;

/* A complete message. data borrows the reader's buffer until the next call. */
typedef struct sv_rtmp_msg {
    uint32_t csid;
    uint8_t type;
    uint32_t stream_id;
    uint32_t timestamp; /* 32-bit, wraps; unwrap per connection */
    const uint8_t *data;
    size_t len;
} sv_rtmp_msg;

typedef struct sv_rtmp_reader {
    sv_rtmp_rd_state state;
    uint32_t chunk_size;  /* incoming chunk size */
    uint32_t max_msg;     /* current message length cap */
    sv_rtmp_csid *cs;     /* owned array of SV_RTMP_MAX_CSIDS */
    size_t ncs;
    size_t cur;           /* index of the csid whose chunk payload is being read */
    size_t chunk_left;    /* payload bytes left in the current chunk */
    size_t buffered;      /* sum of cs[].cap */
    uint64_t bytes_in;    /* bytes consumed in total (for acknowledgements) */
    uint32_t ack_window;  /* peer's Window Acknowledgement Size, 0: none */
    uint64_t last_ack;    /* bytes_in when the last ack was due */
} sv_rtmp_reader;

/* Initialises r (chunk size 128, max_msg SV_RTMP_MAX_MSG_PRE). Returns 0 or SV_ENOMEM. */
int sv_rtmp_reader_init(sv_rtmp_reader *r);
void sv_rtmp_reader_free(sv_rtmp_reader *r); /* NULL-safe, idempotent */

/* Consumes from buf. Returns the bytes consumed (> 0), SV_ENEEDMORE (nothing consumed:
 * buf is empty or holds an incomplete header), or an error: SV_EINVAL (fmt 1-3 on an
 * unknown csid, bad control message, bad chunk size), SV_ETOOBIG (message over max_msg,
 * too many chunk streams, buffer cap), SV_ENOMEM. After an error the reader is unusable.
 * When the consumed bytes complete a message, *have is set true and *msg filled (its
 * data valid until the next call); otherwise *have is false. Set Chunk Size and Abort
 * messages are applied before being reported. */
int sv_rtmp_reader_parse(sv_rtmp_reader *r, const uint8_t *buf, size_t len,
                         sv_rtmp_msg *msg, bool *have);

/* True if an Acknowledgement is due (bytes consumed crossed the window since the last
 * one); *seq receives the sequence number to send (bytes received, mod 2^32). */
bool sv_rtmp_reader_ack_due(sv_rtmp_reader *r, uint32_t *seq);

/* Counts bytes consumed outside the chunk parser (the handshake) for acknowledgements. */
void sv_rtmp_reader_count(sv_rtmp_reader *r, size_t n);

/* Appends message (csid 2..65599) as chunks of chunk_size bytes to out. */
void sv_rtmp_chunk_write(sv_bytes *out, uint32_t chunk_size, uint32_t csid, uint8_t type,
                         uint32_t stream_id, uint32_t timestamp, const uint8_t *p,
                         size_t len);
/* Same with the payload given as two pieces (a tag header and a frame payload). */
void sv_rtmp_chunk_write2(sv_bytes *out, uint32_t chunk_size, uint32_t csid, uint8_t type,
                          uint32_t stream_id, uint32_t timestamp, const uint8_t *p1,
                          size_t len1, const uint8_t *p2, size_t len2);

#endif
