/* Text for the SV_E* error codes of core/error.h. */
#include "core/error.h"

const char *sv_strerror(int err)
{
    switch (err) {
    case SV_OK: return "ok";
    case SV_ENOMEM: return "out of memory";
    case SV_EINVAL: return "invalid input";
    case SV_ENEEDMORE: return "incomplete input";
    case SV_ETOOBIG: return "size limit exceeded";
    case SV_EIO: return "i/o error";
    case SV_ENOTFOUND: return "not found";
    case SV_EEXIST: return "already exists";
    case SV_EUNSUPPORTED: return "unsupported";
    case SV_ENOSPC: return "no space left on device";
    case SV_ECLOSED: return "closed";
    default: return "unknown error";
    }
}
