//! JSON Web Tokens as Kafka's broker validates OAUTHBEARER tokens
//! (`BrokerJwtValidator` over jose4j): a signed JWS checked against the keys
//! of a JWKS, then its claims: `exp` and `iat` required, `nbf` when present,
//! each with the configured clock skew; the issuer and audience when they
//! are configured; the subject claim (`sub` unless configured otherwise)
//! required and not blank. Kafka's unsecured validator
//! (`OAuthBearerUnsecuredValidatorCallbackHandler`), for tests and
//! development, takes `alg: none` tokens instead; it is a separate
//! [`Verification`] so that neither mode can accept what the other does.
//!
//! Nothing here logs or returns a token's text: errors name what failed.

use std::collections::HashSet;

use base64::alphabet;
use base64::engine::general_purpose::GeneralPurposeConfig;
use base64::engine::{DecodePaddingMode, Engine, GeneralPurpose};
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

/// Base64url as JWS and JWK use it; padding is tolerated, since some key
/// tools write it.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a token was refused. The client only ever sees
/// `{"status":"invalid_token"}`; this is for the broker's debug log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("the signing algorithm {0:?} is not accepted")]
    Algorithm(String),
    #[error("no key in the JWKS matches the token's kid {kid:?} and algorithm {alg}")]
    UnknownKey { kid: Option<String>, alg: String },
    #[error("the signature does not verify")]
    Signature,
    #[error("the '{0}' claim is missing or not of its type")]
    Claim(String),
    #[error("the token expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
    #[error("the token was issued after it expires")]
    IssuedAfterExpiry,
    #[error("the issuer is not the expected one")]
    Issuer,
    #[error("no audience of the token is an expected one")]
    Audience,
}

/// Why a JWKS could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("not a JSON Web Key Set: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a JSON Web Key Set: it has no \"keys\" array")]
    NoKeys,
    #[error("the key set holds no signature key Fjord can use (RSA, or EC on P-256 or P-384)")]
    NoUsableKey,
}

/// The JWS algorithms accepted (RFC 7518), each with the key it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
}

impl Algorithm {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Algorithm::Rs256,
            "RS384" => Algorithm::Rs384,
            "RS512" => Algorithm::Rs512,
            "PS256" => Algorithm::Ps256,
            "PS384" => Algorithm::Ps384,
            "PS512" => Algorithm::Ps512,
            "ES256" => Algorithm::Es256,
            "ES384" => Algorithm::Es384,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
        }
    }

    /// Whether `key` is of the type and curve this algorithm signs with.
    fn fits(self, key: &PublicKey) -> bool {
        match (self, key) {
            (Algorithm::Es256, PublicKey::Ec { curve, .. }) => *curve == Curve::P256,
            (Algorithm::Es384, PublicKey::Ec { curve, .. }) => *curve == Curve::P384,
            (Algorithm::Es256 | Algorithm::Es384, PublicKey::Rsa { .. }) => false,
            (_, PublicKey::Rsa { .. }) => true,
            (_, PublicKey::Ec { .. }) => false,
        }
    }

    fn verify(self, key: &PublicKey, message: &[u8], sig: &[u8]) -> bool {
        match key {
            PublicKey::Rsa { n, e } => {
                // ring refuses moduli under 2048 bits, as jose4j does.
                let params: &signature::RsaParameters = match self {
                    Algorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Algorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Algorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Algorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Algorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                    Algorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
                    Algorithm::Es256 | Algorithm::Es384 => return false,
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, message, sig)
                    .is_ok()
            }
            PublicKey::Ec { curve, point } => {
                let alg: &signature::EcdsaVerificationAlgorithm = match (self, curve) {
                    (Algorithm::Es256, Curve::P256) => &signature::ECDSA_P256_SHA256_FIXED,
                    (Algorithm::Es384, Curve::P384) => &signature::ECDSA_P384_SHA384_FIXED,
                    _ => return false,
                };
                UnparsedPublicKey::new(alg, point)
                    .verify(message, sig)
                    .is_ok()
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
}

impl Curve {
    fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }
}

#[derive(Debug, Clone)]
enum PublicKey {
    /// Big-endian modulus (without leading zeros) and exponent.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The uncompressed point, 0x04 || x || y.
    Ec { curve: Curve, point: Vec<u8> },
}

#[derive(Debug, Clone)]
struct Jwk {
    kid: Option<String>,
    alg: Option<String>,
    key: PublicKey,
}

/// The signature keys of a JSON Web Key Set (RFC 7517). Keys Fjord cannot
/// use (other types or curves, encryption keys, malformed ones) are left
/// out, as jose4j leaves them out of its selection.
#[derive(Debug, Clone)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

impl Jwks {
    pub fn parse(json: &[u8]) -> Result<Jwks, JwksError> {
        let set: Value = serde_json::from_slice(json)?;
        let listed = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwksError::NoKeys)?;
        let keys: Vec<Jwk> = listed
            .iter()
            .filter_map(Value::as_object)
            .filter_map(parse_jwk)
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey);
        }
        Ok(Jwks { keys })
    }

    /// jose4j's selection: the key with the token's `kid` (any key when
    /// the token names none) whose type fits the algorithm and whose own
    /// `alg`, if it has one, is the token's.
    fn select(&self, alg: Algorithm, kid: Option<&str>) -> Option<&Jwk> {
        self.keys.iter().find(|jwk| {
            kid.is_none_or(|kid| jwk.kid.as_deref() == Some(kid))
                && alg.fits(&jwk.key)
                && jwk.alg.as_deref().is_none_or(|a| a == alg.name())
        })
    }
}

