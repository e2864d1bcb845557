//! Writes valid inputs for each fuzz target into `<dir>/<target>/`:
//! `fjord-fuzz-seeds fuzz/corpus`. Each is made by the code that makes the
//! real thing (kafka-protocol's encoders, the storage crate's own stores),
//! so the seeds follow the formats as they change.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use fjord_broker::api::APIS;
use fjord_fuzz::{join_sections, record_batch, runtime};
use fjord_storage::local::LocalLogStore;
use fjord_storage::local_offsets::{LocalOffsetStore, OFFSETS_DIR};
use fjord_storage::meta::{FileMetadataStore, MetadataStore, TopicMeta, METADATA_FILE};
use fjord_storage::offsets::{CommittedOffset, OffsetEntry, OffsetStore};
use fjord_storage::{Durability, LogConfig, LogStore};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::Compression;

const COMPRESSIONS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: fjord-fuzz-seeds <corpus dir>")?,
    );
    let rt = runtime();
    let requests = request_seeds()?;
    write_all(&out.join("request_body"), &requests)?;
    write_all(&out.join("frame_header"), &frame_seeds()?)?;
    write_all(&out.join("record_batch"), &batch_seeds())?;
    write_all(
        &out.join("segment_recovery"),
        &rt.block_on(segment_seeds())?,
    )?;
    write_all(&out.join("metadata_file"), &rt.block_on(metadata_seeds())?)?;
    write_all(&out.join("offsets_file"), &rt.block_on(offsets_seeds())?)?;
    write_all(&out.join("sasl_messages"), &sasl_seeds())?;
    Ok(())
}

fn write_all(dir: &Path, seeds: &[(String, Vec<u8>)]) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in seeds {
        std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
    }
    println!("{}: {} seeds", dir.display(), seeds.len());
    Ok(())
}

fn topic_name() -> TopicName {
    TopicName(StrBytes::from_static_str("orders"))
}

/// A Produce request carrying one real batch per compression codec.
fn produce_request(version: i16) -> ProduceRequest {
    let partitions = COMPRESSIONS
        .iter()
        .enumerate()
        .map(|(i, codec)| {
            produce_request::PartitionProduceData::default()
                .with_index(i as i32)
                .with_records(Some(record_batch(3, *codec, 1_700_000_000_000)))
        })
        .collect();
    let mut topic = produce_request::TopicProduceData::default().with_partition_data(partitions);
    if version >= 13 {
        topic.topic_id = uuid::Uuid::from_u128(1);
    } else {
        topic.name = topic_name();
    }
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![topic])
}

/// AddPartitionsToTxn as a producer sends it (v0-3) or as brokers batch it
/// (v4+, one verify-only transaction).
fn add_partitions_request(version: i16) -> AddPartitionsToTxnRequest {
    use add_partitions_to_txn_request::{AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction};
    let topics = vec![AddPartitionsToTxnTopic::default()
        .with_name(topic_name())
        .with_partitions(vec![0, 1])];
    let id = TransactionalId(StrBytes::from_static_str("tx"));
    if version < 4 {
        AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(id)
            .with_v3_and_below_producer_id(ProducerId(7))
            .with_v3_and_below_topics(topics)
    } else {
        AddPartitionsToTxnRequest::default().with_transactions(vec![
            AddPartitionsToTxnTransaction::default()
                .with_transactional_id(id)
                .with_producer_id(ProducerId(7))
                .with_verify_only(true)
                .with_topics(topics),
        ])
    }
}

