//! Transaction steps: FindCoordinator for a transactional id, then
//! InitProducerId (epochs, fencing, timeouts), one whole transaction per
//! version (AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn,
//! with unknown ids, wrong producer ids and epochs, invalid states), the
//! brokers' batched AddPartitionsToTxn, then DescribeTransactions and
//! ListTransactions over what the steps left.

use kafka_protocol::messages::*;

use super::{group, s, topic, Answer, Script, MAIN};

const CONCURRENT_TRANSACTIONS: i16 = 51;
const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
/// Kafka's transaction.state.log.num.partitions (default).
const STATE_PARTITIONS: i32 = 50;
/// Long enough that no transaction of the script times out meanwhile.
const TIMEOUT_MS: i32 = 600_000;
/// Never granted, never initialized.
const NOBODY: &str = "diff-txn-nobody";

/// Transactional ids that fall in every partition of Kafka's transaction
/// state topic (its partition: the id's Java hash code, made positive,
/// modulo the partition count).
fn probe_ids() -> Vec<String> {
    let mut covered = std::collections::BTreeSet::new();
    let mut ids = Vec::new();
    for n in 0.. {
        let id = format!("diff-txn-probe-{n}");
        let hash = id.encode_utf16().fold(0i32, |h, unit| {
            h.wrapping_mul(31).wrapping_add(i32::from(unit))
        });
        let partition = hash.checked_abs().unwrap_or(0) % STATE_PARTITIONS;
        if covered.insert(partition) {
            ids.push(id);
        }
        if covered.len() == STATE_PARTITIONS as usize {
            break;
        }
    }
    ids
}

fn txn_id(name: &str) -> TransactionalId {
    TransactionalId(s(name))
}

/// One producer of the script: its id as both brokers granted it.
#[derive(Clone, Copy)]
struct Producer<'a> {
    id: &'a str,
    producer_id: i64,
    epoch: i16,
}

fn init(id: Option<&str>, timeout_ms: i32) -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(id.map(txn_id))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

fn add_partitions(p: Producer, topics: &[(&str, &[i32])]) -> AddPartitionsToTxnRequest {
    AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id(p.id))
        .with_v3_and_below_producer_id(ProducerId(p.producer_id))
        .with_v3_and_below_producer_epoch(p.epoch)
        .with_v3_and_below_topics(txn_topics(topics))
}

fn txn_topics(
    topics: &[(&str, &[i32])],
) -> Vec<add_partitions_to_txn_request::AddPartitionsToTxnTopic> {
    topics
        .iter()
        .map(|(name, partitions)| {
            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(topic(name))
                .with_partitions(partitions.to_vec())
        })
        .collect()
}

fn add_offsets(p: Producer, group_id: &str) -> AddOffsetsToTxnRequest {
    AddOffsetsToTxnRequest::default()
        .with_transactional_id(txn_id(p.id))
        .with_producer_id(ProducerId(p.producer_id))
        .with_producer_epoch(p.epoch)
        .with_group_id(group(group_id))
}

fn txn_offset_commit(p: Producer, group_id: &str, name: &str) -> TxnOffsetCommitRequest {
    use txn_offset_commit_request::{TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic};
    TxnOffsetCommitRequest::default()
        .with_transactional_id(txn_id(p.id))
        .with_group_id(group(group_id))
        .with_producer_id(ProducerId(p.producer_id))
        .with_producer_epoch(p.epoch)
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(topic(name))
            .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(5)
                .with_committed_metadata(Some(s("txn")))])])
}

fn end(p: Producer, commit: bool) -> EndTxnRequest {
    EndTxnRequest::default()
        .with_transactional_id(txn_id(p.id))
        .with_producer_id(ProducerId(p.producer_id))
        .with_producer_epoch(p.epoch)
        .with_committed(commit)
}