fn string<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    object.get(name).and_then(Value::as_str)
}

fn base64_field(object: &Map<String, Value>, name: &str) -> Option<Vec<u8>> {
    B64URL.decode(string(object, name)?).ok()
}

fn parse_jwk(object: &Map<String, Value>) -> Option<Jwk> {
    if string(object, "use").is_some_and(|u| u != "sig") {
        return None;
    }
    let key = match string(object, "kty")? {
        "RSA" => {
            let n = base64_field(object, "n")?;
            let first = n.iter().position(|b| *b != 0)?;
            PublicKey::Rsa {
                n: n[first..].to_vec(),
                e: base64_field(object, "e")?,
            }
        }
        "EC" => {
            let curve = match string(object, "crv")? {
                "P-256" => Curve::P256,
                "P-384" => Curve::P384,
                _ => return None,
            };
            let (x, y) = (base64_field(object, "x")?, base64_field(object, "y")?);
            if x.len() != curve.coordinate_len() || y.len() != curve.coordinate_len() {
                return None;
            }
            let mut point = Vec::with_capacity(1 + 2 * x.len());
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            PublicKey::Ec { curve, point }
        }
        _ => return None,
    };
    Some(Jwk {
        kid: string(object, "kid").map(str::to_owned),
        alg: string(object, "alg").map(str::to_owned),
        key,
    })
}

/// How a token's signature is checked.
#[derive(Debug, Clone)]
pub enum Verification {
    /// Signed by a key of this set (Kafka's `OAuthBearerValidatorCallbackHandler`).
    Jwks(Jwks),
    /// Unsigned, `alg: none` (Kafka's `OAuthBearerUnsecuredValidatorCallbackHandler`).
    Unsecured,
}

/// What a token's claims must say, from the `sasl.oauthbearer.*` configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRules {
    /// `sasl.oauthbearer.expected.issuer`: `iss` must be exactly this.
    pub issuer: Option<String>,
    /// `sasl.oauthbearer.expected.audience`: `aud` must hold one of these
    /// (no check when empty).
    pub audiences: Vec<String>,
    /// `sasl.oauthbearer.clock.skew.seconds`.
    pub clock_skew_ms: i64,
    /// `sasl.oauthbearer.sub.claim.name`.
    pub sub_claim: String,
    /// `sasl.oauthbearer.scope.claim.name`.
    pub scope_claim: String,
}

