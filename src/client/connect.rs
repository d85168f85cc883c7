//! Opening a connection to the relay: resolve, QUIC handshake with the configured trust, open
//! the control stream, send the first message and read the server's answer.

use std::net::SocketAddr;

use tokio::sync::mpsc;
use tokio::time::timeout;

use super::ClientConfig;
use crate::error::{ErrorCode, VoipError};
use crate::net::tls;
use crate::net::wire::{self, ClientMessage, ServerMessage, WireError};

/// An open connection with its control stream.
pub(super) struct Link {
    /// Kept so the endpoint's socket lives as long as the connection.
    _endpoint: quinn::Endpoint,
    pub connection: quinn::Connection,
    pub send: quinn::SendStream,
    pub inbox: mpsc::Receiver<Result<ServerMessage, WireError>>,
}

/// Checks the shape of `host:port` (or `[v6]:port`) without resolving it.
pub(super) fn check_server_address(server: &str) -> Result<(), VoipError> {
    split_host_port(server).map(|_| ()).ok_or_else(|| {
        VoipError::new(
            ErrorCode::InvalidArgument,
            format!("server must be \"host:port\", got {server:?}"),
        )
    })
}

fn split_host_port(server: &str) -> Option<(&str, u16)> {
    let (host, port) = server.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some((host, port))
}

fn unreachable(detail: impl std::fmt::Display) -> VoipError {
    VoipError::new(
        ErrorCode::ServerUnreachable,
        format!("server unreachable: {detail}"),
    )
}

/// Connects and exchanges the first message. Dropping the future abandons the attempt and
/// closes whatever was opened.
pub(super) async fn open(
    config: &ClientConfig,
    first: &ClientMessage,
) -> Result<(Link, ServerMessage), VoipError> {
    let attempt = async {
        let (host, port) =
            split_host_port(&config.server).ok_or_else(|| unreachable("bad address"))?;
        let addr: SocketAddr = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| unreachable(format_args!("cannot resolve {host}: {e}")))?
            .next()
            .ok_or_else(|| unreachable(format_args!("{host} has no address")))?;
        let bind: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let mut endpoint = quinn::Endpoint::client(bind).map_err(|e| {
            VoipError::new(ErrorCode::System, format!("cannot open a UDP socket: {e}"))
        })?;
        endpoint.set_default_client_config(tls::client_config(
            config.server_cert_sha256.as_deref(),
            config.liveness,
        )?);
        let connecting = endpoint.connect(addr, host).map_err(|e| {
            VoipError::new(
                ErrorCode::InvalidArgument,
                format!("cannot connect to {addr}: {e}"),
            )
        })?;
        let connection = connecting.await.map_err(|e| {
            if tls::is_certificate_rejection(&e) {
                VoipError::new(
                    ErrorCode::CertificateRejected,
                    format!("server certificate rejected: {e}"),
                )
            } else {
                unreachable(e)
            }
        })?;
        let (mut send, mut recv) = connection.open_bi().await.map_err(unreachable)?;
        wire::write_message(&mut send, first)
            .await
            .map_err(unreachable)?;
        let reply: ServerMessage = wire::read_message(&mut recv).await.map_err(unreachable)?;
        let inbox = wire::spawn_reader(recv);
        Ok((
            Link {
                _endpoint: endpoint,
                connection,
                send,
                inbox,
            },
            reply,
        ))
    };
    match timeout(config.connect_timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(unreachable(format_args!(
            "no answer from {} within {:?}",
            config.server, config.connect_timeout
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        assert_eq!(split_host_port("127.0.0.1:4433"), Some(("127.0.0.1", 4433)));
        assert_eq!(split_host_port("[::1]:9"), Some(("::1", 9)));
        assert_eq!(
            split_host_port("relay.example.com:443"),
            Some(("relay.example.com", 443))
        );
        assert_eq!(split_host_port("127.0.0.1"), None);
        assert_eq!(split_host_port(":80"), None);
        assert_eq!(split_host_port("host:99999"), None);
    }
}