impl Script {
    pub(super) async fn transactions(&mut self) -> anyhow::Result<()> {
        if self.versions_of(ApiKey::InitProducerId).is_empty() {
            return Ok(());
        }
        self.wait_for_transaction_coordinator().await?;
        for version in self.versions_of(ApiKey::FindCoordinator) {
            if version == 0 {
                continue; // no key type: a group only
            }
            let request = if version >= 4 {
                FindCoordinatorRequest::default().with_coordinator_keys(vec![s("diff-txn")])
            } else {
                FindCoordinatorRequest::default().with_key(s("diff-txn"))
            };
            self.step(
                ApiKey::FindCoordinator,
                version,
                "transaction",
                request.with_key_type(1).into(),
            )
            .await?;
        }
        for version in self.versions_of(ApiKey::InitProducerId) {
            self.init_producer_id_steps(version).await?;
        }
        // Version i of each API in one transaction: AddPartitionsToTxn up
        // to v3 (v4+ is the brokers' batched form), EndTxn and
        // TxnOffsetCommit up to v5 (transaction version 2).
        let newest = [
            ApiKey::AddPartitionsToTxn,
            ApiKey::AddOffsetsToTxn,
            ApiKey::EndTxn,
            ApiKey::TxnOffsetCommit,
        ]
        .iter()
        .filter_map(|&key| self.versions_of(key).last().copied())
        .max()
        .unwrap_or(-1);
        for i in 0..=newest {
            self.transaction_steps(i).await?;
        }
        for version in self.versions_of(ApiKey::AddPartitionsToTxn) {
            if version >= 4 {
                self.batched_add_partitions_steps(version).await?;
            }
        }
        self.listing_steps().await
    }

