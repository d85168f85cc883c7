//! `voipchat-server`: the relay as a command-line program, plus a `sign` helper that computes
//! signed join parameters the way a game backend does, and a `place` helper that finds a room's
//! node in a cluster (for scripts, demos, tests, and backends in any language).
//!
//! Everything a script reads goes to stdout (the two start-up lines, or the `sign` JSON); logs go
//! to stderr only. Usage errors exit with 2, runtime failures (unreadable certificate, address in
//! use) with 1, a clean shutdown on SIGINT / SIGTERM with 0.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::signal::unix::{signal, SignalKind};
use voipchat::cluster::{ClusterConfig, Directory};
use voipchat::log::{LogLevel, Logger};
use voipchat::net::tls::ServerIdentity;
use voipchat::types::limits;
use voipchat::{auth, MediaRateLimit, Server, ServerConfig};

const PROGRAM: &str = "voipchat-server";
const DEFAULT_LISTEN: &str = "0.0.0.0:4433";

const USAGE: &str = "\
voipchat-server: the voipchat QUIC relay

USAGE:
    voipchat-server --app APP_ID:APP_SECRET [--app ...] [OPTIONS]
    voipchat-server sign --app-id ID --app-secret SECRET --open-id OID --group-id GID [--nonce N] [--timestamp T]
    voipchat-server place --redis URL --app-id ID --group-id GID
    voipchat-server --help

OPTIONS:
    --listen ADDR              IP:PORT to listen on (UDP) [default: 0.0.0.0:4433];
                               port 0 picks a free port
    --app APP_ID:APP_SECRET    an app allowed to join, split at the first ':' (the secret may
                               contain ':'); repeat for more apps; at least one is required
    --max-members N            members per room, at least 1 [default: 10]
    --timestamp-window SECS    how far a join's timeStamp may be from this clock [default: 300]
    --resume-grace SECS        how long a dropped member keeps their seat [default: 10]
    --member-media-kbps N      voice one member may send; beyond it the relay drops its
                               datagrams and logs a warning; bursts of half a second
                               above it pass; 0 turns policing off [default: 512]
    --member-video-kbps N      the same for video, budgeted apart from voice [default: 4096]
    --cert PEM --key PEM       TLS certificate chain and private key (both or neither);
                               without them a fresh self-signed certificate is made
    --log-level LEVEL          error, warn, info or debug [default: info]
    --redis URL                join a cluster whose directory is this Redis
                               (redis://HOST:PORT); needs --node-id
    --node-id ID               this node's id in the cluster, unique: 1 to 64 letters,
                               digits, '-', '_' or '.'
    --public-addr HOST:PORT    where clients reach this node [default: the listening
                               address; required when listening on 0.0.0.0 or [::]]
    -h, --help                 print this help

    Every option also accepts the form --option=VALUE.

OUTPUT:
    Once listening, the first two lines on stdout are
        listening <ip:port>
        cert-sha256 <64 lowercase hex>
    (clients pin that fingerprint). Logs go to stderr. SIGINT or SIGTERM tells every member
    the server is shutting down, closes the connections and exits 0. In a cluster (--redis),
    SIGTERM drains instead: no new rooms, running ones carry on, and the node exits 0 once
    the last member has left (a second signal, or SIGINT, shuts down at once).

EXIT STATUS:
    0 clean shutdown, 1 runtime failure (bad certificate, cannot listen), 2 usage error

Run `voipchat-server sign --help` for the signing helper, `voipchat-server place --help` for
the placement helper.
";

const SIGN_USAGE: &str = "\
voipchat-server sign: print signed join parameters (what a game backend hands a client)

USAGE:
    voipchat-server sign --app-id ID --app-secret SECRET --open-id OID --group-id GID
                         [--nonce N] [--timestamp T]

OPTIONS:
    --app-id ID            the app's id
    --app-secret SECRET    the app's secret (never ship it in a game client)
    --open-id OID          the user joining
    --group-id GID         the room to join
    --nonce N              nonceStr, 1 to 127 characters [default: 16 random lowercase hex]
    --timestamp T          timeStamp in Unix seconds [default: now]
    -h, --help             print this help

Prints one JSON object on stdout:
    {\"appId\",\"openId\",\"groupId\",\"nonceStr\",\"timeStamp\",\"signature\"}
with timeStamp a number and signature WeChat's lowercase hex HMAC-SHA256.
";

const PLACE_USAGE: &str = "\
voipchat-server place: the relay node a room lives on, in a cluster (what a game backend hands a
client next to the signed join)

USAGE:
    voipchat-server place --redis URL --app-id ID --group-id GID

OPTIONS:
    --redis URL        the cluster's directory, redis://HOST:PORT
    --app-id ID        the app's id
    --group-id GID     the room
    -h, --help         print this help

Finds the room's node, or picks one (rendezvous hashing over the active nodes) and pins it,
exactly as concurrent backends agree on. Prints one JSON object on stdout:
    {\"appId\",\"groupId\",\"nodeId\",\"server\",\"serverCertSha256\"}
where server and serverCertSha256 go into the client's config (voip_init's server and
server_cert_sha256). Exits 1 with the error code and reason on stderr when Redis is
unreachable (-1012) or no active node is registered (-1004).
";

/// A usage error: a one-line message, printed with a pointer to the right `--help`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UsageError {
    message: String,
    help: &'static str,
}

