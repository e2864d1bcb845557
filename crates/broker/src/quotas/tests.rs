//! Quota resolution, the rate and throttle arithmetic, the describe filter
//! and AlterClientQuotas' checks, without sockets.

use std::collections::BTreeMap;

use fjord_storage::quotas::StoredQuotas;

use super::describe::{Component, MATCH_ANY, MATCH_DEFAULT, MATCH_EXACT};
use super::entity::*;
use super::rate::{throttle_ms, SampledRate, TokenBucket, Window};
use super::resolve::{client_quota, ip_quota, Sharers};
use super::*;

fn entity(pairs: &[(&str, Option<&str>)]) -> QuotaEntity {
    entity_of(pairs.iter().copied())
}

fn with(quotas: &mut StoredQuotas, pairs: &[(&str, Option<&str>)], key: &str, value: f64) {
    quotas
        .entry(entity(pairs))
        .or_default()
        .insert(key.to_string(), value);
}

/// Every level of Kafka's precedence set, each with its own value: the
/// most specific one that exists wins, and removing it uncovers the next.
#[test]
fn resolution_follows_kafkas_precedence() {
    let levels: [&[(&str, Option<&str>)]; 8] = [
        &[(USER, Some("alice")), (CLIENT_ID, Some("app"))],
        &[(USER, Some("alice")), (CLIENT_ID, None)],
        &[(USER, Some("alice"))],
        &[(USER, None), (CLIENT_ID, Some("app"))],
        &[(USER, None), (CLIENT_ID, None)],
        &[(USER, None)],
        &[(CLIENT_ID, Some("app"))],
        &[(CLIENT_ID, None)],
    ];
    let mut quotas = StoredQuotas::new();
    for (i, level) in levels.iter().enumerate() {
        with(&mut quotas, level, PRODUCER_BYTE_RATE, (i + 1) as f64);
    }
    for (i, level) in levels.iter().enumerate() {
        let (bound, sharers) = client_quota(&quotas, PRODUCER_BYTE_RATE, "alice", "app").unwrap();
        assert_eq!(bound, (i + 1) as f64, "level {i}: {level:?}");
        let names_user = level.iter().any(|(t, _)| *t == USER);
        let names_client = level.iter().any(|(t, _)| *t == CLIENT_ID);
        assert_eq!(
            sharers,
            Sharers {
                user: names_user.then(|| "alice".to_string()),
                client_id: names_client.then(|| "app".to_string()),
            }
        );
        quotas.remove(&entity(level));
    }
    assert!(client_quota(&quotas, PRODUCER_BYTE_RATE, "alice", "app").is_none());
}

#[test]
fn each_key_resolves_on_its_own_and_other_clients_are_not_matched() {
    let mut quotas = StoredQuotas::new();
    with(
        &mut quotas,
        &[(USER, Some("alice"))],
        CONSUMER_BYTE_RATE,
        10.0,
    );
    with(&mut quotas, &[(CLIENT_ID, None)], PRODUCER_BYTE_RATE, 20.0);
    with(
        &mut quotas,
        &[(CLIENT_ID, Some("other"))],
        PRODUCER_BYTE_RATE,
        30.0,
    );
    let produce = client_quota(&quotas, PRODUCER_BYTE_RATE, "alice", "app").unwrap();
    assert_eq!(
        produce.0, 20.0,
        "alice sets no producer rate: the default client id's"
    );
    assert_eq!(
        client_quota(&quotas, CONSUMER_BYTE_RATE, "alice", "x")
            .unwrap()
            .0,
        10.0
    );
    assert!(client_quota(&quotas, CONSUMER_BYTE_RATE, "bob", "x").is_none());
    assert_eq!(
        client_quota(&quotas, PRODUCER_BYTE_RATE, "bob", "other")
            .unwrap()
            .0,
        30.0
    );
}

