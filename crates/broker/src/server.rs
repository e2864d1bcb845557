//! Start-up, the accept loop, background housekeeping and clean shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use anyhow::Context;
use fjord_storage::data_dir_lock::DataDirLock;
use fjord_storage::local::LocalLogStore;
use fjord_storage::local_offsets::LocalOffsetStore;
use fjord_storage::local_transactions::LocalTransactionStore;
use fjord_storage::meta::{FileMetadataStore, MetadataStore};
use fjord_storage::offsets::OffsetStore;
use fjord_storage::scram::LocalScramStore;
use fjord_storage::tokens::LocalTokenStore;
use fjord_storage::LogStore;
use kafka_protocol::protocol::StrBytes;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::authorizer::{Authorizer, AuthorizerConfig};
use crate::broker::Broker;
use crate::cluster::{BrokerNode, ListenerEndpoint, SingleNode};
use crate::config::BrokerConfig;
use crate::connection;
use crate::connection_quotas::{ConnectionLimits, ConnectionQuotas};
use crate::groups::{GroupConfig, GroupCoordinator};
use crate::quotas::{ClientQuotas, QuotaSettings};
use crate::request_context::{ConnectionContext, SecurityProtocol};
use crate::security::delegation_tokens::DelegationTokens;
use crate::security::mechanisms::SaslMechanisms;
use crate::security::oauthbearer::OAuthBearerValidator;
use crate::security::scram_credentials::{StoredUsers, TokenCredentials};
use crate::tls::TlsListener;
use crate::topics::TopicRegistry;
use crate::transactions::log_markers::LogMarkers;
use crate::transactions::{TransactionConfig, TransactionCoordinator};

/// A broker serving in the background of the current Tokio runtime.
pub struct RunningBroker {
    /// Each listener's name and the address it is bound to, in the order
    /// `listeners` gives them.
    listeners: Vec<(String, SocketAddr)>,
    broker: Arc<Broker>,
    shutdown: watch::Sender<bool>,
    served: tokio::task::JoinHandle<()>,
    /// Released when the broker is dropped, after shutdown's last flush.
    _data_dir_lock: DataDirLock,
}

impl RunningBroker {
    /// The address of the first listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.listeners[0].1
    }

    /// The address the listener of this name (any case) is bound to.
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(listener, _)| listener.eq_ignore_ascii_case(name))
            .map(|(_, addr)| *addr)
    }

    /// `host:port` of the first listener, for clients' bootstrap.servers.
    pub fn bootstrap(&self) -> String {
        self.local_addr().to_string()
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Stops accepting, closes connections, flushes and fsyncs every log.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.served.await.context("accept loop panicked")?;
        self.broker
            .logs
            .flush_all()
            .await
            .context("flushing logs at shutdown")?;
        tracing::info!("fjord stopped");
        Ok(())
    }
}