impl UsageError {
    fn serve(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: "voipchat-server --help",
        }
    }

    fn sign(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: "voipchat-server sign --help",
        }
    }

    fn place(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: "voipchat-server place --help",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Help,
    SignHelp,
    PlaceHelp,
    Serve(ServeArgs),
    Sign(SignArgs),
    Place(PlaceArgs),
}

#[derive(Debug, PartialEq, Eq)]
struct ServeArgs {
    listen: SocketAddr,
    apps: HashMap<String, String>,
    max_members: usize,
    timestamp_window: Duration,
    resume_grace: Duration,
    member_media: MediaRateLimit,
    member_video: MediaRateLimit,
    /// (certificate chain PEM, private key PEM)
    tls: Option<(String, String)>,
    log_level: LogLevel,
    /// With `--redis`: the node's place in a cluster (an empty public address means the
    /// listening one).
    cluster: Option<ClusterConfig>,
}

#[derive(Debug, PartialEq, Eq)]
struct PlaceArgs {
    redis_url: String,
    app_id: String,
    group_id: String,
}

#[derive(Debug, PartialEq, Eq)]
struct SignArgs {
    app_id: String,
    app_secret: String,
    open_id: String,
    group_id: String,
    nonce: Option<String>,
    timestamp: Option<i64>,
}

/// Walks `--flag VALUE` / `--flag=VALUE` arguments.
struct Flags<'a> {
    args: std::slice::Iter<'a, String>,
    error: fn(String) -> UsageError,
}

enum Arg<'a> {
    Help,
    /// A flag and its value.
    Flag(&'a str, String),
}

impl<'a> Flags<'a> {
    fn next(&mut self) -> Option<Result<Arg<'a>, UsageError>> {
        let arg = self.args.next()?;
        if arg == "-h" || arg == "--help" {
            return Some(Ok(Arg::Help));
        }
        if !arg.starts_with("--") || arg == "--" {
            let message = if arg.len() > 1 && arg.starts_with('-') && arg != "--" {
                format!("unknown flag {arg}")
            } else {
                format!("unexpected argument '{arg}'")
            };
            return Some(Err((self.error)(message)));
        }
        if let Some((flag, value)) = arg.split_once('=') {
            return Some(Ok(Arg::Flag(flag, value.to_string())));
        }
        // A following flag is not a value: `--listen --app x` is a missing value, not a listen
        // address of "--app". A value that starts with "--" can use the `--flag=VALUE` form.
        match self.args.as_slice().first() {
            Some(value) if !value.starts_with("--") => {
                self.args.next();
                Some(Ok(Arg::Flag(arg.as_str(), value.clone())))
            }
            _ => Some(Err((self.error)(format!("missing value for {arg}")))),
        }
    }
}

fn set_once<T>(
    slot: &mut Option<T>,
    flag: &str,
    value: T,
    error: fn(String) -> UsageError,
) -> Result<(), UsageError> {
    if slot.replace(value).is_some() {
        return Err(error(format!("{flag} given more than once")));
    }
    Ok(())
}

