/* DVR crash recovery and index rebuild (see dvr.h). Blocking; runs before the loop.
 *
 * A clean shutdown leaves `{catalog}.clean`; start-up removes it. When it is missing
 * (crash, kill -9, power loss, first start) or the catalog is new, recovery walks every
 * known root: each `.part` file is repaired — cut back to the end of its last complete
 * frame (our muxer writes every PES contiguously, so that is the start of the last PES),
 * renamed to its final name with the duration measured from its timestamps, or removed
 * when it holds less than two frames — and the catalog's segment index is rebuilt from
 * the files in one transaction, so catalog and disk agree. After a clean shutdown
 * nothing is walked, so restarts stay fast however large the archive grows. */
#ifndef SV_DVR_RECOVERY_H
#define SV_DVR_RECOVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "dvr/catalog.h"
#include "stream/settings.h"

/* Recovers if needed (or always when force). Returns 0 or a negative error. */
int sv_dvr_recover(sv_settings *settings, sv_catalog *cat, const char *catalog_path, bool force);
/* Writes the clean-shutdown marker. */
void sv_dvr_recovery_mark_clean(const char *catalog_path);

/* Repairs one .part file (absolute path). On success returns 0 and the segment's start
 * (from the name) and measured duration; SV_ENOTFOUND when nothing usable was left (the
 * file is removed). Exposed for tests. */
int sv_dvr_repair_part(const char *root, const char *relpath, int64_t *duration_ms,
                       int64_t *bytes);

#endif
