use super::*;
use crate::config::BrokerConfig;

fn resolved(configs: &[(&str, &str)]) -> Result<(BrokerConfig, SaslMechanisms), String> {
    resolved_with(configs, false)
}

fn resolved_with(
    configs: &[(&str, &str)],
    oauth: bool,
) -> Result<(BrokerConfig, SaslMechanisms), String> {
    let mut config = BrokerConfig::default();
    for (name, value) in configs {
        config = config.with(name, value);
    }
    config.resolve().map_err(|e| e.0)?;
    let oauth = oauth.then(|| {
        Arc::new(OAuthBearerValidator::new(
            super::super::jwt::Verification::Unsecured,
            Default::default(),
        ))
    });
    let mechanisms = SaslMechanisms::from_statics(&config.statics, &config.listeners, oauth)?;
    Ok((config, mechanisms))
}

const LISTENERS: (&str, &str) = (
    "listeners",
    "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:1,SECOND://127.0.0.1:2",
);
const MAP: (&str, &str) = (
    "listener.security.protocol.map",
    "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SECOND:SASL_PLAINTEXT",
);

#[test]
fn plain_is_enabled_by_default_and_listeners_override_the_list() {
    let (_, m) = resolved(&[LISTENERS, MAP]).unwrap();
    assert_eq!(m.enabled("sasl_plaintext"), ["PLAIN"]);
    assert!(m.enabled("PLAINTEXT").is_empty());
    assert!(m.server("SASL_PLAINTEXT", "PLAIN").is_some());
    assert!(m.server("SASL_PLAINTEXT", "OAUTHBEARER").is_none());
    assert!(m.server("SASL_PLAINTEXT", "GSSAPI").is_none());
    assert_eq!(m.failed_authentication_delay, Duration::from_millis(100));

    let (_, m) = resolved_with(
        &[
            LISTENERS,
            MAP,
            ("sasl.enabled.mechanisms", "PLAIN"),
            (
                "listener.name.second.sasl.enabled.mechanisms",
                "OAUTHBEARER,PLAIN",
            ),
            ("connection.failed.authentication.delay.ms", "7"),
        ],
        true,
    )
    .unwrap();
    assert_eq!(m.enabled("SASL_PLAINTEXT"), ["PLAIN"]);
    assert_eq!(m.enabled("SECOND"), ["OAUTHBEARER", "PLAIN"]);
    assert!(m.server("SECOND", "OAUTHBEARER").is_some());
    assert_eq!(m.failed_authentication_delay, Duration::from_millis(7));
}

#[test]
fn reauth_is_read_per_listener_and_mechanism_as_kafka_reads_it() {
    let (_, m) = resolved(&[
        LISTENERS,
        MAP,
        ("listener.name.second.sasl.enabled.mechanisms", "PLAIN"),
        ("connections.max.reauth.ms", "1000"),
        ("listener.name.second.connections.max.reauth.ms", "2000"),
        (
            "listener.name.sasl_plaintext.plain.connections.max.reauth.ms",
            "3000",
        ),
    ])
    .unwrap();
    assert_eq!(m.max_reauth_ms("SASL_PLAINTEXT", "PLAIN"), 3000);
    assert_eq!(m.max_reauth_ms("SECOND", "PLAIN"), 2000);
    let (_, m) = resolved(&[LISTENERS, MAP]).unwrap();
    assert_eq!(m.max_reauth_ms("SASL_PLAINTEXT", "PLAIN"), 0);
}

#[test]
fn mechanisms_fjord_cannot_serve_are_refused_at_start_up() {
    let error = resolved(&[LISTENERS, MAP, ("sasl.enabled.mechanisms", "GSSAPI")]).unwrap_err();
    assert!(error.contains("sasl.enabled.mechanisms"), "{error}");
    let error =
        resolved(&[LISTENERS, MAP, ("sasl.enabled.mechanisms", "OAUTHBEARER")]).unwrap_err();
    assert!(error.contains("OAUTHBEARER needs"), "{error}");
}

#[test]
fn the_failure_delay_must_be_shorter_than_the_idle_limit() {
    let error = resolved(&[
        ("connection.failed.authentication.delay.ms", "5000"),
        ("connections.max.idle.ms", "5000"),
    ])
    .unwrap_err();
    assert!(
        error.starts_with(
            "connection.failed.authentication.delay.ms=5000 should always be less than \
             connections.max.idle.ms=5000"
        ),
        "{error}"
    );
    assert!(resolved(&[
        ("connections.max.idle.ms", "5001"),
        ("connection.failed.authentication.delay.ms", "5000")
    ])
    .is_ok());
}