/// The request of `key` a seed starts from: the fields a client fills in
/// where that matters to the decoder (strings, arrays, nullable fields),
/// else all defaults.
fn sample(key: ApiKey, version: i16) -> Option<RequestKind> {
    Some(match key {
        ApiKey::Produce => RequestKind::Produce(produce_request(version)),
        ApiKey::Metadata => RequestKind::Metadata(
            MetadataRequest::default()
                .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                )
                .with_name(Some(topic_name()))]))
                .with_allow_auto_topic_creation(true),
        ),
        ApiKey::Fetch => RequestKind::Fetch(FetchRequest::default()),
        ApiKey::ListOffsets => RequestKind::ListOffsets(ListOffsetsRequest::default()),
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(FindCoordinatorRequest::default()),
        ApiKey::ApiVersions => RequestKind::ApiVersions(ApiVersionsRequest::default()),
        ApiKey::CreateTopics => RequestKind::CreateTopics(CreateTopicsRequest::default()),
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(DeleteTopicsRequest::default()),
        ApiKey::DeleteRecords => RequestKind::DeleteRecords(DeleteRecordsRequest::default()),
        ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(DescribeConfigsRequest::default()),
        ApiKey::CreatePartitions => {
            RequestKind::CreatePartitions(CreatePartitionsRequest::default())
        }
        ApiKey::DescribeCluster => RequestKind::DescribeCluster(DescribeClusterRequest::default()),
        ApiKey::DescribeTopicPartitions => {
            RequestKind::DescribeTopicPartitions(DescribeTopicPartitionsRequest::default())
        }
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(OffsetCommitRequest::default()),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(OffsetFetchRequest::default()),
        ApiKey::JoinGroup => RequestKind::JoinGroup(JoinGroupRequest::default()),
        ApiKey::Heartbeat => RequestKind::Heartbeat(HeartbeatRequest::default()),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(LeaveGroupRequest::default()),
        ApiKey::SyncGroup => RequestKind::SyncGroup(SyncGroupRequest::default()),
        ApiKey::DescribeGroups => RequestKind::DescribeGroups(DescribeGroupsRequest::default()),
        ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(DeleteGroupsRequest::default()),
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(OffsetDeleteRequest::default()),
        ApiKey::InitProducerId => {
            let mut request = InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("tx"))))
                .with_transaction_timeout_ms(60_000);
            if version >= 3 {
                // KIP-360: the id and epoch the producer had (v3+ only).
                request = request
                    .with_producer_id(ProducerId(7))
                    .with_producer_epoch(3);
            }
            RequestKind::InitProducerId(request)
        }
        ApiKey::AddPartitionsToTxn => {
            RequestKind::AddPartitionsToTxn(add_partitions_request(version))
        }
        ApiKey::AddOffsetsToTxn => RequestKind::AddOffsetsToTxn(
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(StrBytes::from_static_str("tx")))
                .with_producer_id(ProducerId(7))
                .with_group_id(GroupId(StrBytes::from_static_str("group"))),
        ),
        ApiKey::EndTxn => RequestKind::EndTxn(
            EndTxnRequest::default()
                .with_transactional_id(TransactionalId(StrBytes::from_static_str("tx")))
                .with_producer_id(ProducerId(7))
                .with_committed(true),
        ),
        ApiKey::DescribeTransactions => RequestKind::DescribeTransactions(
            DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(StrBytes::from_static_str("tx"))]),
        ),
        ApiKey::ListTransactions => RequestKind::ListTransactions(
            ListTransactionsRequest::default()
                .with_state_filters(vec![StrBytes::from_static_str("Ongoing")])
                .with_producer_id_filters(vec![ProducerId(7)]),
        ),
        ApiKey::DescribeProducers => {
            RequestKind::DescribeProducers(DescribeProducersRequest::default().with_topics(vec![
                describe_producers_request::TopicRequest::default()
                    .with_name(topic_name())
                    .with_partition_indexes(vec![0, 1]),
            ]))
        }
        ApiKey::TxnOffsetCommit => RequestKind::TxnOffsetCommit(
            TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(StrBytes::from_static_str("tx")))
                .with_group_id(GroupId(StrBytes::from_static_str("group")))
                .with_producer_id(ProducerId(1))
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(topic_name())
                        .with_partitions(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                .with_committed_offset(5),
                        ]),
                ]),
        ),
        ApiKey::CreateDelegationToken => {
            let mut create = CreateDelegationTokenRequest::default()
                .with_renewers(vec![
                    create_delegation_token_request::CreatableRenewers::default()
                        .with_principal_type(StrBytes::from_static_str("User"))
                        .with_principal_name(StrBytes::from_static_str("bob")),
                ])
                .with_max_lifetime_ms(3_600_000);
            if version >= 3 {
                create = create
                    .with_owner_principal_type(Some(StrBytes::from_static_str("User")))
                    .with_owner_principal_name(Some(StrBytes::from_static_str("alice")));
            }
            RequestKind::CreateDelegationToken(create)
        }
        ApiKey::RenewDelegationToken => RequestKind::RenewDelegationToken(
            RenewDelegationTokenRequest::default()
                .with_hmac(Bytes::from_static(&[7; 64]))
                .with_renew_period_ms(3_600_000),
        ),
        ApiKey::ExpireDelegationToken => RequestKind::ExpireDelegationToken(
            ExpireDelegationTokenRequest::default()
                .with_hmac(Bytes::from_static(&[7; 64]))
                .with_expiry_time_period_ms(-1),
        ),
        ApiKey::DescribeDelegationToken => RequestKind::DescribeDelegationToken(
            DescribeDelegationTokenRequest::default().with_owners(Some(vec![
                describe_delegation_token_request::DescribeDelegationTokenOwner::default()
                    .with_principal_type(StrBytes::from_static_str("User"))
                    .with_principal_name(StrBytes::from_static_str("alice")),
            ])),
        ),
        ApiKey::DescribeAcls => RequestKind::DescribeAcls(
            DescribeAclsRequest::default()
                .with_resource_type_filter(1)
                .with_resource_name_filter(None)
                .with_pattern_type_filter(2)
                .with_principal_filter(Some(StrBytes::from_static_str("User:alice")))
                .with_host_filter(None)
                .with_operation(1)
                .with_permission_type(1),
        ),
        ApiKey::CreateAcls => RequestKind::CreateAcls(CreateAclsRequest::default().with_creations(
            vec![create_acls_request::AclCreation::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("orders-"))
                .with_resource_pattern_type(4)
                .with_principal(StrBytes::from_static_str("User:alice"))
                .with_host(StrBytes::from_static_str("*"))
                .with_operation(3)
                .with_permission_type(3)],
        )),
        ApiKey::DeleteAcls => RequestKind::DeleteAcls(DeleteAclsRequest::default().with_filters(
            vec![delete_acls_request::DeleteAclsFilter::default()
                .with_resource_type_filter(2)
                .with_resource_name_filter(Some(StrBytes::from_static_str("orders-")))
                .with_pattern_type_filter(1)
                .with_principal_filter(None)
                .with_host_filter(None)
                .with_operation(1)
                .with_permission_type(1)],
        )),
        ApiKey::SaslHandshake => RequestKind::SaslHandshake(
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        ),
        // PLAIN's token: authorization id, user, password.
        ApiKey::SaslAuthenticate => RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default()
                .with_auth_bytes(Bytes::from_static(b"\0alice\0alice-secret")),
        ),
        ApiKey::DescribeUserScramCredentials => RequestKind::DescribeUserScramCredentials(
            DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
                describe_user_scram_credentials_request::UserName::default()
                    .with_name(StrBytes::from_static_str("alice")),
            ])),
        ),
        ApiKey::AlterUserScramCredentials => RequestKind::AlterUserScramCredentials(
            AlterUserScramCredentialsRequest::default()
                .with_upsertions(vec![
                    alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
                        .with_name(StrBytes::from_static_str("alice"))
                        .with_mechanism(2)
                        .with_iterations(4096)
                        .with_salt(Bytes::from_static(&[1; 16]))
                        .with_salted_password(Bytes::from_static(&[2; 64])),
                ])
                .with_deletions(vec![
                    alter_user_scram_credentials_request::ScramCredentialDeletion::default()
                        .with_name(StrBytes::from_static_str("bob"))
                        .with_mechanism(1),
                ]),
        ),
        // A user+client-id filter, exact and default.
        ApiKey::DescribeClientQuotas => RequestKind::DescribeClientQuotas(
            DescribeClientQuotasRequest::default()
                .with_components(vec![
                    describe_client_quotas_request::ComponentData::default()
                        .with_entity_type(StrBytes::from_static_str("user"))
                        .with_match_type(0)
                        .with_match(Some(StrBytes::from_static_str("alice"))),
                    describe_client_quotas_request::ComponentData::default()
                        .with_entity_type(StrBytes::from_static_str("client-id"))
                        .with_match_type(1),
                ])
                .with_strict(true),
        ),
        // Set a user's default-client quota, remove a default IP's.
        ApiKey::AlterClientQuotas => RequestKind::AlterClientQuotas(
            AlterClientQuotasRequest::default().with_entries(vec![
                alter_client_quotas_request::EntryData::default()
                    .with_entity(vec![
                        alter_client_quotas_request::EntityData::default()
                            .with_entity_type(StrBytes::from_static_str("user"))
                            .with_entity_name(Some(StrBytes::from_static_str("alice"))),
                        alter_client_quotas_request::EntityData::default()
                            .with_entity_type(StrBytes::from_static_str("client-id"))
                            .with_entity_name(None),
                    ])
                    .with_ops(vec![alter_client_quotas_request::OpData::default()
                        .with_key(StrBytes::from_static_str("producer_byte_rate"))
                        .with_value(1048576.0)]),
                alter_client_quotas_request::EntryData::default()
                    .with_entity(vec![alter_client_quotas_request::EntityData::default()
                        .with_entity_type(StrBytes::from_static_str("ip"))
                        .with_entity_name(None)])
                    .with_ops(vec![alter_client_quotas_request::OpData::default()
                        .with_key(StrBytes::from_static_str("connection_creation_rate"))
                        .with_remove(true)]),
            ]),
        ),
        _ => return None,
    })
}