pub async fn start(mut config: BrokerConfig) -> anyhow::Result<RunningBroker> {
    config.resolve()?;
    let data_dir = config.data_dir.clone();
    let data_dir_lock = DataDirLock::acquire(&data_dir)
        .with_context(|| format!("locking the data dir {}", data_dir.display()))?;
    // The metadata first: it refuses a data dir whose metadata is lost or
    // damaged before anything else touches the data.
    let meta: Arc<dyn MetadataStore> = Arc::new(
        FileMetadataStore::open(&data_dir, config.cluster_id.as_deref())
            .with_context(|| format!("opening metadata in {}", data_dir.display()))?,
    );
    let logs: Arc<dyn LogStore> = {
        let dir = data_dir.clone();
        let known = TopicRegistry::known_partitions(meta.as_ref());
        let is_known = move |topic: &str, partition: i32| {
            known.get(topic).is_some_and(|count| partition < *count)
        };
        Arc::new(
            tokio::task::spawn_blocking(move || LocalLogStore::open_known(dir, is_known))
                .await?
                .with_context(|| format!("opening logs in {}", data_dir.display()))?,
        )
    };
    let offsets: Arc<dyn OffsetStore> = {
        let dir = data_dir.clone();
        Arc::new(
            tokio::task::spawn_blocking(move || LocalOffsetStore::open(&dir))
                .await?
                .with_context(|| format!("opening committed offsets in {}", data_dir.display()))?,
        )
    };
    let groups = Arc::new(GroupCoordinator::new(
        GroupConfig::from_statics(&config.statics),
        offsets.clone(),
    ));
    let transactions = {
        let dir = data_dir.clone();
        let store = tokio::task::spawn_blocking(move || LocalTransactionStore::open(&dir))
            .await?
            .with_context(|| format!("opening transaction state in {}", data_dir.display()))?;
        Arc::new(
            TransactionCoordinator::new(
                TransactionConfig::from_settings(&config.settings),
                Arc::new(store),
                Arc::new(LogMarkers::new(
                    Arc::clone(&meta),
                    Arc::clone(&logs),
                    Arc::clone(&groups),
                )),
            )
            .map_err(|e| anyhow::anyhow!("reading transaction state: {e}"))?,
        )
    };
    let delegation_tokens = {
        let dir = data_dir.clone();
        let store = tokio::task::spawn_blocking(move || LocalTokenStore::open(&dir))
            .await?
            .with_context(|| format!("opening delegation tokens in {}", data_dir.display()))?;
        Arc::new(
            DelegationTokens::from_statics(&config.statics, Arc::new(store))
                .map_err(anyhow::Error::msg)?,
        )
    };
    let scram_credentials = {
        let dir = data_dir.clone();
        Arc::new(
            tokio::task::spawn_blocking(move || LocalScramStore::open(&dir))
                .await?
                .with_context(|| format!("opening SCRAM credentials in {}", data_dir.display()))?,
        )
    };
    let oauthbearer = OAuthBearerValidator::from_statics(&config.statics)
        .map_err(anyhow::Error::msg)?
        .map(Arc::new);
    let sasl =
        SaslMechanisms::from_statics(&config.statics, &config.listeners, oauthbearer.clone())
            .map_err(anyhow::Error::msg)?
            .with_scram(
                Arc::new(StoredUsers(scram_credentials.clone())),
                Arc::new(TokenCredentials(Arc::clone(&delegation_tokens))),
            );
    for (name, value, note) in config.statics.not_honoured() {
        tracing::info!("broker config {name}={value}: {note}");
    }
    let topics = TopicRegistry::open(meta.clone(), logs.clone(), offsets, config.statics.clone())
        .await
        .map_err(|e| anyhow::anyhow!("opening topics: {e}"))?;

    let limits = ConnectionLimits::from_configs(&config.statics)?;
    let mut bound = Vec::new();
    let mut endpoints = Vec::new();
    for listener in &config.listeners {
        // Keys and certificates first: a bad one stops start-up before
        // anything is bound.
        let tls = if listener.security_protocol.uses_tls() {
            let (statics, name) = (config.statics.clone(), listener.name.clone());
            let opened = tokio::task::spawn_blocking(move || TlsListener::open(&statics, &name))
                .await?
                .map_err(anyhow::Error::msg)?;
            Some(Arc::new(opened))
        } else {
            None
        };
        let socket = TcpListener::bind(&listener.bind)
            .await
            .with_context(|| format!("binding listener {} on {}", listener.name, listener.bind))?;
        let local = socket.local_addr()?;
        let (host, port) = match &listener.advertised {
            Some((host, port)) => (host.clone(), *port),
            None if local.ip().is_unspecified() => {
                // Clients cannot connect to 0.0.0.0; Kafka refuses this set-up too.
                anyhow::bail!(
                    "listener {} on {local} needs an address clients can reach: set \
                     advertised.listeners (e.g. {}://host:{}), or --advertised-listener \
                     host:port for a single listener",
                    listener.name,
                    listener.name,
                    local.port()
                );
            }
            None => (local.ip().to_string(), local.port()),
        };
        endpoints.push(ListenerEndpoint {
            listener: listener.name.clone(),
            host,
            port: i32::from(port),
        });
        bound.push(BoundListener {
            socket,
            name: StrBytes::from_string(listener.name.clone()),
            security_protocol: listener.security_protocol,
            tls,
        });
    }
    let listeners: Vec<(String, SocketAddr)> = bound
        .iter()
        .map(|l| Ok((l.name.to_string(), l.socket.local_addr()?)))
        .collect::<std::io::Result<_>>()?;
    let authorizer = {
        let config = AuthorizerConfig::from_statics(&config.statics);
        let dir = data_dir.clone();
        tokio::task::spawn_blocking(move || Authorizer::open(config, &dir))
            .await?
            .with_context(|| format!("opening the ACLs in {}", data_dir.display()))?
    };
    let quotas = {
        let settings = QuotaSettings::from_statics(&config.statics).map_err(anyhow::Error::msg)?;
        let dir = data_dir.clone();
        tokio::task::spawn_blocking(move || ClientQuotas::open(&dir, settings))
            .await?
            .with_context(|| format!("opening the client quotas in {}", data_dir.display()))?
    };
    let broker = Arc::new(Broker {
        authorizer: Arc::new(authorizer),
        quotas: Arc::new(quotas),
        cluster: Arc::new(SingleNode::new(
            meta.cluster_id(),
            BrokerNode {
                id: config.node_id,
                // broker.rack is taken without effect (configs/support.rs).
                rack: None,
                endpoints,
            },
        )),
        logs,
        topics,
        groups,
        transactions,
        delegation_tokens,
        scram_credentials,
        oauthbearer,
        sasl,
        config,
    });
    // The first address leads the line: tools wait for it to connect.
    let shown: Vec<String> = bound
        .iter()
        .zip(&listeners)
        .map(|(l, (name, addr))| {
            if name == l.security_protocol.name() {
                format!("{addr} ({name})")
            } else {
                format!("{addr} ({name}: {})", l.security_protocol.name())
            }
        })
        .collect();
    tracing::info!(
        "fjord listening on {}, data in {}",
        shown.join(", "),
        broker.config.data_dir.display()
    );

    let (shutdown, shutdown_rx) = watch::channel(false);
    tokio::spawn(housekeeping(broker.clone(), shutdown_rx.clone()));
    tokio::spawn(broker.groups.clone().run(shutdown_rx.clone()));
    tokio::spawn(broker.transactions.clone().run(shutdown_rx.clone()));
    tokio::spawn(broker.delegation_tokens.clone().run(shutdown_rx.clone()));
    for tls in bound.iter().filter_map(|l| l.tls.clone()) {
        tokio::spawn(tls.watch(shutdown_rx.clone()));
    }
    let quotas = ConnectionQuotas::new(limits);
    let served = tokio::spawn(accept_loop(bound, broker.clone(), quotas, shutdown_rx));
    Ok(RunningBroker {
        listeners,
        broker,
        shutdown,
        served,
        _data_dir_lock: data_dir_lock,
    })
}

