use super::*;

#[test]
fn every_kafka_config_has_an_answer() {
    let unreviewed: Vec<&str> = topic_configs()
        .chain(broker_configs())
        .chain(group_configs())
        .filter(|def| def.support == UNREVIEWED)
        .map(|def| def.name())
        .collect();
    assert!(
        unreviewed.is_empty(),
        "no rule in support.rs: {unreviewed:?}"
    );
}

#[test]
fn honoured_names_are_kafka_names() {
    for name in fields::SETTINGS_NAMES.iter().chain(startup::IDENTITY_NAMES) {
        assert!(broker_config(name).is_some(), "{name}");
    }
    for name in support::HONOURED_TOPIC {
        assert!(topic_config(name).is_some(), "{name}");
    }
    for (name, _) in FJORD_DEFAULTS {
        assert!(broker_config(name).is_some(), "{name}");
    }
}

#[test]
fn a_broker_synonym_shares_its_topic_configs_answer() {
    let support = |name| broker_config(name).unwrap().support;
    assert_eq!(support("log.retention.hours"), Support::Honoured);
    assert_eq!(support("message.max.bytes"), Support::Honoured);
    assert_eq!(
        support("log.cleanup.policy"),
        topic_config("cleanup.policy").unwrap().support
    );
    assert!(matches!(
        support("log.cleaner.delete.retention.ms"),
        Support::NoEffect(_)
    ));
}

#[test]
fn refusals_say_whether_kafka_or_fjord_refused() {
    assert_eq!(
        validate_broker_config("zookeeper.connect", "x:2181").unwrap_err(),
        format!(
            "Unknown broker config zookeeper.connect: Kafka {KAFKA_VERSION} defines no such config"
        )
    );
    assert_eq!(
        validate_topic_config("cleanup.policy", "sideways")
            .unwrap_err()
            .message,
        "Invalid value sideways for configuration cleanup.policy: String must be one of: compact, delete"
    );
    assert_eq!(
        validate_topic_config("cleanup.policy", "compact,delete")
            .unwrap_err()
            .message,
        "Invalid value compact,delete for configuration cleanup.policy: valid in Kafka but not \
         supported by Fjord yet (log compaction is not built yet (cleanup.policy=compact is \
         refused)); supported: delete"
    );
    assert!(validate_topic_config("segment.bytes", "1000").is_err());
    assert!(validate_topic_config("internal.segment.bytes", "1000").is_ok());
    assert!(validate_topic_config("min.cleanable.dirty.ratio", "1.5").is_err());
    assert!(validate_topic_config("min.cleanable.dirty.ratio", "0.25").is_ok());
    assert!(validate_topic_config("compression.gzip.level", "9").is_ok());
    assert!(validate_topic_config("compression.gzip.level", "0").is_err());
    assert!(validate_topic_config("leader.replication.throttled.replicas", "0:1,1:1").is_ok());
    assert!(validate_topic_config("leader.replication.throttled.replicas", "*").is_ok());
    assert!(validate_topic_config("leader.replication.throttled.replicas", "x").is_err());
    assert!(validate_broker_config("default.replication.factor", "3").is_err());
    assert!(validate_broker_config("authorizer.class.name", "").is_ok());
    assert!(validate_broker_config("authorizer.class.name", "a.B").is_err());
    assert!(validate_broker_config("auto.create.topics.enable", "TRUE").is_ok());
    assert!(validate_broker_config("node.id", "2147483648").is_err());
}

#[test]
fn kafka_quick_start_configs_are_taken() {
    for (name, value) in [
        ("offsets.topic.replication.factor", "1"),
        ("transaction.state.log.replication.factor", "1"),
        ("transaction.state.log.min.isr", "1"),
        ("group.initial.rebalance.delay.ms", "0"),
        ("process.roles", "broker,controller"),
        ("controller.quorum.voters", "1@localhost:9093"),
        ("controller.listener.names", "CONTROLLER"),
        (
            "listener.security.protocol.map",
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        ),
        ("log.dirs", "/tmp/kraft-combined-logs"),
        ("num.partitions", "1"),
        ("share.coordinator.state.topic.replication.factor", "1"),
        ("share.coordinator.state.topic.min.isr", "1"),
    ] {
        assert_eq!(
            validate_broker_config(name, value),
            Ok(()),
            "{name}={value}"
        );
    }
}