/// `request_body` input: API index, version index, body.
fn request_seeds() -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let mut seeds = Vec::new();
    for (index, api) in APIS.iter().enumerate() {
        for version in api.min_supported..=api.max {
            let request = sample(api.key, version)
                .ok_or_else(|| format!("no sample request for {:?}: add one", api.key))?;
            let mut body = BytesMut::new();
            request.encode(&mut body, version)?;
            let mut input = vec![index as u8, (version - api.min_supported) as u8];
            input.extend_from_slice(&body);
            seeds.push((format!("{:?}-v{version}", api.key), input));
        }
    }
    Ok(seeds)
}

/// One frame as a client sends it: length, header, body.
fn frame(key: ApiKey, version: i16, correlation_id: i32, body: &[u8]) -> Result<Vec<u8>, Failure> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("fuzz-seed")));
    let mut payload = BytesMut::new();
    header.encode(&mut payload, key.request_header_version(version))?;
    payload.extend_from_slice(body);
    let mut out = (payload.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&payload);
    Ok(out)
}

fn frame_seeds() -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let mut seeds = Vec::new();
    let mut pipelined = Vec::new();
    for (i, (key, version)) in [
        (ApiKey::ApiVersions, 3),
        (ApiKey::ApiVersions, 0),
        (ApiKey::Metadata, 12),
        (ApiKey::Metadata, 0),
        (ApiKey::Produce, 9),
        (ApiKey::Produce, 3),
        (ApiKey::Fetch, 13),
        (ApiKey::JoinGroup, 9),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = BytesMut::new();
        sample(key, version)
            .ok_or("no sample request")?
            .encode(&mut body, version)?;
        let bytes = frame(key, version, i as i32, &body)?;
        pipelined.extend_from_slice(&bytes);
        seeds.push((format!("{key:?}-v{version}"), bytes));
    }
    // KIP-511: a client newer than us asks with a version we do not know.
    seeds.push((
        "ApiVersions-v99".into(),
        frame(ApiKey::ApiVersions, 99, 9, &[])?,
    ));
    seeds.push(("pipelined".into(), pipelined));
    Ok(seeds)
}

