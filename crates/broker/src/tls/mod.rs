//! TLS listeners (SSL and SASL_SSL): a layer under the connection. The
//! handshake runs before the connection is served; what is served then is
//! the decrypted stream, whatever authentication follows on it (SASL on
//! SASL_SSL). On SSL listeners the client certificate's subject, mapped by
//! `ssl.principal.mapping.rules`, is the connection's principal.
//!
//! Certificates are reloaded by polling: every `RELOAD_CHECK` a task
//! compares the files' stamps (mtime, size, inode) with those last read,
//! and on a change builds a new rustls configuration on the blocking pool.
//! Polling on a timer rather than at each accept keeps file system calls
//! off the accept path (a connection storm costs no stat(2) per client)
//! and reports a broken file once per change, not once per client; the
//! price is that a new certificate serves up to `RELOAD_CHECK` late. New
//! handshakes take the new configuration; connections already open keep
//! theirs. A file that does not load keeps the old configuration in use.

mod dn;
mod material;
mod principal;
mod settings;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::protocol::StrBytes;
use parking_lot::{Mutex, RwLock};
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

pub use dn::subject_of;
use material::Stamp;
pub use principal::PrincipalMapper;
pub use settings::{ClientAuth, KeyStore, PemSource, TlsSettings, CONFIG_NAMES};

use crate::connection::Transport;
use crate::request_context::{Principal, SecurityProtocol};

/// How often the certificate files are checked for changes.
pub const RELOAD_CHECK: Duration = Duration::from_secs(2);
/// A client that has not finished its handshake by then is dropped: a
/// plaintext client or a stalled one must not hold a connection slot.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Record bytes are copied through the connection's buffer into the TLS
/// stream (no sendfile: they must be encrypted).
impl Transport for TlsStream<TcpStream> {}

/// One TLS listener's settings and its current rustls configuration.
pub struct TlsListener {
    settings: TlsSettings,
    current: RwLock<Arc<ServerConfig>>,
    stamps: Mutex<Vec<Option<Stamp>>>,
}

impl TlsListener {
    /// Reads the listener's configs and files (blocking file reads: call
    /// it at start-up or on the blocking pool).
    pub fn open(statics: &crate::configs::StaticConfigs, listener: &str) -> Result<Self, String> {
        let settings = TlsSettings::from_statics(statics, listener)?;
        let stamps = material::stamps(&settings);
        let config =
            material::server_config(&settings).map_err(|e| format!("listener {listener}: {e}"))?;
        Ok(TlsListener {
            settings,
            current: RwLock::new(config),
            stamps: Mutex::new(stamps),
        })
    }

    /// Reads the files again if they changed since last read; on failure
    /// the configuration in use stays and the error is logged.
    pub fn reload_if_changed(&self) {
        let now = material::stamps(&self.settings);
        {
            let mut stamps = self.stamps.lock();
            if *stamps == now {
                return;
            }
            *stamps = now;
        }
        match material::server_config(&self.settings) {
            Ok(config) => {
                *self.current.write() = config;
                tracing::info!(
                    listener = %self.settings.listener,
                    "reloaded the TLS key and certificates: new connections use them"
                );
            }
            Err(e) => tracing::error!(
                listener = %self.settings.listener,
                "the changed TLS files do not load, so the previous certificates stay in use: {e}"
            ),
        }
    }

    /// Checks the files every `RELOAD_CHECK` until the broker shuts down.
    pub async fn watch(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(RELOAD_CHECK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = ticker.tick() => {
                    let listener = Arc::clone(&self);
                    if let Err(e) = tokio::task::spawn_blocking(move || listener.reload_if_changed()).await {
                        tracing::error!(error = %e, "TLS reload check failed");
                    }
                }
            }
        }
    }

    /// The handshake, within `HANDSHAKE_TIMEOUT`, and the principal the
    /// connection starts with: on SSL the mapped client certificate
    /// subject (`User:ANONYMOUS` without a certificate); on SASL_SSL
    /// anonymous until SASL authenticates. None: the client is dropped
    /// (and why is logged).
    pub async fn handshake(
        &self,
        socket: TcpStream,
        peer: SocketAddr,
        protocol: SecurityProtocol,
    ) -> Option<(TlsStream<TcpStream>, Principal)> {
        let acceptor = TlsAcceptor::from(Arc::clone(&self.current.read()));
        let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::info!(%peer, listener = %self.settings.listener, "TLS handshake failed: {e}");
                return None;
            }
            Err(_) => {
                tracing::info!(
                    %peer,
                    listener = %self.settings.listener,
                    "TLS handshake not done within {HANDSHAKE_TIMEOUT:?}: closing"
                );
                return None;
            }
        };
        if protocol != SecurityProtocol::Ssl {
            return Some((stream, Principal::anonymous()));
        }
        let certificate = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first());
        let Some(certificate) = certificate else {
            return Some((stream, Principal::anonymous()));
        };
        let Some(subject) = subject_of(certificate) else {
            tracing::info!(%peer, "client certificate subject unreadable: closing");
            return None;
        };
        match self.settings.mapper.map(&subject) {
            Ok(name) => Some((stream, Principal::user(StrBytes::from_string(name)))),
            Err(e) => {
                tracing::info!(%peer, listener = %self.settings.listener, "refusing client: {e}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
