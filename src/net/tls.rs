//! TLS for the QUIC endpoints: the server's certificate (given or self-signed) and the client's
//! trust (a pinned SHA-256 of the server's certificate, or the system's roots).
//!
//! A LAN host or a test runs the relay with a fresh self-signed certificate and hands its
//! fingerprint to the clients, which pin it: no certificate authority is involved and no
//! certificate check is skipped.

use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::auth::{from_hex, to_lower_hex};
use crate::error::{ErrorCode, VoipError};

/// A certificate chain and its private key, as the server presents them.
pub struct ServerIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl ServerIdentity {
    /// A fresh self-signed certificate for `localhost` and the loopback addresses.
    pub fn self_signed() -> Result<Self, VoipError> {
        let names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        let cert = rcgen::generate_simple_self_signed(names).map_err(|e| {
            VoipError::new(
                ErrorCode::System,
                format!("cannot generate certificate: {e}"),
            )
        })?;
        Ok(Self {
            chain: vec![cert.cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into()),
        })
    }

    /// Reads a PEM certificate chain and a PEM private key.
    pub fn from_pem_files(cert_path: &str, key_path: &str) -> Result<Self, VoipError> {
        let invalid = |what: &str, e: &dyn std::fmt::Display| {
            VoipError::new(ErrorCode::InvalidArgument, format!("{what}: {e}"))
        };
        let cert_pem = std::fs::read(cert_path).map_err(|e| invalid(cert_path, &e))?;
        let key_pem = std::fs::read(key_path).map_err(|e| invalid(key_path, &e))?;
        let chain = rustls_pemfile::certs(&mut cert_pem.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(cert_path, &e))?;
        if chain.is_empty() {
            return Err(invalid(cert_path, &"no certificate in the file"));
        }
        let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
            .map_err(|e| invalid(key_path, &e))?
            .ok_or_else(|| invalid(key_path, &"no private key in the file"))?;
        Ok(Self { chain, key })
    }

    /// Lowercase hex SHA-256 of the end-entity certificate's DER: what clients pin.
    pub fn fingerprint(&self) -> String {
        to_lower_hex(&Sha256::digest(&self.chain[0]))
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Idle and keep-alive timing of a connection. Keep-alives let both sides notice a dead peer
/// within `idle_timeout` even when nobody speaks.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    pub idle_timeout: Duration,
    pub keep_alive: Duration,
}

impl Liveness {
    /// The shortest idle timeout accepted from a caller: below it a busy network's ordinary
    /// hiccups would read as a lost connection.
    pub const MIN_IDLE_TIMEOUT: Duration = Duration::from_millis(500);

    /// A connection declared lost after `idle_timeout` of silence, with keep-alives often
    /// enough (a fifth of it, at most every second) that a live but quiet one never is. A
    /// game running several relays shortens it so members of a dead node find out sooner.
    pub fn with_idle_timeout(idle_timeout: Duration) -> Liveness {
        Liveness {
            idle_timeout,
            keep_alive: (idle_timeout / 5).min(Duration::from_secs(1)),
        }
    }
}

impl Default for Liveness {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(6),
            keep_alive: Duration::from_secs(1),
        }
    }
}

/// Datagrams a connection holds for sending before the oldest is dropped (quinn's default,
/// made explicit because the relay sheds video against it: see `server/driver.rs`).
pub const DATAGRAM_SEND_BUFFER: usize = 1024 * 1024;

fn transport(liveness: Liveness, accepts_streams: bool) -> Arc<quinn::TransportConfig> {
    let mut transport = quinn::TransportConfig::default();
    transport
        .datagram_send_buffer_size(DATAGRAM_SEND_BUFFER)
        .max_idle_timeout(Some(
            liveness
                .idle_timeout
                .try_into()
                .expect("idle timeout fits QUIC's varint"),
        ))
        .keep_alive_interval(Some(liveness.keep_alive))
        // One control stream per connection, opened by the client; media travels as datagrams.
        .max_concurrent_bidi_streams(if accepts_streams { 1u32 } else { 0u32 }.into())
        .max_concurrent_uni_streams(0u32.into());
    Arc::new(transport)
}

pub fn server_config(
    identity: &ServerIdentity,
    liveness: Liveness,
) -> Result<quinn::ServerConfig, VoipError> {
    let system =
        |e: &dyn std::fmt::Display| VoipError::new(ErrorCode::System, format!("TLS setup: {e}"));
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| system(&e))?
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|e| {
            VoipError::new(
                ErrorCode::InvalidArgument,
                format!("certificate and key: {e}"),
            )
        })?;
    tls.alpn_protocols = vec![super::ALPN.to_vec()];
    let quic = QuicServerConfig::try_from(tls).map_err(|e| system(&e))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(transport(liveness, true));
    Ok(config)
}

/// A client configuration that trusts exactly the certificate with this SHA-256 (`Some`), or
/// the system's root certificates (`None`).
pub fn client_config(
    pin_sha256_hex: Option<&str>,
    liveness: Liveness,
) -> Result<quinn::ClientConfig, VoipError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| VoipError::new(ErrorCode::System, format!("TLS setup: {e}")))?;
    let mut tls = match pin_sha256_hex {
        Some(pin) => {
            let pin = parse_pin(pin)?;
            builder
                .dangerous() // Not dangerous here: the pin is a stronger check than a CA chain.
                .with_custom_certificate_verifier(Arc::new(PinnedCertificate { pin, provider }))
                .with_no_client_auth()
        }
        None => {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    tls.alpn_protocols = vec![super::ALPN.to_vec()];
    let quic = QuicClientConfig::try_from(tls)
        .map_err(|e| VoipError::new(ErrorCode::System, format!("TLS setup: {e}")))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(transport(liveness, false));
    Ok(config)
}

fn parse_pin(pin: &str) -> Result<[u8; 32], VoipError> {
    from_hex(pin)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| {
            VoipError::new(
                ErrorCode::InvalidArgument,
                "server_cert_sha256 must be 64 hex characters (SHA-256 of the server's DER certificate)",
            )
        })
}

/// Accepts the server only if its end-entity certificate hashes to the pin; the handshake
/// signature is still verified, so only the holder of that certificate's key gets through.
#[derive(Debug)]
struct PinnedCertificate {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if Sha256::digest(end_entity).as_slice() == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Whether a failed connection attempt was our side refusing the server's certificate.
pub fn is_certificate_rejection(error: &quinn::ConnectionError) -> bool {
    // TLS alerts travel as QUIC CRYPTO_ERROR codes 0x100 + alert. 42..=49 are the certificate
    // alerts (bad_certificate .. access_denied), unknown_ca among them.
    match error {
        quinn::ConnectionError::TransportError(e) => {
            let code = u64::from(e.code);
            (0x100 + 42..=0x100 + 49).contains(&code)
        }
        _ => false,
    }
}
