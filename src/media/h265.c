/* H.265 parameter parsing: hvcC records and the SPS fields we need. See h265.h.
 *
 * The SPS is unescaped into a bounded stack copy; profile_tier_level's general part is
 * byte aligned (12 bytes after the first RBSP byte) so it is copied as is for hvcC.
 * Sub-layer PTL entries are skipped by their flags. Not here: VUI, range extensions. */
#include "media/h265.h"

#include <string.h>

#include "core/error.h"

static int read_array(const uint8_t *b, size_t len, size_t *off, sv_h265_hvcc *out)
{
    if (len - *off < 3)
        return SV_EINVAL;
    int type = b[*off] & 0x3f, n = sv_rb16(b + *off + 1);
    *off += 3;
    int *nb = type == SV_H265_NAL_VPS ? &out->nb_vps
              : type == SV_H265_NAL_SPS ? &out->nb_sps
              : type == SV_H265_NAL_PPS ? &out->nb_pps
                                        : NULL;
    sv_nal *list = type == SV_H265_NAL_VPS ? out->vps
                   : type == SV_H265_NAL_SPS ? out->sps
                                             : out->pps;
    for (int i = 0; i < n; i++) {
        if (len - *off < 2)
            return SV_EINVAL;
        size_t l = sv_rb16(b + *off);
        *off += 2;
        if (l == 0 || l > len - *off)
            return SV_EINVAL;
        if (nb && *nb < SV_H265_MAX_PS) {
            list[*nb].p = b + *off;
            list[*nb].len = l;
            (*nb)++;
        }
        *off += l;
    }
    return 0;
}

