/* H.264 parameter parsing: avcC records, SPS, NAL iteration, bit reader. See h264.h.
 *
 * The SPS is unescaped into a bounded stack buffer (SV_H264_MAX_SPS) and read with an
 * exp-Golomb reader whose overruns are sticky errors checked once. VUI is read only as far
 * as timing_info; a truncated VUI keeps the size and leaves the frame rate unknown.
 * Not here: PPS/slice parsing, SVC/MVC subset SPS, HRD parameters. */
#include "media/h264.h"

#include <string.h>

#include "core/error.h"

/* ---- bit reader ---- */

void sv_h264_br_init(sv_h264_br *br, const uint8_t *p, size_t len)
{
    br->p = p;
    br->len = len;
    br->pos = 0;
    br->err = 0;
}

uint32_t sv_h264_br_u(sv_h264_br *br, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++) {
        size_t byte = br->pos >> 3;
        if (byte >= br->len) {
            br->err = 1;
            return 0;
        }
        v = v << 1 | ((br->p[byte] >> (7 - (br->pos & 7))) & 1);
        br->pos++;
    }
    return v;
}

void sv_h264_br_skip(sv_h264_br *br, size_t n)
{
    if (n > br->len * 8 - br->pos || br->pos > br->len * 8) {
        br->pos = br->len * 8;
        br->err = 1;
        return;
    }
    br->pos += n;
}

uint32_t sv_h264_br_ue(sv_h264_br *br)
{
    int zeros = 0;
    while (sv_h264_br_u(br, 1) == 0) {
        if (br->err || ++zeros > 31) {
            br->err = 1;
            return 0;
        }
    }
    if (zeros == 0)
        return 0;
    uint32_t rest = sv_h264_br_u(br, zeros);
    uint64_t v = ((uint64_t)1 << zeros) - 1 + rest;
    if (v > 0x7ffffffe) {
        br->err = 1;
        return 0;
    }
    return (uint32_t)v;
}

int32_t sv_h264_br_se(sv_h264_br *br)
{
    uint32_t k = sv_h264_br_ue(br);
    return (k & 1) ? (int32_t)((k + 1) / 2) : -(int32_t)(k / 2);
}

size_t sv_h264_unescape(const uint8_t *src, size_t len, uint8_t *dst)
{
    size_t o = 0;
    int zeros = 0;
    for (size_t i = 0; i < len; i++) {
        if (zeros >= 2 && src[i] == 3) {
            zeros = 0;
            continue;
        }
        zeros = src[i] == 0 ? zeros + 1 : 0;
        dst[o++] = src[i];
    }
    return o;
}

/* ---- NAL iteration ---- */

/* Offset of the next 00 00 01 at or after from, or len. */
static size_t find_start(const uint8_t *b, size_t len, size_t from)
{
    for (size_t i = from; i + 2 < len;) {
        const uint8_t *z = memchr(b + i, 0, len - 2 - i);
        if (!z)
            return len;
        i = (size_t)(z - b);
        if (b[i + 1] == 0 && b[i + 2] == 1)
            return i;
        i++;
    }
    return len;
}

int sv_h264_annexb_next(const uint8_t *buf, size_t len, size_t *pos, sv_nal *nal)
{
    for (;;) {
        size_t s = find_start(buf, len, *pos);
        if (s >= len) {
            *pos = len;
            return 0;
        }
        size_t begin = s + 3;
        size_t end = find_start(buf, len, begin);
        *pos = end;
        while (end > begin && buf[end - 1] == 0)
            end--;
        if (end > begin) {
            nal->p = buf + begin;
            nal->len = end - begin;
            return 1;
        }
    }
}

int sv_h264_len4_next(const uint8_t *buf, size_t len, size_t *pos, sv_nal *nal)
{
    if (*pos >= len)
        return 0;
    if (len - *pos < 4)
        return SV_EINVAL;
    size_t n = sv_rb32(buf + *pos);
    if (n > len - *pos - 4)
        return SV_EINVAL;
    nal->p = buf + *pos + 4;
    nal->len = n;
    *pos += 4 + n;
    return 1;
}

/* ---- avcC ---- */

/* Reads one avcC parameter-set list at *off. */
static int read_ps_list(const uint8_t *b, size_t len, size_t *off, int count, sv_nal *out,
                        int *nb)
{
    *nb = 0;
    for (int i = 0; i < count; i++) {
        if (len - *off < 2)
            return SV_EINVAL;
        size_t n = sv_rb16(b + *off);
        *off += 2;
        if (n == 0 || n > len - *off)
            return SV_EINVAL;
        if (*nb < SV_H264_MAX_PS) {
            out[*nb].p = b + *off;
            out[*nb].len = n;
            (*nb)++;
        }
        *off += n;
    }
    return 0;
}