fn parse_number<T: std::str::FromStr>(
    flag: &str,
    value: &str,
    what: &str,
    error: fn(String) -> UsageError,
) -> Result<T, UsageError> {
    value
        .parse()
        .map_err(|_| error(format!("{flag}: '{value}' is not {what}")))
}

fn parse_command(args: &[String]) -> Result<Command, UsageError> {
    match args.first().map(String::as_str) {
        Some("sign") => parse_sign(&args[1..]),
        Some("place") => parse_place(&args[1..]),
        _ => parse_serve(args),
    }
}

fn parse_serve(args: &[String]) -> Result<Command, UsageError> {
    let error = UsageError::serve as fn(String) -> UsageError;
    let mut flags = Flags {
        args: args.iter(),
        error,
    };
    let mut listen = None;
    let mut apps = HashMap::new();
    let mut max_members = None;
    let mut timestamp_window = None;
    let mut resume_grace = None;
    let mut member_media = None;
    let mut member_video = None;
    let mut cert = None;
    let mut key = None;
    let mut log_level = None;
    let mut redis_url = None;
    let mut node_id = None;
    let mut public_addr = None;
    while let Some(arg) = flags.next() {
        let (flag, value) = match arg? {
            Arg::Help => return Ok(Command::Help),
            Arg::Flag(flag, value) => (flag, value),
        };
        match flag {
            "--listen" => {
                let addr: SocketAddr = value.parse().map_err(|_| {
                    error(format!(
                        "--listen: '{value}' is not an IP:PORT address (e.g. 0.0.0.0:4433 or [::]:4433)"
                    ))
                })?;
                set_once(&mut listen, flag, addr, error)?;
            }
            "--app" => {
                let Some((id, secret)) = value.split_once(':') else {
                    return Err(error(format!("--app: '{value}' is not APP_ID:APP_SECRET")));
                };
                if id.is_empty() || secret.is_empty() {
                    return Err(error(format!(
                        "--app: '{value}' needs a non-empty APP_ID and APP_SECRET"
                    )));
                }
                if id.len() > limits::ID_MAX_BYTES {
                    return Err(error(format!(
                        "--app: the app id is longer than {} bytes",
                        limits::ID_MAX_BYTES
                    )));
                }
                if apps.insert(id.to_string(), secret.to_string()).is_some() {
                    return Err(error(format!("--app: app id '{id}' given more than once")));
                }
            }
            "--max-members" => {
                let n: usize = parse_number(flag, &value, "a positive integer", error)?;
                if n == 0 {
                    return Err(error("--max-members: must be at least 1".to_string()));
                }
                set_once(&mut max_members, flag, n, error)?;
            }
            "--timestamp-window" => {
                let secs: u64 = parse_number(flag, &value, "a number of seconds", error)?;
                set_once(
                    &mut timestamp_window,
                    flag,
                    Duration::from_secs(secs),
                    error,
                )?;
            }
            "--resume-grace" => {
                let secs: u64 = parse_number(flag, &value, "a number of seconds", error)?;
                set_once(&mut resume_grace, flag, Duration::from_secs(secs), error)?;
            }
            "--member-media-kbps" => {
                let kbps: u32 = parse_number(flag, &value, "a number of kbit/s", error)?;
                set_once(
                    &mut member_media,
                    flag,
                    MediaRateLimit::from_kbps(kbps),
                    error,
                )?;
            }
            "--member-video-kbps" => {
                let kbps: u32 = parse_number(flag, &value, "a number of kbit/s", error)?;
                set_once(
                    &mut member_video,
                    flag,
                    MediaRateLimit::from_kbps(kbps),
                    error,
                )?;
            }
            "--cert" => set_once(&mut cert, flag, value, error)?,
            "--key" => set_once(&mut key, flag, value, error)?,
            "--log-level" => {
                let level = match value.as_str() {
                    "error" => LogLevel::Error,
                    "warn" => LogLevel::Warn,
                    "info" => LogLevel::Info,
                    "debug" => LogLevel::Debug,
                    _ => {
                        return Err(error(format!(
                            "--log-level: '{value}' is not one of error, warn, info, debug"
                        )))
                    }
                };
                set_once(&mut log_level, flag, level, error)?;
            }
            "--redis" => set_once(&mut redis_url, flag, value, error)?,
            "--node-id" => {
                if let Err(e) = voipchat::cluster::check_node_id(&value) {
                    return Err(error(format!("--node-id: {}", e.reason)));
                }
                set_once(&mut node_id, flag, value, error)?;
            }
            "--public-addr" => {
                let valid = value
                    .rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
                if !valid {
                    return Err(error(format!(
                        "--public-addr: '{value}' is not HOST:PORT (e.g. relay-1.example.com:4433)"
                    )));
                }
                set_once(&mut public_addr, flag, value, error)?;
            }
            _ => return Err(error(format!("unknown flag {flag}"))),
        }
    }
    if apps.is_empty() {
        return Err(error(
            "at least one --app APP_ID:APP_SECRET is required (without one nobody can join)"
                .to_string(),
        ));
    }
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(_), None) => return Err(error("--cert needs --key".to_string())),
        (None, Some(_)) => return Err(error("--key needs --cert".to_string())),
    };
    let listen = listen.unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default"));
    let cluster = match (redis_url, node_id) {
        (Some(redis_url), Some(node_id)) => {
            if public_addr.is_none() && listen.ip().is_unspecified() {
                return Err(error(format!(
                    "--public-addr is required with --redis when listening on {listen}: \
                     clients must be told an address they can reach"
                )));
            }
            Some(ClusterConfig::new(
                redis_url,
                node_id,
                public_addr.unwrap_or_default(),
            ))
        }
        (Some(_), None) => return Err(error("--redis needs --node-id".to_string())),
        (None, Some(_)) => return Err(error("--node-id needs --redis".to_string())),
        (None, None) if public_addr.is_some() => {
            return Err(error("--public-addr needs --redis".to_string()))
        }
        (None, None) => None,
    };
    let defaults = ServerConfig::default();
    Ok(Command::Serve(ServeArgs {
        listen,
        apps,
        max_members: max_members.unwrap_or(defaults.max_members),
        timestamp_window: timestamp_window.unwrap_or(defaults.timestamp_window),
        resume_grace: resume_grace.unwrap_or(defaults.resume_grace),
        member_media: member_media.unwrap_or(defaults.member_media),
        member_video: member_video.unwrap_or(defaults.member_video),
        tls,
        log_level: log_level.unwrap_or(LogLevel::Info),
        cluster,
    }))
}