/// A bound listener socket with what each of its connections is told
/// about itself.
struct BoundListener {
    socket: TcpListener,
    name: StrBytes,
    security_protocol: SecurityProtocol,
    /// Set on SSL and SASL_SSL listeners.
    tls: Option<Arc<TlsListener>>,
}

/// The next connection on any listener, taking them in turn from `first`
/// so that a busy listener cannot starve the others.
async fn accept_any(
    listeners: &[BoundListener],
    first: &mut usize,
) -> (usize, std::io::Result<(TcpStream, SocketAddr)>) {
    std::future::poll_fn(|cx| {
        for step in 0..listeners.len() {
            let index = (*first + step) % listeners.len();
            if let Poll::Ready(accepted) = listeners[index].socket.poll_accept(cx) {
                *first = (index + 1) % listeners.len();
                return Poll::Ready((index, accepted));
            }
        }
        Poll::Pending
    })
    .await
}

/// One loop for every listener: `max.connections` counts connections on
/// all of them, as Kafka's does, and a slot is held only while accepting.
async fn accept_loop(
    listeners: Vec<BoundListener>,
    broker: Arc<Broker>,
    quotas: Arc<ConnectionQuotas>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut backoff = Duration::from_millis(5);
    let mut next_listener = 0;
    // Accept only holding a free slot (max.connections): past the limit,
    // clients wait in the listen backlog as they wait in Kafka's acceptor.
    let mut slot = None;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "connection task failed");
                }
            }
            free = quotas.free_slot(), if slot.is_none() => slot = Some(free),
            (index, accepted) = accept_any(&listeners, &mut next_listener), if slot.is_some() => {
                match accepted {
                    Ok((socket, peer)) => {
                        backoff = Duration::from_millis(5);
                        let Some(free) = slot.take() else { continue };
                        let admission = match quotas.admit(free, peer.ip()) {
                            Ok(admission) => admission,
                            Err(max) => {
                                tracing::info!(
                                    "rejected connection from {}: it already has the maximum of \
                                     {max} connections (max.connections.per.ip)",
                                    peer.ip()
                                );
                                continue;
                            }
                        };
                        if let Some(throttle) = broker.quotas.admit_connection(peer.ip()) {
                            // Kafka's acceptor keeps such a connection for the
                            // throttle time, then closes it unserved.
                            tracing::info!(
                                "closing connection from {} after {throttle:?}: over its \
                                 connection_creation_rate quota",
                                peer.ip()
                            );
                            drop(admission);
                            let mut shutdown = shutdown.clone();
                            connections.spawn(async move {
                                tokio::select! {
                                    _ = shutdown.changed() => {}
                                    () = tokio::time::sleep(throttle) => {}
                                }
                                drop(socket);
                            });
                            continue;
                        }
                        let _ = socket.set_nodelay(true);
                        let idle = quotas.limits().max_idle;
                        let listener = &listeners[index];
                        let mut context = ConnectionContext::accepted(
                            peer,
                            listener.name.clone(),
                            listener.security_protocol,
                        );
                        let Some(tls) = listener.tls.clone() else {
                            connections.spawn(connection::serve(
                                socket,
                                context,
                                broker.clone(),
                                idle,
                                shutdown.clone(),
                                admission,
                            ));
                            continue;
                        };
                        let (broker, mut shutdown) = (broker.clone(), shutdown.clone());
                        let protocol = listener.security_protocol;
                        // The handshake runs in the connection's task, holding
                        // its slot, so that a slow client delays no other.
                        connections.spawn(async move {
                            let handshake = tokio::select! {
                                _ = shutdown.changed() => return,
                                done = tls.handshake(socket, peer, protocol) => done,
                            };
                            let Some((stream, principal)) = handshake else { return };
                            context.principal = principal;
                            connection::serve(stream, context, broker, idle, shutdown, admission)
                                .await;
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: wait, don't spin.
                        tracing::warn!(error = %e, "accept failed; retrying in {backoff:?}");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                }
            }
        }
    }
    drop(listeners);
    while connections.join_next().await.is_some() {}
}

async fn housekeeping(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let period = Duration::from_millis(broker.config.retention_check_interval_ms());
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = ticker.tick() => {
                if let Err(e) = broker.logs.run_housekeeping().await {
                    tracing::error!(error = %e, "log housekeeping failed");
                }
            }
        }
    }
}
