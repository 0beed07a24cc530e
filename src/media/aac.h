/* AAC parameter parsing (ISO/IEC 14496-3): AudioSpecificConfig and ADTS headers. No I/O.
 *
 * ASC: audio object type (escape 31 -> 32 + 6 bits), sampling frequency index (index 15 ->
 * explicit 24-bit rate), channel configuration. ADTS: the 7-byte fixed+variable header
 * (9 bytes when a CRC is present; the CRC is skipped, not checked).
 * Not here: SBR/PS explicit signalling after the channel configuration, program config
 * elements (channel configuration 0), GASpecificConfig details. */
#ifndef SV_MEDIA_AAC_H
#define SV_MEDIA_AAC_H

#include <stddef.h>
#include <stdint.h>

#include "media/frame.h"

#define SV_AAC_ADTS_HEADER 7
#define SV_AAC_ASC_MAX 6 /* longest ASC sv_aac_asc_build writes */

typedef struct sv_aac_asc {
    int object_type;    /* 2 = AAC LC */
    int freq_index;     /* 0..12, or 15 when sample_rate is explicit */
    int sample_rate;    /* Hz */
    int channel_config; /* 0..7 (0: defined in a PCE, unsupported) */
} sv_aac_asc;

typedef struct sv_aac_adts {
    sv_aac_asc asc;     /* object_type = profile + 1 */
    int header_len;     /* 7, or 9 with CRC */
    int frame_len;      /* whole frame including the header */
    int nb_blocks;      /* raw data blocks in the frame (1..4) */
} sv_aac_adts;

/* Sampling rate of a frequency index, 0 if reserved. */
int sv_aac_rate_of_index(int idx);
/* Index of a sampling rate, 15 if it has none. */
int sv_aac_index_of_rate(int rate);
/* Channel count of a channel configuration (7 -> 8), 0 if unknown. */
int sv_aac_channels(int channel_config);

/* Parses an AudioSpecificConfig. Returns 0 or SV_EINVAL. */
int sv_aac_asc_parse(const uint8_t *buf, size_t len, sv_aac_asc *out);
/* Writes an ASC into out[0..cap). Uses freq_index when 0..12, else the explicit rate.
 * Returns bytes written or SV_EINVAL. */
int sv_aac_asc_build(const sv_aac_asc *a, uint8_t *out, size_t cap);
/* Parses an ADTS header at buf. Returns header bytes (7 or 9), SV_ENEEDMORE when fewer
 * than 7 (or 9) bytes are available, SV_EINVAL on a bad header. */
int sv_aac_adts_parse(const uint8_t *buf, size_t len, sv_aac_adts *out);
/* Writes a 7-byte ADTS header (no CRC, one raw block) for payload_len bytes of raw AAC.
 * Needs object_type 1..4, freq_index 0..12, channel_config 0..7. 0 or SV_EINVAL. */
int sv_aac_adts_build(const sv_aac_asc *a, size_t payload_len, uint8_t out[7]);
/* Fills out (zeroed first) from an ASC: codec, type, config copy (owned by out),
 * sample_rate, channels, aac_object_type. 0 or SV_E*. */
int sv_aac_track_from_asc(const uint8_t *buf, size_t len, sv_track *out);

#endif
