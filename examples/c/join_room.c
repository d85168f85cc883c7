/*
 * join_room: a C game's view of voipchat. Joins a room, prints every event, leaves.
 *
 *   join_room [--server HOST:PORT --pin SHA256] [--app-id ID --app-secret SECRET]
 *             [--open-id ID] [--group-id ID] [--seconds N]
 *
 * Without --server it starts an embedded relay first (what a LAN host would do), so it runs
 * on its own. Like a game, it uses POLL dispatch and calls voip_poll() once per "frame":
 * every callback below runs on this thread, inside voip_poll().
 *
 * The app secret is here only so the example can sign its own join. A shipped game never
 * holds it: the game's backend signs joins (see the README, "How a game backend signs").
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "voipchat.h"

static int running = 1;
static int joined = 0;

static void print_list(const VoipResult *r) {
    printf("[");
    for (size_t i = 0; i < r->open_id_count; i++) {
        printf("%s%s", i ? ", " : "", r->open_id_list[i]);
    }
    printf("]");
}

static void on_join_success(const VoipResult *r, void *user_data) {
    (void)user_data;
    printf("join succeeded: %s, members ", r->err_msg);
    print_list(r);
    printf("\n");
    joined = 1;
}

static void on_join_fail(const VoipResult *r, void *user_data) {
    (void)user_data;
    printf("join failed: %d %s\n", r->err_code, r->err_msg);
    running = 0;
}

static void on_members_changed(const VoipResult *r, void *user_data) {
    (void)user_data;
    printf("members changed: ");
    print_list(r);
    printf("\n");
}

static void on_speakers_changed(const VoipResult *r, void *user_data) {
    (void)user_data;
    printf("speakers: ");
    print_list(r);
    printf("\n");
}

static void on_interrupted(const VoipResult *r, void *user_data) {
    (void)user_data;
    printf("interrupted: %d %s\n", r->err_code, r->err_msg);
    running = 0;
}

static void on_state_changed(VoipState code, const char *data_json, void *user_data) {
    (void)user_data;
    printf("state %d: %s\n", code, data_json);
}

static void on_exit_complete(const VoipResult *r, void *user_data) {
    (void)user_data;
    printf("exit: %s\n", r->err_msg);
}

static void on_log(VoipLogLevel level, const char *message, void *user_data) {
    (void)user_data;
    if (level <= VOIP_LOG_WARN) {
        fprintf(stderr, "voipchat: %s\n", message);
    }
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *arg(int argc, char **argv, const char *name, const char *fallback) {
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return fallback;
}

int main(int argc, char **argv) {
    const char *server_addr = arg(argc, argv, "--server", NULL);
    const char *pin = arg(argc, argv, "--pin", NULL);
    const char *app_id = arg(argc, argv, "--app-id", "wx-example");
    const char *app_secret = arg(argc, argv, "--app-secret", "example-secret");
    const char *open_id = arg(argc, argv, "--open-id", "player-1");
    const char *group_id = arg(argc, argv, "--group-id", "lobby-1");
    double seconds = atof(arg(argc, argv, "--seconds", "2"));

    VoipServer *server = NULL;
    char embedded_addr[64];
    if (server_addr == NULL) {
        VoipApp app = {app_id, app_secret};
        VoipServerConfig server_config = voip_server_config_default();
        server_config.apps = &app;
        server_config.app_count = 1;
        server = voip_server_start(&server_config);
        if (server == NULL) {
            fprintf(stderr, "cannot start the embedded relay: %s\n", voip_last_error_message());
            return 1;
        }
        snprintf(embedded_addr, sizeof embedded_addr, "127.0.0.1:%u", (unsigned)voip_server_port(server));
        server_addr = embedded_addr;
        pin = voip_server_cert_sha256(server);
        printf("embedded relay on %s, cert-sha256 %s\n", server_addr, pin);
    }

    VoipConfig config = voip_config_default();
    config.server = server_addr;
    config.server_cert_sha256 = pin;
    config.dispatch = VOIP_DISPATCH_POLL;
    config.audio_mode = VOIP_AUDIO_EXTERNAL;
    config.log = on_log;
    if (voip_init(&config) != VOIP_OK) {
        fprintf(stderr, "voip_init: %s\n", voip_last_error_message());
        voip_server_stop(server);
        return 1;
    }
    voip_on_members_changed(on_members_changed, NULL);
    voip_on_speakers_changed(on_speakers_changed, NULL);
    voip_on_interrupted(on_interrupted, NULL);
    voip_on_state_changed(on_state_changed, NULL);

    /* Development only: what the game's backend would do. */
    char session_key[VOIP_SESSION_KEY_BUFFER];
    char signature[VOIP_SIGNATURE_BUFFER];
    char nonce[32];
    int64_t now = (int64_t)time(NULL);
    snprintf(nonce, sizeof nonce, "n%lld", (long long)now);
    if (voip_session_key(app_secret, open_id, session_key, sizeof session_key) != VOIP_OK ||
        voip_sign(session_key, app_id, group_id, nonce, now, signature, sizeof signature) != VOIP_OK) {
        fprintf(stderr, "signing failed: %s\n", voip_last_error_message());
        return 1;
    }

    VoipJoinParams params = {
        .app_id = app_id,
        .open_id = open_id,
        .group_id = group_id,
        .nonce_str = nonce,
        .time_stamp = now,
        .signature = signature,
        .room_type = VOIP_ROOM_VOICE,
        .mute_config = NULL,
    };
    VoipCallbacks join_callbacks = {on_join_success, on_join_fail, NULL};
    int32_t code = voip_join(&params, join_callbacks, NULL);
    if (code != VOIP_OK) {
        printf("voip_join returned %d\n", code);
    }

    /* The game loop: one voip_poll() per 16 ms frame. */
    int frames = (int)(seconds * 1000 / 16);
    for (int frame = 0; running && frame < frames; frame++) {
        voip_poll();
        sleep_ms(16);
    }

    if (joined && running) {
        VoipCallbacks exit_callbacks = {NULL, NULL, on_exit_complete};
        voip_exit(exit_callbacks, NULL);
        for (int frame = 0; frame < 100 && voip_state() != VOIP_STATE_LEFT; frame++) {
            voip_poll();
            sleep_ms(16);
        }
        voip_poll();
    }
    voip_shutdown();
    voip_server_stop(server);
    return joined ? 0 : 1;
}