fn batch_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for codec in COMPRESSIONS {
        for count in [1, 5] {
            let batch = record_batch(count, codec, 1_700_000_000_000);
            seeds.push((format!("{codec:?}-{count}"), batch.to_vec()));
        }
    }
    let mut two = record_batch(2, Compression::None, 1).to_vec();
    two.extend_from_slice(&record_batch(2, Compression::Zstd, 2));
    seeds.push(("two-batches".into(), two));
    seeds
}

/// Segment files written by the storage crate itself: several small
/// segments with index entries, one partition also with a log start offset.
async fn segment_seeds() -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let mut seeds = Vec::new();
    for (name, delete_before) in [("segments", None), ("segments-log-start", Some(7))] {
        let dir = fjord_fuzz::scratch_dir();
        let store = LocalLogStore::open(dir.path().to_path_buf())?;
        let config = LogConfig {
            segment_bytes: 600,
            index_interval_bytes: 100,
            ..LogConfig::default()
        };
        let log = store
            .open_partition(
                &fjord_storage::TopicIdPartition::new(uuid::Uuid::nil(), "t", 0),
                config,
            )
            .await?;
        for i in 0..12 {
            let codec = COMPRESSIONS[i % COMPRESSIONS.len()];
            let batch: Bytes = record_batch(1 + i % 3, codec, 1_700_000_000_000 + i as i64 * 10);
            log.append(batch, Durability::Synced).await?;
        }
        if let Some(offset) = delete_before {
            log.delete_records_before(offset).await?;
        }
        store.flush_all().await?;
        drop(log);
        drop(store);
        seeds.push((name.to_string(), pack_partition(&dir.path().join("t-0"))?));
    }
    Ok(seeds)
}

