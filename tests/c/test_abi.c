/*
 * The C ABI driven from C: the real libvoipchat.so, an embedded relay, every entry point.
 *
 * Build and run with tests/c/run.sh (plainly, then under valgrind). The whole suite runs
 * twice: once with VOIP_DISPATCH_THREAD, once with VOIP_DISPATCH_POLL.
 *
 * Only one SDK client exists per process (voip_init is process-wide), so this covers what
 * one client can see; cases with several members (members changed, the same open_id joining
 * from two sessions, full rooms) are covered by the Rust tests in tests/join.rs.
 *
 * Where callbacks run is checked for every callback: THREAD dispatch, never on the calling
 * (main) thread; POLL dispatch, on the main thread and only inside voip_poll() -- or inside
 * voip_shutdown(), which the header documents as running every callback still queued; before
 * voip_init, synchronously inside the call that failed.
 *
 * Every wait has a deadline; a missed deadline is a failure, never a hang. Deadlines are
 * multiplied by $VOIP_TEST_TIMEOUT_SCALE (run.sh raises it under valgrind).
 *
 * Every case starts its own SDK (voip_init) and ends it (voip_shutdown), so re-initialization
 * is exercised throughout; after the shutdown, every call the case made must have seen exactly
 * one of success / fail, then complete, once, with the same result.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "voipchat.h"

#define APP_ID "wx-c-abi-test"
#define APP_SECRET "c-abi-test-secret"

/* ------------------------------------------------------------------------------------------ */
/* Checks                                                                                      */

static atomic_int g_passed;
static atomic_int g_failed;
static VoipDispatch g_mode = VOIP_DISPATCH_THREAD;
static const char *volatile g_case = "setup";

static const char *mode_name(void) {
    return g_mode == VOIP_DISPATCH_POLL ? "POLL" : "THREAD";
}

