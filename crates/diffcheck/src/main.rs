//! The differential check: the same scripted requests (every API and
//! version both brokers serve, with the error cases clients meet) sent to
//! Fjord and to Apache Kafka, answers compared field by field after masking
//! what must differ between two brokers. A difference is either fixed or
//! listed, with the reason it is kept, in the known-differences file.
//!
//!   scripts/diffcheck                  # starts both brokers, runs this
//!   diffcheck --fjord HOST:PORT --kafka HOST:PORT [--known FILE]

mod connection;
mod normalize;
mod script;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Parser;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use connection::{Answer, Connection};
use script::{Script, Versions};

#[derive(Parser)]
struct Args {
    /// Fjord's bootstrap address.
    #[arg(long)]
    fjord: String,
    /// Apache Kafka's bootstrap address.
    #[arg(long)]
    kafka: String,
    /// Steps whose differences are known and kept: one step-name prefix per
    /// line, then `#` and the reason.
    #[arg(long)]
    known: Option<PathBuf>,
    /// Print every difference in full, known ones included.
    #[arg(long)]
    verbose: bool,
    /// Print both brokers' whole answers for steps whose name starts with this.
    #[arg(long)]
    show: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let known = match &args.known {
        Some(path) => read_known(path)?,
        None => Vec::new(),
    };
    let fjord_versions = advertised(&args.fjord).await?;
    let kafka_versions = advertised(&args.kafka).await?;
    let mut versions = Versions::new();
    for (key, &(fmin, fmax)) in &fjord_versions {
        match kafka_versions.get(key) {
            Some(&(kmin, kmax)) if kmin.max(fmin) <= kmax.min(fmax) => {
                versions.insert(*key, (kmin.max(fmin), kmax.min(fmax)));
                if (kmin, kmax) != (fmin, fmax) {
                    println!(
                        "note: {:?} versions: fjord {fmin}..={fmax}, kafka {kmin}..={kmax}; comparing the overlap",
                        ApiKey::try_from(*key).ok()
                    );
                }
            }
            _ => println!("note: api key {key} is served by fjord only"),
        }
    }

    let mut fjord = Script::new(Connection::new(&args.fjord), versions.clone());
    fjord.run().await.context("script against fjord")?;
    let mut kafka = Script::new(Connection::new(&args.kafka), versions);
    kafka.run().await.context("script against kafka")?;

    let kafka_outcomes: BTreeMap<&str, &Vec<String>> = kafka
        .outcomes
        .iter()
        .map(|(n, l)| (n.as_str(), l))
        .collect();
    let (mut same, mut kept, mut new) = (0, 0, Vec::new());
    for (name, fjord_lines) in &fjord.outcomes {
        let Some(kafka_lines) = kafka_outcomes.get(name.as_str()) else {
            new.push(name.clone());
            println!("DIFF {name}: not sent to kafka");
            continue;
        };
        if args.show.as_deref().is_some_and(|p| name.starts_with(p)) {
            println!(
                "== {name}\n-- fjord\n{}\n-- kafka\n{}",
                fjord_lines.join("\n"),
                kafka_lines.join("\n")
            );
        }
        if fjord_lines == *kafka_lines {
            same += 1;
            continue;
        }
        let reason = known
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix.as_str()));
        match reason {
            Some((_, why)) => {
                kept += 1;
                println!("kept {name}: {why}");
                if args.verbose {
                    print_diff(fjord_lines, kafka_lines);
                }
            }
            None => {
                println!("DIFF {name}");
                print_diff(fjord_lines, kafka_lines);
                new.push(name.clone());
            }
        }
    }
    println!(
        "diffcheck: {} steps, {same} identical, {kept} known differences, {} new differences",
        fjord.outcomes.len(),
        new.len()
    );
    if !new.is_empty() {
        println!(
            "{} differences from Kafka are neither fixed nor listed",
            new.len()
        );
        std::process::exit(1);
    }
    Ok(())
}

/// The API versions a broker advertises, by key.
async fn advertised(address: &str) -> anyhow::Result<Versions> {
    let mut connection = Connection::new(address);
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("fjord-diffcheck"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    match connection
        .send(ApiKey::ApiVersions, 3, &request.into())
        .await?
    {
        Answer::Response(ResponseKind::ApiVersions(response)) => Ok(response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect()),
        _ => bail!("{address} did not answer ApiVersions v3"),
    }
}

fn read_known(path: &PathBuf) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| match l.split_once('#') {
            Some((prefix, why)) => (prefix.trim().to_string(), why.trim().to_string()),
            None => (l.trim().to_string(), String::new()),
        })
        .collect())
}

/// The lines that differ (a longest-common-subsequence diff), fjord as `-`
/// and kafka as `+`.
fn print_diff(fjord: &[String], kafka: &[String]) {
    let (n, m) = (fjord.len(), kafka.len());
    let mut common = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[i][j] = if fjord[i] == kafka[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut shown) = (0, 0, 0);
    while (i < n || j < m) && shown < 24 {
        if i < n && j < m && fjord[i] == kafka[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || common[i][j + 1] >= common[i + 1][j]) {
            println!("    + {}", kafka[j]);
            j += 1;
            shown += 1;
        } else {
            println!("    - {}", fjord[i]);
            i += 1;
            shown += 1;
        }
    }
    if shown >= 24 {
        println!("    ... ({n} and {m} lines in all)");
    }
}
