/* MPI communicator. Asynchronous all-reduces run on a communication thread that performs
 * them one after another with blocking MPI_Allreduce: Open MPI has no asynchronous progress
 * for non-blocking collectives, so a thread is what makes them overlap with backward (and
 * its blocking all-reduce is twice as fast as MPI_Iallreduce: docs/scaling.md). No
 * collective waits forever: the main thread watches the communication thread's all-reduce,
 * and polls its own (small) collectives, against the communicator's timeout; then the ranks
 * still waiting tell each other so on a separate communicator (hence MPI_THREAD_MULTIPLE),
 * name the ranks they did not hear from (stopped, hung or dead) and abort the job. */
#include <mpi.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "dist/comm.h"

#define MPI_CHECK(call)                                                       \
    do {                                                                      \
        int e_ = (call);                                                      \
        if (e_ != MPI_SUCCESS) {                                              \
            char m_[MPI_MAX_ERROR_STRING];                                    \
            int l_ = 0;                                                       \
            MPI_Error_string(e_, m_, &l_);                                    \
            gnet_errorf("%s:%d: MPI: %s: %s", __FILE__, __LINE__, #call, m_); \
            gnet_fatal(1);                                                    \
        }                                                                     \
    } while (0)

#define QUEUE_MAX 256 /* all-reduces in flight: more than the buckets of one step */
#define TAG_WAITING 7 /* "I am waiting in a collective that timed out" */

typedef struct {
    float *buf;
    size_t count;
} request;

typedef struct {
    MPI_Comm world;
    MPI_Comm watch;   /* the timeout's messages, apart from the collectives */
    gnet_comm *owner; /* for its on_allreduce observer and timeout */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    request queue[QUEUE_MAX];
    int head, tail, busy, stop;
    double busy_since; /* when the all-reduce in progress started */
    int multiple;      /* MPI_THREAD_MULTIPLE: the main thread may name hung ranks meanwhile */
} mpi_impl;

static mpi_impl *impl_of(gnet_comm *c) { return c->impl; }

/* The ranks that sent nothing on m->watch within `grace` seconds, as a list in buf. */
static void silent_ranks(mpi_impl *m, double grace, char *buf, size_t n)
{
    int rank, world;
    MPI_CHECK(MPI_Comm_rank(m->watch, &rank));
    MPI_CHECK(MPI_Comm_size(m->watch, &world));
    char *heard = calloc((size_t)world, 1);
    /* MPI_Request is an opaque handle (a pointer in Open MPI), not a pointer to a buffer. */
    MPI_Request *sent =
        calloc((size_t)world, sizeof(MPI_Request)); // NOLINT(bugprone-sizeof-expression)
    if (!heard || !sent) {
        (void)snprintf(buf, n, "(unknown: out of host memory)");
        free(heard);
        free(sent);
        return;
    }
    for (int r = 0; r < world; r++)
        if (r != rank)
            MPI_CHECK(MPI_Isend(&rank, 1, MPI_INT, r, TAG_WAITING, m->watch, &sent[r]));
    heard[rank] = 1;
    for (double t0 = gnet_now(); gnet_now() - t0 < grace;) {
        int flag, from;
        MPI_Status st;
        MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, TAG_WAITING, m->watch, &flag, &st));
        if (flag) {
            MPI_CHECK(MPI_Recv(&from, 1, MPI_INT, st.MPI_SOURCE, TAG_WAITING, m->watch,
                               MPI_STATUS_IGNORE));
            heard[st.MPI_SOURCE] = 1;
        } else {
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
    }
    buf[0] = '\0';
    for (int r = 0; r < world; r++) {
        size_t used = strlen(buf);
        if (!heard[r] && used + 16 < n)
            (void)snprintf(buf + used, n - used, "%s%d", used ? ", " : "", r);
    }
    free(heard); /* the sends to silent ranks stay pending: the job ends now */
    free(sent);
}

/* A collective that did not complete in time: every rank still waiting gets here; each
 * tells the others, waits a grace period (ranks time out up to a step apart) and names the
 * ranks it never heard from. */
static _Noreturn void timed_out(mpi_impl *m, const char *what, double waited)
{
    double grace = m->owner->timeout_s / 10 < 2    ? 2
                   : m->owner->timeout_s / 10 > 10 ? 10
                                                   : m->owner->timeout_s / 10;
    char silent[256];
    silent_ranks(m, grace, silent, sizeof silent);
    gnet_errorf("%s did not complete within %.0f s: rank(s) %s never reached it (stopped, hung or "
                "dead); aborting the job (--comm-timeout)",
                what, waited,
                silent[0] ? silent : "(none: all ranks are waiting; a network problem?)");
    gnet_fatal(1);
}