#[test]
fn ip_quota_prefers_the_address_in_any_spelling_then_the_default() {
    let mut quotas = StoredQuotas::new();
    with(&mut quotas, &[(IP, None)], CONNECTION_CREATION_RATE, 5.0);
    with(
        &mut quotas,
        &[(IP, Some("0:0::1"))],
        CONNECTION_CREATION_RATE,
        2.0,
    );
    with(
        &mut quotas,
        &[(IP, Some("db.example"))],
        CONNECTION_CREATION_RATE,
        3.0,
    );
    let hosts = [("db.example".to_string(), "10.0.0.7".parse().unwrap())].into();
    let quota = |ip: &str| {
        ip_quota(
            &quotas,
            CONNECTION_CREATION_RATE,
            ip.parse().unwrap(),
            &hosts,
        )
    };
    assert_eq!(quota("::1"), Some(2.0));
    assert_eq!(quota("10.0.0.1"), Some(5.0));
    assert_eq!(
        quota("10.0.0.7"),
        Some(3.0),
        "by the address its name resolved to"
    );
}

const W: Window = Window::DEFAULT;

/// A young measure counts as covering 10 whole windows, so a burst up to
/// ten seconds' worth passes; past that the throttle is the excess as a
/// share of the bound, times the window (Kafka's QuotaUtils).
#[test]
fn rate_and_throttle_follow_kafkas_arithmetic() {
    let mut rate = SampledRate::default();
    assert_eq!(rate.record_and_throttle(W, 100.0, 1000.0, 0), 0);
    assert_eq!(rate.window_ms(W, 0), 10_000);
    assert_eq!(rate.rate(W, 0), 100.0);
    // At 0.5 s the window is the 0.5 s elapsed plus ten whole windows:
    // 1500 bytes over 10.5 s, 1500 - 1050 over the bound, so 4.5 s.
    assert_eq!(rate.record_and_throttle(W, 100.0, 500.0, 500), 4_500);
    // After 10.5 s the window is the time elapsed since the oldest sample.
    assert_eq!(rate.window_ms(W, 10_500), 10_500);
    // The samples leave the window after 11 s and the measure reads 0.
    assert_eq!(rate.rate(W, 11_600), 0.0);
    assert_eq!(rate.record_and_throttle(W, 100.0, 100.0, 11_600), 0);
}

#[test]
fn throttle_is_rounded_and_capped() {
    assert_eq!(throttle_ms(150.0, 100.0, 1000.0, 11_000), 500);
    assert_eq!(throttle_ms(100.4, 100.0, 1000.0, 11_000), 4);
    assert_eq!(throttle_ms(90.0, 100.0, 1000.0, 11_000), 0);
    assert_eq!(throttle_ms(1e12, 1.0, 10_000.0, 11_000), 11_000);
    assert_eq!(throttle_ms(1.0, 0.0, 10_000.0, 11_000), 11_000);
}

/// KIP-599's bucket: full at rate × 11 s, and a client may take it below
/// zero once; the throttle is the time to refill to zero.
#[test]
fn token_bucket_lets_a_burst_through_then_throttles() {
    let mut bucket = TokenBucket::default();
    assert_eq!(bucket.tokens(W, 2.0, 0), 22.0);
    bucket.record(W, 2.0, 30.0, 0);
    assert_eq!(bucket.tokens(W, 2.0, 0), -8.0);
    assert_eq!(bucket.throttle(W, 2.0, 0), 4_000);
    assert_eq!(bucket.throttle(W, 2.0, 1_000), 3_000);
    assert_eq!(bucket.throttle(W, 2.0, 4_000), 0);
    assert_eq!(bucket.tokens(W, 2.0, 100_000), 22.0);
}

fn component<'a>(entity_type: &'a str, match_type: i8, name: Option<&'a str>) -> Component<'a> {
    Component {
        entity_type,
        match_type,
        name,
    }
}