/// The `segment_recovery` input for a partition directory.
fn pack_partition(dir: &Path) -> Result<Vec<u8>, Failure> {
    let mut bases: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".log")
                .map(str::to_string)
        })
        .collect();
    bases.sort();
    let mut control = vec![0u8];
    let log_start = std::fs::read(dir.join("log-start-offset")).unwrap_or_default();
    let mut parts = vec![Vec::new(), log_start];
    for base in &bases {
        control.extend_from_slice(&base.parse::<i64>()?.to_be_bytes());
        for suffix in ["log", "index", "timeindex"] {
            parts.push(std::fs::read(dir.join(format!("{base}.{suffix}"))).unwrap_or_default());
        }
    }
    parts[0] = control;
    Ok(join_sections(&parts))
}

async fn metadata_seeds() -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let dir = fjord_fuzz::scratch_dir();
    let store = FileMetadataStore::open(dir.path(), Some("MkU3OEVBNTcwNTJENDM2Qk"))?;
    let empty = std::fs::read(dir.path().join(METADATA_FILE))?;
    for (i, name) in ["orders", "payments.v2", "__consumer_offsets"]
        .iter()
        .enumerate()
    {
        store
            .create_topic(TopicMeta {
                name: name.to_string(),
                id: uuid::Uuid::from_u128(i as u128 + 1),
                partitions: i as i32 + 1,
                configs: [("retention.ms".to_string(), "60000".to_string())].into(),
                version: 0,
            })
            .await?;
    }
    let full = std::fs::read(dir.path().join(METADATA_FILE))?;
    Ok(vec![("empty".into(), empty), ("topics".into(), full)])
}

