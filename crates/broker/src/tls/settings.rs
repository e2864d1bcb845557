//! A TLS listener's configs, by Kafka's names, each looked up first as
//! `listener.name.<listener>.<name>`: the key and certificate chain
//! (`ssl.keystore.*`), the CAs client certificates must chain to
//! (`ssl.truststore.*`), `ssl.client.auth`, the protocol versions
//! (`ssl.enabled.protocols`, `ssl.protocol`) and the principal mapping
//! rules. Only PEM is read; every refusal names the config.

use std::path::PathBuf;

use rustls::SupportedProtocolVersion;

use super::principal::PrincipalMapper;
use crate::configs::StaticConfigs;

/// The names read here (each also per listener).
pub const CONFIG_NAMES: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.truststore.password",
    "ssl.client.auth",
    "ssl.enabled.protocols",
    "ssl.protocol",
    "ssl.principal.mapping.rules",
];

/// Where PEM text comes from: a file (re-read when it changes) or the
/// config's value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemSource {
    File { config: String, path: PathBuf },
    Inline { config: String, text: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

/// The key and chain: one PEM file holding both, or two inline values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStore {
    File(PemSource),
    Inline { chain: PemSource, key: PemSource },
}

#[derive(Debug)]
pub struct TlsSettings {
    pub listener: String,
    pub keystore: KeyStore,
    pub truststore: Option<PemSource>,
    pub client_auth: ClientAuth,
    pub versions: Vec<&'static SupportedProtocolVersion>,
    pub mapper: PrincipalMapper,
}

fn refusal(name: &str, value: &str, reason: &str) -> String {
    format!("Invalid value {value} for configuration {name}: {reason}")
}

impl TlsSettings {
    pub fn from_statics(statics: &StaticConfigs, listener: &str) -> Result<Self, String> {
        let get = |name: &str| {
            statics
                .for_listener(listener, name)
                .map(|(key, value)| (key.to_string(), value.to_string()))
        };
        let keystore = keystore(listener, &get)?;
        let truststore = truststore(&get)?;
        let client_auth = match get("ssl.client.auth") {
            None => ClientAuth::None,
            Some((name, value)) => match value.trim().to_ascii_lowercase().as_str() {
                "none" | "" => ClientAuth::None,
                "requested" => ClientAuth::Requested,
                "required" => ClientAuth::Required,
                _ => {
                    return Err(refusal(
                        &name,
                        &value,
                        "ssl.client.auth is one of none, requested, required",
                    ))
                }
            },
        };
        if client_auth != ClientAuth::None && truststore.is_none() {
            return Err(format!(
                "listener {listener} asks for client certificates (ssl.client.auth) but names \
                 no CA to verify them: set ssl.truststore.location (a PEM file of CA \
                 certificates) or ssl.truststore.certificates"
            ));
        }
        let mapper = match get("ssl.principal.mapping.rules") {
            None => PrincipalMapper::default(),
            Some((name, value)) => PrincipalMapper::parse(&name, &value)?,
        };
        Ok(TlsSettings {
            listener: listener.to_string(),
            keystore,
            truststore,
            client_auth,
            versions: versions(&get)?,
            mapper,
        })
    }
}

type Lookup<'a> = dyn Fn(&str) -> Option<(String, String)> + 'a;

fn pem_only(get: &Lookup<'_>, type_name: &str, password_name: &str) -> Result<(), String> {
    if let Some((name, value)) = get(type_name) {
        if !value.trim().eq_ignore_ascii_case("PEM") {
            return Err(refusal(
                &name,
                &value,
                "Fjord reads PEM key and trust stores only: set it to PEM and give PEM files",
            ));
        }
    }
    if let Some((name, _)) = get(password_name) {
        return Err(format!(
            "Invalid value [hidden] for configuration {name}: a store password cannot be \
             given for PEM stores"
        ));
    }
    Ok(())
}

