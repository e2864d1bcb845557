use super::*;

fn statics(configs: &[(&str, &str)]) -> StaticConfigs {
    let mut statics = StaticConfigs::default();
    for (name, value) in configs {
        statics.values.insert(name.to_string(), value.to_string());
    }
    statics
}

fn parsed(configs: &[(&str, &str)]) -> Result<Vec<ListenerConfig>, String> {
    listeners(&statics(configs))
}

fn listener(name: &str, protocol: SecurityProtocol, bind: &str) -> ListenerConfig {
    ListenerConfig {
        name: name.into(),
        security_protocol: protocol,
        bind: bind.into(),
        advertised: None,
    }
}

#[test]
fn the_default_is_one_plaintext_listener_on_loopback() {
    assert_eq!(
        parsed(&[]),
        Ok(vec![listener(
            "PLAINTEXT",
            SecurityProtocol::Plaintext,
            "127.0.0.1:9092"
        )])
    );
}

#[test]
fn several_listeners_take_their_protocols_from_the_map() {
    let taken = parsed(&[
        (
            "listeners",
            "plaintext://127.0.0.1:9092, INTERNAL://:9093,sasl_plaintext://[::1]:9094,EXT://host.example:0",
        ),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,internal:sasl_plaintext,SASL_PLAINTEXT:SASL_PLAINTEXT,EXT:PLAINTEXT",
        ),
        (
            "advertised.listeners",
            "PLAINTEXT://localhost:9092,INTERNAL://broker.internal:19093",
        ),
    ])
    .unwrap();
    let mut internal = listener("INTERNAL", SecurityProtocol::SaslPlaintext, "0.0.0.0:9093");
    internal.advertised = Some(("broker.internal".into(), 19093));
    let mut plaintext = listener("PLAINTEXT", SecurityProtocol::Plaintext, "127.0.0.1:9092");
    plaintext.advertised = Some(("localhost".into(), 9092));
    assert_eq!(
        taken,
        vec![
            plaintext,
            internal,
            listener(
                "SASL_PLAINTEXT",
                SecurityProtocol::SaslPlaintext,
                "[::1]:9094"
            ),
            listener("EXT", SecurityProtocol::Plaintext, "host.example:0"),
        ]
    );
}

#[test]
fn controller_listeners_are_not_bound() {
    let taken = parsed(&[
        ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
        ("controller.listener.names", "CONTROLLER"),
        (
            "listener.security.protocol.map",
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        ),
        ("advertised.listeners", "PLAINTEXT://localhost:9092"),
    ])
    .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].name, "PLAINTEXT");
}

#[test]
fn one_port_is_shared_only_by_an_ipv4_and_an_ipv6_listener() {
    assert!(parsed(&[
        ("listeners", "PLAINTEXT://127.0.0.1:9092,SSL://[::1]:9092"),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,SSL:PLAINTEXT"
        ),
    ])
    .is_ok());
    assert!(parsed(&[(
        "listeners",
        "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"
    ),])
    .is_ok());
    let refused = parsed(&[(
        "listeners",
        "PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9092",
    )])
    .unwrap_err();
    assert!(
        refused.contains("configuration listeners: Each listener must have a different port")
            && refused.contains("PLAINTEXT and SASL_PLAINTEXT share port 9092"),
        "{refused}"
    );
}

#[test]
fn inter_broker_listener_must_be_advertised_and_named_once() {
    let two = [
        (
            "listeners",
            "PLAINTEXT://127.0.0.1:9092,INTERNAL://127.0.0.1:9093",
        ),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT",
        ),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut configs = two.to_vec();
        configs.extend_from_slice(extra);
        parsed(&configs)
    };
    assert!(with(&[("inter.broker.listener.name", "internal")]).is_ok());
    assert!(with(&[("security.inter.broker.protocol", "PLAINTEXT")]).is_ok());
    let missing = with(&[("inter.broker.listener.name", "REPLICATION")]).unwrap_err();
    assert!(
        missing.contains("configuration inter.broker.listener.name")
            && missing.contains(
                "valid options based on currently configured listeners are PLAINTEXT,INTERNAL"
            ),
        "{missing}"
    );
    let not_advertised = with(&[
        ("advertised.listeners", "PLAINTEXT://localhost:9092"),
        ("inter.broker.listener.name", "INTERNAL"),
    ])
    .unwrap_err();
    assert!(not_advertised.contains("are PLAINTEXT"), "{not_advertised}");
    let by_protocol = with(&[("security.inter.broker.protocol", "SSL")]).unwrap_err();
    assert!(
        by_protocol.contains("configuration security.inter.broker.protocol"),
        "{by_protocol}"
    );
    let both = with(&[
        ("inter.broker.listener.name", "INTERNAL"),
        ("security.inter.broker.protocol", "PLAINTEXT"),
    ])
    .unwrap_err();
    assert!(
        both.contains("Only one of inter.broker.listener.name"),
        "{both}"
    );
}