fn parse_place(args: &[String]) -> Result<Command, UsageError> {
    let error = UsageError::place as fn(String) -> UsageError;
    let mut flags = Flags {
        args: args.iter(),
        error,
    };
    let mut redis_url = None;
    let mut app_id = None;
    let mut group_id = None;
    while let Some(arg) = flags.next() {
        let (flag, value) = match arg? {
            Arg::Help => return Ok(Command::PlaceHelp),
            Arg::Flag(flag, value) => (flag, value),
        };
        let slot = match flag {
            "--redis" => &mut redis_url,
            "--app-id" => &mut app_id,
            "--group-id" => &mut group_id,
            _ => return Err(error(format!("unknown flag {flag}"))),
        };
        if value.is_empty() {
            return Err(error(format!("{flag}: must not be empty")));
        }
        set_once(slot, flag, value, error)?;
    }
    let required =
        |slot: Option<String>, flag: &str| slot.ok_or_else(|| error(format!("{flag} is required")));
    Ok(Command::Place(PlaceArgs {
        redis_url: required(redis_url, "--redis")?,
        app_id: required(app_id, "--app-id")?,
        group_id: required(group_id, "--group-id")?,
    }))
}

fn parse_sign(args: &[String]) -> Result<Command, UsageError> {
    let error = UsageError::sign as fn(String) -> UsageError;
    let mut flags = Flags {
        args: args.iter(),
        error,
    };
    let mut app_id = None;
    let mut app_secret = None;
    let mut open_id = None;
    let mut group_id = None;
    let mut nonce = None;
    let mut timestamp = None;
    while let Some(arg) = flags.next() {
        let (flag, value) = match arg? {
            Arg::Help => return Ok(Command::SignHelp),
            Arg::Flag(flag, value) => (flag, value),
        };
        let slot = match flag {
            "--app-id" => &mut app_id,
            "--app-secret" => &mut app_secret,
            "--open-id" => &mut open_id,
            "--group-id" => &mut group_id,
            "--nonce" => {
                let chars = value.chars().count();
                if chars == 0 || chars > limits::NONCE_MAX_CHARS {
                    return Err(error(format!(
                        "--nonce: must be 1 to {} characters, got {chars}",
                        limits::NONCE_MAX_CHARS
                    )));
                }
                &mut nonce
            }
            "--timestamp" => {
                let t: i64 = parse_number(flag, &value, "a Unix time in seconds", error)?;
                set_once(&mut timestamp, flag, t, error)?;
                continue;
            }
            _ => return Err(error(format!("unknown flag {flag}"))),
        };
        if value.is_empty() {
            return Err(error(format!("{flag}: must not be empty")));
        }
        set_once(slot, flag, value, error)?;
    }
    let required =
        |slot: Option<String>, flag: &str| slot.ok_or_else(|| error(format!("{flag} is required")));
    Ok(Command::Sign(SignArgs {
        app_id: required(app_id, "--app-id")?,
        app_secret: required(app_secret, "--app-secret")?,
        open_id: required(open_id, "--open-id")?,
        group_id: required(group_id, "--group-id")?,
        nonce,
        timestamp,
    }))
}

