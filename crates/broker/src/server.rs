//! Start-up, the accept loop, background housekeeping and clean shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use fjord_storage::local::LocalLogStore;
use fjord_storage::local_offsets::LocalOffsetStore;
use fjord_storage::local_transactions::LocalTransactionStore;
use fjord_storage::meta::{FileMetadataStore, MetadataStore};
use fjord_storage::offsets::OffsetStore;
use fjord_storage::LogStore;
use kafka_protocol::protocol::StrBytes;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::cluster::{BrokerEndpoint, SingleNode};
use crate::config::BrokerConfig;
use crate::connection;
use crate::connection_quotas::{ConnectionLimits, ConnectionQuotas};
use crate::groups::{GroupConfig, GroupCoordinator};
use crate::request_context::{ConnectionContext, SecurityProtocol, PLAINTEXT_LISTENER};
use crate::topics::TopicRegistry;
use crate::transactions::markers::NoControlBatches;
use crate::transactions::{TransactionConfig, TransactionCoordinator};

/// A broker serving in the background of the current Tokio runtime.
pub struct RunningBroker {
    local_addr: SocketAddr,
    broker: Arc<Broker>,
    shutdown: watch::Sender<bool>,
    served: tokio::task::JoinHandle<()>,
}

impl RunningBroker {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `host:port` for clients' bootstrap.servers.
    pub fn bootstrap(&self) -> String {
        self.local_addr.to_string()
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
    let transactions = {
        let dir = data_dir.clone();
        let store = tokio::task::spawn_blocking(move || LocalTransactionStore::open(&dir))
            .await?
            .with_context(|| format!("opening transaction state in {}", data_dir.display()))?;
        Arc::new(
            TransactionCoordinator::new(
                TransactionConfig::from_settings(&config.settings),
                Arc::new(store),
                Arc::new(NoControlBatches),
            )
            .map_err(|e| anyhow::anyhow!("reading transaction state: {e}"))?,
        )
    };
    for (name, value, note) in config.statics.not_honoured() {
        tracing::info!("broker config {name}={value}: {note}");
    }
    let groups = Arc::new(GroupCoordinator::new(
        GroupConfig::from_statics(&config.statics),
        offsets.clone(),
    ));
    let topics = TopicRegistry::open(meta.clone(), logs.clone(), offsets, config.statics.clone())
        .await
        .map_err(|e| anyhow::anyhow!("opening topics: {e}"))?;

    let limits = ConnectionLimits::from_configs(&config.statics)?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let local_addr = listener.local_addr()?;
    if config.advertised_host.is_none() && local_addr.ip().is_unspecified() {
        // Clients cannot connect to 0.0.0.0; Kafka refuses this set-up too.
        anyhow::bail!(
            "listening on {local_addr} needs an advertised address clients can reach: \
             set --advertised-listener host:port (or advertised.listeners)"
        );
    }
    let broker = Arc::new(Broker {
        cluster: Arc::new(SingleNode::new(
            meta.cluster_id(),
            BrokerEndpoint {
                id: config.node_id,
                host: config
                    .advertised_host
                    .clone()
                    .unwrap_or_else(|| local_addr.ip().to_string()),
                port: i32::from(config.advertised_port.unwrap_or(local_addr.port())),
                // broker.rack is taken without effect (configs/support.rs).
                rack: None,
            },
        )),
        logs,
        topics,
        groups,
        transactions,
        config,
    });
    tracing::info!(
        "fjord listening on {local_addr}, data in {}",
        broker.config.data_dir.display()
    );

    let (shutdown, shutdown_rx) = watch::channel(false);
    tokio::spawn(housekeeping(broker.clone(), shutdown_rx.clone()));
    tokio::spawn(broker.groups.clone().run(shutdown_rx.clone()));
    tokio::spawn(broker.transactions.clone().run(shutdown_rx.clone()));
    let quotas = ConnectionQuotas::new(limits);
    let served = tokio::spawn(accept_loop(listener, broker.clone(), quotas, shutdown_rx));
    Ok(RunningBroker {
        local_addr,
        broker,
        shutdown,
        served,
    })
}

async fn accept_loop(
    listener: TcpListener,
    broker: Arc<Broker>,
    quotas: Arc<ConnectionQuotas>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut backoff = Duration::from_millis(5);
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
            accepted = listener.accept(), if slot.is_some() => match accepted {
                Ok((socket, peer)) => {
                    backoff = Duration::from_millis(5);
                    let Some(free) = slot.take() else { continue };
                    let admission = match quotas.admit(free, peer.ip()) {
                        Ok(admission) => admission,
                        Err(max) => {
                            tracing::info!(
                                "rejected connection from {}: it already has the maximum of {max} \
                                 connections (max.connections.per.ip)",
                                peer.ip()
                            );
                            continue;
                        }
                    };
                    let _ = socket.set_nodelay(true);
                    let idle = quotas.limits().max_idle;
                    let context = ConnectionContext::accepted(
                        peer,
                        StrBytes::from_static_str(PLAINTEXT_LISTENER),
                        SecurityProtocol::Plaintext,
                    );
                    connections.spawn(connection::serve(
                        socket,
                        context,
                        broker.clone(),
                        idle,
                        shutdown.clone(),
                        admission,
                    ));
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
    drop(listener);
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