fn sample_quotas() -> StoredQuotas {
    let mut quotas = StoredQuotas::new();
    with(
        &mut quotas,
        &[(USER, Some("alice"))],
        PRODUCER_BYTE_RATE,
        1.0,
    );
    with(&mut quotas, &[(USER, None)], PRODUCER_BYTE_RATE, 2.0);
    with(
        &mut quotas,
        &[(USER, Some("alice")), (CLIENT_ID, Some("app"))],
        PRODUCER_BYTE_RATE,
        3.0,
    );
    with(
        &mut quotas,
        &[(CLIENT_ID, Some("app"))],
        CONSUMER_BYTE_RATE,
        4.0,
    );
    with(
        &mut quotas,
        &[(IP, Some("10.0.0.1"))],
        CONNECTION_CREATION_RATE,
        5.0,
    );
    quotas
}

fn described(components: &[Component<'_>], strict: bool) -> Result<Vec<f64>, i16> {
    let quotas = sample_quotas();
    describe::describe(&quotas, components, strict)
        .map(|found| {
            let mut values: Vec<f64> = found
                .iter()
                .flat_map(|(_, v)| v.values().copied())
                .collect();
            values.sort_by(f64::total_cmp);
            values
        })
        .map_err(|e| e.code())
}

#[test]
fn describe_filters_as_kafka_does() {
    assert_eq!(described(&[], false), Ok(vec![1.0, 2.0, 3.0, 4.0, 5.0]));
    assert_eq!(described(&[], true), Ok(vec![]));
    let alice = component(USER, MATCH_EXACT, Some("alice"));
    assert_eq!(
        described(std::slice::from_ref(&alice), false),
        Ok(vec![1.0, 3.0])
    );
    assert_eq!(described(std::slice::from_ref(&alice), true), Ok(vec![1.0]));
    let default_user = component(USER, MATCH_DEFAULT, None);
    assert_eq!(described(&[default_user], false), Ok(vec![2.0]));
    // Any user, the default one included (Kafka 4.1's image matches it).
    let any_user = component(USER, MATCH_ANY, None);
    assert_eq!(
        described(std::slice::from_ref(&any_user), true),
        Ok(vec![1.0, 2.0])
    );
    let any_client = component(CLIENT_ID, MATCH_ANY, None);
    assert_eq!(
        described(&[any_user, any_client.clone()], true),
        Ok(vec![3.0])
    );
    assert_eq!(described(&[alice, any_client], false), Ok(vec![3.0]));
    assert_eq!(
        described(&[component(IP, MATCH_ANY, None)], false),
        Ok(vec![5.0])
    );
}

#[test]
fn describe_refuses_bad_filters_with_kafkas_codes() {
    let invalid = ResponseError::InvalidRequest.code();
    for bad in [
        vec![component("", MATCH_ANY, None)],
        vec![component(USER, MATCH_EXACT, None)],
        vec![component(USER, MATCH_DEFAULT, Some("x"))],
        vec![component(USER, MATCH_ANY, Some("x"))],
        vec![component(USER, 7, None)],
        vec![
            component(USER, MATCH_ANY, None),
            component(USER, MATCH_DEFAULT, None),
        ],
        vec![
            component(IP, MATCH_ANY, None),
            component(CLIENT_ID, MATCH_ANY, None),
        ],
    ] {
        assert_eq!(described(&bad, false), Err(invalid), "{bad:?}");
    }
    assert_eq!(
        described(&[component("group", MATCH_ANY, None)], false),
        Err(ResponseError::UnsupportedVersion.code())
    );
}

#[test]
fn alter_checks_entities_keys_and_values() {
    let user = entity(&[(USER, Some("alice"))]);
    let ip = entity(&[(IP, Some("10.0.0.1"))]);
    let ok = [
        (user.clone(), PRODUCER_BYTE_RATE, 1024.0),
        (user.clone(), REQUEST_PERCENTAGE, 12.5),
        (user.clone(), CONTROLLER_MUTATION_RATE, 0.5),
        (entity(&[(CLIENT_ID, None)]), CONSUMER_BYTE_RATE, 1.0),
        (ip.clone(), CONNECTION_CREATION_RATE, 10.0),
        (entity(&[(IP, None)]), CONNECTION_CREATION_RATE, 1e9),
    ];
    for (entity, key, value) in ok {
        assert!(
            check_value(&entity, key, value).is_ok(),
            "{entity:?} {key}={value}"
        );
    }
    let bad = [
        (user.clone(), PRODUCER_BYTE_RATE, 1.5),
        (user.clone(), CONNECTION_CREATION_RATE, 1.0),
        (user.clone(), "unknown_key", 1.0),
        (ip.clone(), PRODUCER_BYTE_RATE, 1.0),
        (ip.clone(), CONNECTION_CREATION_RATE, -1.0),
        (ip.clone(), CONNECTION_CREATION_RATE, 2.5),
        (ip.clone(), CONNECTION_CREATION_RATE, 0.0),
        (ip.clone(), CONNECTION_CREATION_RATE, 3e9),
        (user.clone(), CONTROLLER_MUTATION_RATE, 0.0),
        (user.clone(), REQUEST_PERCENTAGE, -1.0),
        (user.clone(), REQUEST_PERCENTAGE, f64::NAN),
        (entity(&[(USER, Some(""))]), PRODUCER_BYTE_RATE, 1.0),
        (entity(&[("group", Some("g"))]), PRODUCER_BYTE_RATE, 1.0),
        (
            entity(&[(USER, Some("a")), (IP, None)]),
            PRODUCER_BYTE_RATE,
            1.0,
        ),
        (QuotaEntity::new(), PRODUCER_BYTE_RATE, 1.0),
    ];
    for (entity, key, value) in bad {
        let refused = check_value(&entity, key, value).expect_err(key);
        assert_eq!(
            refused.code(),
            ResponseError::InvalidRequest.code(),
            "{entity:?} {key}"
        );
    }
}

async fn open_quotas() -> (tempfile::TempDir, ClientQuotas) {
    let dir = tempfile::tempdir().unwrap();
    let quotas = ClientQuotas::open(dir.path(), QuotaSettings::default()).unwrap();
    (dir, quotas)
}

fn set(entity: QuotaEntity, key: &str, value: Option<f64>) -> Alteration {
    Alteration {
        entity,
        ops: vec![(key.to_string(), value)],
    }
}

#[tokio::test]
async fn alter_applies_good_entities_only_and_persists() {
    let (dir, quotas) = open_quotas().await;
    let alice = entity(&[(USER, Some("alice"))]);
    let bad = entity(&[(USER, Some("bob"))]);
    let twice = entity(&[(CLIENT_ID, Some("app"))]);
    let results = quotas
        .alter(
            vec![
                set(alice.clone(), PRODUCER_BYTE_RATE, Some(100.0)),
                Alteration {
                    entity: bad.clone(),
                    ops: vec![
                        (PRODUCER_BYTE_RATE.into(), Some(5.0)),
                        ("nonsense".into(), Some(1.0)),
                    ],
                },
                set(twice.clone(), CONSUMER_BYTE_RATE, Some(1.0)),
                set(twice.clone(), CONSUMER_BYTE_RATE, Some(2.0)),
            ],
            false,
        )
        .await;
    let codes: Vec<i16> = results
        .iter()
        .map(|(_, r)| r.as_ref().map_or_else(|e| e.code(), |()| 0))
        .collect();
    let invalid = ResponseError::InvalidRequest.code();
    assert_eq!(codes, [0, invalid, invalid]);
    let stored = quotas.quotas();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[&alice][PRODUCER_BYTE_RATE], 100.0);

    // validate_only changes nothing; removing the last key drops the entity.
    let checked = quotas
        .alter(vec![set(bad.clone(), PRODUCER_BYTE_RATE, Some(5.0))], true)
        .await;
    assert!(checked[0].1.is_ok());
    assert!(!quotas.quotas().contains_key(&bad));
    quotas
        .alter(vec![set(bad.clone(), PRODUCER_BYTE_RATE, Some(5.0))], false)
        .await;
    quotas
        .alter(vec![set(alice.clone(), PRODUCER_BYTE_RATE, None)], false)
        .await;
    let reopened = ClientQuotas::open(dir.path(), QuotaSettings::default()).unwrap();
    let expected: BTreeMap<String, f64> = [(PRODUCER_BYTE_RATE.to_string(), 5.0)].into();
    assert_eq!(*reopened.quotas(), StoredQuotas::from([(bad, expected)]));
}

