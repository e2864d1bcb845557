//! `fjord user` on a data dir, then the real binary serving what it stored:
//! DescribeUserScramCredentials lists the users, AlterUserScramCredentials
//! changes them, and a restart keeps the change.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use bytes::Bytes;
use common::raw::{connect, read_frame};
use common::BinaryBroker;
use fjord_testkit::frames;
use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialDeletion;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::AsyncWriteExt;

const SHA256: i8 = 1;
const SHA512: i8 = 2;

/// Runs `fjord user ARGS --data-dir DIR` with `stdin` as its input; returns
/// (success, stdout, stderr).
fn fjord_user(dir: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fjord"))
        .arg("user")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fjord user");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
        .expect("write the password");
    let out = child.wait_with_output().expect("fjord user finishes");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One request on a fresh connection; the decoded answer.
async fn ask<R: Decodable>(broker: &BinaryBroker, key: ApiKey, body: &impl Encodable) -> R {
    let mut stream = connect(broker.bootstrap.parse().expect("bootstrap address")).await;
    stream
        .write_all(&frames::request(key, 0, 7, body))
        .await
        .expect("send");
    let mut answer: Bytes = read_frame(&mut stream).await;
    let header = ResponseHeader::decode(&mut answer, key.response_header_version(0))
        .expect("response header");
    assert_eq!(header.correlation_id, 7);
    R::decode(&mut answer, 0).expect("response body")
}

async fn described(broker: &BinaryBroker) -> Vec<(String, i16, Vec<(i8, i32)>)> {
    let response: DescribeUserScramCredentialsResponse = ask(
        broker,
        ApiKey::DescribeUserScramCredentials,
        &DescribeUserScramCredentialsRequest::default(),
    )
    .await;
    assert_eq!(response.error_code, 0);
    response
        .results
        .into_iter()
        .map(|r| {
            let infos = r
                .credential_infos
                .iter()
                .map(|c| (c.mechanism, c.iterations))
                .collect();
            (r.user.to_string(), r.error_code, infos)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn users_added_offline_are_served_and_changes_survive_a_restart() {
    if common::skipped_for_external("starts the fjord binary on its own data dir") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let added = fjord_user(
        dir.path(),
        &[
            "add",
            "alice",
            "--mechanism",
            "SCRAM-SHA-512",
            "--iterations",
            "8192",
        ],
        "alice-secret\n",
    );
    assert!(added.0, "{added:?}");
    let added = fjord_user(
        dir.path(),
        &["add", "bob", "--mechanism", "SCRAM-SHA-256"],
        "pw\n",
    );
    assert!(added.0, "{added:?}");
    // Refused: too few iterations, an unknown mechanism, no password.
    for (args, stdin, why) in [
        (
            &["add", "carol", "--iterations", "1000"][..],
            "pw\n",
            "Too few iterations",
        ),
        (
            &["add", "carol", "--mechanism", "SCRAM-SHA-1"][..],
            "pw\n",
            "unknown SCRAM mechanism",
        ),
        (&["add", "carol"][..], "\n", "password must not be empty"),
    ] {
        let (ok, _, stderr) = fjord_user(dir.path(), args, stdin);
        assert!(!ok && stderr.contains(why), "{args:?}: {stderr}");
    }
    let (ok, listed, _) = fjord_user(dir.path(), &["list"], "");
    assert!(ok);
    assert_eq!(
        listed,
        "alice\tSCRAM-SHA-512\t8192\nbob\tSCRAM-SHA-256\t4096\n"
    );
    let file = std::fs::read_to_string(dir.path().join("fjord-scram-credentials.json")).unwrap();
    assert!(!file.contains("alice-secret"), "no password stored: {file}");

    let broker = BinaryBroker::start(dir.path(), &[]);
    assert_eq!(
        described(&broker).await,
        [
            ("alice".to_string(), 0, vec![(SHA512, 8192)]),
            ("bob".to_string(), 0, vec![(SHA256, 4096)]),
        ]
    );
    let deletion = AlterUserScramCredentialsRequest::default().with_deletions(vec![
        ScramCredentialDeletion::default()
            .with_name(StrBytes::from_static_str("bob"))
            .with_mechanism(SHA256),
    ]);
    let altered: AlterUserScramCredentialsResponse =
        ask(&broker, ApiKey::AlterUserScramCredentials, &deletion).await;
    let results: Vec<(String, i16)> = altered
        .results
        .iter()
        .map(|r| (r.user.to_string(), r.error_code))
        .collect();
    assert_eq!(results, [("bob".to_string(), 0)]);
    // While the broker holds the data dir, offline changes are refused (the
    // broker would overwrite them), and listing still works.
    for args in [&["add", "carol"][..], &["remove", "alice"][..]] {
        let (ok, _, stderr) = fjord_user(dir.path(), args, "pw\n");
        assert!(
            !ok && stderr.contains(".lock") && stderr.contains("AlterUserScramCredentials"),
            "{args:?}: {stderr}"
        );
    }
    let (ok, listed, _) = fjord_user(dir.path(), &["list"], "");
    assert!(ok);
    assert_eq!(listed, "alice\tSCRAM-SHA-512\t8192\n");
    broker.terminate();

    let broker = BinaryBroker::start(dir.path(), &[]);
    assert_eq!(
        described(&broker).await,
        [("alice".to_string(), 0, vec![(SHA512, 8192)])]
    );
    broker.terminate();
    let (ok, listed, _) = fjord_user(dir.path(), &["list"], "");
    assert!(ok);
    assert_eq!(listed, "alice\tSCRAM-SHA-512\t8192\n");
    let removed = fjord_user(dir.path(), &["remove", "alice"], "");
    assert!(removed.0, "{removed:?}");
    let (_, listed, _) = fjord_user(dir.path(), &["list"], "");
    assert_eq!(listed, "");
    let (ok, _, stderr) = fjord_user(dir.path(), &["remove", "alice"], "");
    assert!(!ok && stderr.contains("no SCRAM user alice"), "{stderr}");
}
