//! What Fjord does with each config Kafka defines: honour it, take it with no
//! effect (and say why), or honour only some values and refuse the others as
//! asking for what Fjord does not have yet. Every Kafka name falls under one
//! rule here (a test checks it), so a new Kafka version's names are noticed.

/// Fjord's answer to one Kafka config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Fjord does what Kafka does with it.
    Honoured,
    /// Taken and shown in DescribeConfigs; it changes nothing here, for this reason.
    NoEffect(&'static str),
    /// Only these values are honoured; any other asks for what is missing.
    Only(&'static [&'static str], &'static str),
}

const ONE_BROKER: &str =
    "Fjord is a single broker with one replica per partition: there is no replication, \
     leader election or rack placement to tune";
const NO_CONTROLLER: &str =
    "Fjord keeps its own metadata; there is no KRaft controller quorum or metadata log";
const NO_SECURITY: &str =
    "Kafka's Java security plug-ins (principal builders, providers) have no counterpart in Fjord";
const OWN_TLS: &str =
    "TLS listeners are served by rustls from PEM files: it chooses its own cipher suites, \
     algorithms and random source, and has no Java engine, provider or manager to configure";
const OWN_SASL: &str =
    "Fjord's SASL serves PLAIN users from sasl.plain.users.<name> and OAUTHBEARER from \
     sasl.oauthbearer.*: no JAAS, Kerberos or login modules";
const NO_COMPACTION: &str = "log compaction is not built yet (cleanup.policy=compact is refused)";
const NO_TIERED_STORAGE: &str = "tiered (remote) storage is not built";
const OWN_TRANSACTION_STORE: &str =
    "transaction state lives in Fjord's own store (__fjord_transactions in the data dir, fsynced \
     per decision), not in a replicated __transaction_state log";
const ALWAYS_VERIFIED: &str =
    "a transactional batch is always checked against its producer's transaction (KIP-890), as \
     by Kafka's default; one broker asks no other to verify, so there is nothing to retry";
const NO_TWO_PHASE_COMMIT: &str =
    "two-phase commit with an external transaction manager (KIP-939) is not built";
const NO_OFFSETS_TOPIC: &str =
    "committed offsets live in Fjord's own offset store, not in a __consumer_offsets log";
const CLASSIC_GROUPS_ONLY: &str =
    "only the classic group protocol is built: no KIP-848 consumer, share or streams groups";
const OWN_STORAGE: &str =
    "Fjord's storage engine flushes, recovers and deletes its own way: acks=all writes are \
     fsynced before they are acknowledged, other writes are left to the OS, segments are \
     deleted at once and not preallocated";
const OWN_RUNTIME: &str =
    "Fjord serves requests on an async runtime sized to the machine, not on Kafka's thread \
     pools, queues and purgatories";
const NO_JMX: &str = "Fjord has no Java metrics reporters";
const NO_RECOMPRESSION: &str =
    "batches are stored as produced and never recompressed (compression.type=producer)";
const NO_PLUGINS: &str = "Fjord cannot load Java plugin classes";
const NO_TIMESTAMP_BOUNDS: &str =
    "produce does not check record timestamps against these bounds yet";
const NO_FETCH_SESSIONS: &str =
    "incremental fetch sessions are not kept: every fetch is a full one";
const NO_TELEMETRY: &str = "client telemetry (KIP-714) is not built";
const ALL_VERSIONS_STABLE: &str = "Fjord advertises only the API versions it serves";

/// Broker configs Fjord honours: each feeds a typed field (`fields`, `startup`).
pub(super) fn honoured_broker(name: &str) -> bool {
    super::fields::SETTINGS_NAMES.contains(&name)
        || super::startup::IDENTITY_NAMES.contains(&name)
        || crate::security::oauthbearer::CONFIG_NAMES.contains(&name)
        || crate::security::delegation_tokens::CONFIG_NAMES.contains(&name)
        || crate::tls::CONFIG_NAMES.contains(&name)
        || crate::security::mechanisms::CONFIG_NAMES.contains(&name)
        || crate::quotas::CONFIG_NAMES.contains(&name)
}

