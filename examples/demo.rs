//! The Quick start demo: an embedded relay and four players joining one room, with every
//! event printed as it happens. Run it with `cargo run --example demo`.
//!
//! In a real game the relay runs elsewhere (`voipchat-server`) and the game's backend signs
//! each join; here both happen in-process so the demo needs nothing but this repository.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use voipchat::{auth, Client, ClientConfig, Event, JoinParams, MuteConfig, Server, ServerConfig};

const APP_ID: &str = "wx-demo";
const APP_SECRET: &str = "demo-secret-never-ship-this";

/// What a game backend does for each player: derive the session key, sign the join.
fn backend_signs(open_id: &str, group_id: &str, nonce: &str) -> JoinParams {
    let time_stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let session_key = auth::session_key(APP_SECRET, open_id);
    JoinParams {
        app_id: APP_ID.into(),
        open_id: open_id.into(),
        group_id: group_id.into(),
        nonce_str: nonce.into(),
        time_stamp,
        signature: auth::sign(&session_key, APP_ID, group_id, nonce, time_stamp),
        ..Default::default()
    }
}

fn player(server: &Server, name: &'static str, started: Instant) -> Client {
    let config = ClientConfig::new(server.local_addr().to_string()).pinned(server.cert_sha256());
    Client::new(config, move |event| {
        let at = started.elapsed().as_secs_f64() * 1000.0;
        match event {
            Event::MembersChanged(list) => {
                println!("{at:8.1} ms  {name:<6} members changed: {list:?}")
            }
            Event::SpeakersChanged(list) => println!("{at:8.1} ms  {name:<6} speakers: {list:?}"),
            Event::Interrupted(e) => println!(
                "{at:8.1} ms  {name:<6} interrupted: {} ({})",
                e.reason,
                e.code.as_i32()
            ),
            Event::StateChanged { data_json, .. } => {
                println!("{at:8.1} ms  {name:<6} state: {data_json}")
            }
        }
    })
    .expect("client")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let server = Server::start(ServerConfig {
        apps: HashMap::from([(APP_ID.to_string(), APP_SECRET.to_string())]),
        ..ServerConfig::default()
    })
    .await?;
    println!(
        "relay listening on {} (cert-sha256 {})",
        server.local_addr(),
        server.cert_sha256()
    );

    let names = ["alice", "bob", "carol", "dave"];
    let players: Vec<Client> = names.iter().map(|n| player(&server, n, started)).collect();
    for (i, (client, name)) in players.iter().zip(names).enumerate() {
        let t = Instant::now();
        let members = client
            .join(backend_signs(name, "lobby-1", &format!("demo-nonce-{i}")))
            .await?;
        println!(
            "{:8.1} ms  {name:<6} joinVoIPChat:ok in {:.2} ms, openIdList {members:?}",
            started.elapsed().as_secs_f64() * 1000.0,
            t.elapsed().as_secs_f64() * 1000.0
        );
    }

    // A player whose join was not signed by the backend is turned away.
    let eve = player(&server, "eve", started);
    let mut forged = backend_signs("eve", "lobby-1", "demo-nonce-eve");
    forged.signature = "0".repeat(64);
    match eve.join(forged).await {
        Ok(_) => println!("unexpected: a forged signature was admitted"),
        Err(e) => println!(
            "{:>8}     eve    joinVoIPChat:fail {} ({})",
            "",
            e.reason,
            e.code.as_i32()
        ),
    }

    players[1]
        .update_mute_config(MuteConfig {
            mute_microphone: true,
            mute_earphone: false,
        })
        .await?;
    println!(
        "{:>8}     bob    updateVoIPChatMuteConfig:ok (microphone muted)",
        ""
    );

    players[2].exit().await?;
    println!("{:>8}     carol  exitVoIPChat:ok", "");
    tokio::time::sleep(Duration::from_millis(100)).await;

    println!("relay shutting down: {:?}", server.stats());
    server.shutdown().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}