fn keystore(listener: &str, get: &Lookup<'_>) -> Result<KeyStore, String> {
    pem_only(get, "ssl.keystore.type", "ssl.keystore.password")?;
    if let Some((name, _)) = get("ssl.key.password") {
        return Err(format!(
            "Invalid value [hidden] for configuration {name}: Fjord does not read encrypted \
             private keys; give the key unencrypted (PKCS#8, e.g. `openssl pkcs8 -topk8 \
             -nocrypt`) in a file only the broker can read"
        ));
    }
    let location = get("ssl.keystore.location");
    let chain = get("ssl.keystore.certificate.chain");
    let key = get("ssl.keystore.key");
    match (location, chain, key) {
        (Some((config, path)), None, None) => Ok(KeyStore::File(PemSource::File {
            config,
            path: PathBuf::from(path.trim()),
        })),
        (None, Some((chain_name, chain)), Some((key_name, key))) => Ok(KeyStore::Inline {
            chain: PemSource::Inline {
                config: chain_name,
                text: chain,
            },
            key: PemSource::Inline {
                config: key_name,
                text: key,
            },
        }),
        (Some((config, _)), _, _) => Err(format!(
            "listener {listener}: {config} and ssl.keystore.certificate.chain / \
             ssl.keystore.key both give the key and certificate; set only one of them"
        )),
        (None, None, None) => Err(format!(
            "listener {listener} serves TLS and needs a key and certificate: set \
             ssl.keystore.location (a PEM file holding the private key and the certificate \
             chain), or ssl.keystore.certificate.chain and ssl.keystore.key (or their \
             listener.name.{}. forms)",
            listener.to_ascii_lowercase()
        )),
        (None, _, _) => Err(format!(
            "listener {listener}: ssl.keystore.certificate.chain and ssl.keystore.key are \
             given together or not at all"
        )),
    }
}

fn truststore(get: &Lookup<'_>) -> Result<Option<PemSource>, String> {
    pem_only(get, "ssl.truststore.type", "ssl.truststore.password")?;
    match (
        get("ssl.truststore.location"),
        get("ssl.truststore.certificates"),
    ) {
        (Some((config, path)), None) => Ok(Some(PemSource::File {
            config,
            path: PathBuf::from(path.trim()),
        })),
        (None, Some((config, text))) => Ok(Some(PemSource::Inline { config, text })),
        (None, None) => Ok(None),
        (Some((config, _)), Some((other, _))) => Err(format!(
            "{config} and {other} both give the trusted certificates; set only one of them"
        )),
    }
}

/// `ssl.enabled.protocols` (default both), capped by `ssl.protocol`: a
/// context made for TLSv1.2 does not speak TLSv1.3, as in Java.
fn versions(get: &Lookup<'_>) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    const BOTH: &str = "TLSv1.2,TLSv1.3";
    let (name, value) = get("ssl.enabled.protocols")
        .unwrap_or_else(|| ("ssl.enabled.protocols".to_string(), BOTH.to_string()));
    let mut tls12 = false;
    let mut tls13 = false;
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match item {
            "TLSv1.2" => tls12 = true,
            "TLSv1.3" => tls13 = true,
            _ => {
                return Err(refusal(
                    &name,
                    &value,
                    &format!("{item} is not served: Fjord speaks TLSv1.2 and TLSv1.3"),
                ))
            }
        }
    }
    if let Some((protocol_name, protocol)) = get("ssl.protocol") {
        match protocol.trim() {
            "TLSv1.3" | "TLS" => {}
            "TLSv1.2" => tls13 = false,
            other => {
                return Err(refusal(
                    &protocol_name,
                    &protocol,
                    &format!("{other} is not served: use TLSv1.3 (the default) or TLSv1.2"),
                ))
            }
        }
    }
    let mut versions = Vec::new();
    if tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if tls12 {
        versions.push(&rustls::version::TLS12);
    }
    if versions.is_empty() {
        return Err(refusal(
            &name,
            &value,
            "no protocol version is left to serve (with ssl.protocol)",
        ));
    }
    Ok(versions)
}