/// Topic configs Fjord honours by exact name (and so their broker synonyms).
pub(super) const HONOURED_TOPIC: &[&str] = &[
    "retention.ms",
    "retention.bytes",
    "segment.bytes",
    "internal.segment.bytes",
    "segment.ms",
    "max.message.bytes",
    "message.timestamp.type",
    "index.interval.bytes",
    "segment.index.bytes",
    "min.insync.replicas",
];

/// Topic configs Fjord takes with no effect, or only with some values.
fn topic_rule(name: &str) -> Option<Support> {
    use Support::*;
    Some(match name {
        "cleanup.policy" => Only(&["delete"], NO_COMPACTION),
        "compression.type" => Only(&["producer"], NO_RECOMPRESSION),
        "remote.storage.enable" => Only(&["false"], NO_TIERED_STORAGE),
        "delete.retention.ms"
        | "min.compaction.lag.ms"
        | "max.compaction.lag.ms"
        | "min.cleanable.dirty.ratio" => NoEffect(NO_COMPACTION),
        "unclean.leader.election.enable"
        | "leader.replication.throttled.replicas"
        | "follower.replication.throttled.replicas" => NoEffect(ONE_BROKER),
        "flush.messages"
        | "flush.ms"
        | "file.delete.delay.ms"
        | "preallocate"
        | "segment.jitter.ms" => NoEffect(OWN_STORAGE),
        "local.retention.ms"
        | "local.retention.bytes"
        | "remote.log.copy.disable"
        | "remote.log.delete.on.disable" => NoEffect(NO_TIERED_STORAGE),
        "compression.gzip.level" | "compression.lz4.level" | "compression.zstd.level" => {
            NoEffect(NO_RECOMPRESSION)
        }
        "message.timestamp.before.max.ms" | "message.timestamp.after.max.ms" => {
            NoEffect(NO_TIMESTAMP_BOUNDS)
        }
        _ => return None,
    })
}

