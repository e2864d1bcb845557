use std::sync::Arc;

use super::*;

fn users(entries: &[(&str, &str)]) -> Arc<PlainUsers> {
    let mut statics = StaticConfigs::default();
    for (user, password) in entries {
        let hash = PasswordHash::create(password.as_bytes(), MIN_ITERATIONS).unwrap();
        statics
            .values
            .insert(format!("{USERS_PREFIX}{user}"), hash.to_string());
    }
    Arc::new(PlainUsers::from_statics(&statics).unwrap())
}

fn login(users: &Arc<PlainUsers>, message: &[u8]) -> Result<SaslStep, SaslFailure> {
    users.server().step(message)
}

#[test]
fn a_hash_round_trips_through_its_text_and_checks_the_password() {
    let hash = PasswordHash::create(b"s3cret", MIN_ITERATIONS).unwrap();
    let text = hash.to_string();
    assert!(text.starts_with("pbkdf2-sha256$10000$"), "{text}");
    let parsed = PasswordHash::parse(&text).unwrap();
    assert_eq!(parsed, hash);
    assert!(parsed.verify(b"s3cret"));
    assert!(!parsed.verify(b"s3cret "));
    assert!(!parsed.verify(b""));
    // Two hashes of one password differ by their salt.
    assert_ne!(
        PasswordHash::create(b"s3cret", MIN_ITERATIONS).unwrap(),
        hash
    );
}

#[test]
fn malformed_hashes_are_refused_naming_the_config_but_not_the_value() {
    let good = PasswordHash::create(b"pw", MIN_ITERATIONS)
        .unwrap()
        .to_string();
    let parts: Vec<&str> = good.split('$').collect();
    let bad = [
        "plaintext-password".to_string(),
        format!("sha1${}${}${}", parts[1], parts[2], parts[3]),
        format!("pbkdf2-sha256$999${}${}", parts[2], parts[3]),
        format!("pbkdf2-sha256${}$!!${}", parts[1], parts[3]),
        format!("pbkdf2-sha256${}${}$AAAA", parts[1], parts[2]),
        format!("pbkdf2-sha256${}$AAAA${}", parts[1], parts[3]),
    ];
    for value in bad {
        let error = check_user_config("sasl.plain.users.alice", &value).unwrap_err();
        assert!(error.contains("sasl.plain.users.alice"), "{error}");
        assert!(!error.contains(&value), "{error}");
    }
    assert!(check_user_config("sasl.plain.users.", &good).is_err());
    assert!(check_user_config("sasl.plain.users.alice", &good).is_ok());
}

#[test]
fn the_right_password_authenticates_as_the_user() {
    let users = users(&[("alice", "alice-pw"), ("bob", "bob-pw")]);
    for message in [&b"\0alice\0alice-pw"[..], b"alice\0alice\0alice-pw"] {
        match login(&users, message) {
            Ok(SaslStep::Complete {
                principal,
                final_message,
                credential_expires,
            }) => {
                assert_eq!(principal.to_string(), "User:alice");
                assert!(final_message.is_empty());
                assert_eq!(credential_expires, None);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn wrong_passwords_unknown_users_and_bad_messages_fail() {
    let users = users(&[("alice", "alice-pw"), ("bob", "bob-pw")]);
    let failed = |message: &[u8]| login(&users, message).unwrap_err();
    let wrong = failed(b"\0alice\0bob-pw");
    let unknown = failed(b"\0carol\0alice-pw");
    assert_eq!(
        wrong, unknown,
        "a client cannot tell a wrong password from an unknown user"
    );
    assert_eq!(wrong.error, ResponseError::SaslAuthenticationFailed);
    assert_eq!(
        failed(b"bob\0alice\0alice-pw").message,
        "Authentication failed: Client requested an authorization id that is different from \
         username"
    );
    assert!(failed(b"\0\0pw").message.contains("username not specified"));
    assert!(failed(b"\0alice\0")
        .message
        .contains("password not specified"));
    assert!(failed(b"alice-pw")
        .message
        .contains("expected 3 tokens, got 1"));
    assert!(failed(b"\0alice\0alice-pw\0x").message.contains("got 4"));
    assert!(failed(b"\0\xff\0pw").message.contains("UTF-8"));
    // One message only.
    let mut server = users.server();
    assert!(server.step(b"\0alice\0alice-pw").is_ok());
    assert_eq!(
        server.step(b"\0alice\0alice-pw").unwrap_err().error,
        ResponseError::IllegalSaslState
    );
}

use kafka_protocol::error::ResponseError;

#[test]
fn user_configs_are_broker_wide_or_for_one_listener() {
    assert_eq!(user_config("sasl.plain.users.alice"), Some((None, "alice")));
    assert_eq!(
        user_config("listener.name.internal.sasl.plain.users.bob"),
        Some((Some("internal"), "bob"))
    );
    assert_eq!(
        user_config("listener.name.INTERNAL.PLAIN.sasl.plain.users.bob"),
        Some((Some("INTERNAL"), "bob"))
    );
    assert_eq!(
        user_config("listener.name.internal.sasl.enabled.mechanisms"),
        None
    );
    assert_eq!(
        user_config("listener.name.internal.scram-sha-256.sasl.plain.users.x"),
        None
    );
    assert_eq!(user_config("sasl.enabled.mechanisms"), None);
    let good = PasswordHash::create(b"pw", MIN_ITERATIONS)
        .unwrap()
        .to_string();
    assert!(check_user_config("listener.name.internal.sasl.plain.users.", &good).is_err());
    let error = check_user_config("listener.name.internal.sasl.plain.users.bob", "pw").unwrap_err();
    assert!(
        error.contains("listener.name.internal.sasl.plain.users.bob"),
        "{error}"
    );
    assert!(!error.contains("pw\""), "{error}");
}

#[test]
fn a_listener_with_users_of_its_own_gets_only_those() {
    let hash = |pw: &[u8]| {
        PasswordHash::create(pw, MIN_ITERATIONS)
            .unwrap()
            .to_string()
    };
    let mut statics = StaticConfigs::default();
    for (name, password) in [
        ("sasl.plain.users.alice", b"alice-pw".as_slice()),
        ("listener.name.internal.sasl.plain.users.bob", b"bob-pw"),
        (
            "listener.name.INTERNAL.plain.sasl.plain.users.carol",
            b"carol-pw",
        ),
    ] {
        statics.values.insert(name.to_string(), hash(password));
    }
    let global = Arc::new(PlainUsers::from_statics(&statics).unwrap());
    let mut per_listener = PlainUsers::per_listener(&statics).unwrap();
    assert_eq!(per_listener.keys().collect::<Vec<_>>(), ["INTERNAL"]);
    let internal = Arc::new(per_listener.remove("INTERNAL").unwrap());
    assert!(login(&global, b"\0alice\0alice-pw").is_ok());
    assert!(login(&global, b"\0bob\0bob-pw").is_err());
    assert!(login(&internal, b"\0bob\0bob-pw").is_ok());
    assert!(login(&internal, b"\0carol\0carol-pw").is_ok());
    assert!(login(&internal, b"\0alice\0alice-pw").is_err());

    // One user twice for one listener (both spellings) is refused.
    statics.values.insert(
        "listener.name.internal.plain.sasl.plain.users.bob".to_string(),
        hash(b"other"),
    );
    let error = PlainUsers::per_listener(&statics).unwrap_err();
    assert!(error.contains("configured twice"), "{error}");
}