impl Default for ClaimRules {
    /// Kafka's defaults.
    fn default() -> Self {
        ClaimRules {
            issuer: None,
            audiences: Vec::new(),
            clock_skew_ms: 30_000,
            sub_claim: "sub".into(),
            scope_claim: "scope".into(),
        }
    }
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidToken {
    /// The subject claim: the principal's name.
    pub subject: String,
    /// `exp`, in milliseconds since the epoch.
    pub expires_ms: i64,
    pub issued_at_ms: Option<i64>,
    pub scopes: Vec<String>,
}

/// Checks `token` (the compact serialization, `header.payload.signature`)
/// at `now_ms`.
pub fn validate(
    token: &str,
    verification: &Verification,
    rules: &ClaimRules,
    now_ms: i64,
) -> Result<ValidToken, JwtError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("a JWS has three parts"));
    };
    let header = json_object(header_b64, "the header is not a base64url JSON object")?;
    let claims = json_object(payload_b64, "the payload is not a base64url JSON object")?;
    let signature = B64URL
        .decode(sig_b64)
        .map_err(|_| JwtError::Malformed("the signature is not base64url"))?;
    let alg = string(&header, "alg").ok_or(JwtError::Malformed("the header has no alg"))?;
    // What the signature covers: the two encoded parts as sent.
    let signed = &token[..header_b64.len() + 1 + payload_b64.len()];
    match verification {
        Verification::Jwks(jwks) => {
            let algorithm =
                Algorithm::from_name(alg).ok_or_else(|| JwtError::Algorithm(alg.to_owned()))?;
            let kid = string(&header, "kid");
            let jwk = jwks
                .select(algorithm, kid)
                .ok_or_else(|| JwtError::UnknownKey {
                    kid: kid.map(str::to_owned),
                    alg: algorithm.name().to_owned(),
                })?;
            if !algorithm.verify(&jwk.key, signed.as_bytes(), &signature) {
                return Err(JwtError::Signature);
            }
        }
        Verification::Unsecured => {
            if alg != "none" || !signature.is_empty() {
                return Err(JwtError::Algorithm(alg.to_owned()));
            }
        }
    }
    check_claims(&claims, verification, rules, now_ms)
}

fn json_object(part: &str, malformed: &'static str) -> Result<Map<String, Value>, JwtError> {
    let bytes = B64URL
        .decode(part)
        .map_err(|_| JwtError::Malformed(malformed))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(JwtError::Malformed(malformed)),
    }
}

/// A NumericDate claim (seconds, possibly fractional) in milliseconds.
fn date_ms(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .filter(|seconds| seconds.is_finite())
            .map(|seconds| Some((seconds * 1000.0) as i64))
            .ok_or_else(|| JwtError::Claim(name.to_owned())),
    }
}

fn check_claims(
    claims: &Map<String, Value>,
    verification: &Verification,
    rules: &ClaimRules,
    now_ms: i64,
) -> Result<ValidToken, JwtError> {
    let skew = rules.clock_skew_ms.max(0);
    let expires_ms = date_ms(claims, "exp")?.ok_or_else(|| JwtError::Claim("exp".into()))?;
    if now_ms.saturating_sub(skew) >= expires_ms {
        return Err(JwtError::Expired);
    }
    if let Some(not_before) = date_ms(claims, "nbf")? {
        if now_ms.saturating_add(skew) < not_before {
            return Err(JwtError::NotYetValid);
        }
    }
    // The JWKS validator requires `iat`; the unsecured one checks it when
    // present. Both refuse one in the future or after `exp`.
    let issued_at_ms = date_ms(claims, "iat")?;
    match (issued_at_ms, verification) {
        (None, Verification::Jwks(_)) => return Err(JwtError::Claim("iat".into())),
        (Some(iat), _) if iat > now_ms.saturating_add(skew) => {
            return Err(JwtError::IssuedInFuture)
        }
        (Some(iat), _) if iat > expires_ms => return Err(JwtError::IssuedAfterExpiry),
        _ => {}
    }
    if let Some(issuer) = &rules.issuer {
        if string(claims, "iss") != Some(issuer.as_str()) {
            return Err(JwtError::Issuer);
        }
    }
    if !rules.audiences.is_empty() {
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !audiences
            .iter()
            .any(|aud| rules.audiences.iter().any(|expected| expected == aud))
        {
            return Err(JwtError::Audience);
        }
    }
    let subject = string(claims, &rules.sub_claim)
        .map(str::trim)
        .filter(|sub| !sub.is_empty())
        .ok_or_else(|| JwtError::Claim(rules.sub_claim.clone()))?;
    Ok(ValidToken {
        subject: subject.to_owned(),
        expires_ms,
        issued_at_ms,
        scopes: scopes(claims.get(&rules.scope_claim)),
    })
}

/// The scope claim as a string of space-separated scopes (RFC 8693) or a
/// list; anything else is no scope. Scopes are carried, not enforced.
fn scopes(claim: Option<&Value>) -> Vec<String> {
    let mut seen = HashSet::new();
    let listed: Vec<&str> = match claim {
        Some(Value::String(scope)) => scope.split(' ').collect(),
        Some(Value::Array(scopes)) => scopes.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    listed
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty() && seen.insert(*s))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
pub(crate) mod tests;
