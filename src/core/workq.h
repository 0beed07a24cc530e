/* Worker pool: blocking work (disk, SQLite, exports) off the network loop.
 *
 * sv_workq_submit() queues fn(arg) for a worker thread; when it returns, done(arg) runs
 * back on the loop thread (via a libevent event), so results are handed over without
 * locks in the caller. The queue is bounded: submit fails with SV_ETOOBIG when full, and
 * the caller answers 503 or retries later. Shutdown drains nothing: queued jobs that have
 * not started get done() with `cancelled` set. */
#ifndef SV_CORE_WORKQ_H
#define SV_CORE_WORKQ_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
typedef struct sv_workq sv_workq;

typedef void (*sv_work_fn)(void *arg);
/* Runs on the loop thread after fn (cancelled = false) or at shutdown without fn. */
typedef void (*sv_work_done_fn)(void *arg, bool cancelled);

sv_workq *sv_workq_new(struct event_base *base, int threads, size_t max_queued);
/* Stops the workers after their current job; pending jobs are cancelled. NULL-safe. */
void sv_workq_free(sv_workq *q);
/* done may be NULL. Returns 0, SV_ETOOBIG (queue full) or SV_ENOMEM. */
int sv_workq_submit(sv_workq *q, sv_work_fn fn, sv_work_done_fn done, void *arg);
/* Jobs queued or running. */
size_t sv_workq_pending(sv_workq *q);

#endif