#[tokio::test]
async fn enforcement_resolves_the_sender_and_throttles_over_the_quota() {
    let (_dir, quotas) = open_quotas().await;
    quotas
        .alter(
            vec![
                set(entity(&[(USER, None)]), PRODUCER_BYTE_RATE, Some(1000.0)),
                set(
                    entity(&[(USER, Some("fast"))]),
                    PRODUCER_BYTE_RATE,
                    Some(1e9),
                ),
                set(
                    entity(&[(CLIENT_ID, None)]),
                    CONTROLLER_MUTATION_RATE,
                    Some(1.0),
                ),
            ],
            false,
        )
        .await;
    let mut ctx = RequestContext::for_tests(kafka_protocol::messages::ApiKey::Produce, 9);
    // Ten seconds' worth passes at once; the next byte is throttled.
    assert_eq!(quotas.record_produce(&ctx, 10_000), 0);
    assert!(quotas.record_produce(&ctx, 1_000) >= 900);
    ctx.principal = crate::request_context::Principal::user("fast".into());
    assert_eq!(
        quotas.record_produce(&ctx, 1_000_000),
        0,
        "the user's own quota wins"
    );

    // Strict mutations: the bucket holds 11; the request that finds it
    // below zero is refused and not counted.
    let mut strict = quotas.mutation_quota(&ctx, true);
    assert!(strict.record(12).is_ok());
    assert!(strict.record(1).is_err());
    assert!(strict.throttle_time_ms() >= 900);
    let mut permissive = quotas.mutation_quota(&ctx, false);
    assert!(permissive.record(1).is_ok());
    assert!(permissive.throttle_time_ms() >= 1_900);
}

