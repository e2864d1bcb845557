//! A SCRAM client for tests: drives the server as a real client would.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::security::scram_credentials::ScramMechanism;
use crate::security::scram_messages::encode_saslname;

/// A SCRAM client as RFC 5802 §3 describes it, for driving the server.
pub(crate) struct Client {
    mechanism: ScramMechanism,
    password: String,
    pub(crate) gs2_header: String,
    bare: String,
}

impl Client {
    pub(crate) fn new(
        mechanism: ScramMechanism,
        user: &str,
        password: &str,
        extensions: &str,
    ) -> Self {
        Client {
            mechanism,
            password: password.to_string(),
            gs2_header: "n,,".to_string(),
            bare: format!("n={},r=clientnonce42{extensions}", encode_saslname(user)),
        }
    }

    pub(crate) fn first(&self) -> Vec<u8> {
        format!("{}{}", self.gs2_header, self.bare).into_bytes()
    }

    /// The final message for `server_first`, with the nonce the server
    /// sent (or `nonce` instead), and the server signature to expect.
    pub(crate) fn last(&self, server_first: &str, nonce: Option<&str>) -> (Vec<u8>, String) {
        let field = |key: &str| {
            server_first
                .split(',')
                .find_map(|a| a.strip_prefix(key))
                .unwrap()
                .to_string()
        };
        let salt = STANDARD.decode(field("s=")).unwrap();
        let iterations: i32 = field("i=").parse().unwrap();
        let nonce = nonce.map(str::to_string).unwrap_or_else(|| field("r="));
        let m = self.mechanism;
        let salted = m.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = m.client_key(&salted);
        let stored_key = m.hash(&client_key);
        let without_proof = format!("c={},r={nonce}", STANDARD.encode(&self.gs2_header));
        let auth = format!("{},{server_first},{without_proof}", self.bare);
        let signature = m.hmac_of(&stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = m.hmac_of(&salted, b"Server Key");
        let expected = format!(
            "v={}",
            STANDARD.encode(m.hmac_of(&server_key, auth.as_bytes()))
        );
        (
            format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes(),
            expected,
        )
    }
}
