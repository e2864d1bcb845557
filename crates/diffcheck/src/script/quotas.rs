//! Client quotas: AlterClientQuotas (set, refused, validate-only) and
//! DescribeClientQuotas (exact, strict, bad filters) at each version.

use std::time::Duration;

use kafka_protocol::messages::*;

use super::{s, Script};
use crate::connection::Answer;

fn entity(pairs: &[(&str, Option<&str>)]) -> Vec<alter_client_quotas_request::EntityData> {
    pairs
        .iter()
        .map(|(t, n)| {
            alter_client_quotas_request::EntityData::default()
                .with_entity_type(s(t))
                .with_entity_name(n.map(s))
        })
        .collect()
}

fn set(
    pairs: &[(&str, Option<&str>)],
    values: &[(&str, f64)],
) -> alter_client_quotas_request::EntryData {
    alter_client_quotas_request::EntryData::default()
        .with_entity(entity(pairs))
        .with_ops(
            values
                .iter()
                .map(|(key, value)| {
                    alter_client_quotas_request::OpData::default()
                        .with_key(s(key))
                        .with_value(*value)
                })
                .collect(),
        )
}

fn filter(components: &[(&str, i8, Option<&str>)], strict: bool) -> DescribeClientQuotasRequest {
    DescribeClientQuotasRequest::default()
        .with_strict(strict)
        .with_components(
            components
                .iter()
                .map(|(t, match_type, name)| {
                    describe_client_quotas_request::ComponentData::default()
                        .with_entity_type(s(t))
                        .with_match_type(*match_type)
                        .with_match(name.map(s))
                })
                .collect(),
        )
}

impl Script {
    pub(super) async fn quotas(&mut self) -> anyhow::Result<()> {
        let alter_versions = self.versions_of(ApiKey::AlterClientQuotas);
        for &version in &alter_versions {
            let user = format!("diff-quota-v{version}");
            let request = AlterClientQuotasRequest::default().with_entries(vec![
                set(
                    &[("user", Some(&user))],
                    &[
                        ("producer_byte_rate", 1048576.0),
                        ("request_percentage", 50.0),
                    ],
                ),
                set(
                    &[("user", Some(&user)), ("client-id", None)],
                    &[("consumer_byte_rate", 2048.0)],
                ),
                set(&[("ip", Some("10.0.0.1"))], &[("producer_byte_rate", 1.0)]),
                set(
                    &[("user", Some("diff-quota-bad"))],
                    &[("producer_byte_rate", 1.5)],
                ),
                set(
                    &[("user", Some("diff-quota-bad"))],
                    &[("consumer_byte_rate", 0.0)],
                ),
            ]);
            let case = "set a user's and its default client id's, refuse a bad key and value";
            self.step(ApiKey::AlterClientQuotas, version, case, request.into())
                .await?;
            let request = AlterClientQuotasRequest::default()
                .with_validate_only(true)
                .with_entries(vec![set(
                    &[("user", Some("diff-quota-validated"))],
                    &[("producer_byte_rate", 1.0)],
                )]);
            self.step(
                ApiKey::AlterClientQuotas,
                version,
                "validate only",
                request.into(),
            )
            .await?;
        }
        // Kafka's brokers learn of a change from the controller's log a
        // moment later: wait for it, unrecorded.
        if let Some(&last) = alter_versions.last() {
            self.until_described(&format!("diff-quota-v{last}")).await?;
        }
        for version in self.versions_of(ApiKey::DescribeClientQuotas) {
            let user = "diff-quota-v0";
            let steps: [(&str, DescribeClientQuotasRequest); 6] = [
                (
                    "a user, any client id",
                    filter(&[("user", 0, Some(user))], false),
                ),
                (
                    "a user alone (strict)",
                    filter(&[("user", 0, Some(user))], true),
                ),
                (
                    "a user and the default client id (strict)",
                    filter(&[("user", 0, Some(user)), ("client-id", 1, None)], true),
                ),
                (
                    "validated only: not stored",
                    filter(&[("user", 0, Some("diff-quota-validated"))], false),
                ),
                ("exact without a name", filter(&[("user", 0, None)], false)),
                ("unknown entity type", filter(&[("group", 2, None)], false)),
            ];
            for (case, request) in steps {
                self.step(ApiKey::DescribeClientQuotas, version, case, request.into())
                    .await?;
            }
        }
        Ok(())
    }

    async fn until_described(&mut self, user: &str) -> anyhow::Result<()> {
        let Some(&version) = self.versions_of(ApiKey::DescribeClientQuotas).last() else {
            return Ok(());
        };
        for _ in 0..100 {
            let request = filter(&[("user", 0, Some(user))], true);
            let answer = self
                .connection
                .send(ApiKey::DescribeClientQuotas, version, &request.into())
                .await?;
            if let Answer::Response(ResponseKind::DescribeClientQuotas(r)) = answer {
                if r.entries.is_some_and(|e| !e.is_empty()) {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the quotas of {user} were never described")
    }
}
