//! Workload 13's TLS: a throwaway CA and a server certificate for
//! 127.0.0.1 made at start (rcgen) in the bench's temp dir, the broker's SSL
//! listener settings, and librdkafka's client settings for it.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair};

/// PEM files for an SSL listener: the broker's keystore (key, then
/// certificate) and the CA a client trusts.
#[derive(Clone)]
pub struct TlsFiles {
    pub keystore: PathBuf,
    pub ca: PathBuf,
}

impl TlsFiles {
    /// Makes a CA and a server certificate for 127.0.0.1 and localhost,
    /// written into `dir`.
    pub fn generate(dir: &Path) -> anyhow::Result<TlsFiles> {
        std::fs::create_dir_all(dir)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name = DistinguishedName::new();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "fjord bench CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate()?;
        let ca = ca_params.self_signed(&ca_key)?;

        let mut server_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
        server_params.distinguished_name = DistinguishedName::new();
        server_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server_key = KeyPair::generate()?;
        let server = server_params.signed_by(&server_key, &ca, &ca_key)?;

        let files = TlsFiles {
            keystore: dir.join("server.pem"),
            ca: dir.join("ca.crt"),
        };
        std::fs::write(
            &files.keystore,
            format!("{}{}", server_key.serialize_pem(), server.pem()),
        )?;
        std::fs::write(&files.ca, ca.pem())?;
        Ok(files)
    }

    /// librdkafka's settings for the SSL listener.
    pub fn client_settings(&self) -> Vec<(String, String)> {
        vec![
            ("security.protocol".to_string(), "ssl".to_string()),
            ("ssl.ca.location".to_string(), self.ca.display().to_string()),
        ]
    }
}

/// `(name, value)` pairs borrowed for the client builders.
pub fn borrowed(settings: &[(String, String)]) -> Vec<(&str, &str)> {
    settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}