#[test]
fn bad_listener_configs_are_refused_naming_the_config() {
    for (configs, expected) in [
        (
            &[("listeners", "127.0.0.1:9092")][..],
            "configuration listeners: 127.0.0.1:9092: a listener is NAME://host:port",
        ),
        (
            &[("listeners", "PLAINTEXT://host")],
            "a port from 0 to 65535",
        ),
        (
            &[("listeners", "PLAINTEXT://host:99999")],
            "a port from 0 to 65535",
        ),
        (&[("listeners", "://host:1")], "needs a name"),
        (&[("listeners", "")], "give at least one listener"),
        (&[("listeners", "PLAINTEXT://ho st:1")], "not a host name"),
        (
            &[("listeners", "PLAINTEXT://a:1,plaintext://b:2")],
            "Each listener must have a different name; PLAINTEXT is given twice",
        ),
        (
            &[("listeners", "CLIENT://:9092")],
            "No security protocol defined for listener CLIENT",
        ),
        (
            &[("listener.security.protocol.map", "CLIENT:TLS")],
            "configuration listener.security.protocol.map: Invalid security protocol `TLS`",
        ),
        (
            &[("listener.security.protocol.map", "CLIENT")],
            "CLIENT is not LISTENER_NAME:SECURITY_PROTOCOL",
        ),
        (
            &[("advertised.listeners", "SSL://localhost:9093")],
            "configuration advertised.listeners: advertised.listeners listener names must be \
             equal to or a subset of the ones defined in listeners; SSL is not",
        ),
        (
            &[("advertised.listeners", "PLAINTEXT://0.0.0.0:9092")],
            "clients need a host name or a routable address",
        ),
        (
            &[("advertised.listeners", "PLAINTEXT://:9092")],
            "clients need a host name or a routable address",
        ),
        (
            &[
                ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
                ("controller.listener.names", "CONTROLLER"),
                ("advertised.listeners", "CONTROLLER://h:9093"),
            ],
            "CONTROLLER is a controller listener",
        ),
        (
            &[
                ("listeners", "CONTROLLER://:9093"),
                ("controller.listener.names", "CONTROLLER"),
            ],
            "at least one listener that is not a controller listener",
        ),
    ] {
        let refused = parsed(configs).unwrap_err();
        assert!(refused.contains(expected), "{configs:?}: {refused}");
    }
}

#[test]
fn a_config_given_for_one_listener_overrides_the_broker_wide_one() {
    let statics = statics(&[
        ("ssl.client.auth", "none"),
        ("listener.name.internal.ssl.client.auth", "required"),
        ("listener.name.EXTERNAL.ssl.keystore.type", "PEM"),
    ]);
    assert_eq!(
        statics.for_listener("INTERNAL", "ssl.client.auth"),
        Some(("listener.name.internal.ssl.client.auth", "required"))
    );
    assert_eq!(
        statics.for_listener("OTHER", "ssl.client.auth"),
        Some(("ssl.client.auth", "none"))
    );
    assert_eq!(
        statics.for_listener("external", "ssl.keystore.type"),
        Some(("listener.name.EXTERNAL.ssl.keystore.type", "PEM"))
    );
    assert_eq!(statics.for_listener("OTHER", "ssl.keystore.type"), None);
    assert_eq!(
        split_listener_override("listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config"),
        Some(("sasl_ssl", "scram-sha-256.sasl.jaas.config"))
    );
    assert_eq!(split_listener_override("listener.name.x"), None);
    assert_eq!(split_listener_override("listeners"), None);
}