#[tokio::test]
async fn connections_over_the_ip_rate_are_refused() {
    let (_dir, quotas) = open_quotas().await;
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    assert!(quotas.admit_connection(ip).is_none(), "no quota, no limit");
    quotas
        .alter(
            vec![set(
                entity(&[(IP, None)]),
                CONNECTION_CREATION_RATE,
                Some(1.0),
            )],
            false,
        )
        .await;
    // A rate of 1/s over the 10 s window admits ten at once.
    for _ in 0..10 {
        assert!(quotas.admit_connection(ip).is_none());
    }
    assert!(quotas.admit_connection(ip).is_some());
    assert!(quotas
        .admit_connection("127.0.0.2".parse().unwrap())
        .is_none());
}

/// An IP entity may name a host, as in Kafka: it must resolve, and its
/// quota applies to the address it resolved to.
#[tokio::test]
async fn ip_entities_may_name_a_resolvable_host() {
    let (_dir, quotas) = open_quotas().await;
    let results = quotas
        .alter(
            vec![
                set(
                    entity(&[(IP, Some("not an ip"))]),
                    CONNECTION_CREATION_RATE,
                    Some(1.0),
                ),
                set(
                    entity(&[(IP, Some("localhost"))]),
                    CONNECTION_CREATION_RATE,
                    Some(1.0),
                ),
            ],
            false,
        )
        .await;
    assert_eq!(
        results[0].1.as_ref().map_err(QuotaError::code),
        Err(ResponseError::InvalidRequest.code())
    );
    assert!(results[1].1.is_ok());
    let localhost = super::hosts::resolve("localhost").expect("localhost resolves");
    for _ in 0..10 {
        assert!(quotas.admit_connection(localhost).is_none());
    }
    assert!(quotas.admit_connection(localhost).is_some());
}