int sv_h265_hvcc_parse(const uint8_t *buf, size_t len, sv_h265_hvcc *out)
{
    memset(out, 0, sizeof *out);
    if (len < 23 || buf[0] != 1)
        return SV_EINVAL;
    out->tier = (buf[1] >> 5) & 1;
    out->profile_idc = buf[1] & 0x1f;
    out->level_idc = buf[12];
    out->nal_length_size = (buf[21] & 3) + 1;
    if (out->nal_length_size == 3)
        return SV_EINVAL;
    size_t off = 23;
    for (int i = 0; i < buf[22]; i++) {
        int rc = read_array(buf, len, &off, out);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void put_array(sv_bytes *out, int type, const sv_nal *l, int n)
{
    sv_bytes_put_u8(out, (uint8_t)(0x80 | type)); /* array_completeness = 1 */
    sv_bytes_put_be16(out, (uint16_t)n);
    for (int i = 0; i < n; i++) {
        sv_bytes_put_be16(out, (uint16_t)l[i].len);
        sv_bytes_put(out, l[i].p, l[i].len);
    }
}

int sv_h265_hvcc_build(const sv_nal *vps, int nb_vps, const sv_nal *sps, int nb_sps,
                       const sv_nal *pps, int nb_pps, sv_bytes *out)
{
    sv_h265_sps s;
    if (nb_sps < 1 || nb_vps < 0 || nb_pps < 0 || nb_vps > 0xffff || nb_sps > 0xffff ||
        nb_pps > 0xffff || sv_h265_sps_parse(sps[0].p, sps[0].len, &s) < 0)
        return SV_EINVAL;
    const sv_nal *lists[3] = {vps, sps, pps};
    const int counts[3] = {nb_vps, nb_sps, nb_pps};
    size_t need = 23 + 9;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < counts[k]; i++) {
            if (lists[k][i].len > 0xffff)
                return SV_EINVAL;
            need += 2 + lists[k][i].len;
        }
    if (sv_bytes_reserve(out, need))
        return SV_ENOMEM;
    int layers = ((sps[0].p[2] >> 1) & 7) + 1, nested = sps[0].p[2] & 1;
    sv_bytes_put_u8(out, 1);
    sv_bytes_put(out, s.ptl, sizeof s.ptl);
    const uint8_t mid[10] = {0xf0, 0x00, 0xfc, (uint8_t)(0xfc | s.chroma_format_idc),
                             (uint8_t)(0xf8 | s.bit_depth_luma_minus8),
                             (uint8_t)(0xf8 | s.bit_depth_chroma_minus8), 0, 0,
                             (uint8_t)(layers << 3 | nested << 2 | 3),
                             (uint8_t)((nb_vps > 0) + 1 + (nb_pps > 0))};
    sv_bytes_put(out, mid, sizeof mid);
    if (nb_vps)
        put_array(out, SV_H265_NAL_VPS, vps, nb_vps);
    put_array(out, SV_H265_NAL_SPS, sps, nb_sps);
    if (nb_pps)
        put_array(out, SV_H265_NAL_PPS, pps, nb_pps);
    return out->failed ? SV_ENOMEM : 0;
}

/* Skips the sub-layer part of profile_tier_level. */
static void skip_sub_layers(sv_h264_br *br, int msl)
{
    int prof[8] = {0}, lev[8] = {0};
    for (int i = 0; i < msl; i++) {
        prof[i] = (int)sv_h264_br_u(br, 1);
        lev[i] = (int)sv_h264_br_u(br, 1);
    }
    if (msl > 0)
        sv_h264_br_skip(br, (size_t)(8 - msl) * 2);
    for (int i = 0; i < msl; i++)
        sv_h264_br_skip(br, (size_t)(prof[i] ? 88 : 0) + (lev[i] ? 8 : 0));
}

int sv_h265_sps_parse(const uint8_t *nal, size_t len, sv_h265_sps *out)
{
    uint8_t rbsp[SV_H264_MAX_SPS];
    memset(out, 0, sizeof *out);
    if (len < 16)
        return SV_EINVAL;
    if (sv_h265_nal_type(nal[0]) != SV_H265_NAL_SPS)
        return SV_EUNSUPPORTED;
    if (len > sizeof rbsp)
        return SV_ETOOBIG;
    size_t n = sv_h264_unescape(nal + 2, len - 2, rbsp);
    if (n < 14)
        return SV_EINVAL;
    int msl = (rbsp[0] >> 1) & 7;
    memcpy(out->ptl, rbsp + 1, sizeof out->ptl);
    out->profile_space = rbsp[1] >> 6;
    out->tier = (rbsp[1] >> 5) & 1;
    out->profile_idc = rbsp[1] & 0x1f;
    out->level_idc = rbsp[12];
    sv_h264_br br;
    sv_h264_br_init(&br, rbsp, n);
    sv_h264_br_skip(&br, 8 + 96);
    skip_sub_layers(&br, msl);
    sv_h264_br_ue(&br); /* sps_seq_parameter_set_id */
    out->chroma_format_idc = (int)sv_h264_br_ue(&br);
    if (out->chroma_format_idc == 3)
        sv_h264_br_skip(&br, 1); /* separate_colour_plane_flag */
    uint32_t w = sv_h264_br_ue(&br), h = sv_h264_br_ue(&br);
    uint32_t win[4] = {0, 0, 0, 0};
    if (sv_h264_br_u(&br, 1))
        for (int i = 0; i < 4; i++)
            win[i] = sv_h264_br_ue(&br);
    out->bit_depth_luma_minus8 = (int)sv_h264_br_ue(&br);
    out->bit_depth_chroma_minus8 = (int)sv_h264_br_ue(&br);
    if (br.err || out->chroma_format_idc > 3 || w == 0 || h == 0 || w > 16888 || h > 16888 ||
        out->bit_depth_luma_minus8 > 7 || out->bit_depth_chroma_minus8 > 7)
        return SV_EINVAL;
    int cf = out->chroma_format_idc;
    int64_t sw = (cf == 1 || cf == 2) ? 2 : 1, sh = cf == 1 ? 2 : 1;
    int64_t fw = (int64_t)w - sw * ((int64_t)win[0] + win[1]);
    int64_t fh = (int64_t)h - sh * ((int64_t)win[2] + win[3]);
    if (fw <= 0 || fh <= 0)
        return SV_EINVAL;
    out->width = (int)fw;
    out->height = (int)fh;
    return 0;
}

int sv_h265_track_from_hvcc(const uint8_t *buf, size_t len, sv_track *out)
{
    sv_h265_hvcc a;
    sv_h265_sps s;
    memset(out, 0, sizeof *out);
    int rc = sv_h265_hvcc_parse(buf, len, &a);
    if (rc < 0)
        return rc;
    if (a.nb_sps < 1)
        return SV_EINVAL;
    rc = sv_h265_sps_parse(a.sps[0].p, a.sps[0].len, &s);
    if (rc < 0)
        return rc;
    out->config = sv_buf_from(buf, len);
    if (!out->config)
        return SV_ENOMEM;
    out->codec = SV_CODEC_H265;
    out->type = SV_MEDIA_VIDEO;
    out->width = s.width;
    out->height = s.height;
    out->profile = s.profile_idc;
    out->level = s.level_idc;
    return 0;
}
