/* H.264 parameter parsing (ITU-T H.264, ISO/IEC 14496-15): no I/O, no decoding.
 *
 * - avcC (AVCDecoderConfigurationRecord) parse into borrowed SPS/PPS pointers, and build
 *   from raw SPS/PPS NAL units.
 * - SPS parse: emulation-prevention bytes are removed into a bounded stack copy, then an
 *   exp-Golomb bit reader walks the syntax (high profiles with chroma_format_idc and
 *   scaling lists, frame cropping, VUI timing) for size, profile, level and frame rate.
 * - NAL iteration over Annex B (start codes) and 4-byte length prefixed payloads.
 * - A small bit reader shared with h265.c.
 * It does not parse slices, PPS contents or SEI, and ignores SPS extensions (SVC/MVC). */
#ifndef SV_MEDIA_H264_H
#define SV_MEDIA_H264_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "media/frame.h"

/* A NAL unit (header byte included, no start code / length). Borrowed from the input. */
typedef struct sv_nal {
    const uint8_t *p;
    size_t len;
} sv_nal;

#define SV_H264_MAX_PS 16    /* parameter sets kept per avcC list */
#define SV_H264_MAX_SPS 1024 /* cap on an SPS size we will unescape */

enum {
    SV_H264_NAL_SLICE = 1,
    SV_H264_NAL_IDR = 5,
    SV_H264_NAL_SEI = 6,
    SV_H264_NAL_SPS = 7,
    SV_H264_NAL_PPS = 8,
    SV_H264_NAL_AUD = 9,
};

typedef struct sv_h264_avcc {
    int profile, compat, level; /* bytes 1..3 of the record */
    int nal_length_size;        /* 1, 2 or 4 */
    int nb_sps, nb_pps;
    sv_nal sps[SV_H264_MAX_PS]; /* borrowed pointers into the parsed record */
    sv_nal pps[SV_H264_MAX_PS];
} sv_h264_avcc;

typedef struct sv_h264_sps {
    int profile_idc, constraint_flags, level_idc;
    int sps_id;
    int chroma_format_idc;
    int width, height;    /* after cropping */
    int fps_num, fps_den; /* 0/0 when VUI timing is absent */
} sv_h264_sps;

/* Parses an avcC record. out's pointers borrow from buf. Extra parameter sets beyond
 * SV_H264_MAX_PS are skipped. Returns 0 or SV_EINVAL. */
int sv_h264_avcc_parse(const uint8_t *buf, size_t len, sv_h264_avcc *out);
/* Appends an avcC record (nal_length_size 4) built from SPS/PPS NAL units to out.
 * Profile/level come from the first SPS. Returns 0, SV_EINVAL (no SPS, oversize), or
 * SV_ENOMEM. */
int sv_h264_avcc_build(const sv_nal *sps, int nb_sps, const sv_nal *pps, int nb_pps,
                       sv_bytes *out);
/* Parses an SPS NAL unit (header byte included, emulation prevention still in).
 * Returns 0, SV_EINVAL, SV_EUNSUPPORTED (not an SPS) or SV_ETOOBIG. */
int sv_h264_sps_parse(const uint8_t *nal, size_t len, sv_h264_sps *out);
/* Fills out (zeroed first) from an avcC: codec, type, config (new sv_buf copy, owned by
 * out), width/height/profile/level/fps from the first SPS. Returns 0 or SV_E*. */
int sv_h264_track_from_avcc(const uint8_t *buf, size_t len, sv_track *out);

/* Annex B iteration: finds the next NAL unit at or after *pos (start codes of 3 or 4
 * bytes; trailing zero bytes trimmed). Returns 1 with *nal set and *pos advanced, or 0
 * when there is none left. nal borrows from buf. */
int sv_h264_annexb_next(const uint8_t *buf, size_t len, size_t *pos, sv_nal *nal);
/* 4-byte big-endian length prefixed iteration. Returns 1 (nal set), 0 at the end, or
 * SV_EINVAL when a length runs past the end. */
int sv_h264_len4_next(const uint8_t *buf, size_t len, size_t *pos, sv_nal *nal);

/* Removes emulation-prevention bytes (00 00 03 -> 00 00). dst must hold len bytes.
 * Returns the unescaped length. */
size_t sv_h264_unescape(const uint8_t *src, size_t len, uint8_t *dst);

/* MSB-first bit reader over an RBSP. Reading past the end yields zeros and sets err. */
typedef struct sv_h264_br {
    const uint8_t *p;
    size_t len, pos; /* pos in bits */
    int err;
} sv_h264_br;

void sv_h264_br_init(sv_h264_br *br, const uint8_t *p, size_t len);
uint32_t sv_h264_br_u(sv_h264_br *br, int n); /* n <= 32 */
void sv_h264_br_skip(sv_h264_br *br, size_t n);
uint32_t sv_h264_br_ue(sv_h264_br *br);       /* values above 2^31-2 set err */
int32_t sv_h264_br_se(sv_h264_br *br);

#endif
