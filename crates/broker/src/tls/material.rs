//! Reading the PEM key, chain and CAs of a listener and building its
//! rustls configuration; the files' stamps tell the reloader when to read
//! them again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::settings::{ClientAuth, KeyStore, PemSource, TlsSettings};

/// What a file looked like when read: a change to any of these (a rewrite,
/// a rename over it) means reading it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    path: PathBuf,
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(path: &PathBuf) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        Ok(Stamp {
            path: path.clone(),
            modified: meta.modified().ok(),
            len: meta.len(),
            inode: meta.ino(),
        })
    }
}

/// The stamps of every file `settings` reads; an unreadable file has none
/// (and will count as changed once it is back).
pub fn stamps(settings: &TlsSettings) -> Vec<Option<Stamp>> {
    files(settings)
        .into_iter()
        .map(|path| Stamp::of(&path).ok())
        .collect()
}

fn files(settings: &TlsSettings) -> Vec<PathBuf> {
    let mut sources: Vec<&PemSource> = match &settings.keystore {
        KeyStore::File(source) => vec![source],
        KeyStore::Inline { chain, key } => vec![chain, key],
    };
    sources.extend(settings.truststore.iter());
    sources
        .into_iter()
        .filter_map(|source| match source {
            PemSource::File { path, .. } => Some(path.clone()),
            PemSource::Inline { .. } => None,
        })
        .collect()
}

/// The PEM text of a source; Err names the config.
fn pem_text(source: &PemSource) -> Result<(String, Vec<u8>), String> {
    match source {
        PemSource::File { config, path } => std::fs::read(path)
            .map(|bytes| (config.clone(), bytes))
            .map_err(|e| {
                format!(
                    "configuration {config}: cannot read {}: {e}",
                    path.display()
                )
            }),
        PemSource::Inline { config, text } => {
            Ok((config.clone(), normalise_pem(text).into_bytes()))
        }
    }
}

/// Inline PEM in a properties file is often on one line, the markers and
/// the base64 separated by spaces, as Kafka's parser allows: put each
/// marker and the base64 body on lines of their own.
fn normalise_pem(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(start) = rest.find("-----") {
        let body = &rest[..start];
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        if !compact.is_empty() {
            out.push_str(&compact);
            out.push('\n');
        }
        let after = &rest[start + 5..];
        let Some(end) = after.find("-----") else {
            out.push_str(&rest[start..]);
            return out;
        };
        out.push_str(&rest[start..start + 5 + end + 5]);
        out.push('\n');
        rest = &after[end + 5..];
    }
    out
}

fn certificates(config: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("configuration {config}: bad PEM certificate: {e}"))?;
    if certificates.is_empty() {
        return Err(format!(
            "configuration {config}: no PEM certificate (-----BEGIN CERTIFICATE-----) found"
        ));
    }
    Ok(certificates)
}

fn private_key(config: &str, pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    if pem
        .windows(b"ENCRYPTED PRIVATE KEY".len())
        .any(|w| w == b"ENCRYPTED PRIVATE KEY")
    {
        return Err(format!(
            "configuration {config}: the private key is encrypted; Fjord reads unencrypted \
             PKCS#8, PKCS#1 or SEC1 keys only (`openssl pkcs8 -topk8 -nocrypt`)"
        ));
    }
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| format!("configuration {config}: no usable PEM private key found ({e})"))
}

/// The rustls configuration `settings` describe, from the files as they
/// are now.
pub fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, String> {
    let (chain, key, key_config) = match &settings.keystore {
        KeyStore::File(source) => {
            let (config, pem) = pem_text(source)?;
            (
                certificates(&config, &pem)?,
                private_key(&config, &pem)?,
                config,
            )
        }
        KeyStore::Inline { chain, key } => {
            let (chain_config, chain_pem) = pem_text(chain)?;
            let (key_config, key_pem) = pem_text(key)?;
            (
                certificates(&chain_config, &chain_pem)?,
                private_key(&key_config, &key_pem)?,
                key_config,
            )
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&settings.versions)
        .map_err(|e| format!("listener {}: {e}", settings.listener))?;
    let builder = match (settings.client_auth, &settings.truststore) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(trusted)) => {
            let (config, pem) = pem_text(trusted)?;
            let mut roots = RootCertStore::empty();
            for certificate in certificates(&config, &pem)? {
                roots
                    .add(certificate)
                    .map_err(|e| format!("configuration {config}: unusable CA certificate: {e}"))?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let verifier = if auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| format!("configuration {config}: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(chain, key).map_err(|e| {
        format!("configuration {key_config}: the key and certificate chain are not usable: {e}")
    })?;
    Ok(Arc::new(config))
}
