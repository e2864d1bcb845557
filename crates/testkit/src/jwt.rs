//! JSON Web Tokens for OAUTHBEARER tests: signing keys generated on the
//! spot (RSA for RS256, P-256 for ES256; no key is ever committed), the
//! JWKS that publishes them, and tokens signed with them or unsigned.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rsa::pkcs1v15::SigningKey;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

/// A signing key with its key id.
pub enum TestKey {
    Rsa {
        kid: String,
        key: Box<SigningKey<Sha256>>,
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ec {
        kid: String,
        key: Box<EcdsaKeyPair>,
    },
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestKey {
    /// A new 2048-bit RSA key, for RS256.
    pub fn rsa(kid: &str) -> TestKey {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .expect("an RSA key is generated");
        let public = private.to_public_key();
        TestKey::Rsa {
            kid: kid.to_owned(),
            n: public.n().to_bytes_be(),
            e: public.e().to_bytes_be(),
            key: Box::new(SigningKey::<Sha256>::new(private)),
        }
    }

    /// A new P-256 key, for ES256.
    pub fn ec(kid: &str) -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("an EC key is generated");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("the generated EC key reads back");
        TestKey::Ec {
            kid: kid.to_owned(),
            key: Box::new(key),
        }
    }

    pub fn kid(&self) -> &str {
        match self {
            TestKey::Rsa { kid, .. } | TestKey::Ec { kid, .. } => kid,
        }
    }

    pub fn alg(&self) -> &'static str {
        match self {
            TestKey::Rsa { .. } => "RS256",
            TestKey::Ec { .. } => "ES256",
        }
    }

    /// The public key as a JWK (RFC 7517).
    pub fn jwk(&self) -> Value {
        match self {
            TestKey::Rsa { kid, n, e, .. } => json!({
                "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": b64(n), "e": b64(e),
            }),
            TestKey::Ec { kid, key } => {
                // The uncompressed point: 0x04, x, y.
                let point = key.public_key().as_ref();
                json!({
                    "kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
                    "x": b64(&point[1..33]), "y": b64(&point[33..65]),
                })
            }
        }
    }

    /// A token with these claims, signed with this key and naming its kid.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": self.alg(), "typ": "JWT", "kid": self.kid()}),
            claims,
        )
    }

    /// A token with this header and these claims, signed with this key
    /// whatever the header says.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let signed = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = match self {
            TestKey::Rsa { key, .. } => key.sign(signed.as_bytes()).to_vec(),
            TestKey::Ec { key, .. } => key
                .sign(&SystemRandom::new(), signed.as_bytes())
                .expect("ES256 signs")
                .as_ref()
                .to_vec(),
        };
        format!("{signed}.{}", b64(&signature))
    }
}

/// A JWKS publishing these keys.
pub fn jwks(keys: &[&TestKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }).to_string()
}

/// An unsigned token (`alg: none`), as Kafka's unsecured login module makes.
pub fn unsecured(claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64(json!({"alg": "none"}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// Seconds since the epoch, as JWT dates are written.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Claims good for an hour from now for `sub`, with this issuer and audience.
pub fn claims(sub: &str, iss: &str, aud: &str) -> Value {
    let now = now_s();
    json!({"sub": sub, "iss": iss, "aud": aud, "iat": now, "exp": now + 3600, "scope": "kafka"})
}