/// Broker configs Fjord takes with no effect, or only with some values, by
/// exact name first and then by prefix.
fn broker_rule(name: &str) -> Option<Support> {
    use Support::*;
    let exact = match name {
        "default.replication.factor" => Some(Only(&["1"], ONE_BROKER)),
        "remote.log.storage.system.enable" => Some(Only(&["false"], NO_TIERED_STORAGE)),
        "authorizer.class.name" => Some(Only(
            &[
                "",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                "fjord",
            ],
            "Fjord cannot load Java plugin classes; its own authorizer is Kafka's StandardAuthorizer",
        )),
        "create.topic.policy.class.name"
        | "alter.config.policy.class.name"
        | "client.quota.callback.class"
        | "replica.selector.class" => Some(Only(&[""], NO_PLUGINS)),
        "unclean.leader.election.enable"
        | "unclean.leader.election.interval.ms"
        | "auto.leader.rebalance.enable"
        | "controlled.shutdown.enable"
        | "broker.rack" => Some(NoEffect(ONE_BROKER)),
        "controller.listener.names" => Some(NoEffect(
            "Fjord has no KRaft controller: the listeners named here are not bound",
        )),
        "process.roles"
        | "early.start.listeners"
        | "sasl.mechanism.controller.protocol"
        | "initial.broker.registration.timeout.ms"
        | "server.max.startup.time.ms" => Some(NoEffect(NO_CONTROLLER)),
        "principal.builder.class" => Some(NoEffect(NO_SECURITY)),
        "sasl.enabled.mechanisms" => Some(Only(
            crate::security::mechanisms::MECHANISMS,
            "GSSAPI (Kerberos) is not built",
        )),
        // Chooses between Kafka's two OAUTHBEARER validators (security/oauthbearer.rs).
        "sasl.server.callback.handler.class" => Some(Only(
            &[
                "",
                crate::security::oauthbearer::JWKS_VALIDATOR_CLASS,
                crate::security::oauthbearer::UNSECURED_VALIDATOR_CLASS,
            ],
            NO_PLUGINS,
        )),
        "log.cleanup.policy" => Some(Only(&["delete"], NO_COMPACTION)),
        "compression.type" => Some(Only(&["producer"], NO_RECOMPRESSION)),
        "log.message.timestamp.before.max.ms" | "log.message.timestamp.after.max.ms" => {
            Some(NoEffect(NO_TIMESTAMP_BOUNDS))
        }
        "max.incremental.fetch.session.cache.slots" => Some(NoEffect(NO_FETCH_SESSIONS)),
        "telemetry.max.bytes" => Some(NoEffect(NO_TELEMETRY)),
        "unstable.api.versions.enable" | "unstable.feature.versions.enable" => {
            Some(NoEffect(ALL_VERSIONS_STABLE))
        }
        "producer.id.expiration.check.interval.ms" => Some(NoEffect(
            "an expired producer is ignored when it is looked up, and expired ones are \
             swept from a partition at most once a minute as it takes appends",
        )),
        _ => None,
    };
    if exact.is_some() {
        return exact;
    }
    const PREFIXES: &[(&str, Support)] = &[
        ("controller.", Support::NoEffect(NO_CONTROLLER)),
        ("broker.heartbeat.", Support::NoEffect(NO_CONTROLLER)),
        ("broker.session.", Support::NoEffect(NO_CONTROLLER)),
        ("metadata.", Support::NoEffect(NO_CONTROLLER)),
        ("internal.metadata.", Support::NoEffect(NO_CONTROLLER)),
        ("replica.", Support::NoEffect(ONE_BROKER)),
        ("num.replica.", Support::NoEffect(ONE_BROKER)),
        ("replication.quota.", Support::NoEffect(ONE_BROKER)),
        ("alter.log.dirs.", Support::NoEffect(ONE_BROKER)),
        ("leader.imbalance.", Support::NoEffect(ONE_BROKER)),
        ("sasl.", Support::NoEffect(OWN_SASL)),
        ("ssl.", Support::NoEffect(OWN_TLS)),
        ("security.", Support::NoEffect(NO_SECURITY)),
        ("delegation.token.", Support::NoEffect(NO_SECURITY)),
        ("log.cleaner.", Support::NoEffect(NO_COMPACTION)),
        ("remote.", Support::NoEffect(NO_TIERED_STORAGE)),
        ("log.local.retention.", Support::NoEffect(NO_TIERED_STORAGE)),
        (
            "transaction.state.log.",
            Support::NoEffect(OWN_TRANSACTION_STORE),
        ),
        (
            "transaction.partition.verification.",
            Support::NoEffect(ALWAYS_VERIFIED),
        ),
        ("add.partitions.to.txn.", Support::NoEffect(ALWAYS_VERIFIED)),
        (
            "transaction.two.phase.commit.",
            Support::NoEffect(NO_TWO_PHASE_COMMIT),
        ),
        ("offsets.", Support::NoEffect(NO_OFFSETS_TOPIC)),
        ("group.consumer.", Support::NoEffect(CLASSIC_GROUPS_ONLY)),
        ("group.share.", Support::NoEffect(CLASSIC_GROUPS_ONLY)),
        ("group.streams.", Support::NoEffect(CLASSIC_GROUPS_ONLY)),
        ("group.coordinator.", Support::NoEffect(CLASSIC_GROUPS_ONLY)),
        ("share.", Support::NoEffect(CLASSIC_GROUPS_ONLY)),
        ("log.flush.", Support::NoEffect(OWN_STORAGE)),
        ("log.preallocate", Support::NoEffect(OWN_STORAGE)),
        ("log.segment.delete.delay.", Support::NoEffect(OWN_STORAGE)),
        ("log.roll.jitter.", Support::NoEffect(OWN_STORAGE)),
        ("log.initial.task.delay.", Support::NoEffect(OWN_STORAGE)),
        ("log.dir.failure.", Support::NoEffect(OWN_STORAGE)),
        ("num.recovery.threads.", Support::NoEffect(OWN_STORAGE)),
        ("num.network.threads", Support::NoEffect(OWN_RUNTIME)),
        ("num.io.threads", Support::NoEffect(OWN_RUNTIME)),
        ("background.threads", Support::NoEffect(OWN_RUNTIME)),
        ("queued.max.", Support::NoEffect(OWN_RUNTIME)),
        ("socket.", Support::NoEffect(OWN_RUNTIME)),
        ("request.timeout.", Support::NoEffect(OWN_RUNTIME)),
        ("max.connection.creation.", Support::NoEffect(OWN_RUNTIME)),
        (
            "max.request.partition.size.",
            Support::NoEffect(OWN_RUNTIME),
        ),
        ("fetch.purgatory.", Support::NoEffect(OWN_RUNTIME)),
        ("producer.purgatory.", Support::NoEffect(OWN_RUNTIME)),
        ("delete.records.purgatory.", Support::NoEffect(OWN_RUNTIME)),
        ("metric.reporters", Support::NoEffect(NO_JMX)),
        ("metrics.", Support::NoEffect(NO_JMX)),
        ("kafka.metrics.", Support::NoEffect(NO_JMX)),
        ("compression.", Support::NoEffect(NO_RECOMPRESSION)),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|(_, support)| *support)
}