static bool check_impl(bool ok, const char *file, int line, const char *fmt, ...) {
    if (ok) {
        atomic_fetch_add(&g_passed, 1);
        return true;
    }
    atomic_fetch_add(&g_failed, 1);
    char detail[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(detail, sizeof detail, fmt, args);
    va_end(args);
    fprintf(stderr, "%s:%d: CHECK failed [%s %s]: %s\n", file, line, mode_name(), g_case, detail);
    fflush(stderr);
    return false;
}

#define CHECK(expr) check_impl((expr) ? true : false, __FILE__, __LINE__, "%s", #expr)

#define CHECK_INT(actual, expected)                                                           \
    do {                                                                                      \
        long long check_a_ = (long long)(actual);                                             \
        long long check_e_ = (long long)(expected);                                           \
        check_impl(check_a_ == check_e_, __FILE__, __LINE__, "%s == %s (got %lld, want %lld)", \
                   #actual, #expected, check_a_, check_e_);                                   \
    } while (0)

#define CHECK_STR(actual, expected)                                                           \
    do {                                                                                      \
        const char *check_a_ = (actual);                                                      \
        const char *check_e_ = (expected);                                                    \
        check_impl(check_a_ != NULL && strcmp(check_a_, check_e_) == 0, __FILE__, __LINE__,   \
                   "%s == \"%s\" (got \"%s\")", #actual, check_e_,                           \
                   check_a_ ? check_a_ : "(null)");                                          \
    } while (0)

/* `actual` starts with `prefix` and has something after it. */
#define CHECK_PREFIX(actual, prefix)                                                          \
    do {                                                                                      \
        const char *check_a_ = (actual);                                                      \
        const char *check_p_ = (prefix);                                                      \
        check_impl(check_a_ != NULL && strncmp(check_a_, check_p_, strlen(check_p_)) == 0 &&  \
                       strlen(check_a_) > strlen(check_p_),                                   \
                   __FILE__, __LINE__, "%s starts with \"%s\" (got \"%s\")", #actual, check_p_, \
                   check_a_ ? check_a_ : "(null)");                                          \
    } while (0)

#define CHECK_CONTAINS(actual, needle)                                                        \
    do {                                                                                      \
        const char *check_a_ = (actual);                                                      \
        const char *check_n_ = (needle);                                                      \
        check_impl(check_a_ != NULL && strstr(check_a_, check_n_) != NULL, __FILE__, __LINE__, \
                   "%s contains \"%s\" (got \"%s\")", #actual, check_n_,                     \
                   check_a_ ? check_a_ : "(null)");                                          \
    } while (0)

/* ------------------------------------------------------------------------------------------ */
/* Time and waiting                                                                            */

static double g_scale = 1.0;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static pthread_t g_main_thread;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond; /* on CLOCK_MONOTONIC, set up in main */

/* POLL dispatch: set by the main thread around voip_poll() and voip_shutdown() (which the
 * header documents as running every callback still queued). Every callback checks it. */
static atomic_int g_in_dispatch;
/* Set around calls made before voip_init: their callbacks run synchronously in the call. */
static atomic_int g_expect_sync;
/* Callbacks that ran somewhere they must not (wrong thread, outside voip_poll). */
static atomic_int g_context_violations;

static void note_context(const char *what) {
    bool on_main = pthread_equal(pthread_self(), g_main_thread);
    const char *problem = NULL;
    if (atomic_load(&g_expect_sync)) {
        if (!on_main) problem = "a synchronous callback ran off the calling thread";
    } else if (g_mode == VOIP_DISPATCH_POLL) {
        if (!on_main)
            problem = "POLL dispatch: a callback ran off the main thread";
        else if (!atomic_load(&g_in_dispatch))
            problem = "POLL dispatch: a callback ran outside voip_poll()/voip_shutdown()";
    } else if (on_main) {
        problem = "THREAD dispatch: a callback ran on the caller's thread";
    }
    if (problem) {
        atomic_fetch_add(&g_context_violations, 1);
        fprintf(stderr, "[%s %s] %s (%s)\n", mode_name(), g_case, problem, what);
    }
}

static void poll_once(void) {
    atomic_store(&g_in_dispatch, 1);
    (void)voip_poll();
    atomic_store(&g_in_dispatch, 0);
}

typedef bool (*Pred)(void *arg); /* evaluated with g_lock held */

/* Waits until `pred` holds: THREAD dispatch sleeps on the condition variable, POLL dispatch
 * drives voip_poll() on this (the main) thread. A missed deadline is a failed check. */
static bool wait_until_at(Pred pred, void *arg, double seconds, const char *what, const char *file,
                          int line) {
    double deadline = now_s() + seconds * g_scale;
    bool ok = false;
    if (g_mode == VOIP_DISPATCH_POLL) {
        for (;;) {
            poll_once();
            pthread_mutex_lock(&g_lock);
            ok = pred(arg);
            pthread_mutex_unlock(&g_lock);
            if (ok || now_s() > deadline) break;
            sleep_ms(2);
        }
    } else {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        double add = seconds * g_scale;
        until.tv_sec += (time_t)add;
        until.tv_nsec += (long)((add - (double)(time_t)add) * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec += 1;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&g_lock);
        while (!(ok = pred(arg))) {
            if (pthread_cond_timedwait(&g_cond, &g_lock, &until) == ETIMEDOUT) {
                ok = pred(arg);
                break;
            }
        }
        pthread_mutex_unlock(&g_lock);
    }
    return check_impl(ok, file, line, "timed out after %.1f s waiting for %s", seconds * g_scale,
                      what);
}
#define WAIT_UNTIL(pred, arg, seconds, what) wait_until_at(pred, arg, seconds, what, __FILE__, __LINE__)

/* Lets time pass while dispatching (POLL) so that stray callbacks would show up. */
static void settle(double seconds) {
    double deadline = now_s() + seconds;
    while (now_s() < deadline) {
        if (g_mode == VOIP_DISPATCH_POLL) poll_once();
        sleep_ms(5);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Calls and their callbacks                                                                   */

typedef enum { ACT_NONE, ACT_EXIT, ACT_JOIN, ACT_SHUTDOWN } Action;

typedef struct {
    char open_id[64];
    char group_id[200];
    char nonce[200];
    char signature[VOIP_SIGNATURE_BUFFER];
    VoipMuteConfig mute;
    VoipJoinParams p;
} JoinReq;

#define MAX_IDS 8
typedef struct Call {
    const char *label;
    int success, fail, complete;
    bool complete_before_outcome; /* complete ran before success/fail */
    bool mismatch;                /* complete's result differs from success/fail's */
    bool bad_result;              /* NULL result or err_msg, or a list/count that disagree */
    int code;                     /* from success/fail */
    char msg[512];
    int id_count;
    char ids[MAX_IDS][64];
    char history[1024]; /* every callback in order: "fail(-1005) complete(-1005)" */
    /* What to do from inside a callback (re-entrancy), and with what. */
    Action on_success, on_complete;
    struct Call *next_call;
    JoinReq *next_join;
    int action_rc;
    bool action_done;
} Call;

#define MAX_CALLS 512
static Call g_calls[MAX_CALLS]; /* never reused: a late callback can never hit a dead call */
static int g_call_count;

static Call *new_call(const char *label) {
    pthread_mutex_lock(&g_lock);
    if (g_call_count >= MAX_CALLS) {
        fprintf(stderr, "too many calls\n");
        abort();
    }
    Call *c = &g_calls[g_call_count++];
    memset(c, 0, sizeof *c);
    c->label = label;
    c->action_rc = 12345;
    pthread_mutex_unlock(&g_lock);
    return c;
}

static void cb_success(const VoipResult *r, void *ud);
static void cb_fail(const VoipResult *r, void *ud);
static void cb_complete(const VoipResult *r, void *ud);

static VoipCallbacks callbacks(void) {
    VoipCallbacks cbs = {cb_success, cb_fail, cb_complete};
    return cbs;
}

static void run_action(Call *c, Action action) {
    int rc = 0;
    switch (action) {
    case ACT_EXIT:
        rc = voip_exit(callbacks(), c->next_call);
        break;
    case ACT_JOIN:
        rc = voip_join(&c->next_join->p, callbacks(), c->next_call);
        break;
    case ACT_SHUTDOWN:
        voip_shutdown();
        break;
    case ACT_NONE:
        return;
    }
    pthread_mutex_lock(&g_lock);
    c->action_rc = rc;
    c->action_done = true;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
}

enum { KIND_SUCCESS, KIND_FAIL, KIND_COMPLETE };

static void on_result(int kind, const VoipResult *r, Call *c) {
    note_context(c->label);
    Action action = ACT_NONE;
    pthread_mutex_lock(&g_lock);
    if (r == NULL || r->err_msg == NULL || (r->open_id_count > 0 && r->open_id_list == NULL)) {
        c->bad_result = true;
    }
    size_t used = strlen(c->history);
    snprintf(c->history + used, sizeof c->history - used, "%s%s(%d%s%s%s)", used ? " " : "",
             kind == KIND_SUCCESS ? "success" : kind == KIND_FAIL ? "fail" : "complete",
             r ? r->err_code : 1, r && r->err_msg ? " \"" : "", r && r->err_msg ? r->err_msg : "",
             r && r->err_msg ? "\"" : "");
    if (kind == KIND_COMPLETE) {
        c->complete++;
        if (c->success + c->fail != 1) c->complete_before_outcome = true;
        if (r && r->err_msg && (r->err_code != c->code || strcmp(r->err_msg, c->msg) != 0 ||
                                (int)r->open_id_count != c->id_count)) {
            c->mismatch = true;
        }
        action = c->on_complete;
    } else {
        if (kind == KIND_SUCCESS) c->success++;
        else c->fail++;
        if (r && r->err_msg) {
            c->code = r->err_code;
            snprintf(c->msg, sizeof c->msg, "%s", r->err_msg);
            c->id_count = (int)r->open_id_count;
            for (size_t i = 0; i < r->open_id_count && i < MAX_IDS && r->open_id_list; i++) {
                snprintf(c->ids[i], sizeof c->ids[i], "%s",
                         r->open_id_list[i] ? r->open_id_list[i] : "(null)");
            }
        }
        if ((kind == KIND_SUCCESS) != (r && r->err_code == VOIP_OK)) c->bad_result = true;
        if (kind == KIND_SUCCESS) action = c->on_success;
    }
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
    /* Re-entrant calls are made with no lock of ours held, as a game would. */
    run_action(c, action);
}

static void cb_success(const VoipResult *r, void *ud) { on_result(KIND_SUCCESS, r, ud); }
static void cb_fail(const VoipResult *r, void *ud) { on_result(KIND_FAIL, r, ud); }
static void cb_complete(const VoipResult *r, void *ud) { on_result(KIND_COMPLETE, r, ud); }

static bool call_completed(void *arg) { return ((Call *)arg)->complete > 0; }
static bool action_done(void *arg) { return ((Call *)arg)->action_done; }

#define WAIT_CALL(c) WAIT_UNTIL(call_completed, (c), 10.0, (c)->label)

/* A consistent copy of `c`, taken under the lock its callbacks write under. */
static Call snapshot(const Call *c) {
    pthread_mutex_lock(&g_lock);
    Call copy = *c;
    pthread_mutex_unlock(&g_lock);
    return copy;
}

/* Waits for `c` and checks it succeeded with `expected_msg`. */
static void expect_ok_at(Call *c, const char *expected_msg, const char *file, int line) {
    if (!wait_until_at(call_completed, c, 10.0, c->label, file, line)) return;
    Call now = snapshot(c);
    check_impl(now.success == 1 && now.fail == 0 && now.code == VOIP_OK &&
                   strcmp(now.msg, expected_msg) == 0,
               file, line, "%s succeeds with \"%s\" (success %d, fail %d, err_code %d, \"%s\")",
               now.label, expected_msg, now.success, now.fail, now.code, now.msg);
}
#define EXPECT_OK(c, expected_msg) expect_ok_at((c), (expected_msg), __FILE__, __LINE__)

/* Waits for `c` and checks it failed with `expected_code` and "<api>:fail <reason>". */
static void expect_fail_at(Call *c, int expected_code, const char *api, const char *file,
                           int line) {
    if (!wait_until_at(call_completed, c, 10.0, c->label, file, line)) return;
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%s:fail ", api);
    Call now = snapshot(c);
    check_impl(now.success == 0 && now.fail == 1 && now.code == expected_code &&
                   strncmp(now.msg, prefix, strlen(prefix)) == 0 &&
                   strlen(now.msg) > strlen(prefix),
               file, line,
               "%s fails with %d and \"%s<reason>\" (success %d, fail %d, err_code %d, \"%s\")",
               now.label, expected_code, prefix, now.success, now.fail, now.code, now.msg);
}
#define EXPECT_FAIL(c, expected_code, api) \
    expect_fail_at((c), (expected_code), (api), __FILE__, __LINE__)

/* ------------------------------------------------------------------------------------------ */
/* Listeners (set once, before the first voip_init; they stay set across voip_shutdown)       */

#define MAX_STATES 64
typedef struct {
    int state_count;
    int states[MAX_STATES];
    char state_data[MAX_STATES][512];
    int interrupted_count;
    int interrupted_code;
    char interrupted_msg[512];
    int members_count;
    int speakers_count;
    int video_members_count;
    char video_members_first[64];
    int video_frames;
    int log_count;
} Events;
static Events g_events;

static void reset_events(void) {
    pthread_mutex_lock(&g_lock);
    memset(&g_events, 0, sizeof g_events);
    pthread_mutex_unlock(&g_lock);
}

static void on_state(VoipState code, const char *data_json, void *ud) {
    note_context("state listener");
    Events *e = ud;
    pthread_mutex_lock(&g_lock);
    if (e->state_count < MAX_STATES) {
        e->states[e->state_count] = code;
        snprintf(e->state_data[e->state_count], sizeof e->state_data[0], "%s",
                 data_json ? data_json : "(null)");
        e->state_count++;
    }
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
}

static void on_interrupted(const VoipResult *r, void *ud) {
    note_context("interrupted listener");
    Events *e = ud;
    pthread_mutex_lock(&g_lock);
    e->interrupted_count++;
    e->interrupted_code = r ? r->err_code : 1;
    snprintf(e->interrupted_msg, sizeof e->interrupted_msg, "%s",
             r && r->err_msg ? r->err_msg : "(null)");
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
}

static void on_members(const VoipResult *r, void *ud) {
    (void)r;
    note_context("members listener");
    Events *e = ud;
    pthread_mutex_lock(&g_lock);
    e->members_count++;
    pthread_mutex_unlock(&g_lock);
}

static void on_speakers(const VoipResult *r, void *ud) {
    (void)r;
    note_context("speakers listener");
    Events *e = ud;
    pthread_mutex_lock(&g_lock);
    e->speakers_count++;
    pthread_mutex_unlock(&g_lock);
}

static void on_log(VoipLogLevel level, const char *message, void *ud) {
    (void)level;
    (void)message;
    note_context("log");
    Events *e = ud;
    pthread_mutex_lock(&g_lock);
    e->log_count++;
    pthread_mutex_unlock(&g_lock);
}

static bool last_state_is_left(void *arg) {
    Events *e = arg;
    return e->state_count > 0 && e->states[e->state_count - 1] == VOIP_STATE_LEFT;
}
static bool got_interrupted(void *arg) { return ((Events *)arg)->interrupted_count > 0; }

/* ------------------------------------------------------------------------------------------ */
/* The relay, the SDK and signed joins                                                         */

static VoipServer *g_server;
static char g_server_addr[64];
static char g_server_pin[VOIP_SIGNATURE_BUFFER];

static VoipServer *start_server(char *addr, size_t addr_len, char *pin, size_t pin_len) {
    VoipApp apps[] = {{APP_ID, APP_SECRET}};
    VoipServerConfig config = voip_server_config_default();
    config.apps = apps;
    config.app_count = 1;
    VoipServer *server = voip_server_start(&config);
    if (!check_impl(server != NULL, __FILE__, __LINE__, "voip_server_start: %s",
                    voip_last_error_message())) {
        return NULL;
    }
    uint16_t port = voip_server_port(server);
    CHECK(port != 0);
    snprintf(addr, addr_len, "127.0.0.1:%u", (unsigned)port);
    const char *sha = voip_server_cert_sha256(server);
    CHECK(sha != NULL && strlen(sha) == 64);
    snprintf(pin, pin_len, "%s", sha ? sha : "");
    return server;
}

static uint32_t scaled_ms(double ms) {
    double v = ms * g_scale;
    return v > 4e9 ? 4000000000u : (uint32_t)v;
}

/* The configuration every case starts from: the suite's relay, pinned; engine-fed audio, so
 * no sound card is needed; the suite's dispatch mode; a log callback. */
static VoipConfig base_config(void) {
    VoipConfig config = voip_config_default();
    config.server = g_server_addr;
    config.server_cert_sha256 = g_server_pin;
    config.dispatch = g_mode;
    config.audio_mode = VOIP_AUDIO_EXTERNAL;
    config.log = on_log;
    config.log_user_data = &g_events;
    config.connect_timeout_ms = scaled_ms(5000);
    return config;
}

static bool sdk_up(const VoipConfig *config) {
    int rc = voip_init(config);
    return check_impl(rc == VOIP_OK, __FILE__, __LINE__, "voip_init == 0 (got %d: %s)", rc,
                      rc ? voip_last_error_message() : "");
}

static void sdk_down(void) {
    atomic_store(&g_in_dispatch, 1); /* POLL: voip_shutdown runs what is still queued */
    voip_shutdown();
    atomic_store(&g_in_dispatch, 0);
}

static atomic_int g_nonce_counter;

static void make_nonce(char *out, size_t len) {
    snprintf(out, len, "c-%ld-%s-%d", (long)getpid(), mode_name(),
             atomic_fetch_add(&g_nonce_counter, 1));
}

/* Join parameters for `open_id` in `group_id`, signed the way a game backend signs them:
 * session key from the app secret, then WeChat's signature over a fresh nonce and now. */
static void sign_join(JoinReq *j, const char *open_id, const char *group_id) {
    memset(j, 0, sizeof *j);
    snprintf(j->open_id, sizeof j->open_id, "%s", open_id);
    snprintf(j->group_id, sizeof j->group_id, "%s-%s", group_id, mode_name());
    make_nonce(j->nonce, sizeof j->nonce);
    int64_t ts = (int64_t)time(NULL);
    char key[VOIP_SESSION_KEY_BUFFER];
    CHECK_INT(voip_session_key(APP_SECRET, j->open_id, key, sizeof key), VOIP_OK);
    CHECK_INT(voip_sign(key, APP_ID, j->group_id, j->nonce, ts, j->signature, sizeof j->signature),
              VOIP_OK);
    j->p.app_id = APP_ID;
    j->p.open_id = j->open_id;
    j->p.group_id = j->group_id;
    j->p.nonce_str = j->nonce;
    j->p.time_stamp = ts;
    j->p.signature = j->signature;
    j->p.room_type = VOIP_ROOM_VOICE;
    j->p.mute_config = NULL;
}

/* Signs again after the caller changed the nonce or group. */
static void resign(JoinReq *j) {
    char key[VOIP_SESSION_KEY_BUFFER];
    CHECK_INT(voip_session_key(APP_SECRET, j->open_id, key, sizeof key), VOIP_OK);
    CHECK_INT(voip_sign(key, APP_ID, j->p.group_id, j->p.nonce_str, j->p.time_stamp, j->signature,
                        sizeof j->signature),
              VOIP_OK);
    j->p.signature = j->signature;
}

static Call *join(JoinReq *j, const char *label, int expected_rc) {
    Call *c = new_call(label);
    int rc = voip_join(&j->p, callbacks(), c);
    check_impl(rc == expected_rc, __FILE__, __LINE__, "voip_join(%s) returns %d (got %d)", label,
               expected_rc, rc);
    return c;
}

static Call *exit_call(const char *label, int expected_rc) {
    Call *c = new_call(label);
    int rc = voip_exit(callbacks(), c);
    check_impl(rc == expected_rc, __FILE__, __LINE__, "voip_exit(%s) returns %d (got %d)", label,
               expected_rc, rc);
    return c;
}

static Call *mute_call(const VoipMuteConfig *mute, const char *label, int expected_rc) {
    Call *c = new_call(label);
    int rc = voip_update_mute_config(mute, callbacks(), c);
    check_impl(rc == expected_rc, __FILE__, __LINE__,
               "voip_update_mute_config(%s) returns %d (got %d)", label, expected_rc, rc);
    return c;
}

/* Joins `open_id` and waits until joined. */
static Call *join_and_wait(JoinReq *j, const char *open_id, const char *group_id) {
    sign_join(j, open_id, group_id);
    Call *c = join(j, "join", VOIP_OK);
    EXPECT_OK(c, "joinVoIPChat:ok");
    return c;
}

/* A UDP socket nobody reads: a "relay" that never answers. */
static int silent_socket(char *addr, size_t len) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        check_impl(false, __FILE__, __LINE__, "cannot bind a UDP socket: %s", strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    snprintf(addr, len, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    return fd;
}

#define ZERO_PIN "0000000000000000000000000000000000000000000000000000000000000000"

/* ------------------------------------------------------------------------------------------ */
/* Cases                                                                                       */

/* Join success: success + complete once each, fail never; "joinVoIPChat:ok"; the joiner in
 * open_id_list. A lone member hears no members-changed (checked for every case by run_case). */
static void case_join_success(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    CHECK_INT(voip_state(), VOIP_STATE_IDLE);
    static JoinReq j;
    sign_join(&j, "alice", "join-success");
    Call *c = join(&j, "join", VOIP_OK);
    EXPECT_OK(c, "joinVoIPChat:ok");
    CHECK_INT(c->id_count, 1);
    CHECK_STR(c->ids[0], "alice");
    CHECK_INT(voip_state(), VOIP_STATE_JOINED);
    if (g_mode == VOIP_DISPATCH_THREAD) CHECK_INT(voip_poll(), 0);
    settle(0.2); /* nothing more may arrive for this call */
    CHECK_INT(c->success, 1);
    CHECK_INT(c->fail, 0);
    CHECK_INT(c->complete, 1);
}

/* A second join while joined: returns -1, fail + complete get -1, and the first call stays. */
static void case_second_join_while_joined_is_minus_1(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    static JoinReq j, again;
    join_and_wait(&j, "alice", "second-join");
    sign_join(&again, "alice", "second-join-other");
    Call *c = join(&again, "second join", VOIP_ERR_ALREADY_IN_ROOM);
    EXPECT_FAIL(c, VOIP_ERR_ALREADY_IN_ROOM, "joinVoIPChat");
    CHECK_STR(c->msg, "joinVoIPChat:fail already in a room or joining one");
    CHECK_INT(c->id_count, 0);
    CHECK_INT(voip_state(), VOIP_STATE_JOINED);
    EXPECT_OK(exit_call("exit", VOIP_OK), "exitVoIPChat:ok");
}

/* A second join while the first is still joining (a relay that never answers) is -1 too. */
static void case_second_join_while_joining_is_minus_1(void) {
    char silent[64];
    int fd = silent_socket(silent, sizeof silent);
    if (fd < 0) return;
    VoipConfig config = base_config();
    config.server = silent;
    config.server_cert_sha256 = ZERO_PIN;
    if (sdk_up(&config)) {
        static JoinReq j, again;
        sign_join(&j, "alice", "joining");
        sign_join(&again, "alice", "joining");
        Call *first = join(&j, "join", VOIP_OK);
        CHECK_INT(voip_state(), VOIP_STATE_JOINING);
        Call *second = join(&again, "second join", VOIP_ERR_ALREADY_IN_ROOM);
        EXPECT_FAIL(second, VOIP_ERR_ALREADY_IN_ROOM, "joinVoIPChat");
        EXPECT_OK(exit_call("exit", VOIP_OK), "exitVoIPChat:ok");
        EXPECT_FAIL(first, VOIP_ERR_LEFT_WHILE_JOINING, "joinVoIPChat");
    }
    sdk_down();
    close(fd);
}

static void case_exit_success(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    static JoinReq j;
    join_and_wait(&j, "alice", "exit");
    Call *c = exit_call("exit", VOIP_OK);
    EXPECT_OK(c, "exitVoIPChat:ok");
    CHECK_INT(c->id_count, 0);
    CHECK_INT(voip_state(), VOIP_STATE_LEFT);
}

static void case_exit_not_in_room_is_minus_1005(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    Call *c = exit_call("exit before any join", VOIP_ERR_NOT_IN_ROOM);
    EXPECT_FAIL(c, VOIP_ERR_NOT_IN_ROOM, "exitVoIPChat");
    CHECK_STR(c->msg, "exitVoIPChat:fail not in a room");
    static JoinReq j;
    join_and_wait(&j, "alice", "exit-twice");
    EXPECT_OK(exit_call("exit", VOIP_OK), "exitVoIPChat:ok");
    c = exit_call("exit after exit", VOIP_ERR_NOT_IN_ROOM);
    EXPECT_FAIL(c, VOIP_ERR_NOT_IN_ROOM, "exitVoIPChat");
    CHECK_STR(c->msg, "exitVoIPChat:fail not in a room");
}

/* Mute updates in a room are acknowledged; mute_config NULL is -1001 there too. Also joins
 * with a mute_config, so that pointer is read. */
static void case_update_mute_in_room(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    static JoinReq j;
    sign_join(&j, "alice", "mute");
    j.mute.mute_microphone = true;
    j.p.mute_config = &j.mute;
    EXPECT_OK(join(&j, "join muted", VOIP_OK), "joinVoIPChat:ok");
    VoipMuteConfig settings[] = {{false, true}, {true, true}, {false, false}};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        Call *c = mute_call(&settings[i], "mute", VOIP_OK);
        EXPECT_OK(c, "updateVoIPChatMuteConfig:ok");
    }
    Call *c = mute_call(NULL, "mute NULL", VOIP_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(c, VOIP_ERR_INVALID_ARGUMENT, "updateVoIPChatMuteConfig");
    CHECK_STR(c->msg, "updateVoIPChatMuteConfig:fail mute_config is NULL");
    CHECK_INT(voip_state(), VOIP_STATE_JOINED);
    EXPECT_OK(exit_call("exit", VOIP_OK), "exitVoIPChat:ok");
}

static void case_update_mute_outside_room(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    VoipMuteConfig mute = {true, false};
    Call *c = mute_call(&mute, "mute outside", VOIP_ERR_NOT_IN_ROOM);
    EXPECT_FAIL(c, VOIP_ERR_NOT_IN_ROOM, "updateVoIPChatMuteConfig");
    CHECK_STR(c->msg, "updateVoIPChatMuteConfig:fail not in a room");
    c = mute_call(NULL, "mute NULL outside", VOIP_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(c, VOIP_ERR_INVALID_ARGUMENT, "updateVoIPChatMuteConfig");
    CHECK_STR(c->msg, "updateVoIPChatMuteConfig:fail mute_config is NULL");
}

/* Wrong signature, stale timestamp, unknown app: -1002, and never a hint which check failed. */
static void case_bad_signature_is_minus_1002(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    static JoinReq j;

    sign_join(&j, "alice", "bad-signature");
    memset(j.signature, '0', 64);
    Call *c = join(&j, "wrong signature", VOIP_OK);
    EXPECT_FAIL(c, VOIP_ERR_SIGNATURE_REJECTED, "joinVoIPChat");
    CHECK_STR(c->msg, "joinVoIPChat:fail signature rejected");
    CHECK_INT(voip_state(), VOIP_STATE_LEFT);

    sign_join(&j, "alice", "bad-signature");
    j.p.time_stamp -= 3600;
    resign(&j);
    c = join(&j, "stale timestamp", VOIP_OK);
    EXPECT_FAIL(c, VOIP_ERR_SIGNATURE_REJECTED, "joinVoIPChat");
    CHECK_STR(c->msg, "joinVoIPChat:fail signature rejected");

    sign_join(&j, "alice", "bad-signature");
    j.p.app_id = "wx-nobody";
    c = join(&j, "unknown app", VOIP_OK);
    EXPECT_FAIL(c, VOIP_ERR_SIGNATURE_REJECTED, "joinVoIPChat");

    sign_join(&j, "alice", "bad-signature");
    j.p.open_id = "mallory"; /* alice's signature does not sign mallory in */
    c = join(&j, "other user", VOIP_OK);
    EXPECT_FAIL(c, VOIP_ERR_SIGNATURE_REJECTED, "joinVoIPChat");
}

static void case_reused_nonce_is_minus_1002(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    static JoinReq j;
    join_and_wait(&j, "alice", "nonce");
    EXPECT_OK(exit_call("exit", VOIP_OK), "exitVoIPChat:ok");
    Call *c = join(&j, "same nonce again", VOIP_OK);
    EXPECT_FAIL(c, VOIP_ERR_SIGNATURE_REJECTED, "joinVoIPChat");
    CHECK_STR(c->msg, "joinVoIPChat:fail signature rejected");
}

/* nonce_str is shorter than 128 characters: 128 is -1001 before any network, 127 is fine. */
static void case_nonce_length(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    static JoinReq j;
    static char nonce[200];
    for (int length = 128; length >= 127; length--) {
        sign_join(&j, "alice", "nonce-length");
        /* Unique (a replayed nonce would be -1002), then padded to `length` characters. */
        snprintf(nonce, sizeof nonce, "%s", j.nonce);
        size_t have = strlen(nonce);
        memset(nonce + have, 'n', (size_t)length - have);
        nonce[length] = '\0';
        CHECK_INT(strlen(nonce), length);
        j.p.nonce_str = nonce;
        resign(&j);
        if (length == 128) {
            Call *c = join(&j, "128-char nonce", VOIP_ERR_INVALID_ARGUMENT);
            EXPECT_FAIL(c, VOIP_ERR_INVALID_ARGUMENT, "joinVoIPChat");
            CHECK_CONTAINS(c->msg, "nonce_str");
            CHECK_INT(voip_state(), VOIP_STATE_IDLE); /* rejected before anything started */
        } else {
            Call *c = join(&j, "127-char nonce", VOIP_OK);
            if (WAIT_CALL(c)) {
                CHECK(c->code != VOIP_ERR_INVALID_ARGUMENT);
                CHECK_STR(c->msg, "joinVoIPChat:ok");
            }
            EXPECT_OK(exit_call("exit", VOIP_OK), "exitVoIPChat:ok");
        }
    }
}

static void case_null_params_is_minus_1001(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    Call *c = new_call("join NULL");
    CHECK_INT(voip_join(NULL, callbacks(), c), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_STR(voip_last_error_message(), "params is NULL");
    EXPECT_FAIL(c, VOIP_ERR_INVALID_ARGUMENT, "joinVoIPChat");
    CHECK_STR(c->msg, "joinVoIPChat:fail params is NULL");
    /* NULL callbacks and user_data are allowed. */
    VoipCallbacks none = {NULL, NULL, NULL};
    CHECK_INT(voip_join(NULL, none, NULL), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_INT(voip_exit(none, NULL), VOIP_ERR_NOT_IN_ROOM);
    settle(0.05);
}

/* Each required string NULL (or empty): -1001 naming the field. */
static void case_null_fields_are_minus_1001(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    static const char *const names[] = {"app_id", "open_id", "group_id", "nonce_str", "signature"};
    static JoinReq j;
    char expected[128];
    for (int empty = 0; empty <= 1; empty++) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            sign_join(&j, "alice", "null-fields");
            const char *value = empty ? "" : NULL;
            switch (i) {
            case 0: j.p.app_id = value; break;
            case 1: j.p.open_id = value; break;
            case 2: j.p.group_id = value; break;
            case 3: j.p.nonce_str = value; break;
            default: j.p.signature = value; break;
            }
            Call *c = join(&j, names[i], VOIP_ERR_INVALID_ARGUMENT);
            EXPECT_FAIL(c, VOIP_ERR_INVALID_ARGUMENT, "joinVoIPChat");
            snprintf(expected, sizeof expected, "joinVoIPChat:fail %s is %s", names[i],
                     empty ? "required" : "NULL");
            CHECK_STR(c->msg, expected);
        }
    }
    CHECK_INT(voip_state(), VOIP_STATE_IDLE);
}

static void case_invalid_utf8_is_minus_1001(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    static JoinReq j;
    sign_join(&j, "alice", "utf8");
    j.p.group_id = "\xff\xfe";
    Call *c = join(&j, "group_id not UTF-8", VOIP_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(c, VOIP_ERR_INVALID_ARGUMENT, "joinVoIPChat");
    CHECK_STR(c->msg, "joinVoIPChat:fail group_id is not valid UTF-8");
    sign_join(&j, "alice", "utf8");
    j.p.open_id = "ali\xc3"; /* a truncated two-byte sequence */
    c = join(&j, "open_id not UTF-8", VOIP_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(c, VOIP_ERR_INVALID_ARGUMENT, "joinVoIPChat");
    CHECK_STR(c->msg, "joinVoIPChat:fail open_id is not valid UTF-8");
}

static void case_bad_room_type_is_minus_1001(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    static JoinReq j;
    sign_join(&j, "alice", "room-type");
    j.p.room_type = 7;
    Call *c = join(&j, "room_type 7", VOIP_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(c, VOIP_ERR_INVALID_ARGUMENT, "joinVoIPChat");
    CHECK_STR(c->msg, "joinVoIPChat:fail room_type 7 is not a VoipRoomType");
    j.p.room_type = -1;
    c = join(&j, "room_type -1", VOIP_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(c, VOIP_ERR_INVALID_ARGUMENT, "joinVoIPChat");
}

/* Before voip_init: -1001, with fail + complete run synchronously, inside the call. */
static void case_calls_before_init(void) {
    voip_shutdown(); /* harmless without voip_init */
    CHECK_INT(voip_state(), VOIP_STATE_IDLE);
    CHECK_INT(voip_poll(), 0);
    static JoinReq j;
    sign_join(&j, "alice", "before-init");
    VoipMuteConfig mute = {false, false};
    const char *apis[] = {"joinVoIPChat", "exitVoIPChat", "updateVoIPChatMuteConfig"};
    char expected[128];
    for (int i = 0; i < 3; i++) {
        Call *c = new_call(apis[i]);
        atomic_store(&g_expect_sync, 1);
        int rc = i == 0   ? voip_join(&j.p, callbacks(), c)
                 : i == 1 ? voip_exit(callbacks(), c)
                          : voip_update_mute_config(&mute, callbacks(), c);
        atomic_store(&g_expect_sync, 0);
        CHECK_INT(rc, VOIP_ERR_INVALID_ARGUMENT);
        /* Already ran: no waiting. */
        CHECK_INT(c->fail, 1);
        CHECK_INT(c->complete, 1);
        CHECK_INT(c->success, 0);
        CHECK_INT(c->code, VOIP_ERR_INVALID_ARGUMENT);
        snprintf(expected, sizeof expected, "%s:fail not initialized: call voip_init first",
                 apis[i]);
        CHECK_STR(c->msg, expected);
    }
    CHECK_INT(voip_state(), VOIP_STATE_IDLE);
}

/* voip_init(NULL), bad configs, init twice: -1001 with a reason; shutdown twice is harmless. */
static void case_init_errors(void) {
    voip_shutdown();
    CHECK_INT(voip_init(NULL), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_STR(voip_last_error_message(), "config is NULL");

    struct {
        const char *what;
        VoipConfig config;
    } bad[7];
    for (int i = 0; i < 7; i++) bad[i].config = base_config();
    bad[0].what = "server NULL", bad[0].config.server = NULL;
    bad[1].what = "server without a port", bad[1].config.server = "no-port";
    bad[2].what = "dispatch 9", bad[2].config.dispatch = 9;
    bad[3].what = "audio_mode 9", bad[3].config.audio_mode = 9;
    bad[4].what = "frame_ms 15", bad[4].config.frame_ms = 15;
    bad[5].what = "pin not hex", bad[5].config.server_cert_sha256 = "xyz";
    bad[6].what = "server not UTF-8", bad[6].config.server = "\xff:1";
    for (int i = 0; i < 7; i++) {
        int rc = voip_init(&bad[i].config);
        check_impl(rc == VOIP_ERR_INVALID_ARGUMENT, __FILE__, __LINE__,
                   "voip_init(%s) == -1001 (got %d)", bad[i].what, rc);
        check_impl(strlen(voip_last_error_message()) > 0, __FILE__, __LINE__,
                   "voip_init(%s) sets voip_last_error_message()", bad[i].what);
        CHECK_INT(voip_state(), VOIP_STATE_IDLE);
        voip_shutdown(); /* in case it was accepted after all */
    }

    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    CHECK_INT(voip_init(&config), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_STR(voip_last_error_message(), "already initialized: call voip_shutdown first");
    /* The first SDK is still the one in place and works. */
    Call *c = exit_call("exit", VOIP_ERR_NOT_IN_ROOM);
    EXPECT_FAIL(c, VOIP_ERR_NOT_IN_ROOM, "exitVoIPChat");
    sdk_down();
    sdk_down(); /* twice */
    CHECK_INT(voip_state(), VOIP_STATE_IDLE);
    if (sdk_up(&config)) sdk_down(); /* and again */
}

/* Count this process's threads. */
static int thread_count(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Threads:", 8) == 0) n = atoi(line + 8);
    }
    fclose(f);
    return n;
}

/* A voip_init that fails must leave nothing running behind it. */
static void case_failed_init_leaves_no_thread(void) {
    voip_shutdown();
    VoipConfig config = base_config();
    config.server = "no-port"; /* rejected by the client, after the callback thread started */
    int before = thread_count();
    for (int i = 0; i < 3; i++) CHECK_INT(voip_init(&config), VOIP_ERR_INVALID_ARGUMENT);
    settle(0.2);
    int after = thread_count();
    check_impl(after <= before, __FILE__, __LINE__,
               "3 failed voip_init calls leave no thread behind (threads before %d, after %d)",
               before, after);
}

static void case_wrong_pin_is_minus_1007(void) {
    VoipConfig config = base_config();
    config.server_cert_sha256 = "abababababababababababababababababababababababababababababababab";
    if (!sdk_up(&config)) return;
    static JoinReq j;
    sign_join(&j, "alice", "pin");
    Call *c = join(&j, "join, wrong pin", VOIP_OK);
    EXPECT_FAIL(c, VOIP_ERR_CERTIFICATE_REJECTED, "joinVoIPChat");
    CHECK_CONTAINS(c->msg, "certificate");
    CHECK_INT(voip_state(), VOIP_STATE_LEFT);
}

static void case_unreachable_is_minus_1004(void) {
    char addr[64];
    int fd = silent_socket(addr, sizeof addr);
    if (fd < 0) return;
    close(fd); /* now nobody listens on that port */
    VoipConfig config = base_config();
    config.server = addr;
    config.connect_timeout_ms = 300;
    if (!sdk_up(&config)) return;
    static JoinReq j;
    sign_join(&j, "alice", "unreachable");
    Call *c = join(&j, "join, nobody there", VOIP_OK);
    EXPECT_FAIL(c, VOIP_ERR_SERVER_UNREACHABLE, "joinVoIPChat");
    CHECK_INT(voip_state(), VOIP_STATE_LEFT);
}

/* Exit while joining: the join fails -3, the exit succeeds. */
static void case_exit_while_joining(void) {
    char silent[64];
    int fd = silent_socket(silent, sizeof silent);
    if (fd < 0) return;
    VoipConfig config = base_config();
    config.server = silent;
    config.server_cert_sha256 = ZERO_PIN;
    if (sdk_up(&config)) {
        static JoinReq j;
        sign_join(&j, "alice", "exit-while-joining");
        Call *joining = join(&j, "join", VOIP_OK);
        Call *leaving = exit_call("exit", VOIP_OK);
        EXPECT_FAIL(joining, VOIP_ERR_LEFT_WHILE_JOINING, "joinVoIPChat");
        CHECK_STR(joining->msg, "joinVoIPChat:fail exit called while joining");
        EXPECT_OK(leaving, "exitVoIPChat:ok");
        CHECK_INT(voip_state(), VOIP_STATE_LEFT);
        if (WAIT_UNTIL(last_state_is_left, &g_events, 10.0, "state LEFT")) {
            CHECK_INT(g_events.states[0], VOIP_STATE_JOINING);
            CHECK_CONTAINS(g_events.state_data[g_events.state_count - 1], "\"errCode\":-3");
        }
    }
    sdk_down();
    close(fd);
}

/* voip_on_state_changed: JOINING, JOINED, LEFT, each with JSON naming the state. */
static void case_state_listener(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    static JoinReq j;
    join_and_wait(&j, "alice", "state");
    EXPECT_OK(exit_call("exit", VOIP_OK), "exitVoIPChat:ok");
    if (!WAIT_UNTIL(last_state_is_left, &g_events, 10.0, "state LEFT")) return;
    static const int expected[] = {VOIP_STATE_JOINING, VOIP_STATE_JOINED, VOIP_STATE_LEFT};
    static const char *const names[] = {"joining", "joined", "left"};
    CHECK_INT(g_events.state_count, 3);
    char needle[256];
    for (int i = 0; i < 3 && i < g_events.state_count; i++) {
        CHECK_INT(g_events.states[i], expected[i]);
        snprintf(needle, sizeof needle, "\"state\":\"%s\"", names[i]);
        CHECK_CONTAINS(g_events.state_data[i], needle);
        snprintf(needle, sizeof needle, "\"groupId\":\"%s\"", j.group_id);
        CHECK_CONTAINS(g_events.state_data[i], needle);
        CHECK_CONTAINS(g_events.state_data[i], "\"openId\":\"alice\"");
    }
}

/* voip_on_interrupted: -1009 when the relay shuts down under a member. */
static void case_interrupted_by_server_stop(void) {
    char addr[64], pin[VOIP_SIGNATURE_BUFFER];
    VoipServer *server = start_server(addr, sizeof addr, pin, sizeof pin);
    if (!server) return;
    VoipConfig config = base_config();
    config.server = addr;
    config.server_cert_sha256 = pin;
    if (sdk_up(&config)) {
        static JoinReq j;
        join_and_wait(&j, "alice", "interrupted");
        voip_server_stop(server);
        server = NULL;
        if (WAIT_UNTIL(got_interrupted, &g_events, 15.0, "interrupted")) {
            CHECK_INT(g_events.interrupted_count, 1);
            CHECK_INT(g_events.interrupted_code, VOIP_ERR_SERVER_SHUTTING_DOWN);
            CHECK_STR(g_events.interrupted_msg, "the server is shutting down");
        }
        if (WAIT_UNTIL(last_state_is_left, &g_events, 10.0, "state LEFT")) {
            CHECK_CONTAINS(g_events.state_data[g_events.state_count - 1], "\"errCode\":-1009");
        }
        CHECK_INT(voip_state(), VOIP_STATE_LEFT);
        Call *c = exit_call("exit after interruption", VOIP_ERR_NOT_IN_ROOM);
        EXPECT_FAIL(c, VOIP_ERR_NOT_IN_ROOM, "exitVoIPChat");
    }
    sdk_down();
    voip_server_stop(server);
}

/* From the join's success callback: voip_exit; from the exit's complete callback: voip_join. */
static void case_reentrant_exit_then_join(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    static JoinReq first, second;
    sign_join(&first, "alice", "reentrant");
    sign_join(&second, "alice", "reentrant-again");
    Call *joined = new_call("join (exits from success)");
    Call *exited = new_call("exit (joins from complete)");
    Call *rejoined = new_call("join again");
    joined->on_success = ACT_EXIT;
    joined->next_call = exited;
    exited->on_complete = ACT_JOIN;
    exited->next_call = rejoined;
    exited->next_join = &second;
    CHECK_INT(voip_join(&first.p, callbacks(), joined), VOIP_OK);
    EXPECT_OK(joined, "joinVoIPChat:ok");
    if (WAIT_UNTIL(action_done, joined, 10.0, "voip_exit from the success callback"))
        CHECK_INT(joined->action_rc, VOIP_OK);
    EXPECT_OK(exited, "exitVoIPChat:ok");
    if (WAIT_UNTIL(action_done, exited, 10.0, "voip_join from the complete callback"))
        CHECK_INT(exited->action_rc, VOIP_OK);
    EXPECT_OK(rejoined, "joinVoIPChat:ok");
    CHECK_INT(rejoined->id_count, 1);
    CHECK_STR(rejoined->ids[0], "alice");
    CHECK_INT(voip_state(), VOIP_STATE_JOINED);
    EXPECT_OK(exit_call("exit", VOIP_OK), "exitVoIPChat:ok");
}

/* The same open_id joins again after voip_shutdown (which leaves the room) and a fresh
 * voip_init: admitted, and alone in the room (the old seat is gone, not doubled). */
static void case_same_open_id_rejoins_after_reinit(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    static JoinReq first, second;
    join_and_wait(&first, "alice", "rejoin");
    sdk_down(); /* while joined: leaves the room, reports LEFT on the way out */
    CHECK_INT(voip_state(), VOIP_STATE_IDLE);
    CHECK(g_events.state_count > 0 &&
          g_events.states[g_events.state_count - 1] == VOIP_STATE_LEFT);
    if (!sdk_up(&config)) return;
    sign_join(&second, "alice", "rejoin");
    Call *c = join(&second, "join again after re-init", VOIP_OK);
    EXPECT_OK(c, "joinVoIPChat:ok");
    CHECK_INT(c->id_count, 1);
    CHECK_STR(c->ids[0], "alice");
    EXPECT_OK(exit_call("exit", VOIP_OK), "exitVoIPChat:ok");
}

/* voip_shutdown while a join is in progress: the join fails -3, delivered by the shutdown. */
static void case_shutdown_while_joining(void) {
    char silent[64];
    int fd = silent_socket(silent, sizeof silent);
    if (fd < 0) return;
    VoipConfig config = base_config();
    config.server = silent;
    config.server_cert_sha256 = ZERO_PIN;
    if (sdk_up(&config)) {
        static JoinReq j;
        sign_join(&j, "alice", "shutdown-while-joining");
        Call *c = join(&j, "join", VOIP_OK);
        double started = now_s();
        sdk_down();
        check_impl(now_s() - started < 5.0 * g_scale, __FILE__, __LINE__,
                   "voip_shutdown returned in %.1f s", now_s() - started);
        CHECK_INT(c->complete, 1); /* already delivered: no waiting after voip_shutdown */
        CHECK_INT(c->fail, 1);
        CHECK_INT(c->code, VOIP_ERR_LEFT_WHILE_JOINING);
        CHECK_PREFIX(c->msg, "joinVoIPChat:fail ");
    }
    close(fd);
}

/* POLL dispatch: a finished call waits in the queue until voip_poll(). */
static void case_poll_runs_callbacks_only_inside_poll(void) {
    if (g_mode != VOIP_DISPATCH_POLL) return;
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    static JoinReq j;
    sign_join(&j, "alice", "poll-only");
    Call *c = join(&j, "join", VOIP_OK);
    double deadline = now_s() + 10.0 * g_scale;
    while (voip_state() != VOIP_STATE_JOINED && now_s() < deadline) sleep_ms(5);
    CHECK_INT(voip_state(), VOIP_STATE_JOINED); /* the join is done ... */
    sleep_ms(50);
    CHECK_INT(c->complete, 0); /* ... but nobody polled, so nothing ran */
    CHECK_INT(g_events.state_count, 0);
    uint32_t ran = 0;
    while (c->complete == 0 && now_s() < deadline) {
        atomic_store(&g_in_dispatch, 1);
        ran += voip_poll();
        atomic_store(&g_in_dispatch, 0);
        sleep_ms(1);
    }
    CHECK(ran >= 3); /* JOINING, JOINED, the join's result */
    CHECK_INT(c->complete, 1);
    CHECK_INT(c->success, 1);
    CHECK_INT(g_events.state_count, 2);
    EXPECT_OK(exit_call("exit", VOIP_OK), "exitVoIPChat:ok");
}

/* The signing helpers: known answers, NULL arguments, short buffers. */
static void case_signing(void) {
    char key[VOIP_SESSION_KEY_BUFFER];
    char sig[VOIP_SIGNATURE_BUFFER];
    CHECK_INT(voip_session_key("secret", "user", key, sizeof key), VOIP_OK);
    CHECK_STR(key, "m0bDSSX1sxl4bVzt5Nxy7XywIGHhUmMDkozt29bCxco=");
    CHECK_INT(voip_sign("key", "app", "grp", "nonce", 1700000000, sig, sizeof sig), VOIP_OK);
    CHECK_STR(sig, "0a5abcc860ef1caca09ee51f66d8db43c6b4c84d6e0b2651a0021735d4d34a47");

    CHECK_INT(voip_session_key(NULL, "user", key, sizeof key), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_STR(voip_last_error_message(), "app_secret is NULL");
    CHECK_INT(voip_session_key("secret", NULL, key, sizeof key), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_INT(voip_session_key("secret", "user", NULL, sizeof key), VOIP_ERR_INVALID_ARGUMENT);
    memset(key, 'x', sizeof key);
    CHECK_INT(voip_session_key("secret", "user", key, sizeof key - 1), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(voip_last_error_message(), "45");
    CHECK(key[0] == 'x' && key[sizeof key - 2] == 'x'); /* nothing written */
    CHECK_INT(voip_session_key("secret", "user", key, 0), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_INT(voip_session_key("\xff", "user", key, sizeof key), VOIP_ERR_INVALID_ARGUMENT);

    CHECK_INT(voip_sign(NULL, "app", "grp", "nonce", 1, sig, sizeof sig), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_INT(voip_sign("key", NULL, "grp", "nonce", 1, sig, sizeof sig), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_INT(voip_sign("key", "app", NULL, "nonce", 1, sig, sizeof sig), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_INT(voip_sign("key", "app", "grp", NULL, 1, sig, sizeof sig), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_STR(voip_last_error_message(), "nonce_str is NULL");
    CHECK_INT(voip_sign("key", "app", "grp", "nonce", 1, NULL, sizeof sig), VOIP_ERR_INVALID_ARGUMENT);
    memset(sig, 'x', sizeof sig);
    CHECK_INT(voip_sign("key", "app", "grp", "nonce", 1, sig, sizeof sig - 1),
              VOIP_ERR_INVALID_ARGUMENT);
    CHECK(sig[0] == 'x');
    CHECK_INT(voip_sign("key", "app", "grp\xfe", "nonce", 1, sig, sizeof sig),
              VOIP_ERR_INVALID_ARGUMENT);
    /* The library's own strings. */
    CHECK(voip_version() != NULL && strlen(voip_version()) > 0);
}

/* voip_server_start failures return NULL with a reason; NULL servers are harmless. */
static void case_server_start_errors(void) {
    VoipServerConfig config = voip_server_config_default();
    config.listen = "not an address";
    CHECK(voip_server_start(&config) == NULL);
    CHECK(strlen(voip_last_error_message()) > 0);
    CHECK_CONTAINS(voip_last_error_message(), "listen");

    config = voip_server_config_default();
    config.app_count = 1; /* and apps NULL */
    CHECK(voip_server_start(&config) == NULL);
    CHECK(strlen(voip_last_error_message()) > 0);

    VoipApp empty[] = {{"", "secret"}};
    config = voip_server_config_default();
    config.apps = empty;
    config.app_count = 1;
    CHECK(voip_server_start(&config) == NULL);
    CHECK(strlen(voip_last_error_message()) > 0);

    config = voip_server_config_default();
    config.cert_pem_path = "/nonexistent/cert.pem"; /* without key_pem_path */
    CHECK(voip_server_start(&config) == NULL);
    CHECK(strlen(voip_last_error_message()) > 0);

    CHECK_INT(voip_server_port(NULL), 0);
    CHECK(voip_server_cert_sha256(NULL) == NULL);
    voip_server_stop(NULL);
}

/* From inside a callback, voip_shutdown returns (no deadlock) and the SDK is gone after. */
static void case_shutdown_inside_callback(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    static JoinReq j;
    sign_join(&j, "alice", "shutdown-in-callback");
    Call *c = new_call("join (shuts down from success)");
    c->on_success = ACT_SHUTDOWN;
    CHECK_INT(voip_join(&j.p, callbacks(), c), VOIP_OK);
    EXPECT_OK(c, "joinVoIPChat:ok");
    WAIT_UNTIL(action_done, c, 15.0, "voip_shutdown to return inside the success callback");
    /* The shutdown left the room; the LEFT it reported is still delivered. */
    WAIT_UNTIL(last_state_is_left, &g_events, 10.0, "state LEFT");
    CHECK_INT(voip_state(), VOIP_STATE_IDLE);
    Call *after = new_call("exit after shutdown");
    atomic_store(&g_expect_sync, 1);
    CHECK_INT(voip_exit(callbacks(), after), VOIP_ERR_INVALID_ARGUMENT);
    atomic_store(&g_expect_sync, 0);
    CHECK_INT(after->complete, 1);
    CHECK_STR(after->msg, "exitVoIPChat:fail not initialized: call voip_init first");
}

/* ------------------------------------------------------------------------------------------ */
/* Driver                                                                                      */


static bool got_speakers(void *arg) { return ((Events *)arg)->speakers_count > 0; }

/* External audio across the ABI: 44.1 kHz stereo pushed and pulled in 10 ms chunks through a
 * joined call (the Opus encoder, VAD and resamplers run under valgrind here), the local user
 * reported as speaking, and bad arguments refused with -1001 or 0 frames. */
static void case_external_audio(void) {
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    static JoinReq j;
    join_and_wait(&j, "alice", "external-audio");
    enum { RATE = 44100, FRAMES = 441, CH = 2 };
    static float in[FRAMES * CH], out[FRAMES * CH];
    double phase = 0.0;
    for (int step = 0; step < 250; step++) { /* 1 s of silence, then 1.5 s of a voice */
        for (int i = 0; i < FRAMES; i++) {
            float v = 0.0f;
            if (step >= 100) {
                phase += 2.0 * 3.14159265358979 * 150.0 / RATE;
                for (int h = 1; h < 6; h++) v += (float)(0.2 * sin(phase * h) / h);
            }
            in[i * CH] = in[i * CH + 1] = v;
        }
        CHECK_INT(voip_audio_push_capture(in, FRAMES, RATE, CH), VOIP_OK);
        for (int i = 0; i < FRAMES * CH; i++) out[i] = 1.0f;
        CHECK_INT((int)voip_audio_pull_playback(out, FRAMES, RATE, CH), FRAMES);
        bool silent = true;
        for (int i = 0; i < FRAMES * CH; i++) silent = silent && out[i] == 0.0f;
        CHECK(silent); /* alone in the room: nothing to hear, and never our own voice */
        if (g_mode == VOIP_DISPATCH_POLL) poll_once();
        sleep_ms(2);
    }
    WAIT_UNTIL(got_speakers, &g_events, 3.0, "speakers-changed with the local user");

    CHECK_INT(voip_audio_push_capture(NULL, FRAMES, RATE, CH), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_INT(voip_audio_push_capture(in, FRAMES, 0, CH), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_INT(voip_audio_push_capture(in, FRAMES, RATE, 9), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_INT((int)voip_audio_pull_playback(NULL, FRAMES, RATE, CH), 0);
    CHECK_INT((int)voip_audio_pull_playback(out, FRAMES, 1000000, CH), 0);
    CHECK_INT((int)voip_audio_pull_member(NULL, out, FRAMES, RATE, CH), 0);
    CHECK_INT((int)voip_audio_pull_member("nobody", out, FRAMES, RATE, CH), FRAMES);

    size_t needed = 0;
    CHECK_INT(voip_stats_json(NULL, 0, &needed), VOIP_OK);
    CHECK(needed > 2);
    char stats[4096];
    CHECK_INT(voip_stats_json(stats, sizeof stats, &needed), VOIP_OK);
    CHECK(strstr(stats, "\"sent\"") != NULL);
    char tiny[2];
    CHECK_INT(voip_stats_json(tiny, sizeof tiny, NULL), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_INT(voip_audio_devices_json(NULL, 0, &needed), VOIP_OK);
    CHECK(needed >= sizeof "{\"input\":[],\"output\":[]}");
    EXPECT_OK(exit_call("exit", VOIP_OK), "exitVoIPChat:ok");
}

static void on_video_members(const VoipResult *r, void *ud) {
    note_context("video members listener");
    Events *e = ud;
    pthread_mutex_lock(&g_lock);
    e->video_members_count++;
    snprintf(e->video_members_first, sizeof e->video_members_first, "%s",
             r && r->open_id_count > 0 && r->open_id_list[0] ? r->open_id_list[0] : "");
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
}

static void on_video_frame(const char *open_id, const VoipVideoFrame *frame, void *ud) {
    (void)open_id;
    (void)frame;
    note_context("video frame listener");
    Events *e = ud;
    pthread_mutex_lock(&g_lock);
    e->video_frames++;
    pthread_mutex_unlock(&g_lock);
}

static bool got_video_members(void *arg) { return ((Events *)arg)->video_members_count > 0; }

static Call *subscribe_call(const char *const *ids, size_t count, const char *label,
                            int expected_rc) {
    Call *c = new_call(label);
    int rc = voip_subscribe_video_members(ids, count, callbacks(), c);
    check_impl(rc == expected_rc, __FILE__, __LINE__,
               "voip_subscribe_video_members(%s) returns %d (got %d)", label, expected_rc, rc);
    return c;
}

/* Checks that pushing `frame` fails with -1001 and a reason that starts as expected. */
static void push_refused_at(const VoipVideoFrame *frame, const char *reason_start, const char *file,
                            int line) {
    int rc = voip_video_push_frame(frame);
    const char *msg = voip_last_error_message();
    check_impl(rc == VOIP_ERR_INVALID_ARGUMENT && strncmp(msg, reason_start, strlen(reason_start)) == 0,
               file, line, "push refused with -1001 \"%s...\" (got %d \"%s\")", reason_start, rc, msg);
}
#define PUSH_REFUSED(frame, reason) push_refused_at((frame), (reason), __FILE__, __LINE__)

/* Video across the ABI: refused outside a call and in a voice room; in a video room, bad frames
 * (NULL, zero and huge sizes, short strides, NULL planes, made-up formats) are -1001 with a
 * reason and nothing is read; real RGBA and I420 frames are encoded (VP8, under valgrind
 * here) and make this member a publisher, which the video members listener reports; pulls
 * and subscriptions answer as documented. */
static void case_video(void) {
    VoipConfig config = base_config();
    /* Under valgrind, which runs one thread at a time, each 640x360 encode takes seconds and
     * starves the SDK's network threads: give the connection's liveness the test's scale. */
    config.idle_timeout_ms = scaled_ms(6000);
    config.resume_timeout_ms = scaled_ms(10000);
    if (!sdk_up(&config)) return;
    CHECK_INT(voip_on_video_members_changed(on_video_members, &g_events), VOIP_OK);
    CHECK_INT(voip_on_video_frame(on_video_frame, &g_events), VOIP_OK);
    enum { W = 320, H = 180 };
    static uint8_t rgba[W * H * 4], y[W * H], u[W * H / 4], v[W * H / 4];
    VoipVideoFrame frame = {VOIP_PIXEL_RGBA, W, H, {rgba, NULL, NULL}, {W * 4, 0, 0}, 0};
    const char *bob[] = {"bob"};
    CHECK_INT(voip_video_push_frame(&frame), VOIP_ERR_NOT_IN_ROOM);
    CHECK_STR(voip_last_error_message(), "push_video_frame: not in a video call");
    Call *c = subscribe_call(bob, 1, "subscribe outside a call", VOIP_ERR_NOT_IN_ROOM);
    EXPECT_FAIL(c, VOIP_ERR_NOT_IN_ROOM, "subscribeVoIPVideoMembers");

    static JoinReq voice;
    join_and_wait(&voice, "alice", "video-in-voice");
    CHECK_INT(voip_video_push_frame(&frame), VOIP_ERR_ROOM_TYPE_MISMATCH);
    c = subscribe_call(bob, 1, "subscribe in a voice room", VOIP_OK);
    EXPECT_FAIL(c, VOIP_ERR_ROOM_TYPE_MISMATCH, "subscribeVoIPVideoMembers");
    EXPECT_OK(exit_call("exit voice", VOIP_OK), "exitVoIPChat:ok");

    static JoinReq video;
    sign_join(&video, "alice", "video");
    video.p.room_type = VOIP_ROOM_VIDEO;
    EXPECT_OK(join(&video, "join video", VOIP_OK), "joinVoIPChat:ok");
    PUSH_REFUSED(NULL, "push_video_frame: frame is NULL");
    VoipVideoFrame bad = frame;
    bad.width = 0;
    PUSH_REFUSED(&bad, "push_video_frame: frame size 0x180 is too small");
    bad = frame;
    bad.width = 100000;
    bad.height = 100000;
    PUSH_REFUSED(&bad, "push_video_frame: frame size 100000x100000 is too large");
    bad = frame;
    bad.strides[0] = W; /* a quarter of an RGBA row */
    PUSH_REFUSED(&bad, "RGBA stride 320 is smaller than one row");
    bad = frame;
    bad.planes[0] = NULL;
    PUSH_REFUSED(&bad, "RGBA plane is NULL");
    bad = frame;
    bad.format = 7;
    PUSH_REFUSED(&bad, "push_video_frame: format 7 is not");
    VoipVideoFrame i420 = {VOIP_PIXEL_I420, W, H, {y, u, NULL}, {W, W / 2, W / 2}, 0};
    PUSH_REFUSED(&i420, "V plane is NULL");
    i420.planes[2] = v;

    for (int n = 0; n < 4; n++) { /* a moving bar, alternately as RGBA and as I420 */
        for (int i = 0; i < W * H; i++) {
            uint8_t level = (uint8_t)((i % W + n * 8) % W < 40 ? 235 : 40);
            rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = level;
            y[i] = level;
        }
        memset(u, 128, sizeof u);
        memset(v, 128, sizeof v);
        CHECK_INT(voip_video_push_frame(n % 2 ? &i420 : &frame), VOIP_OK);
        if (g_mode == VOIP_DISPATCH_POLL) poll_once();
        sleep_ms(33);
    }
    WAIT_UNTIL(got_video_members, &g_events, 5.0, "video-members-changed with the local user");
    pthread_mutex_lock(&g_lock);
    CHECK_STR(g_events.video_members_first, "alice");
    pthread_mutex_unlock(&g_lock);

    VoipVideoFrame out = {VOIP_PIXEL_RGBA, W, H, {rgba, NULL, NULL}, {W * 4, 0, 0}, 0};
    CHECK_INT(voip_video_pull_frame("alice", &out), 0); /* nobody's picture of ourselves */
    CHECK_INT(voip_video_pull_frame("nobody", &out), 0);
    CHECK_INT(voip_video_pull_frame(NULL, &out), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_INT(voip_video_pull_frame("bob", NULL), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_STR(voip_last_error_message(), "pull_video_frame: out is NULL");

    EXPECT_OK(subscribe_call(bob, 1, "subscribe", VOIP_OK), "subscribeVoIPVideoMembers:ok");
    EXPECT_OK(subscribe_call(NULL, 0, "subscribe to none", VOIP_OK),
              "subscribeVoIPVideoMembers:ok");
    c = subscribe_call(NULL, 1, "subscribe NULL", VOIP_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(c, VOIP_ERR_INVALID_ARGUMENT, "subscribeVoIPVideoMembers");
    const char *with_null[] = {"bob", NULL};
    c = subscribe_call(with_null, 2, "subscribe with a NULL id", VOIP_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(c, VOIP_ERR_INVALID_ARGUMENT, "subscribeVoIPVideoMembers");
    c = subscribe_call(bob, 65, "subscribe 65", VOIP_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(c, VOIP_ERR_INVALID_ARGUMENT, "subscribeVoIPVideoMembers");
    EXPECT_OK(exit_call("exit video", VOIP_OK), "exitVoIPChat:ok");
    CHECK_INT(voip_on_video_members_changed(NULL, NULL), VOIP_OK);
    CHECK_INT(voip_on_video_frame(NULL, NULL), VOIP_OK);
    pthread_mutex_lock(&g_lock);
    CHECK_INT(g_events.video_frames, 0); /* alone: nobody's pictures to hand over */
    pthread_mutex_unlock(&g_lock);
}

static bool stats_contain(const char *text) {
    static char stats[4096];
    return voip_stats_json(stats, sizeof stats, NULL) == VOIP_OK && strstr(stats, text) != NULL;
}

/* The opt-in speech enhancer: refused before voip_init and for a made-up level (nothing
 * changes then), set before a join and changed during the call, reported by the statistics. */
static void case_voice_enhancement(void) {
    CHECK_INT(voip_set_voice_enhancement(VOIP_ENHANCEMENT_STRONG), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_STR(voip_last_error_message(), "not initialized: call voip_init first");
    VoipConfig config = base_config();
    if (!sdk_up(&config)) return;
    CHECK(stats_contain("\"voiceEnhancement\":\"off\""));
    CHECK_INT(voip_set_voice_enhancement(VOIP_ENHANCEMENT_LIGHT), VOIP_OK);
    static JoinReq j;
    join_and_wait(&j, "alice", "enhancement");
    CHECK(stats_contain("\"voiceEnhancement\":\"light\""));
    CHECK_INT(voip_set_voice_enhancement(VOIP_ENHANCEMENT_STRONG), VOIP_OK);
    CHECK(stats_contain("\"voiceEnhancement\":\"strong\""));
    CHECK_INT(voip_set_voice_enhancement(3), VOIP_ERR_INVALID_ARGUMENT);
    CHECK_STR(voip_last_error_message(),
              "voice enhancement 3 is not a level: 0 (off), 1 (light) or 2 (strong)");
    CHECK_INT(voip_set_voice_enhancement(-1), VOIP_ERR_INVALID_ARGUMENT);
    CHECK(stats_contain("\"voiceEnhancement\":\"strong\""));
    CHECK_INT(voip_set_voice_enhancement(VOIP_ENHANCEMENT_OFF), VOIP_OK);
    CHECK(stats_contain("\"voiceEnhancement\":\"off\""));
    EXPECT_OK(exit_call("exit", VOIP_OK), "exitVoIPChat:ok");
}

static void run_case(const char *name, void (*fn)(void)) {
    const char *only = getenv("VOIP_TEST_CASE"); /* run one case: VOIP_TEST_CASE=case_video */
    if (only && *only && strcmp(only, name) != 0) return;
    g_case = name;
    int first_call = g_call_count;
    int failed_before = atomic_load(&g_failed);
    int violations_before = atomic_load(&g_context_violations);
    reset_events();
    double started = now_s();
    fn();
    sdk_down(); /* a no-op if the case already shut down */
    pthread_mutex_lock(&g_lock);
    for (int i = first_call; i < g_call_count; i++) {
        Call *c = &g_calls[i];
        check_impl(c->success + c->fail == 1 && c->complete == 1 && !c->complete_before_outcome &&
                       !c->mismatch && !c->bad_result,
                   __FILE__, __LINE__,
                   "call \"%s\" ran exactly one of success/fail, then complete, with one result "
                   "(success %d, fail %d, complete %d%s%s%s; saw: %s)",
                   c->label, c->success, c->fail, c->complete,
                   c->complete_before_outcome ? ", complete first" : "",
                   c->mismatch ? ", complete's result differs" : "",
                   c->bad_result ? ", malformed VoipResult" : "", c->history);
    }
    int members = g_events.members_count;
    pthread_mutex_unlock(&g_lock);
    check_impl(atomic_load(&g_context_violations) == violations_before, __FILE__, __LINE__,
               "every callback ran where the dispatch mode says (%d did not)",
               atomic_load(&g_context_violations) - violations_before);
    check_impl(members == 0, __FILE__, __LINE__,
               "no members-changed for a lone member (got %d)", members);
    bool ok = atomic_load(&g_failed) == failed_before;
    printf("%-6s %-46s %s (%.2f s)\n", mode_name(), name, ok ? "ok" : "FAILED", now_s() - started);
}

#define RUN(fn) run_case(#fn, fn)

static void run_suite(VoipDispatch mode) {
    g_mode = mode;
    RUN(case_calls_before_init);
    RUN(case_init_errors);
    RUN(case_signing);
    RUN(case_server_start_errors);
    RUN(case_join_success);
    RUN(case_second_join_while_joined_is_minus_1);
    RUN(case_second_join_while_joining_is_minus_1);
    RUN(case_exit_success);
    RUN(case_exit_not_in_room_is_minus_1005);
    RUN(case_update_mute_in_room);
    RUN(case_update_mute_outside_room);
    RUN(case_bad_signature_is_minus_1002);
    RUN(case_reused_nonce_is_minus_1002);
    RUN(case_nonce_length);
    RUN(case_null_params_is_minus_1001);
    RUN(case_null_fields_are_minus_1001);
    RUN(case_invalid_utf8_is_minus_1001);
    RUN(case_bad_room_type_is_minus_1001);
    RUN(case_wrong_pin_is_minus_1007);
    RUN(case_unreachable_is_minus_1004);
    RUN(case_exit_while_joining);
    RUN(case_state_listener);
    RUN(case_interrupted_by_server_stop);
    RUN(case_reentrant_exit_then_join);
    RUN(case_same_open_id_rejoins_after_reinit);
    RUN(case_shutdown_while_joining);
    RUN(case_poll_runs_callbacks_only_inside_poll);
    RUN(case_failed_init_leaves_no_thread);
    RUN(case_external_audio);
    RUN(case_voice_enhancement);
    RUN(case_video);
    RUN(case_shutdown_inside_callback); /* last: it ends the SDK from inside a callback */
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    g_main_thread = pthread_self();
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&g_cond, &attr);
    pthread_condattr_destroy(&attr);
    const char *scale = getenv("VOIP_TEST_TIMEOUT_SCALE");
    if (scale && atof(scale) > 0) g_scale = atof(scale);
    printf("voipchat %s, C ABI test (timeouts x%.1f)\n", voip_version(), g_scale);

    /* Listeners may be set before voip_init and stay set across voip_shutdown. */
    CHECK_INT(voip_on_state_changed(on_state, &g_events), VOIP_OK);
    CHECK_INT(voip_on_interrupted(on_interrupted, &g_events), VOIP_OK);
    CHECK_INT(voip_on_members_changed(on_members, &g_events), VOIP_OK);
    CHECK_INT(voip_on_speakers_changed(on_speakers, &g_events), VOIP_OK);

    g_server = start_server(g_server_addr, sizeof g_server_addr, g_server_pin, sizeof g_server_pin);
    if (g_server) {
        run_suite(VOIP_DISPATCH_THREAD);
        run_suite(VOIP_DISPATCH_POLL);
    }
    g_case = "teardown";
    voip_shutdown();
    voip_server_stop(g_server);
    CHECK_INT(voip_on_state_changed(NULL, NULL), VOIP_OK);
    CHECK_INT(voip_on_interrupted(NULL, NULL), VOIP_OK);
    CHECK_INT(voip_on_members_changed(NULL, NULL), VOIP_OK);
    CHECK_INT(voip_on_speakers_changed(NULL, NULL), VOIP_OK);

    int passed = atomic_load(&g_passed), failed = atomic_load(&g_failed);
    printf("%d passed, %d failed\n", passed, failed);
    return failed > 0 ? 1 : 0;
}
