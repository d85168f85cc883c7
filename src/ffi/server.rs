//! The embedded relay: a game host (LAN mode), a test or the demo runs the server in-process.

use std::collections::HashMap;
use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use super::strings;
use super::types::*;
use super::{catch, set_last_error};
use crate::error::{ErrorCode, VoipError};
use crate::log::{LogLevel, Logger};
use crate::net::tls::ServerIdentity;
use crate::server::{Server, ServerConfig};

/// Defaults: a free loopback port, no apps, 10 members, ±300 s, a self-signed certificate.
#[no_mangle]
pub extern "C" fn voip_server_config_default() -> VoipServerConfig {
    VoipServerConfig {
        listen: std::ptr::null(),
        apps: std::ptr::null(),
        app_count: 0,
        max_members: 10,
        timestamp_window_s: 300,
        cert_pem_path: std::ptr::null(),
        key_pem_path: std::ptr::null(),
        log: None,
        log_user_data: std::ptr::null_mut(),
    }
}

#[derive(Clone, Copy)]
struct LogTarget(
    unsafe extern "C" fn(VoipLogLevel, *const c_char, *mut c_void),
    *mut c_void,
);
// SAFETY: the caller's log function and its opaque user_data; documented to be called from
// server threads.
unsafe impl Send for LogTarget {}
unsafe impl Sync for LogTarget {}

/// # Safety
/// `config` points to a valid `VoipServerConfig`.
unsafe fn read_server_config(config: &VoipServerConfig) -> Result<ServerConfig, VoipError> {
    let invalid = |m: String| VoipError::new(ErrorCode::InvalidArgument, m);
    let mut server = ServerConfig::default();
    if let Some(listen) = strings::optional(config.listen, "listen")? {
        server.listen = listen
            .parse()
            .map_err(|_| invalid(format!("listen must be \"ip:port\", got {listen:?}")))?;
    }
    if config.app_count > 0 && config.apps.is_null() {
        return Err(invalid("apps is NULL but app_count is not 0".into()));
    }
    let apps = if config.app_count == 0 {
        &[][..]
    } else {
        std::slice::from_raw_parts(config.apps, config.app_count)
    };
    let mut table = HashMap::new();
    for app in apps {
        let id = strings::required(app.app_id, "apps[].app_id")?;
        let secret = strings::required(app.app_secret, "apps[].app_secret")?;
        if id.is_empty() || secret.is_empty() {
            return Err(invalid(
                "apps[] needs a non-empty app_id and app_secret".into(),
            ));
        }
        table.insert(id.to_string(), secret.to_string());
    }
    server.apps = table;
    if config.max_members > 0 {
        server.max_members = config.max_members as usize;
    }
    if config.timestamp_window_s > 0 {
        server.timestamp_window = Duration::from_secs(u64::from(config.timestamp_window_s));
    }
    let cert = strings::optional(config.cert_pem_path, "cert_pem_path")?;
    let key = strings::optional(config.key_pem_path, "key_pem_path")?;
    server.identity = match (cert, key) {
        (Some(cert), Some(key)) => Some(ServerIdentity::from_pem_files(cert, key)?),
        (None, None) => None,
        _ => return Err(invalid("cert_pem_path and key_pem_path go together".into())),
    };
    if let Some(log) = config.log {
        let target = LogTarget(log, config.log_user_data);
        server.logger = Logger::new(Some(Arc::new(move |level: LogLevel, message: &str| {
            let message = strings::c_string(message);
            let target = target;
            // SAFETY: the caller's log callback and user_data.
            unsafe { (target.0)(level as i32, message.as_ptr(), target.1) }
        })));
    }
    Ok(server)
}

/// Starts a relay on its own runtime. Returns NULL on failure (`voip_last_error_message()`
/// says why). Stop it with `voip_server_stop`.
///
/// # Safety
/// `config` is NULL (defaults) or points to a valid `VoipServerConfig`.
#[no_mangle]
pub unsafe extern "C" fn voip_server_start(config: *const VoipServerConfig) -> *mut VoipServer {
    let started = catch(|| {
        let defaults = voip_server_config_default();
        let config = read_server_config(config.as_ref().unwrap_or(&defaults))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("voipchat-server")
            .enable_all()
            .build()
            .map_err(|e| {
                VoipError::new(ErrorCode::System, format!("cannot start the runtime: {e}"))
            })?;
        let server = runtime.block_on(Server::start(config))?;
        let cert_sha256 = strings::c_string(server.cert_sha256());
        Ok(Box::into_raw(Box::new(VoipServer {
            runtime,
            server: Some(server),
            cert_sha256,
        })))
    });
    match started {
        Ok(server) => server,
        Err(e) => {
            set_last_error(&e.reason);
            std::ptr::null_mut()
        }
    }
}

/// The UDP port the relay listens on (useful with port 0); 0 for NULL.
///
/// # Safety
/// `server` is NULL or a live pointer from `voip_server_start`.
#[no_mangle]
pub unsafe extern "C" fn voip_server_port(server: *const VoipServer) -> u16 {
    catch(|| {
        Ok(server
            .as_ref()
            .and_then(|s| s.server.as_ref())
            .map_or(0, |s| s.local_addr().port()))
    })
    .unwrap_or(0)
}

/// Lowercase hex SHA-256 of the relay's certificate, for clients to pin. Valid until
/// `voip_server_stop`; NULL for NULL.
///
/// # Safety
/// `server` is NULL or a live pointer from `voip_server_start`.
#[no_mangle]
pub unsafe extern "C" fn voip_server_cert_sha256(server: *const VoipServer) -> *const c_char {
    server
        .as_ref()
        .map_or(std::ptr::null(), |s| s.cert_sha256.as_ptr())
}

/// Tells members the server is going away, closes every connection and frees the server.
/// NULL is ignored.
///
/// # Safety
/// `server` is NULL or a pointer from `voip_server_start` not yet stopped.
#[no_mangle]
pub unsafe extern "C" fn voip_server_stop(server: *mut VoipServer) {
    if server.is_null() {
        return;
    }
    let mut server = Box::from_raw(server);
    let _ = catch(|| {
        if let Some(running) = server.server.take() {
            server.runtime.block_on(running.shutdown());
        }
        Ok(())
    });
    let VoipServer { runtime, .. } = *server;
    runtime.shutdown_timeout(Duration::from_secs(1));
}