/// What Fjord does with a topic config Kafka defines.
pub fn topic_support(name: &str) -> Option<Support> {
    if HONOURED_TOPIC.contains(&name) {
        return Some(Support::Honoured);
    }
    topic_rule(name)
}

/// What Fjord does with a broker config Kafka defines. A broker synonym of a
/// topic config shares the topic config's answer unless a rule says otherwise.
pub fn broker_support(name: &str) -> Option<Support> {
    if honoured_broker(name) {
        return Some(Support::Honoured);
    }
    broker_rule(name).or_else(|| super::topic_config_for_synonym(name).and_then(topic_support))
}

/// What Fjord does with a group config Kafka defines: every one tunes a
/// KIP-848 consumer, share or streams group.
pub fn group_support(_name: &str) -> Option<Support> {
    Some(Support::NoEffect(CLASSIC_GROUPS_ONLY))
}

impl Support {
    /// Refuses a value Kafka takes but Fjord cannot honour, saying so.
    pub fn check(self, name: &str, value: &str) -> Result<(), String> {
        match self {
            Support::Only(values, missing) => {
                let asked: Vec<&str> = super::kafka_def::list_items(value).collect();
                let honoured = if asked.is_empty() {
                    values.contains(&"")
                } else {
                    asked.iter().all(|v| values.contains(v))
                };
                if honoured {
                    Ok(())
                } else {
                    Err(format!(
                        "Invalid value {value} for configuration {name}: valid in Kafka but \
                         not supported by Fjord yet ({missing}); supported: {}",
                        shown(values)
                    ))
                }
            }
            _ => Ok(()),
        }
    }

    /// The sentence DescribeConfigs puts before Kafka's documentation, and the
    /// start-up log says, for a config that is not fully honoured.
    pub fn note(self) -> Option<String> {
        match self {
            Support::Honoured => None,
            Support::NoEffect(reason) => Some(format!("No effect in Fjord: {reason}.")),
            Support::Only(values, missing) => {
                Some(format!("Fjord honours only {} ({missing}).", shown(values)))
            }
        }
    }
}

fn shown(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| if v.is_empty() { "\"\"" } else { v })
        .collect::<Vec<_>>()
        .join(", ")
}
