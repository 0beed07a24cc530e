/* H.265/HEVC parameter parsing (ITU-T H.265, ISO/IEC 14496-15 8.3.3): no I/O.
 *
 * hvcC parse into borrowed VPS/SPS/PPS pointers and build from raw parameter sets; SPS
 * parse for the picture size (conformance window applied) and the general profile/level
 * from profile_tier_level. Reuses the NAL iterators and bit reader of h264.h.
 * Not here: VUI (frame rate stays 0/0), SEI, slices, multi-layer extensions. */
#ifndef SV_MEDIA_H265_H
#define SV_MEDIA_H265_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "media/frame.h"
#include "media/h264.h"

#define SV_H265_MAX_PS 16

enum {
    SV_H265_NAL_IRAP_FIRST = 16, /* BLA_W_LP .. CRA_NUT = 16..21 */
    SV_H265_NAL_IRAP_LAST = 21,
    SV_H265_NAL_VPS = 32,
    SV_H265_NAL_SPS = 33,
    SV_H265_NAL_PPS = 34,
    SV_H265_NAL_AUD = 35,
};

/* NAL unit type from the first header byte. */
static inline int sv_h265_nal_type(uint8_t b0) { return (b0 >> 1) & 0x3f; }

typedef struct sv_h265_hvcc {
    int profile_idc, tier, level_idc;
    int nal_length_size;
    int nb_vps, nb_sps, nb_pps;
    sv_nal vps[SV_H265_MAX_PS], sps[SV_H265_MAX_PS], pps[SV_H265_MAX_PS]; /* borrowed */
} sv_h265_hvcc;

typedef struct sv_h265_sps {
    int profile_space, tier, profile_idc, level_idc;
    uint8_t ptl[12]; /* general profile_tier_level bytes, as hvcC stores them */
    int chroma_format_idc, bit_depth_luma_minus8, bit_depth_chroma_minus8;
    int width, height; /* conformance window applied */
} sv_h265_sps;

/* Parses an hvcC record; out borrows from buf. Returns 0 or SV_EINVAL. */
int sv_h265_hvcc_parse(const uint8_t *buf, size_t len, sv_h265_hvcc *out);
/* Appends an hvcC (lengthSizeMinusOne 3) built from VPS/SPS/PPS NAL units to out; the
 * general profile fields come from the first SPS. Returns 0, SV_EINVAL or SV_ENOMEM. */
int sv_h265_hvcc_build(const sv_nal *vps, int nb_vps, const sv_nal *sps, int nb_sps,
                       const sv_nal *pps, int nb_pps, sv_bytes *out);
/* Parses an SPS NAL unit (2-byte header included, still escaped). 0 or SV_E*. */
int sv_h265_sps_parse(const uint8_t *nal, size_t len, sv_h265_sps *out);
/* Like sv_h264_track_from_avcc for hvcC (codec SV_CODEC_H265). */
int sv_h265_track_from_hvcc(const uint8_t *buf, size_t len, sv_track *out);

#endif
