//! Certificates for TLS tests, made by each test (never committed keys):
//! a CA, server certificates for localhost and 127.0.0.1, and client
//! certificates with a chosen subject, written as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// A certificate authority that issues test certificates.
pub struct TestCa {
    certificate: Certificate,
    key: KeyPair,
}

/// A certificate and its key, in PEM.
pub struct Issued {
    pub certificate_pem: String,
    pub key_pem: String,
    /// The DER certificate (for reading its subject in tests).
    pub der: Vec<u8>,
}

impl Issued {
    /// Writes `<stem>.crt` and `<stem>.key`, and `<stem>.pem` holding both
    /// (the key first, as a keystore file); returns the three paths.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf, PathBuf) {
        let certificate = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        let both = dir.join(format!("{stem}.pem"));
        std::fs::write(&certificate, &self.certificate_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        std::fs::write(&both, format!("{}{}", self.key_pem, self.certificate_pem)).unwrap();
        (certificate, key, both)
    }
}

impl TestCa {
    pub fn new(common_name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        TestCa { certificate, key }
    }

    /// The CA certificate in DER.
    pub fn der(&self) -> Vec<u8> {
        self.certificate.der().to_vec()
    }

    pub fn pem(&self) -> String {
        self.certificate.pem()
    }

    /// Writes the CA certificate to `path`.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.pem()).unwrap();
    }

    /// A server certificate for localhost and 127.0.0.1.
    pub fn server(&self) -> Issued {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        self.issue(params)
    }

    /// A client certificate whose subject has these attributes, in this
    /// (encoding) order: RFC 2253 prints them last-to-first.
    pub fn client(&self, subject: &[(DnType, &str)]) -> Issued {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        for (kind, value) in subject {
            params.distinguished_name.push(kind.clone(), *value);
        }
        self.issue(params)
    }

    fn issue(&self, params: CertificateParams) -> Issued {
        let key = KeyPair::generate().unwrap();
        let certificate = params
            .signed_by(&key, &self.certificate, &self.key)
            .unwrap();
        Issued {
            certificate_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
            der: certificate.der().to_vec(),
        }
    }
}

pub use rcgen::DnType as SubjectAttribute;