/// The join parameters under WeChat's field names, in WeChat's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignedJoin {
    app_id: String,
    open_id: String,
    group_id: String,
    nonce_str: String,
    time_stamp: i64,
    signature: String,
}

fn random_nonce() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

fn signed_join(args: SignArgs) -> SignedJoin {
    let nonce_str = args.nonce.unwrap_or_else(random_nonce);
    let time_stamp = args.timestamp.unwrap_or_else(unix_now);
    let key = auth::session_key(&args.app_secret, &args.open_id);
    let signature = auth::sign(&key, &args.app_id, &args.group_id, &nonce_str, time_stamp);
    SignedJoin {
        app_id: args.app_id,
        open_id: args.open_id,
        group_id: args.group_id,
        nonce_str,
        time_stamp,
        signature,
    }
}

fn run_sign(args: SignArgs) -> ExitCode {
    print_json(&signed_join(args))
}

fn print_json(value: &impl Serialize) -> ExitCode {
    let json = serde_json::to_string(value).expect("plain strings serialize");
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{json}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{PROGRAM}: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A room's node, under the names a backend hands the client (camelCase, as `sign`'s).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlacedRoom {
    app_id: String,
    group_id: String,
    node_id: String,
    server: String,
    server_cert_sha256: String,
}

fn run_place(args: PlaceArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{PROGRAM}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let placed = runtime.block_on(async {
        let directory = Directory::connect(&args.redis_url).await?;
        voipchat::cluster::place(&directory, &args.app_id, &args.group_id).await
    });
    match placed {
        Ok(placement) => print_json(&PlacedRoom {
            app_id: args.app_id,
            group_id: args.group_id,
            node_id: placement.node_id,
            server: placement.server,
            server_cert_sha256: placement.server_cert_sha256,
        }),
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_serve(args: ServeArgs) -> ExitCode {
    // Read the certificate before anything else: a bad file should fail fast and plainly.
    let identity = match &args.tls {
        Some((cert, key)) => match ServerIdentity::from_pem_files(cert, key) {
            Ok(identity) => Some(identity),
            Err(e) => {
                eprintln!("{PROGRAM}: cannot load the TLS certificate: {}", e.reason);
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{PROGRAM}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let logger = Logger::stderr(args.log_level);
    let config = ServerConfig {
        listen: args.listen,
        apps: args.apps,
        max_members: args.max_members,
        timestamp_window: args.timestamp_window,
        identity,
        resume_grace: args.resume_grace,
        member_media: args.member_media,
        member_video: args.member_video,
        cluster: args.cluster,
        logger: logger.clone(),
        ..ServerConfig::default()
    };
    let code = runtime.block_on(serve(config, logger));
    // Connection tasks the shutdown left behind must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

async fn serve(config: ServerConfig, logger: Logger) -> ExitCode {
    // Install the handlers before announcing the address, so a script that signals us as soon
    // as it has read the start-up lines always gets the clean shutdown.
    let (mut interrupt, mut terminate) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(interrupt), Ok(terminate)) => (interrupt, terminate),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{PROGRAM}: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = match Server::start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("{PROGRAM}: {}", e.reason);
            return ExitCode::FAILURE;
        }
    };
    {
        let mut stdout = std::io::stdout().lock();
        let announced = writeln!(stdout, "listening {}", server.local_addr())
            .and_then(|()| writeln!(stdout, "cert-sha256 {}", server.cert_sha256()))
            .and_then(|()| stdout.flush());
        if let Err(e) = announced {
            // Nobody reads stdout (a closed pipe): keep serving, the logs still say where.
            logger.warn(format_args!(
                "cannot write the start-up lines to stdout: {e}"
            ));
        }
    }
    let name = tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    if name == "SIGTERM" && server.node_id().is_some() {
        // A deploy: let the running matches end here while new rooms go to other nodes.
        logger.info(format_args!(
            "SIGTERM received: draining until the last member leaves (signal again to stop now)"
        ));
        server.drain();
        let drained = tokio::select! {
            () = server.until_empty() => true,
            _ = interrupt.recv() => false,
            _ = terminate.recv() => false,
        };
        logger.info(format_args!(
            "{}, shutting down",
            if drained {
                "drained"
            } else {
                "second signal received"
            }
        ));
    } else {
        logger.info(format_args!("{name} received, shutting down"));
    }
    tokio::select! {
        () = server.shutdown() => ExitCode::SUCCESS,
        _ = interrupt.recv() => {
            logger.warn(format_args!("second signal received, exiting without waiting"));
            ExitCode::FAILURE
        }
        _ = terminate.recv() => {
            logger.warn(format_args!("second signal received, exiting without waiting"));
            ExitCode::FAILURE
        }
    }
}

fn string_args(args: impl Iterator<Item = OsString>) -> Result<Vec<String>, UsageError> {
    args.map(|arg| {
        arg.into_string()
            .map_err(|arg| UsageError::serve(format!("argument {arg:?} is not valid UTF-8")))
    })
    .collect()
}

fn main() -> ExitCode {
    let command = string_args(std::env::args_os().skip(1)).and_then(|args| parse_command(&args));
    match command {
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::SignHelp) => {
            print!("{SIGN_USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::PlaceHelp) => {
            print!("{PLACE_USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Sign(args)) => run_sign(args),
        Ok(Command::Place(args)) => run_place(args),
        Ok(Command::Serve(args)) => run_serve(args),
        Err(e) => {
            eprintln!("{PROGRAM}: {}", e.message);
            eprintln!("run `{}` for usage", e.help);
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn serve(list: &[&str]) -> ServeArgs {
        match parse_command(&args(list)) {
            Ok(Command::Serve(serve)) => serve,
            other => panic!("expected serve args, got {other:?}"),
        }
    }

    fn error(list: &[&str]) -> String {
        parse_command(&args(list)).unwrap_err().message
    }

    #[test]
    fn defaults_fill_in_everything_but_the_apps() {
        let parsed = serve(&["--app", "wx1:secret"]);
        assert_eq!(parsed.listen, "0.0.0.0:4433".parse().unwrap());
        assert_eq!(
            parsed.apps,
            HashMap::from([("wx1".to_string(), "secret".to_string())])
        );
        assert_eq!(parsed.max_members, 10);
        assert_eq!(parsed.timestamp_window, Duration::from_secs(300));
        assert_eq!(parsed.resume_grace, Duration::from_secs(10));
        assert_eq!(parsed.member_media, MediaRateLimit::default());
        assert_eq!(parsed.member_video, MediaRateLimit::video_default());
        assert_eq!(parsed.tls, None);
        assert_eq!(parsed.log_level, LogLevel::Info);
        assert_eq!(parsed.cluster, None);
    }

    #[test]
    fn cluster_flags_make_a_cluster_config() {
        let parsed = serve(&[
            "--app=a:b",
            "--listen=127.0.0.1:0",
            "--redis=redis://127.0.0.1:6379",
            "--node-id=relay-1",
        ]);
        let cluster = parsed.cluster.unwrap();
        assert_eq!(cluster.redis_url, "redis://127.0.0.1:6379");
        assert_eq!(cluster.node_id, "relay-1");
        assert_eq!(cluster.public_addr, "", "the listening address, once bound");
        let parsed = serve(&[
            "--app=a:b",
            "--redis=redis://r:1",
            "--node-id=n",
            "--public-addr=relay-1.example.com:4433",
        ]);
        assert_eq!(
            parsed.cluster.unwrap().public_addr,
            "relay-1.example.com:4433"
        );
    }

    #[test]
    fn cluster_flags_go_together() {
        assert_eq!(
            error(&["--app=a:b", "--redis=redis://r:1"]),
            "--redis needs --node-id"
        );
        assert_eq!(
            error(&["--app=a:b", "--node-id=n"]),
            "--node-id needs --redis"
        );
        assert_eq!(
            error(&["--app=a:b", "--public-addr=h:1"]),
            "--public-addr needs --redis"
        );
        assert!(error(&["--app=a:b", "--redis=redis://r:1", "--node-id=n"])
            .contains("--public-addr is required"));
        assert!(error(&["--app=a:b", "--node-id=a:b"]).starts_with("--node-id: node id \"a:b\""));
        assert!(error(&[
            "--app=a:b",
            "--redis=redis://r:1",
            "--node-id=n",
            "--public-addr=nohost"
        ])
        .contains("HOST:PORT"));
    }

    #[test]
    fn place_needs_its_three_flags() {
        let parsed = parse_command(&args(&[
            "place",
            "--redis",
            "redis://127.0.0.1:1",
            "--app-id=wx1",
            "--group-id",
            "g",
        ]));
        assert_eq!(
            parsed,
            Ok(Command::Place(PlaceArgs {
                redis_url: "redis://127.0.0.1:1".into(),
                app_id: "wx1".into(),
                group_id: "g".into(),
            }))
        );
        let err = parse_command(&args(&["place", "--app-id=wx1", "--group-id=g"])).unwrap_err();
        assert_eq!(err.message, "--redis is required");
        assert_eq!(err.help, "voipchat-server place --help");
        assert_eq!(
            parse_command(&args(&["place", "-h"])),
            Ok(Command::PlaceHelp)
        );
        assert!(parse_command(&args(&["place", "--group-id="]))
            .unwrap_err()
            .message
            .contains("must not be empty"));
    }

    #[test]
    fn every_option_parses_in_both_forms() {
        let parsed = serve(&[
            "--listen=[::1]:0",
            "--app",
            "a:s:e:c",
            "--app=b:x",
            "--max-members",
            "3",
            "--timestamp-window=5",
            "--resume-grace",
            "0",
            "--member-media-kbps=64",
            "--member-video-kbps",
            "1024",
            "--cert",
            "c.pem",
            "--key=k.pem",
            "--log-level",
            "debug",
        ]);
        assert_eq!(parsed.listen, "[::1]:0".parse().unwrap());
        assert_eq!(parsed.apps["a"], "s:e:c", "split at the first ':'");
        assert_eq!(parsed.apps["b"], "x");
        assert_eq!(parsed.max_members, 3);
        assert_eq!(parsed.timestamp_window, Duration::from_secs(5));
        assert_eq!(parsed.resume_grace, Duration::ZERO);
        assert_eq!(
            parsed.member_media,
            MediaRateLimit {
                bytes_per_second: 8192,
                burst_bytes: 4096
            }
        );
        assert_eq!(parsed.member_video, MediaRateLimit::from_kbps(1024));
        assert_eq!(parsed.tls, Some(("c.pem".into(), "k.pem".into())));
        assert_eq!(parsed.log_level, LogLevel::Debug);
    }

    #[test]
    fn help_is_honoured_where_it_appears() {
        assert_eq!(parse_command(&args(&["--help"])), Ok(Command::Help));
        // Arguments are read in order: an error before the help flag is still an error.
        assert_eq!(
            parse_command(&args(&["--max-members", "x", "-h"])).unwrap_err(),
            UsageError::serve("--max-members: 'x' is not a positive integer")
        );
        assert_eq!(
            parse_command(&args(&["--app", "a:b", "-h"])),
            Ok(Command::Help)
        );
        assert_eq!(
            parse_command(&args(&["sign", "--help"])),
            Ok(Command::SignHelp)
        );
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        assert!(error(&[]).contains("--app"));
        assert_eq!(
            error(&["--app", "a:b", "--bogus", "1"]),
            "unknown flag --bogus"
        );
        assert_eq!(
            error(&["--app", "a:b", "stray"]),
            "unexpected argument 'stray'"
        );
        assert_eq!(error(&["--app", "a:b", "-v"]), "unknown flag -v");
        assert_eq!(error(&["--app"]), "missing value for --app");
        assert_eq!(
            error(&["--listen", "--app", "a:b"]),
            "missing value for --listen"
        );
        assert!(error(&["--app", "nocolon"]).contains("APP_ID:APP_SECRET"));
        assert!(error(&["--app", ":secret"]).contains("non-empty"));
        assert!(error(&["--app", "id:"]).contains("non-empty"));
        assert!(error(&["--app", "a:b", "--app", "a:c"]).contains("more than once"));
        assert!(error(&["--app", "a:b", "--listen", "localhost"]).contains("IP:PORT"));
        assert!(error(&["--app", "a:b", "--max-members", "abc"]).contains("abc"));
        assert!(error(&["--app", "a:b", "--max-members", "0"]).contains("at least 1"));
        assert!(error(&["--app", "a:b", "--resume-grace", "-1"]).contains("seconds"));
        assert!(error(&["--app", "a:b", "--log-level", "loud"]).contains("loud"));
        assert_eq!(
            error(&["--app", "a:b", "--cert", "c"]),
            "--cert needs --key"
        );
        assert_eq!(error(&["--app", "a:b", "--key", "k"]), "--key needs --cert");
        assert!(error(&[
            "--app",
            "a:b",
            "--listen",
            "1.2.3.4:1",
            "--listen=1.2.3.4:2"
        ])
        .contains("more than once"));
    }

    fn sign_args(extra: &[&str]) -> Vec<String> {
        let mut list = args(&[
            "sign",
            "--app-id",
            "wx1",
            "--app-secret",
            "s:e",
            "--open-id",
            "alice",
            "--group-id",
            "room",
        ]);
        list.extend(args(extra));
        list
    }

    #[test]
    fn sign_signs_like_a_game_backend() {
        let Ok(Command::Sign(parsed)) =
            parse_command(&sign_args(&["--nonce", "n1", "--timestamp", "-42"]))
        else {
            panic!("sign args");
        };
        let join = signed_join(parsed);
        let key = auth::session_key("s:e", "alice");
        assert_eq!(join.signature, auth::sign(&key, "wx1", "room", "n1", -42));
        assert_eq!(
            serde_json::to_string(&join).unwrap(),
            format!(
                r#"{{"appId":"wx1","openId":"alice","groupId":"room","nonceStr":"n1","timeStamp":-42,"signature":"{}"}}"#,
                join.signature
            )
        );
    }

    #[test]
    fn sign_defaults_to_a_random_hex_nonce_and_now() {
        let Ok(Command::Sign(parsed)) = parse_command(&sign_args(&[])) else {
            panic!("sign args");
        };
        let before = unix_now();
        let join = signed_join(parsed);
        assert_eq!(join.nonce_str.len(), 16);
        assert!(join
            .nonce_str
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert!((before..=unix_now()).contains(&join.time_stamp));
        assert_ne!(random_nonce(), random_nonce());
    }

    #[test]
    fn sign_rejects_bad_input() {
        let long = "n".repeat(128);
        let err = parse_command(&sign_args(&["--nonce", &long])).unwrap_err();
        assert!(err.message.contains("1 to 127"));
        assert_eq!(err.help, "voipchat-server sign --help");
        assert!(parse_command(&sign_args(&["--nonce", &"n".repeat(127)])).is_ok());
        assert!(parse_command(&sign_args(&["--nonce="])).is_err());
        assert!(parse_command(&sign_args(&["--timestamp", "soon"])).is_err());
        assert!(parse_command(&sign_args(&["--listen", "1.2.3.4:5"])).is_err());
        assert_eq!(
            parse_command(&args(&["sign", "--app-id", "wx1"]))
                .unwrap_err()
                .message,
            "--app-secret is required"
        );
        assert!(parse_command(&sign_args(&["--open-id", "bob"]))
            .unwrap_err()
            .message
            .contains("more than once"));
    }
}