int sv_h264_avcc_parse(const uint8_t *buf, size_t len, sv_h264_avcc *out)
{
    memset(out, 0, sizeof *out);
    if (len < 7 || buf[0] != 1)
        return SV_EINVAL;
    out->profile = buf[1];
    out->compat = buf[2];
    out->level = buf[3];
    out->nal_length_size = (buf[4] & 3) + 1;
    if (out->nal_length_size == 3)
        return SV_EINVAL;
    size_t off = 6;
    int rc = read_ps_list(buf, len, &off, buf[5] & 0x1f, out->sps, &out->nb_sps);
    if (rc < 0)
        return rc;
    if (len - off < 1)
        return SV_EINVAL;
    int npps = buf[off++];
    return read_ps_list(buf, len, &off, npps, out->pps, &out->nb_pps);
    /* High-profile trailer (chroma format, bit depths, SPS ext) is not needed. */
}

int sv_h264_avcc_build(const sv_nal *sps, int nb_sps, const sv_nal *pps, int nb_pps,
                       sv_bytes *out)
{
    if (nb_sps < 1 || nb_sps > 31 || nb_pps < 0 || nb_pps > 255 || sps[0].len < 4)
        return SV_EINVAL;
    size_t need = 7;
    for (int i = 0; i < nb_sps; i++)
        need += 2 + sps[i].len;
    for (int i = 0; i < nb_pps; i++)
        need += 2 + pps[i].len;
    if (sv_bytes_reserve(out, need))
        return SV_ENOMEM;
    const uint8_t hdr[6] = {1, sps[0].p[1], sps[0].p[2], sps[0].p[3], 0xff,
                            (uint8_t)(0xe0 | nb_sps)};
    sv_bytes_put(out, hdr, sizeof hdr);
    for (int i = 0; i < nb_sps; i++) {
        if (sps[i].len > 0xffff)
            return SV_EINVAL;
        sv_bytes_put_be16(out, (uint16_t)sps[i].len);
        sv_bytes_put(out, sps[i].p, sps[i].len);
    }
    sv_bytes_put_u8(out, (uint8_t)nb_pps);
    for (int i = 0; i < nb_pps; i++) {
        if (pps[i].len > 0xffff)
            return SV_EINVAL;
        sv_bytes_put_be16(out, (uint16_t)pps[i].len);
        sv_bytes_put(out, pps[i].p, pps[i].len);
    }
    return out->failed ? SV_ENOMEM : 0;
}

/* ---- SPS ---- */

static void skip_scaling_list(sv_h264_br *br, int size)
{
    int last = 8, next = 8;
    for (int j = 0; j < size && !br->err; j++) {
        if (next != 0)
            next = (last + sv_h264_br_se(br) + 256) % 256;
        last = next == 0 ? last : next;
    }
}

/* chroma_format_idc .. scaling matrices of the high profiles. */
static void read_high_profile(sv_h264_br *br, sv_h264_sps *s, int *separate_planes)
{
    s->chroma_format_idc = (int)sv_h264_br_ue(br);
    if (s->chroma_format_idc > 3) {
        br->err = 1;
        return;
    }
    if (s->chroma_format_idc == 3)
        *separate_planes = (int)sv_h264_br_u(br, 1);
    sv_h264_br_ue(br); /* bit_depth_luma_minus8 */
    sv_h264_br_ue(br); /* bit_depth_chroma_minus8 */
    sv_h264_br_u(br, 1); /* qpprime_y_zero_transform_bypass_flag */
    if (sv_h264_br_u(br, 1)) { /* seq_scaling_matrix_present_flag */
        int n = s->chroma_format_idc != 3 ? 8 : 12;
        for (int i = 0; i < n && !br->err; i++)
            if (sv_h264_br_u(br, 1))
                skip_scaling_list(br, i < 6 ? 16 : 64);
    }
}

static int is_high_profile(int p)
{
    static const uint8_t hp[] = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135};
    for (size_t i = 0; i < sizeof hp; i++)
        if (hp[i] == p)
            return 1;
    return 0;
}

static void read_poc(sv_h264_br *br)
{
    uint32_t poc_type = sv_h264_br_ue(br);
    if (poc_type == 0) {
        sv_h264_br_ue(br); /* log2_max_pic_order_cnt_lsb_minus4 */
    } else if (poc_type == 1) {
        sv_h264_br_u(br, 1);
        sv_h264_br_se(br);
        sv_h264_br_se(br);
        uint32_t n = sv_h264_br_ue(br);
        if (n > 255)
            br->err = 1;
        for (uint32_t i = 0; i < n && !br->err; i++)
            sv_h264_br_se(br);
    } else if (poc_type > 2) {
        br->err = 1;
    }
}