async fn offsets_seeds() -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let dir = fjord_fuzz::scratch_dir();
    let store = LocalOffsetStore::open(dir.path())?;
    let committed = |offset: i64, metadata: Option<&str>| CommittedOffset {
        offset,
        leader_epoch: 1,
        metadata: metadata.map(str::to_string),
        commit_timestamp: 1_700_000_000_000,
        expire_timestamp: -1,
    };
    let entry = |topic: &str, partition: i32, offset: i64| OffsetEntry {
        topic: topic.into(),
        partition,
        committed: committed(offset, Some("m")),
    };
    store
        .commit("g1", vec![entry("orders", 0, 10), entry("orders", 1, 20)])
        .await?;
    store.commit("g2", vec![entry("payments", 0, 5)]).await?;
    store
        .store_group_metadata("g1", Some(b"opaque group state".to_vec()), 0)
        .await?;
    store.delete_offsets("g1", &[("orders".into(), 1)]).await?;
    store.delete_topic("payments").await?;
    store.commit("g3", vec![entry("orders", 2, 1)]).await?;
    store.delete_group("g3").await?;
    let version = store.group_state_version("g2");
    store.store_group_metadata("g2", None, version).await?;
    // Transactional offsets: one transaction committed, one left pending.
    store
        .commit_pending("g1", 7, 0, vec![entry("orders", 0, 11)])
        .await?;
    store.commit("g1", vec![entry("orders", 3, 1)]).await?;
    store.complete_transaction("g1", 7, 0, true).await?;
    store
        .commit_pending("g4", 8, 2, vec![entry("orders", 0, 12)])
        .await?;
    drop(store);
    let log = std::fs::read(
        dir.path()
            .join(OFFSETS_DIR)
            .join("offsets-00000000000000000000.log"),
    )?;
    let with_flags = |flags: u8| {
        let mut input = vec![flags];
        input.extend_from_slice(&log);
        input
    };
    Ok(vec![
        ("log".into(), with_flags(0)),
        ("log-fix-crc".into(), with_flags(1)),
    ])
}

/// SASL exchanges as clients write them: a mechanism byte (as the
/// sasl_messages target reads it), then the client's messages.
fn sasl_seeds() -> Vec<(String, Vec<u8>)> {
    const UNSIGNED: &str =
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjo0\
        MTAwMDAwMDAwLCJzY29wZSI6ImthZmthIn0.";
    const SIGNED: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImZ1enoiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiJhbGlj\
        ZSIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjo0MTAwMDAwMDAwfQ.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\
        AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let proof = "A".repeat(88);
    let scram = |user: &str, extensions: &str| {
        vec![
            format!("n,,n={user},r=fyko+d2lbbFgONRv9qkxdawL{extensions}").into_bytes(),
            format!("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p={proof}").into_bytes(),
        ]
    };
    let bearer = |token: &str| {
        vec![format!("n,a=alice,\x01host=broker\x01auth=Bearer {token}\x01\x01").into_bytes()]
    };
    let exchanges: Vec<(&str, u8, Vec<Vec<u8>>)> = vec![
        ("plain", 0, vec![b"\0alice\0alice-secret".to_vec()]),
        (
            "plain-authzid",
            0,
            vec![b"alice\0alice\0alice-secret".to_vec()],
        ),
        ("scram-sha-256", 1, scram("alice", "")),
        ("scram-sha-512", 2, scram("al=2Cice=3D", "")),
        ("scram-token", 2, scram("token-id-1", ",tokenauth=true")),
        ("oauthbearer-unsecured", 3, bearer(UNSIGNED)),
        ("oauthbearer-jwks", 4, bearer(SIGNED)),
    ];
    exchanges
        .into_iter()
        .map(|(name, mechanism, messages)| {
            let mut input = vec![mechanism];
            input.extend(join_sections(&messages));
            (format!("sasl-{name}"), input)
        })
        .collect()
}
