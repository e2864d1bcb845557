use super::*;

fn mapped(rules: &str, subject: &str) -> Result<String, String> {
    PrincipalMapper::parse(NAME, rules)?.map(subject)
}

#[test]
fn default_is_the_whole_subject() {
    let subject = "CN=alice,OU=eng,O=Acme\\, Inc.,C=GB";
    assert_eq!(mapped("DEFAULT", subject).unwrap(), subject);
    assert_eq!(PrincipalMapper::default().map(subject).unwrap(), subject);
}

#[test]
fn a_rule_replaces_and_changes_case() {
    let subject = "CN=Alice,OU=ServiceUsers,O=Acme,C=GB";
    let rule = "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/";
    assert_eq!(mapped(rule, subject).unwrap(), "Alice");
    assert_eq!(mapped(&format!("{rule}L"), subject).unwrap(), "alice");
    assert_eq!(mapped(&format!("{rule}U"), subject).unwrap(), "ALICE");
    // Kafka's documented example: two groups and literal text.
    assert_eq!(
        mapped("RULE:^CN=(.*?),OU=(.*?),O=(.*?),C=(.*?)$/$1@$2/L", subject).unwrap(),
        "alice@serviceusers"
    );
}

#[test]
fn the_first_rule_that_matches_the_whole_subject_wins() {
    let rules =
        "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,\n RULE:^CN=(.*?),OU=(.*?),.*$/$2-$1/U, DEFAULT";
    assert_eq!(
        mapped(rules, "CN=svc,OU=ServiceUsers,O=Acme").unwrap(),
        "svc"
    );
    assert_eq!(
        mapped(rules, "CN=bob,OU=People,O=Acme").unwrap(),
        "PEOPLE-BOB"
    );
    // Neither RULE matches (no OU): DEFAULT does.
    assert_eq!(mapped(rules, "CN=carol,O=Acme").unwrap(), "CN=carol,O=Acme");
    // A pattern matching only part of the subject does not apply.
    assert_eq!(
        mapped("RULE:CN=(.*?),/$1/, DEFAULT", "CN=dave,O=Acme").unwrap(),
        "CN=dave,O=Acme"
    );
}

#[test]
fn no_rule_matching_refuses_the_client() {
    let refused = mapped("RULE:^CN=(.*),OU=Admins$/$1/", "CN=eve,OU=Guests").unwrap_err();
    assert!(
        refused.contains("subject CN=eve,OU=Guests (rules: RULE:^CN=(.*),OU=Admins$/…/)"),
        "{refused}"
    );
}

#[test]
fn replacement_is_java_replace_all() {
    // `.*` matches the whole subject and then the empty end: twice.
    assert_eq!(mapped("RULE:.*/x/", "CN=a").unwrap(), "xx");
    // Escaped slashes (an unescaped one ends the pattern, even in a
    // class, as in Kafka), an escaped dollar, and a named group in Java's
    // syntax.
    assert_eq!(
        mapped(
            r"RULE:^CN=(?<user>[^,\/]+)\/x,.*$/${user}\$\//",
            "CN=ann/x,O=o"
        )
        .unwrap(),
        "ann$/"
    );
    // $12 with one group is group 1 then the text 2, as in Java.
    assert_eq!(mapped("RULE:^CN=(.*)$/$12/", "CN=z").unwrap(), "z2");
}

#[test]
fn bad_rules_are_refused_naming_the_config() {
    for rules in [
        "",
        "NOPE",
        "RULE:^CN=(.*)$",
        "RULE:^CN=(.*)$/$1",
        "RULE:^CN=((.*)$/$1/",
        "RULE:^CN=(.*)$/$2/",
        "RULE:^CN=(.*)$/$x/",
        "DEFAULT, RULE:x",
    ] {
        let refused = PrincipalMapper::parse(NAME, rules).unwrap_err();
        assert!(
            refused.contains("configuration ssl.principal.mapping.rules"),
            "{rules}: {refused}"
        );
    }
}