/* Polls a started collective to its end; yields the core between polls (ranks may share
 * cores with computing threads). */
static void wait_for(mpi_impl *m, MPI_Request *req, const char *what)
{
    double t0 = gnet_now(), timeout = m->owner->timeout_s;
    for (;;) {
        int done = 0;
        MPI_CHECK(MPI_Test(req, &done, MPI_STATUS_IGNORE));
        if (done)
            return;
        if (timeout > 0 && gnet_now() - t0 > timeout)
            timed_out(m, what, gnet_now() - t0);
        sched_yield();
    }
}

/* MPI counts are ints: large buffers go in chunks. */
static void allreduce_now(MPI_Comm comm, float *buf, size_t count)
{
    const size_t chunk = (size_t)1 << 30;
    for (size_t off = 0; off < count; off += chunk) {
        int n = (int)(count - off < chunk ? count - off : chunk);
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf + off, n, MPI_FLOAT, MPI_SUM, comm));
    }
}

static void *comm_thread(void *arg)
{
    mpi_impl *m = arg;
    pthread_mutex_lock(&m->lock);
    for (;;) {
        while (m->head == m->tail && !m->stop)
            pthread_cond_wait(&m->wake, &m->lock);
        if (m->head == m->tail)
            break;
        request r = m->queue[m->head % QUEUE_MAX];
        m->busy = 1;
        double t0 = m->busy_since = gnet_now();
        pthread_mutex_unlock(&m->lock);
        allreduce_now(m->world, r.buf, r.count);
        if (m->owner->on_allreduce)
            m->owner->on_allreduce(m->owner->on_allreduce_ctx, r.count, t0, gnet_now());
        pthread_mutex_lock(&m->lock);
        m->busy = 0;
        m->head++;
        pthread_cond_broadcast(&m->done);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

static void mpi_allreduce_start(gnet_comm *c, float *buf, size_t count)
{
    mpi_impl *m = impl_of(c);
    if (c->world == 1)
        return;
    pthread_mutex_lock(&m->lock);
    if (m->tail - m->head >= QUEUE_MAX) {
        gnet_errorf("too many all-reduces in flight (%d); use larger buckets", QUEUE_MAX);
        gnet_fatal(1);
    }
    m->queue[m->tail % QUEUE_MAX] = (request){buf, count};
    m->tail++;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
}

static _Noreturn void allreduce_timed_out(mpi_impl *m, double waited)
{
    if (m->multiple)
        timed_out(m, "a gradient all-reduce", waited);
    gnet_errorf("a gradient all-reduce did not complete within %.0f s: a rank is stopped, hung or "
                "dead (without "
                "MPI_THREAD_MULTIPLE gnet cannot tell which); aborting the job (--comm-timeout)",
                waited);
    gnet_fatal(1);
}

/* Waits for every started all-reduce, looking at the clock every second. */
static void mpi_allreduce_wait(gnet_comm *c)
{
    mpi_impl *m = impl_of(c);
    pthread_mutex_lock(&m->lock);
    while (m->head != m->tail) {
        struct timespec until;
        (void)clock_gettime(CLOCK_REALTIME, &until); /* the condition variable's clock */
        until.tv_sec += 1;
        (void)pthread_cond_timedwait(&m->done, &m->lock, &until);
        double waited = m->busy ? gnet_now() - m->busy_since : 0.0;
        if (c->timeout_s > 0 && waited > c->timeout_s) {
            pthread_mutex_unlock(&m->lock);
            allreduce_timed_out(m, waited);
        }
    }
    pthread_mutex_unlock(&m->lock);
}

/* allreduce_wait blocks with its own timeout: nothing to watch in between. */
static void mpi_watch(gnet_comm *c) { (void)c; }

/* count elements of size bytes and MPI type, in chunks whose counts fit an int. */
static void broadcast_chunks(gnet_comm *c, void *buf, size_t count, size_t size, MPI_Datatype type,
                             int root)
{
    mpi_impl *m = impl_of(c);
    mpi_allreduce_wait(c);
    const size_t chunk = (size_t)1 << 30;
    for (size_t off = 0; off < count; off += chunk) {
        int n = (int)(count - off < chunk ? count - off : chunk);
        MPI_Request req;
        MPI_CHECK(MPI_Ibcast((char *)buf + off * size, n, type, root, m->world, &req));
        wait_for(m, &req, "a broadcast");
    }
}

static void mpi_broadcast(gnet_comm *c, float *buf, size_t count, int root)
{
    broadcast_chunks(c, buf, count, sizeof *buf, MPI_FLOAT, root);
}

static void mpi_broadcast_bytes(gnet_comm *c, void *buf, size_t n, int root)
{
    broadcast_chunks(c, buf, n, 1, MPI_BYTE, root);
}

static void mpi_reduce_sum(gnet_comm *c, double *v, int n)
{
    mpi_impl *m = impl_of(c);
    mpi_allreduce_wait(c);
    MPI_Request req;
    MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, m->world, &req));
    wait_for(m, &req, "a sum over ranks");
}