    /// Kafka creates its transaction state topic on the first
    /// FindCoordinator for a transactional id, answers NOT_COORDINATOR or
    /// COORDINATOR_LOAD_IN_PROGRESS for the ids of each of its partitions
    /// until that partition is loaded, and fetches a block of producer ids
    /// on the first InitProducerId; clients retry, and so does this,
    /// unrecorded, until an id of every partition is answered
    /// TRANSACTIONAL_ID_NOT_FOUND and a producer id is granted (one, on
    /// both brokers alike).
    async fn wait_for_transaction_coordinator(&mut self) -> anyhow::Result<()> {
        let probes: Vec<TransactionalId> = probe_ids().iter().map(|id| txn_id(id)).collect();
        let mut last = String::new();
        for _ in 0..150 {
            let request = FindCoordinatorRequest::default()
                .with_key(s("diff-txn-probe"))
                .with_key_type(1);
            let answer = self
                .connection
                .send(ApiKey::FindCoordinator, 3, &request.into())
                .await?;
            let found = matches!(answer, Answer::Response(ResponseKind::FindCoordinator(r)) if r.error_code == 0);
            let describe =
                DescribeTransactionsRequest::default().with_transactional_ids(probes.clone());
            let answer = match found {
                true => {
                    self.connection
                        .send(ApiKey::DescribeTransactions, 0, &describe.into())
                        .await?
                }
                false => Answer::Closed,
            };
            let loaded = match &answer {
                Answer::Response(ResponseKind::DescribeTransactions(r)) => {
                    let waiting: Vec<i16> = r
                        .transaction_states
                        .iter()
                        .map(|t| t.error_code)
                        .filter(|&code| code != TRANSACTIONAL_ID_NOT_FOUND)
                        .collect();
                    last = format!("{} ids not loaded: {waiting:?}", waiting.len());
                    waiting.is_empty()
                }
                _ => false,
            };
            if loaded {
                let answer = self
                    .connection
                    .send(ApiKey::InitProducerId, 0, &init(None, TIMEOUT_MS).into())
                    .await?;
                if matches!(answer, Answer::Response(ResponseKind::InitProducerId(r)) if r.error_code == 0)
                {
                    return Ok(());
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        anyhow::bail!("no transaction coordinator after 30 s ({last})")
    }

    /// Sends InitProducerId and returns the producer it grants.
    async fn init_step<'a>(
        &mut self,
        version: i16,
        case: &str,
        id: &'a str,
        request: InitProducerIdRequest,
    ) -> anyhow::Result<Option<Producer<'a>>> {
        Ok(
            match self
                .step(ApiKey::InitProducerId, version, case, request.into())
                .await?
            {
                Some(ResponseKind::InitProducerId(r)) if r.error_code == 0 => Some(Producer {
                    id,
                    producer_id: r.producer_id.0,
                    epoch: r.producer_epoch,
                }),
                _ => None,
            },
        )
    }

    /// Waits, unrecorded, until the transaction of `id` has its markers
    /// written (Kafka answers CONCURRENT_TRANSACTIONS meanwhile).
    async fn settle(&mut self, id: &str) -> anyhow::Result<()> {
        for _ in 0..100 {
            let request =
                DescribeTransactionsRequest::default().with_transactional_ids(vec![txn_id(id)]);
            let answer = self
                .connection
                .send(ApiKey::DescribeTransactions, 0, &request.into())
                .await?;
            let Answer::Response(ResponseKind::DescribeTransactions(r)) = answer else {
                return Ok(());
            };
            let pending = r
                .transaction_states
                .iter()
                .any(|t| t.transaction_state.starts_with("Prepare"));
            if !pending {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        anyhow::bail!("the transaction of {id} stays prepared")
    }

    async fn init_producer_id_steps(&mut self, version: i16) -> anyhow::Result<()> {
        let id = format!("diff-txn-init-v{version}");
        let id = id.as_str();
        let Some(first) = self
            .init_step(version, "transactional id", id, init(Some(id), TIMEOUT_MS))
            .await?
        else {
            return Ok(());
        };
        let Some(again) = self
            .init_step(
                version,
                "again: the epoch bumped",
                id,
                init(Some(id), TIMEOUT_MS),
            )
            .await?
        else {
            return Ok(());
        };
        if version >= 3 {
            // KIP-360: a producer names the id and epoch it had.
            let with = |p: Producer| {
                init(Some(id), TIMEOUT_MS)
                    .with_producer_id(ProducerId(p.producer_id))
                    .with_producer_epoch(p.epoch)
            };
            self.init_step(version, "with its current epoch", id, with(again))
                .await?;
            self.init_step(version, "with an old epoch", id, with(first))
                .await?;
            let stranger = Producer {
                producer_id: first.producer_id + 1000,
                ..first
            };
            self.init_step(version, "with another producer id", id, with(stranger))
                .await?;
        }
        for (case, request) in [
            ("timeout above the maximum", init(Some(id), 900_001)),
            ("zero timeout", init(Some(id), 0)),
            ("empty transactional id", init(Some(""), TIMEOUT_MS)),
        ] {
            self.init_step(version, case, id, request).await?;
        }
        self.init_step(version, "idempotent", id, init(None, TIMEOUT_MS))
            .await?;
        // A new producer of an id whose transaction is open aborts it and
        // answers CONCURRENT_TRANSACTIONS until the abort is written.
        let open = format!("diff-txn-fence-v{version}");
        let open = open.as_str();
        let Some(p) = self
            .init_step(
                version,
                "setup: fenced later",
                open,
                init(Some(open), TIMEOUT_MS),
            )
            .await?
        else {
            return Ok(());
        };
        let add_version = self.paired(ApiKey::AddPartitionsToTxn, version.min(3));
        let add = add_partitions(p, &[(MAIN, &[0])]);
        let case = format!("setup: open a transaction for InitProducerId v{version}");
        self.step(ApiKey::AddPartitionsToTxn, add_version, &case, add.into())
            .await?;
        let fence = init(Some(open), TIMEOUT_MS);
        let answer = self
            .step(
                ApiKey::InitProducerId,
                version,
                "while its transaction is open",
                fence.clone().into(),
            )
            .await?;
        if matches!(answer, Some(ResponseKind::InitProducerId(r)) if r.error_code == CONCURRENT_TRANSACTIONS)
        {
            self.settle(open).await?;
        }
        self.init_step(version, "once the open transaction is aborted", open, fence)
            .await?;
        Ok(())
    }

    /// Transaction `i`: every API at version `i` (or the nearest it has).
    async fn transaction_steps(&mut self, i: i16) -> anyhow::Result<()> {
        let init_version = self.paired(ApiKey::InitProducerId, i);
        let add_version = self.paired(ApiKey::AddPartitionsToTxn, i.min(3));
        let offsets_version = self.paired(ApiKey::AddOffsetsToTxn, i);
        let commit_version = self.paired(ApiKey::TxnOffsetCommit, i);
        let end_version = self.paired(ApiKey::EndTxn, i);
        let id = format!("diff-txn-{i}");
        let id = id.as_str();
        let group_id = format!("diff-txn-group-{i}");
        let after = format!("in transaction {i}");
        let Some(mut p) = self
            .init_step(
                init_version,
                &format!("setup: transaction {i}"),
                id,
                init(Some(id), TIMEOUT_MS),
            )
            .await?
        else {
            return Ok(());
        };
        let wrong_epoch = Producer {
            epoch: p.epoch + 1,
            ..p
        };
        let unknown_id = Producer { id: NOBODY, ..p };
        let other_producer = Producer {
            producer_id: p.producer_id + 1000,
            ..p
        };
        let case = format!("end before any partition {after}");
        self.step(ApiKey::EndTxn, end_version, &case, end(p, true).into())
            .await?;
        for (case, request) in [
            ("main topic", add_partitions(p, &[(MAIN, &[0, 1])])),
            (
                "unknown topic",
                add_partitions(p, &[(MAIN, &[0]), ("diff-unknown", &[0])]),
            ),
            ("unknown partition", add_partitions(p, &[(MAIN, &[9])])),
            ("wrong epoch", add_partitions(wrong_epoch, &[(MAIN, &[0])])),
            (
                "unknown transactional id",
                add_partitions(unknown_id, &[(MAIN, &[0])]),
            ),
            (
                "another producer id",
                add_partitions(other_producer, &[(MAIN, &[0])]),
            ),
        ] {
            let case = format!("{case} {after}");
            self.step(
                ApiKey::AddPartitionsToTxn,
                add_version,
                &case,
                request.into(),
            )
            .await?;
        }
        // A client of transaction version 2 (TxnOffsetCommit v5) sends no
        // AddOffsetsToTxn: the broker adds the group itself.
        if commit_version < 5 {
            for (case, request) in [
                ("group", add_offsets(p, &group_id)),
                ("wrong epoch", add_offsets(wrong_epoch, &group_id)),
                (
                    "unknown transactional id",
                    add_offsets(unknown_id, &group_id),
                ),
            ] {
                let case = format!("{case} {after}");
                self.step(
                    ApiKey::AddOffsetsToTxn,
                    offsets_version,
                    &case,
                    request.into(),
                )
                .await?;
            }
        }
        for (case, request) in [
            ("group", txn_offset_commit(p, &group_id, MAIN)),
            (
                "unknown topic",
                txn_offset_commit(p, &group_id, "diff-unknown"),
            ),
            (
                "group outside the transaction",
                txn_offset_commit(p, "diff-txn-elsewhere", MAIN),
            ),
            (
                "wrong epoch",
                txn_offset_commit(wrong_epoch, &group_id, MAIN),
            ),
            (
                "unknown transactional id",
                txn_offset_commit(unknown_id, &group_id, MAIN),
            ),
        ] {
            let case = format!("{case} {after}");
            self.step(
                ApiKey::TxnOffsetCommit,
                commit_version,
                &case,
                request.into(),
            )
            .await?;
        }
        self.describe_step(&format!("open {after}"), &[id]).await?;
        for (case, request) in [
            ("wrong epoch", end(wrong_epoch, true)),
            ("unknown transactional id", end(unknown_id, true)),
            ("another producer id", end(other_producer, true)),
        ] {
            let case = format!("{case} {after}");
            self.step(ApiKey::EndTxn, end_version, &case, request.into())
                .await?;
        }
        let committed = self
            .step(
                ApiKey::EndTxn,
                end_version,
                &format!("commit {after}"),
                end(p, true).into(),
            )
            .await?;
        self.settle(id).await?;
        self.describe_step(&format!("committed {after}"), &[id])
            .await?;
        // A client retrying its EndTxn sends the same request again.
        for (case, request) in [
            ("commit again", end(p, true)),
            ("abort after commit", end(p, false)),
        ] {
            let case = format!("{case} {after}");
            self.step(ApiKey::EndTxn, end_version, &case, request.into())
                .await?;
        }
        // From EndTxn v5 the epoch is bumped by every transaction's end.
        if let Some(ResponseKind::EndTxn(r)) = committed {
            if r.error_code == 0 && end_version >= 5 {
                p.epoch = r.producer_epoch;
            }
        }
        let case = format!("next transaction {after}");
        let next = add_partitions(p, &[(MAIN, &[1])]);
        self.step(ApiKey::AddPartitionsToTxn, add_version, &case, next.into())
            .await?;
        self.step(
            ApiKey::EndTxn,
            end_version,
            &format!("abort the next {after}"),
            end(p, false).into(),
        )
        .await?;
        self.settle(id).await?;
        self.describe_step(&format!("aborted {after}"), &[id])
            .await?;
        Ok(())
    }

    async fn describe_step(&mut self, case: &str, ids: &[&str]) -> anyhow::Result<()> {
        for version in self.versions_of(ApiKey::DescribeTransactions) {
            let request = DescribeTransactionsRequest::default()
                .with_transactional_ids(ids.iter().map(|id| txn_id(id)).collect());
            self.step(ApiKey::DescribeTransactions, version, case, request.into())
                .await?;
        }
        Ok(())
    }

    /// AddPartitionsToTxn v4+ as brokers send it: several transactions in
    /// one request, verify-only or adding.
    async fn batched_add_partitions_steps(&mut self, version: i16) -> anyhow::Result<()> {
        use add_partitions_to_txn_request::AddPartitionsToTxnTransaction;
        let id = format!("diff-txn-batched-v{version}");
        let id = id.as_str();
        let init_version = *self
            .versions_of(ApiKey::InitProducerId)
            .last()
            .unwrap_or(&0);
        let case = format!("setup: AddPartitionsToTxn v{version}");
        let Some(p) = self
            .init_step(init_version, &case, id, init(Some(id), TIMEOUT_MS))
            .await?
        else {
            return Ok(());
        };
        let open = add_partitions(p, &[(MAIN, &[0])]);
        self.step(ApiKey::AddPartitionsToTxn, 3, &case, open.into())
            .await?;
        let transaction = |p: Producer, verify_only: bool, topics: &[(&str, &[i32])]| {
            AddPartitionsToTxnTransaction::default()
                .with_transactional_id(txn_id(p.id))
                .with_producer_id(ProducerId(p.producer_id))
                .with_producer_epoch(p.epoch)
                .with_verify_only(verify_only)
                .with_topics(txn_topics(topics))
        };
        let wrong_epoch = Producer {
            epoch: p.epoch + 1,
            ..p
        };
        let unknown_id = Producer { id: NOBODY, ..p };
        for (case, transactions) in [
            (
                "verify one in and one outside",
                vec![transaction(p, true, &[(MAIN, &[0, 1])])],
            ),
            (
                "verify a wrong epoch and an unknown id",
                vec![
                    transaction(wrong_epoch, true, &[(MAIN, &[0])]),
                    transaction(unknown_id, true, &[(MAIN, &[0])]),
                ],
            ),
            ("add", vec![transaction(p, false, &[(MAIN, &[1])])]),
            (
                "verify both after adding",
                vec![transaction(p, true, &[(MAIN, &[0, 1])])],
            ),
        ] {
            let request = AddPartitionsToTxnRequest::default().with_transactions(transactions);
            self.step(ApiKey::AddPartitionsToTxn, version, case, request.into())
                .await?;
        }
        let end_version = *self.versions_of(ApiKey::EndTxn).last().unwrap_or(&0);
        let case = format!("abort after AddPartitionsToTxn v{version}");
        self.step(ApiKey::EndTxn, end_version, &case, end(p, false).into())
            .await?;
        self.settle(id).await
    }

    /// DescribeTransactions and ListTransactions over one open transaction
    /// and what the steps before left.
    async fn listing_steps(&mut self) -> anyhow::Result<()> {
        let id = "diff-txn-open";
        let init_version = *self
            .versions_of(ApiKey::InitProducerId)
            .last()
            .unwrap_or(&0);
        let Some(p) = self
            .init_step(
                init_version,
                "setup: listing",
                id,
                init(Some(id), TIMEOUT_MS),
            )
            .await?
        else {
            return Ok(());
        };
        let add = add_partitions(p, &[(MAIN, &[0, 1])]);
        self.step(ApiKey::AddPartitionsToTxn, 3, "setup: listing", add.into())
            .await?;
        let offsets = add_offsets(p, "diff-txn-group-open");
        self.step(ApiKey::AddOffsetsToTxn, 3, "setup: listing", offsets.into())
            .await?;
        self.describe_step(
            "open, complete, unknown and empty ids",
            &[id, "diff-txn-0", NOBODY, ""],
        )
        .await?;
        for version in self.versions_of(ApiKey::ListTransactions) {
            let list = || ListTransactionsRequest::default();
            let mut cases = vec![
                ("all", list()),
                ("ongoing", list().with_state_filters(vec![s("Ongoing")])),
                (
                    "complete and unknown states",
                    list().with_state_filters(vec![s("CompleteCommit"), s("Nonsense")]),
                ),
                (
                    "by producer id",
                    list().with_producer_id_filters(vec![
                        ProducerId(p.producer_id),
                        ProducerId(99_999),
                    ]),
                ),
            ];
            if version >= 1 {
                cases.push((
                    "running over an hour",
                    list().with_duration_filter(3_600_000),
                ));
            }
            if version >= 2 {
                cases.push((
                    "id pattern",
                    list().with_transactional_id_pattern(Some(s("diff-txn-[0-3]"))),
                ));
                cases.push((
                    "invalid id pattern",
                    list().with_transactional_id_pattern(Some(s("diff-txn-("))),
                ));
            }
            for (case, request) in cases {
                self.step(ApiKey::ListTransactions, version, case, request.into())
                    .await?;
            }
        }
        Ok(())
    }
}
