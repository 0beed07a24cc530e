/* libFuzzer target: the SDP parser, fmtp lookups and codec mapping over arbitrary text,
 * then the depacketizer setup each media section would get. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/rtsp/rtp_depack.h"
#include "ingest/rtsp/sdp.h"

static void on_au(void *ctx, const uint8_t *d, size_t l, uint32_t ts, bool key) {}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sv_sdp sdp;
    if (sv_sdp_parse((const char *)data, size, &sdp))
        return 0;
    if (sdp.nmedia < 0 || sdp.nmedia > SV_SDP_MAX_MEDIA)
        abort();
    for (int i = 0; i < sdp.nmedia; i++) {
        const sv_sdp_media *m = &sdp.media[i];
        char v[256];
        if (strlen(m->fmtp) >= sizeof m->fmtp || strlen(m->control) >= sizeof m->control)
            abort();
        static const char *const keys[] = {"sprop-parameter-sets", "config", "sizelength",
                                           "sprop-vps", "mode", "packetization-mode"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            int n = sv_sdp_fmtp_get(m->fmtp, keys[k], v, sizeof v);
            if (n >= 0 && strlen(v) > (size_t)n)
                abort();
        }
        sv_rtp_depack d;
        sv_rtp_depack_init(&d, sv_sdp_codec(m), m->fmtp, on_au, NULL);
        sv_rtp_depack_free(&d);
    }
    return 0;
}
