//! Workload 14: workload 2's produce through a broker with the authorizer
//! on, holding 100 and then 10,000 ACLs, beside the same broker with it off,
//! each on a fresh broker of its own in the same run. What Kafka users pay
//! for ACLs, and that the lookup does not grow with their number.
//!
//! The ACLs go in over the wire (CreateAcls) while the client is a super
//! user; the broker is then restarted on the same data dir without
//! `super.users`, so the producer (`User:ANONYMOUS` on plaintext) passes
//! the full check on every partition of every request.

use std::path::Path;

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::{ApiKey, CreateAclsRequest, CreateAclsResponse};
use kafka_protocol::protocol::{Decodable, StrBytes};
use serde_json::{json, Value};

use crate::broker::{self, BrokerProcess};
use crate::raw::frames::{self, Connection};
use crate::stats;
use crate::workloads::{self, round3, ProduceSpec};

const AUTHORIZER: &str =
    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer";
const PRODUCER: &str = "User:ANONYMOUS";

// Kafka's codes (AclOperation, ResourceType, PatternType, AclPermissionType).
const TOPIC: i8 = 2;
const CLUSTER: i8 = 4;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const WRITE: i8 = 4;
const CREATE: i8 = 5;
const READ: i8 = 3;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

/// Creations per CreateAcls request.
const PER_REQUEST: usize = 1_000;

/// Runs workload 2's `spec` on three fresh brokers (authorizer off, on with
/// 100 ACLs, on with 10,000) and returns their rows; `spec.topic` is the
/// topic name prefix.
pub fn run(
    binary: &Path,
    data_root: &Path,
    spec: &ProduceSpec<'_>,
    loopback: f64,
) -> anyhow::Result<Vec<Value>> {
    let mut rows = Vec::new();
    let mut off_mb_s = None;
    for acls in [None, Some(100), Some(10_000)] {
        let label = acls.map_or("off".to_string(), |n| format!("{n}"));
        let dir = data_root.join(format!("authorizer-{label}"));
        let topic = format!("{}-{label}", spec.topic);
        let mut overrides = Vec::new();
        if let Some(count) = acls {
            overrides.push(AUTHORIZER.to_string());
            let (setup, _) = BrokerProcess::start_configured(
                binary,
                &dir,
                None,
                &[AUTHORIZER.to_string(), format!("super.users={PRODUCER}")],
            )?;
            create_acls(&setup.bootstrap, &bindings(spec.topic, count))?;
            setup.stop()?;
        }
        let (process, _) = BrokerProcess::start_configured(binary, &dir, None, &overrides)?;
        let cpu_before = broker::cpu_seconds(process.pid())?;
        let figures = workloads::produce(
            &process.bootstrap,
            &ProduceSpec {
                topic: &topic,
                ..*spec
            },
        )?;
        let cpu = broker::cpu_seconds(process.pid())? - cpu_before;
        let name = match acls {
            None => "14 produce 16p x4 acks=1 authorizer off".to_string(),
            Some(n) => format!("14 produce 16p x4 acks=1 authorizer on, {n} ACLs"),
        };
        let mut row = workloads::produce_json(&name, &figures, loopback);
        let mb = stats::mb_per_s(figures.bytes, figures.elapsed);
        row["broker_cpu_s"] = json!(round3(cpu));
        row["broker_rss_mb"] = json!(workloads::round(process.rss_mb()?));
        match off_mb_s {
            None => off_mb_s = Some(mb),
            Some(off) => row["ratio_to_authorizer_off"] = json!(round3(mb / off)),
        }
        process.stop()?;
        rows.push(row);
    }
    Ok(rows)
}

/// `count` ACLs: the producer's own (WRITE on the topics under `prefix`,
/// CREATE on the cluster), a few other principals' on the same prefix (an
/// allow and a deny, so the check reads more than one entry), and the rest
/// literal and prefixed ACLs of other users on other topics.
fn bindings(prefix: &str, count: usize) -> Vec<AclCreation> {
    let acl = |resource_type, name: String, pattern, principal: String, operation, permission| {
        AclCreation::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name))
            .with_resource_pattern_type(pattern)
            .with_principal(StrBytes::from_string(principal))
            .with_host(StrBytes::from_static_str("*"))
            .with_operation(operation)
            .with_permission_type(permission)
    };
    let mut all = vec![
        acl(
            TOPIC,
            prefix.to_string(),
            PREFIXED,
            PRODUCER.to_string(),
            WRITE,
            ALLOW,
        ),
        acl(
            CLUSTER,
            "kafka-cluster".to_string(),
            LITERAL,
            PRODUCER.to_string(),
            CREATE,
            ALLOW,
        ),
        acl(
            TOPIC,
            prefix.to_string(),
            PREFIXED,
            "User:reader".to_string(),
            READ,
            ALLOW,
        ),
        acl(
            TOPIC,
            prefix.to_string(),
            PREFIXED,
            "User:banned".to_string(),
            WRITE,
            DENY,
        ),
    ];
    let mut i = 0;
    while all.len() < count {
        let user = format!("User:user-{i}");
        all.push(if i % 2 == 0 {
            acl(TOPIC, format!("orders-{i}"), LITERAL, user, READ, ALLOW)
        } else {
            acl(TOPIC, format!("team-{i}-"), PREFIXED, user, WRITE, ALLOW)
        });
        i += 1;
    }
    all
}

fn create_acls(bootstrap: &str, creations: &[AclCreation]) -> anyhow::Result<()> {
    const VERSION: i16 = 3;
    let mut connection = Connection::open(bootstrap)?;
    for (n, chunk) in creations.chunks(PER_REQUEST).enumerate() {
        let correlation_id = i32::try_from(n)?;
        let request = CreateAclsRequest::default().with_creations(chunk.to_vec());
        connection.send(&frames::request(
            ApiKey::CreateAcls,
            VERSION,
            correlation_id,
            &request,
        )?)?;
        let mut body = connection.answer(ApiKey::CreateAcls, VERSION, correlation_id)?;
        let answer = CreateAclsResponse::decode(&mut body, VERSION)?;
        anyhow::ensure!(
            answer.results.len() == chunk.len(),
            "CreateAcls answered {} of {} creations",
            answer.results.len(),
            chunk.len()
        );
        if let Some(failed) = answer.results.iter().find(|r| r.error_code != 0) {
            anyhow::bail!(
                "CreateAcls refused a creation: {} {:?}",
                failed.error_code,
                failed.error_message
            );
        }
    }
    Ok(())
}
