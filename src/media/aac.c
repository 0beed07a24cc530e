/* AAC AudioSpecificConfig and ADTS header parse/build. See aac.h.
 *
 * Fields are read with a tiny local MSB-first reader; every read is bounds checked and
 * a short buffer is an error (ASC) or SV_ENEEDMORE (ADTS). */
#include "media/aac.h"

#include <string.h>

#include "core/error.h"

static const int rates[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                              22050, 16000, 12000, 11025, 8000,  7350};

int sv_aac_rate_of_index(int idx) { return idx >= 0 && idx < 13 ? rates[idx] : 0; }

int sv_aac_index_of_rate(int rate)
{
    for (int i = 0; i < 13; i++)
        if (rates[i] == rate)
            return i;
    return 15;
}

int sv_aac_channels(int cc) { return cc >= 1 && cc <= 6 ? cc : cc == 7 ? 8 : 0; }

typedef struct {
    const uint8_t *p;
    size_t len, pos;
    int err;
} bits;

static uint32_t get(bits *b, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++, b->pos++) {
        if (b->pos >> 3 >= b->len) {
            b->err = 1;
            return 0;
        }
        v = v << 1 | ((b->p[b->pos >> 3] >> (7 - (b->pos & 7))) & 1);
    }
    return v;
}

int sv_aac_asc_parse(const uint8_t *buf, size_t len, sv_aac_asc *out)
{
    bits b = {buf, len, 0, 0};
    memset(out, 0, sizeof *out);
    out->object_type = (int)get(&b, 5);
    if (out->object_type == 31)
        out->object_type = 32 + (int)get(&b, 6);
    out->freq_index = (int)get(&b, 4);
    if (out->freq_index == 15)
        out->sample_rate = (int)get(&b, 24);
    else
        out->sample_rate = sv_aac_rate_of_index(out->freq_index);
    out->channel_config = (int)get(&b, 4);
    if (b.err || out->object_type == 0 || out->sample_rate <= 0)
        return SV_EINVAL;
    return 0;
}

/* Appends n bits of v at bit position *pos of out (zeroed by the caller). */
static void put(uint8_t *out, size_t *pos, uint32_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, (*pos)++)
        if ((v >> i) & 1)
            out[*pos >> 3] |= (uint8_t)(0x80 >> (*pos & 7));
}

int sv_aac_asc_build(const sv_aac_asc *a, uint8_t *out, size_t cap)
{
    uint8_t tmp[SV_AAC_ASC_MAX] = {0};
    size_t pos = 0;
    if (a->object_type < 1 || a->object_type > 95 || a->channel_config < 0 ||
        a->channel_config > 15)
        return SV_EINVAL;
    if (a->object_type >= 31) {
        put(tmp, &pos, 31, 5);
        put(tmp, &pos, (uint32_t)(a->object_type - 32), 6);
    } else {
        put(tmp, &pos, (uint32_t)a->object_type, 5);
    }
    int idx = a->freq_index >= 0 && a->freq_index < 13 ? a->freq_index
                                                       : sv_aac_index_of_rate(a->sample_rate);
    put(tmp, &pos, (uint32_t)idx, 4);
    if (idx == 15) {
        if (a->sample_rate <= 0 || a->sample_rate > 0xffffff)
            return SV_EINVAL;
        put(tmp, &pos, (uint32_t)a->sample_rate, 24);
    }
    put(tmp, &pos, (uint32_t)a->channel_config, 4);
    pos += 3; /* GASpecificConfig: frameLength, dependsOnCoreCoder, extension = 0 */
    size_t n = (pos + 7) / 8;
    if (n > cap)
        return SV_EINVAL;
    memcpy(out, tmp, n);
    return (int)n;
}

int sv_aac_adts_parse(const uint8_t *buf, size_t len, sv_aac_adts *out)
{
    memset(out, 0, sizeof *out);
    if (len < 2)
        return SV_ENEEDMORE;
    if (buf[0] != 0xff || (buf[1] & 0xf6) != 0xf0) /* syncword, layer 0 */
        return SV_EINVAL;
    int hl = (buf[1] & 1) ? 7 : 9;
    if (len < (size_t)hl)
        return SV_ENEEDMORE;
    out->header_len = hl;
    out->asc.object_type = (buf[2] >> 6) + 1;
    out->asc.freq_index = (buf[2] >> 2) & 0xf;
    out->asc.sample_rate = sv_aac_rate_of_index(out->asc.freq_index);
    out->asc.channel_config = (buf[2] & 1) << 2 | buf[3] >> 6;
    out->frame_len = (buf[3] & 3) << 11 | buf[4] << 3 | buf[5] >> 5;
    out->nb_blocks = (buf[6] & 3) + 1;
    if (out->asc.sample_rate == 0 || out->frame_len < hl)
        return SV_EINVAL;
    return hl;
}

int sv_aac_adts_build(const sv_aac_asc *a, size_t payload_len, uint8_t out[7])
{
    size_t fl = payload_len + SV_AAC_ADTS_HEADER;
    if (a->object_type < 1 || a->object_type > 4 || a->freq_index < 0 || a->freq_index > 12 ||
        a->channel_config < 0 || a->channel_config > 7 || fl > 0x1fff)
        return SV_EINVAL;
    out[0] = 0xff;
    out[1] = 0xf1; /* MPEG-4, layer 0, no CRC */
    out[2] = (uint8_t)((a->object_type - 1) << 6 | a->freq_index << 2 | a->channel_config >> 2);
    out[3] = (uint8_t)((a->channel_config & 3) << 6 | fl >> 11);
    out[4] = (uint8_t)(fl >> 3);
    out[5] = (uint8_t)((fl & 7) << 5 | 0x1f); /* buffer fullness 0x7ff (VBR) */
    out[6] = 0xfc;
    return 0;
}

int sv_aac_track_from_asc(const uint8_t *buf, size_t len, sv_track *out)
{
    sv_aac_asc a;
    memset(out, 0, sizeof *out);
    int rc = sv_aac_asc_parse(buf, len, &a);
    if (rc < 0)
        return rc;
    out->config = sv_buf_from(buf, len);
    if (!out->config)
        return SV_ENOMEM;
    out->codec = SV_CODEC_AAC;
    out->type = SV_MEDIA_AUDIO;
    out->sample_rate = a.sample_rate;
    out->channels = sv_aac_channels(a.channel_config);
    out->aac_object_type = a.object_type;
    return 0;
}