/* VUI up to timing_info; leaves fps 0/0 when absent or truncated. */
static void read_vui_timing(sv_h264_br *br, sv_h264_sps *s)
{
    if (sv_h264_br_u(br, 1) && sv_h264_br_u(br, 8) == 255) /* aspect_ratio_idc */
        sv_h264_br_skip(br, 32);                           /* sar_width, sar_height */
    if (sv_h264_br_u(br, 1))                               /* overscan_info_present */
        sv_h264_br_skip(br, 1);
    if (sv_h264_br_u(br, 1)) {    /* video_signal_type_present */
        sv_h264_br_skip(br, 4);   /* video_format, full_range */
        if (sv_h264_br_u(br, 1))  /* colour_description_present */
            sv_h264_br_skip(br, 24);
    }
    if (sv_h264_br_u(br, 1)) { /* chroma_loc_info_present */
        sv_h264_br_ue(br);
        sv_h264_br_ue(br);
    }
    if (!sv_h264_br_u(br, 1)) /* timing_info_present */
        return;
    uint32_t units = sv_h264_br_u(br, 32), scale = sv_h264_br_u(br, 32);
    if (br->err || units == 0 || scale == 0)
        return;
    uint64_t num = scale, den = (uint64_t)units * 2, a = num, b = den;
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    num /= a;
    den /= a;
    if (num <= 0x7fffffff && den <= 0x7fffffff) {
        s->fps_num = (int)num;
        s->fps_den = (int)den;
    }
}

/* Frame size in luma samples from macroblock counts and the cropping window. */
static int read_geometry(sv_h264_br *br, sv_h264_sps *s, int separate_planes)
{
    uint32_t wmb = sv_h264_br_ue(br) + 1, hmu = sv_h264_br_ue(br) + 1;
    int frame_mbs_only = (int)sv_h264_br_u(br, 1);
    if (!frame_mbs_only)
        sv_h264_br_skip(br, 1); /* mb_adaptive_frame_field_flag */
    sv_h264_br_skip(br, 1);     /* direct_8x8_inference_flag */
    uint32_t crop[4] = {0, 0, 0, 0};
    if (sv_h264_br_u(br, 1))
        for (int i = 0; i < 4; i++)
            crop[i] = sv_h264_br_ue(br);
    if (br->err || wmb > 1024 || hmu > 1024)
        return SV_EINVAL;
    int cat = separate_planes ? 0 : s->chroma_format_idc;
    int cux = 1, cuy = 2 - frame_mbs_only;
    if (cat != 0) {
        cux = cat == 3 ? 1 : 2;
        cuy = (cat == 1 ? 2 : 1) * (2 - frame_mbs_only);
    }
    int64_t w = (int64_t)wmb * 16 - (int64_t)cux * ((int64_t)crop[0] + crop[1]);
    int64_t h = (int64_t)hmu * 16 * (2 - frame_mbs_only) -
                (int64_t)cuy * ((int64_t)crop[2] + crop[3]);
    if (w <= 0 || h <= 0)
        return SV_EINVAL;
    s->width = (int)w;
    s->height = (int)h;
    return 0;
}

int sv_h264_sps_parse(const uint8_t *nal, size_t len, sv_h264_sps *out)
{
    uint8_t rbsp[SV_H264_MAX_SPS];
    memset(out, 0, sizeof *out);
    if (len < 4)
        return SV_EINVAL;
    if ((nal[0] & 0x1f) != SV_H264_NAL_SPS)
        return SV_EUNSUPPORTED;
    if (len > sizeof rbsp)
        return SV_ETOOBIG;
    size_t n = sv_h264_unescape(nal + 1, len - 1, rbsp);
    sv_h264_br br;
    sv_h264_br_init(&br, rbsp, n);
    out->profile_idc = (int)sv_h264_br_u(&br, 8);
    out->constraint_flags = (int)sv_h264_br_u(&br, 8);
    out->level_idc = (int)sv_h264_br_u(&br, 8);
    out->sps_id = (int)sv_h264_br_ue(&br);
    out->chroma_format_idc = 1;
    int separate_planes = 0;
    if (is_high_profile(out->profile_idc))
        read_high_profile(&br, out, &separate_planes);
    sv_h264_br_ue(&br); /* log2_max_frame_num_minus4 */
    read_poc(&br);
    sv_h264_br_ue(&br);      /* max_num_ref_frames */
    sv_h264_br_skip(&br, 1); /* gaps_in_frame_num_value_allowed_flag */
    if (br.err || out->sps_id > 31 || read_geometry(&br, out, separate_planes) < 0)
        return SV_EINVAL;
    if (sv_h264_br_u(&br, 1) && !br.err) /* vui_parameters_present_flag */
        read_vui_timing(&br, out);
    return 0;
}

int sv_h264_track_from_avcc(const uint8_t *buf, size_t len, sv_track *out)
{
    sv_h264_avcc a;
    sv_h264_sps s;
    memset(out, 0, sizeof *out);
    int rc = sv_h264_avcc_parse(buf, len, &a);
    if (rc < 0)
        return rc;
    if (a.nb_sps < 1 || a.nb_pps < 1)
        return SV_EINVAL;
    rc = sv_h264_sps_parse(a.sps[0].p, a.sps[0].len, &s);
    if (rc < 0)
        return rc;
    out->config = sv_buf_from(buf, len);
    if (!out->config)
        return SV_ENOMEM;
    out->codec = SV_CODEC_H264;
    out->type = SV_MEDIA_VIDEO;
    out->width = s.width;
    out->height = s.height;
    out->profile = s.profile_idc;
    out->level = s.level_idc;
    out->fps_num = s.fps_num;
    out->fps_den = s.fps_den;
    return 0;
}
