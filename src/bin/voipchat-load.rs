//! `voipchat-load`: puts a voipchat relay under load and reports what it costs.
//!
//! Opens N members across R rooms (real QUIC connections, signed joins, all at once: a join
//! storm), has S members per room send Opus-sized datagrams at the frame rate, and measures
//! delivery, one-way delay through the relay, the relay's CPU per forwarded datagram and
//! memory per member; then runs the same traffic through a plain-UDP forwarder, the machine's
//! ceiling. Text on stdout, or JSON with `--json`. Exit status: 0 when every join was admitted
//! and nothing was lost or misrouted, 1 otherwise, 2 on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use voipchat::load::{self, LoadConfig, Report, Target};

const USAGE: &str = "\
voipchat-load: load generator for the voipchat relay

USAGE:
    voipchat-load [--embedded | --spawn | --cluster N --redis URL |
                   --server HOST:PORT --pin SHA256 --app ID:SECRET] [OPTIONS]

TARGET (one of):
    --embedded                 start a relay in this process on its own runtime [default]
    --spawn                    start the voipchat-server binary (next to this one) as a child,
                               so its CPU time and memory are measured apart from the load tool
    --cluster N                start N voipchat-server nodes joined to the Redis given by
                               --redis, and place every room as a game backend does; CPU
                               and memory are summed over the nodes
    --redis URL                the cluster's directory, redis://HOST:PORT (running, and
                               this run's alone)
    --server HOST:PORT         a running relay; needs --pin and --app
    --pin SHA256               the relay's certificate fingerprint (64 hex characters)
    --app ID:SECRET            an app the relay admits (split at the first ':')
    --server-pid PID           the running relay's pid (same machine), to measure its CPU
                               and memory
    --server-binary PATH       the relay binary for --spawn and --cluster

OPTIONS:
    --members N                members in all [default: 1000]
    --rooms R                  rooms the members are spread over [default: 100]
    --speakers S               speakers per room [default: 1]
    --payload BYTES            payload after the 8-byte media header [default: 80]
    --frame-ms MS              one datagram per speaker every MS [default: 20]
    --seconds SECS             measured window [default: 10]
    --warmup SECS              traffic before the window, not counted [default: 1]
    --relay-threads N          worker threads of an embedded relay [default: 2]
    --load-threads N           worker threads of the load tool [default: 2]
    --client-sockets N         UDP sockets the members share [default: one per 50 members]
    --no-baseline              skip the plain-UDP forwarder
    --baseline-only            only the plain-UDP forwarder
    --json                     print the report as JSON
    -h, --help                 print this help
";

struct Args {
    config: LoadConfig,
    json: bool,
}

fn parse(args: &[String]) -> Result<Option<Args>, String> {
    let mut config = LoadConfig::default();
    let mut json = false;
    let (mut embedded, mut spawn) = (false, false);
    let (mut server, mut pin, mut app, mut pid, mut binary) = (None, None, None, None, None);
    let mut relay_threads = 2;
    let (mut cluster, mut redis) = (None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("missing value for {flag}"))
        };
        let number = |v: String| -> Result<usize, String> {
            v.parse()
                .map_err(|_| format!("{flag}: '{v}' is not a whole number"))
        };
        let number_of = |v: String, unit: &str, scale: f64| -> Result<Duration, String> {
            v.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
                .map(|s| Duration::from_secs_f64(s * scale))
                .ok_or_else(|| format!("{flag}: '{v}' is not a number of {unit}"))
        };
        let seconds = |v: String| number_of(v, "seconds", 1.0);
        let millis = |v: String| number_of(v, "milliseconds", 1e-3);
        match flag {
            "-h" | "--help" => return Ok(None),
            "--embedded" => embedded = true,
            "--spawn" => spawn = true,
            "--server" => server = Some(value()?),
            "--cluster" => cluster = Some(number(value()?)?),
            "--redis" => redis = Some(value()?),
            "--pin" => pin = Some(value()?),
            "--app" => app = Some(value()?),
            "--server-pid" => pid = Some(number(value()?)? as u32),
            "--server-binary" => binary = Some(PathBuf::from(value()?)),
            "--members" => config.members = number(value()?)?,
            "--rooms" => config.rooms = number(value()?)?,
            "--speakers" => config.speakers_per_room = number(value()?)?,
            "--payload" => config.payload_bytes = number(value()?)?,
            "--frame-ms" => config.frame = millis(value()?)?,
            "--seconds" => config.duration = seconds(value()?)?,
            "--warmup" => config.warmup = seconds(value()?)?,
            "--relay-threads" => relay_threads = number(value()?)?.max(1),
            "--load-threads" => config.load_threads = number(value()?)?.max(1),
            "--client-sockets" => config.client_sockets = number(value()?)?,
            "--no-baseline" => config.baseline = false,
            "--baseline-only" => config.relay = false,
            "--json" => json = true,
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    let targets = usize::from(embedded)
        + usize::from(spawn)
        + usize::from(server.is_some())
        + usize::from(cluster.is_some());
    if targets > 1 {
        return Err("--embedded, --spawn, --cluster and --server exclude each other".into());
    }
    if redis.is_some() && cluster.is_none() {
        return Err("--redis needs --cluster N".into());
    }
    config.target = if let Some(nodes) = cluster {
        if nodes == 0 {
            return Err("--cluster: at least 1 node".into());
        }
        Target::Cluster {
            redis_url: redis.ok_or("--cluster needs --redis redis://HOST:PORT")?,
            nodes,
            binary,
        }
    } else if let Some(server) = server {
        let pin = pin.ok_or("--server needs --pin")?;
        let app = app.ok_or("--server needs --app ID:SECRET")?;
        let (app_id, app_secret) = app.split_once(':').ok_or("--app must be ID:SECRET")?;
        Target::Remote {
            server,
            cert_sha256: pin,
            app_id: app_id.to_string(),
            app_secret: app_secret.to_string(),
            server_pid: pid,
        }
    } else if spawn {
        Target::Spawn { binary }
    } else {
        Target::Embedded { relay_threads }
    };
    Ok(Some(Args { config, json }))
}

fn clean(report: &Report) -> bool {
    let join_ok = report
        .join
        .as_ref()
        .map_or(true, |j| j.admitted == j.attempted);
    let phase_ok = |p: &Option<load::PhaseReport>| {
        p.as_ref().map_or(true, |p| {
            let d = &p.delivery;
            d.lost == 0 && d.cross_room == 0 && d.self_heard == 0 && d.wrong_source == 0
        })
    };
    join_ok && phase_ok(&report.relay) && phase_ok(&report.baseline)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("voipchat-load: {e}\nTry 'voipchat-load --help'.");
            return ExitCode::from(2);
        }
    };
    match load::run(&args.config) {
        Ok(report) => {
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            if clean(&report) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("voipchat-load: {e}");
            ExitCode::FAILURE
        }
    }
}