#[test]
fn documentation_leads_with_what_fjord_does_not_honour() {
    let doc = topic_config("unclean.leader.election.enable")
        .unwrap()
        .documentation();
    assert!(
        doc.starts_with("No effect in Fjord: Fjord is a single broker"),
        "{doc}"
    );
    let doc = topic_config("cleanup.policy").unwrap().documentation();
    assert!(
        doc.starts_with("Fjord honours only delete (log compaction"),
        "{doc}"
    );
    let doc = topic_config("retention.ms").unwrap().documentation();
    assert!(!doc.contains("Fjord"), "{doc}");
}

#[test]
fn every_typed_field_parses_its_default() {
    let settings = BrokerSettings::from_statics(&StaticConfigs::default()).unwrap();
    assert_eq!(settings.num_partitions, 1);
    assert_eq!(settings.fetch_max_bytes, 55 * 1024 * 1024);
    assert_eq!(settings.max_connections, i32::MAX);
    assert_eq!(settings.max_connections_per_ip_overrides, "");
    assert_eq!(settings.offsets_retention_minutes, 10080);
    assert!(settings.auto_create_topics_enable);
}

#[test]
fn a_broker_synonym_is_checked_as_the_topic_config_it_sets() {
    assert_eq!(
        validate_broker_config("log.retention.ms", "-7").unwrap_err(),
        "Invalid value -7 for configuration log.retention.ms: Value must be at least -1 \
         (it sets retention.ms for topics)"
    );
    assert_eq!(validate_broker_config("log.retention.ms", "-1"), Ok(()));
    assert_eq!(validate_broker_config("log.retention.hours", "-1"), Ok(()));
    assert!(validate_broker_config("log.retention.hours", "-2").is_err());
    assert_eq!(validate_broker_config("log.retention.hours", "2"), Ok(()));
    let mut statics = StaticConfigs::default();
    statics
        .values
        .insert("log.retention.hours".into(), "-1".into());
    let retention = topic_config("retention.ms").unwrap();
    assert_eq!(
        statics.topic_value(&retention, &Default::default()).0,
        Some("-1".into()),
        "unlimited stays unlimited, not -3600000"
    );
}

#[test]
fn group_configs_are_kafkas_and_have_no_effect_yet() {
    let names: Vec<&str> = group_configs().map(|def| def.name()).collect();
    assert!(names.contains(&"consumer.session.timeout.ms"), "{names:?}");
    assert!(names.contains(&"share.auto.offset.reset"), "{names:?}");
    let reset = group_config("share.auto.offset.reset").unwrap();
    assert_eq!(reset.kafka.update, Update::Group);
    assert_eq!(reset.check("by_duration:PT1H"), Ok(()));
    assert!(reset.check("sideways").is_err());
    assert!(group_config("consumer.session.timeout.ms")
        .unwrap()
        .check("0")
        .is_err());
    assert!(matches!(reset.support, Support::NoEffect(_)));
}

#[test]
fn a_config_given_for_one_listener_is_checked_as_the_config_it_overrides() {
    assert_eq!(
        validate_broker_config("listener.name.internal.ssl.client.auth", "required"),
        Ok(())
    );
    assert_eq!(
        validate_broker_config(
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config",
            "x required;"
        ),
        Ok(())
    );
    let refused =
        validate_broker_config("listener.name.internal.ssl.client.auth", "maybe").unwrap_err();
    assert!(
        refused.contains("configuration ssl.client.auth")
            && refused.contains("(given as listener.name.internal.ssl.client.auth)"),
        "{refused}"
    );
    assert!(validate_broker_config("listener.name.internal.no.such", "1").is_err());
    assert!(validate_broker_config("listener.name.internal.plain.num.partitions", "1").is_err());
}

#[test]
fn a_refused_password_is_not_echoed() {
    let def = broker_config("ssl.keystore.key").unwrap();
    assert!(def.is_sensitive());
    let mut statics = StaticConfigs::default();
    statics
        .values
        .insert("ssl.keystore.password".into(), "s3cret".into());
    for (_, value, _) in statics.not_honoured() {
        assert!(!value.contains("s3cret"));
    }
}
