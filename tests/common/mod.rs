//! Helpers shared by the integration tests: an in-process relay, signed join parameters,
//! clients whose events land in a channel.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc::UnboundedReceiver;
use voipchat::net::wire::{ClientMessage, JoinRequest};
use voipchat::{auth, Client, ClientConfig, Event, JoinParams, RoomType, Server, ServerConfig};

pub const APP_ID: &str = "wx-test-app";
pub const APP_SECRET: &str = "test-secret";

pub async fn server() -> Server {
    server_with(|_| {}).await
}

pub async fn server_with(adjust: impl FnOnce(&mut ServerConfig)) -> Server {
    let mut config = ServerConfig {
        apps: HashMap::from([(APP_ID.to_string(), APP_SECRET.to_string())]),
        ..ServerConfig::default()
    };
    adjust(&mut config);
    Server::start(config).await.expect("server starts")
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

static NONCE: AtomicU64 = AtomicU64::new(0);

pub fn fresh_nonce() -> String {
    format!(
        "nonce-{}-{}",
        std::process::id(),
        NONCE.fetch_add(1, Ordering::Relaxed)
    )
}

/// Join parameters signed the way a game backend signs them.
pub fn signed(open_id: &str, group_id: &str) -> JoinParams {
    signed_at(open_id, group_id, &fresh_nonce(), now())
}

pub fn signed_at(open_id: &str, group_id: &str, nonce: &str, time_stamp: i64) -> JoinParams {
    let key = auth::session_key(APP_SECRET, open_id);
    JoinParams {
        app_id: APP_ID.into(),
        open_id: open_id.into(),
        group_id: group_id.into(),
        nonce_str: nonce.into(),
        time_stamp,
        signature: auth::sign(&key, APP_ID, group_id, nonce, time_stamp),
        room_type: RoomType::Voice,
        mute_config: Default::default(),
    }
}

/// The wire's join message for [`signed`] parameters, for tests that speak the protocol
/// themselves.
pub fn join_message(open_id: &str, group_id: &str, mute: voipchat::MuteConfig) -> ClientMessage {
    let p = signed(open_id, group_id);
    ClientMessage::Join(JoinRequest {
        app_id: p.app_id,
        open_id: p.open_id,
        group_id: p.group_id,
        nonce_str: p.nonce_str,
        time_stamp: p.time_stamp,
        signature: p.signature,
        room_type: p.room_type,
        mute,
    })
}

/// A bare QUIC connection to the relay (pinned, handshake done, nothing sent): for tests that
/// speak the wire protocol themselves.
pub async fn raw_connection(server: &Server) -> (quinn::Endpoint, quinn::Connection) {
    use voipchat::net::tls::{client_config, Liveness};
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(
        client_config(Some(server.cert_sha256()), Liveness::default()).unwrap(),
    );
    let connection = endpoint
        .connect(server.local_addr(), "localhost")
        .unwrap()
        .await
        .expect("handshake");
    (endpoint, connection)
}

pub fn config_for(server: &Server) -> ClientConfig {
    ClientConfig::new(server.local_addr().to_string()).pinned(server.cert_sha256())
}

pub fn client(server: &Server) -> (Client, Events) {
    let (client, rx) = Client::with_channel(config_for(server)).expect("client");
    (client, Events(rx))
}

/// A client's events, with waits that fail the test instead of hanging it.
pub struct Events(pub UnboundedReceiver<Event>);

impl Events {
    pub async fn next(&mut self) -> Event {
        tokio::time::timeout(Duration::from_secs(10), self.0.recv())
            .await
            .expect("an event within 10 s")
            .expect("event channel open")
    }

    /// Waits for the next event that `pick` accepts, skipping others.
    pub async fn wait_for<T>(&mut self, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        loop {
            let event = self.next().await;
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    }

    pub async fn members(&mut self) -> Vec<String> {
        self.wait_for(|e| match e {
            Event::MembersChanged(list) => Some(list.clone()),
            _ => None,
        })
        .await
    }

    pub async fn interrupted(&mut self) -> voipchat::VoipError {
        self.wait_for(|e| match e {
            Event::Interrupted(error) => Some(error.clone()),
            _ => None,
        })
        .await
    }

    /// Drains what has arrived so far without waiting.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Ok(event) = self.0.try_recv() {
            events.push(event);
        }
        events
    }
}

pub mod cluster;
pub mod redis;
pub mod relay_process;
pub mod signal;
pub mod talk;
pub mod udp_proxy;
