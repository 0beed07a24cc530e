/* See workq.h. A mutex/condvar job list feeds the workers; finished jobs go on a done list
 * and a libevent user event (activated from the worker thread, which libevent allows once
 * evthread_use_pthreads() was called) drains it on the loop thread. */
#include "core/workq.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/error.h"

typedef struct job {
    sv_work_fn fn;
    sv_work_done_fn done;
    void *arg;
    bool cancelled;
    struct job *next;
} job;

struct sv_workq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;    /* queued */
    job *done_head, *done_tail;
    size_t queued, running, max_queued;
    bool stopping;
    int nthreads;
    pthread_t *threads;
    struct event *done_ev;
};

static void push(job **head, job **tail, job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static void *worker(void *arg)
{
    sv_workq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->stopping)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->stopping)
            break;
        job *j = q->head;
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        q->queued--;
        q->running++;
        pthread_mutex_unlock(&q->mu);
        j->fn(j->arg);
        pthread_mutex_lock(&q->mu);
        q->running--;
        push(&q->done_head, &q->done_tail, j);
        event_active(q->done_ev, EV_READ, 0);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static void drain_done(evutil_socket_t fd, short what, void *arg)
{
    sv_workq *q = arg;
    pthread_mutex_lock(&q->mu);
    job *j = q->done_head;
    q->done_head = q->done_tail = NULL;
    pthread_mutex_unlock(&q->mu);
    while (j) {
        job *next = j->next;
        if (j->done)
            j->done(j->arg, j->cancelled);
        free(j);
        j = next;
    }
}

sv_workq *sv_workq_new(struct event_base *base, int threads, size_t max_queued)
{
    sv_workq *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->max_queued = max_queued;
    q->done_ev = event_new(base, -1, 0, drain_done, q);
    q->threads = calloc((size_t)threads, sizeof *q->threads);
    if (!q->done_ev || !q->threads) {
        sv_workq_free(q);
        return NULL;
    }
    for (; q->nthreads < threads; q->nthreads++)
        if (pthread_create(&q->threads[q->nthreads], NULL, worker, q))
            break;
    return q;
}

void sv_workq_free(sv_workq *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stopping = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    for (job *j = q->head; j; j = j->next)
        j->cancelled = true;
    if (q->tail) {
        q->tail->next = q->done_head;
        q->done_head = q->head;
        q->head = q->tail = NULL;
    }
    drain_done(-1, 0, q);
    if (q->done_ev)
        event_free(q->done_ev);
    free(q->threads);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}

int sv_workq_submit(sv_workq *q, sv_work_fn fn, sv_work_done_fn done, void *arg)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return SV_ENOMEM;
    j->fn = fn;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&q->mu);
    if (q->queued >= q->max_queued || q->stopping) {
        pthread_mutex_unlock(&q->mu);
        free(j);
        return SV_ETOOBIG;
    }
    push(&q->head, &q->tail, j);
    q->queued++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

size_t sv_workq_pending(sv_workq *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->queued + q->running;
    pthread_mutex_unlock(&q->mu);
    return n;
}