static void mpi_barrier(gnet_comm *c)
{
    mpi_impl *m = impl_of(c);
    mpi_allreduce_wait(c);
    MPI_Request req;
    MPI_CHECK(MPI_Ibarrier(m->world, &req));
    wait_for(m, &req, "a barrier");
}

static void mpi_destroy(gnet_comm *c)
{
    mpi_impl *m = impl_of(c);
    pthread_mutex_lock(&m->lock);
    m->stop = 1;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->wake);
    pthread_cond_destroy(&m->done);
    MPI_CHECK(MPI_Comm_free(&m->world));
    MPI_CHECK(MPI_Comm_free(&m->watch));
    free(m);
    free(c);
}

static void abort_job(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

static void learn_topology(gnet_comm *c, MPI_Comm world)
{
    MPI_Comm node;
    MPI_CHECK(MPI_Comm_rank(world, &c->rank));
    MPI_CHECK(MPI_Comm_size(world, &c->world));
    MPI_CHECK(MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node));
    MPI_CHECK(MPI_Comm_rank(node, &c->local_rank));
    MPI_CHECK(MPI_Comm_size(node, &c->local_size));
    MPI_CHECK(MPI_Comm_free(&node));
}

gnet_comm *gnet_comm_init_mpi(int *argc, char ***argv)
{
    int provided = 0;
    /* A rank waiting in a collective would otherwise spin at full speed; when ranks share
     * cores (CPU training), the communication thread's spinning takes the compute thread's
     * core. Yielding measured +18% img/s with overlap on (docs/scaling.md). The user's own
     * setting wins. */
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
    /* SERIALIZED is what the threads need; MULTIPLE lets the timeout name a hung rank. */
    if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
        gnet_errorf("MPI_Init_thread failed");
        exit(1);
    }
    gnet_log_set_abort(abort_job);
    if (provided < MPI_THREAD_SERIALIZED) {
        gnet_errorf("MPI provides thread level %d, gnet needs MPI_THREAD_SERIALIZED", provided);
        gnet_fatal(1);
    }
    gnet_comm *c = gnet_calloc(1, sizeof *c, "the MPI communicator");
    mpi_impl *m = gnet_calloc(1, sizeof *m, "the MPI communicator's state");
    if (!c || !m)
        gnet_fatal(1);
    m->multiple = provided >= MPI_THREAD_MULTIPLE;
    /* Our own communicator returns errors to MPI_CHECK, which names the call and aborts. */
    MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &m->world));
    MPI_CHECK(MPI_Comm_set_errhandler(m->world, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_dup(m->world, &m->watch));
    learn_topology(c, m->world);
    gnet_log_set_rank(c->rank, c->world);
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->wake, NULL);
    pthread_cond_init(&m->done, NULL);
    m->owner = c;
    if (pthread_create(&m->thread, NULL, comm_thread, m) != 0) {
        gnet_errorf("cannot start the communication thread");
        gnet_fatal(1);
    }
    c->name = "mpi";
    c->impl = m;
    c->broadcast = mpi_broadcast;
    c->broadcast_bytes = mpi_broadcast_bytes;
    c->allreduce_start = mpi_allreduce_start;
    c->allreduce_wait = mpi_allreduce_wait;
    c->watch = mpi_watch;
    c->reduce_sum = mpi_reduce_sum;
    c->barrier = mpi_barrier;
    c->destroy = mpi_destroy;
    c->timeout_s = GNET_COMM_TIMEOUT_S;
    return c;
}

void gnet_comm_finalize(gnet_comm *c)
{
    if (c)
        c->destroy(c);
    gnet_log_set_abort(NULL);
    /* The serial communicator never initialised MPI (MPI_Initialized may be called anyway). */
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised)
        MPI_Finalize();
}

void gnet_comm_mpi_version(char *buf, size_t n)
{
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(v, &len) != MPI_SUCCESS)
        (void)snprintf(v, sizeof v, "MPI (version unknown)");
    v[strcspn(v, ",\n")] = '\0'; /* "Open MPI v4.1.4, package: ...": the name and number */
    (void)snprintf(buf, n, "%s", v);
}
