//! The client's two SCRAM messages (RFC 5802 §7), parsed. Messages are
//! kept as the client sent them where the signatures cover them (the bare
//! first message, the final message without its proof): re-encoding could
//! differ from the client's bytes by an extension's order.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Why a client message was refused. The text goes to the client: it says
/// what was malformed, never anything about a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramMessageError {
    #[error(
        "SCRAM channel binding is not supported: use the mechanism without -PLUS (gs2 flag n or y)"
    )]
    ChannelBindingRequested,
    #[error("invalid SCRAM client first message: {0}")]
    InvalidFirst(&'static str),
    #[error("invalid SCRAM client final message: {0}")]
    InvalidFinal(&'static str),
}

/// `gs2-header [reserved-mext ","] n=saslname,r=nonce[,extensions]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// `n,` or `y,` with the authzid part and its comma, as sent: what the
    /// final message's channel binding must repeat.
    pub gs2_header: String,
    /// The requested authorization id, decoded; None when not given.
    pub authzid: Option<String>,
    /// The user name, decoded (`=2C` is `,`, `=3D` is `=`).
    pub user: String,
    pub nonce: String,
    /// `key=value` pairs after the nonce (Kafka's `tokenauth`), in order.
    pub extensions: Vec<(String, String)>,
    /// `client-first-message-bare`, as sent.
    pub bare: String,
}

impl ClientFirst {
    pub fn parse(message: &[u8]) -> Result<Self, ScramMessageError> {
        use ScramMessageError::InvalidFirst;
        let text = std::str::from_utf8(message).map_err(|_| InvalidFirst("not UTF-8"))?;
        let (flag, rest) = text.split_once(',').ok_or(InvalidFirst("no gs2 header"))?;
        match flag {
            "n" | "y" => {}
            f if f.starts_with("p=") => return Err(ScramMessageError::ChannelBindingRequested),
            _ => return Err(InvalidFirst("unknown channel binding flag")),
        }
        let (authz, bare) = rest.split_once(',').ok_or(InvalidFirst("no gs2 header"))?;
        let authzid = match authz {
            "" => None,
            a => Some(
                decode_saslname(a.strip_prefix("a=").ok_or(InvalidFirst("bad authzid"))?)
                    .ok_or(InvalidFirst("bad authzid"))?,
            ),
        };
        let gs2_header = text[..text.len() - bare.len()].to_string();
        let mut attributes = bare.split(',');
        let user_attribute = attributes.next().unwrap_or_default();
        if user_attribute.starts_with("m=") {
            // RFC 5802: a mandatory extension the server does not know fails.
            return Err(InvalidFirst("mandatory extensions are not supported"));
        }
        let user = user_attribute
            .strip_prefix("n=")
            .and_then(decode_saslname)
            .ok_or(InvalidFirst("bad user name"))?;
        let nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .filter(|n| is_printable(n))
            .ok_or(InvalidFirst("bad nonce"))?
            .to_string();
        let extensions = attributes
            .map(parse_extension)
            .collect::<Option<Vec<_>>>()
            .ok_or(InvalidFirst("bad extension"))?;
        Ok(ClientFirst {
            gs2_header,
            authzid,
            user,
            nonce,
            extensions,
            bare: bare.to_string(),
        })
    }

    /// Kafka's `ScramExtensions.tokenAuthenticated`: `tokenauth` is `true`
    /// in any case (Java's `Boolean.parseBoolean`); the last one counts.
    pub fn token_authenticated(&self) -> bool {
        self.extensions
            .iter()
            .rev()
            .find(|(key, _)| key == "tokenauth")
            .is_some_and(|(_, value)| value.eq_ignore_ascii_case("true"))
    }
}

/// `c=channel-binding,r=nonce[,extensions],p=proof`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinal {
    pub channel_binding: Vec<u8>,
    pub nonce: String,
    pub proof: Vec<u8>,
    /// `client-final-message-without-proof`, as sent.
    pub without_proof: String,
}

impl ClientFinal {
    pub fn parse(message: &[u8]) -> Result<Self, ScramMessageError> {
        use ScramMessageError::InvalidFinal;
        let text = std::str::from_utf8(message).map_err(|_| InvalidFinal("not UTF-8"))?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or(InvalidFinal("no proof"))?;
        let proof = STANDARD
            .decode(proof)
            .map_err(|_| InvalidFinal("proof is not base64"))?;
        let mut attributes = without_proof.split(',');
        let channel_binding = attributes
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .and_then(|c| STANDARD.decode(c).ok())
            .ok_or(InvalidFinal("bad channel binding"))?;
        let nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .filter(|n| is_printable(n))
            .ok_or(InvalidFinal("bad nonce"))?
            .to_string();
        if !attributes.all(|a| parse_extension(a).is_some()) {
            return Err(InvalidFinal("bad extension"));
        }
        Ok(ClientFinal {
            channel_binding,
            nonce,
            proof,
            without_proof: without_proof.to_string(),
        })
    }
}

/// RFC 5802's saslname: no `,`, and `=` only as `=2C` or `=3D`.
fn decode_saslname(name: &str) -> Option<String> {
    if name.is_empty() || name.contains('\0') {
        return None;
    }
    let mut decoded = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        decoded.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3)?;
        decoded.push(match escape {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    decoded.push_str(rest);
    Some(decoded)
}

/// The inverse of `decode_saslname`, for clients written in tests and tools.
pub fn encode_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// RFC 5802's `printable`: visible ASCII but `,`, at least one.
fn is_printable(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// `key=value` with an alphabetic key, as Kafka's `EXTENSIONS` pattern.
fn parse_extension(attribute: &str) -> Option<(String, String)> {
    let (key, value) = attribute.split_once('=')?;
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) || value.is_empty() {
        return None;
    }
    Some((key.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_messages_parse_with_their_escapes_and_extensions() {
        let first = ClientFirst::parse(b"n,,n=us=2Cer=3D,r=abc,tokenauth=TRUE").unwrap();
        assert_eq!(first.gs2_header, "n,,");
        assert_eq!(first.user, "us,er=");
        assert_eq!(first.nonce, "abc");
        assert_eq!(first.bare, "n=us=2Cer=3D,r=abc,tokenauth=TRUE");
        assert!(first.token_authenticated());

        let first = ClientFirst::parse(b"y,a=bob,n=bob,r=x").unwrap();
        assert_eq!(first.gs2_header, "y,a=bob,");
        assert_eq!(first.authzid.as_deref(), Some("bob"));
        assert!(!first.token_authenticated());
    }

    #[test]
    fn malformed_first_messages_are_refused() {
        assert_eq!(
            ClientFirst::parse(b"p=tls-unique,,n=u,r=x"),
            Err(ScramMessageError::ChannelBindingRequested)
        );
        for bad in [
            &b"x,,n=u,r=x"[..],
            b"n,,n=u",
            b"n,,n=u=2X,r=x",
            b"n,,n=,r=x",
            b"n,,r=x,n=u",
            b"n,,n=u,r=",
            b"n,,n=u,r=x,=v",
            b"n,,m=ext,n=u,r=x",
            b"n,b=u,n=u,r=x",
            b"\xff,,n=u,r=x",
            b"",
        ] {
            assert!(
                matches!(
                    ClientFirst::parse(bad),
                    Err(ScramMessageError::InvalidFirst(_))
                ),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn final_messages_keep_what_the_signature_covers() {
        let last = ClientFinal::parse(b"c=biws,r=abcdef,p=AAEC").unwrap();
        assert_eq!(last.channel_binding, b"n,,");
        assert_eq!(last.nonce, "abcdef");
        assert_eq!(last.proof, [0, 1, 2]);
        assert_eq!(last.without_proof, "c=biws,r=abcdef");
        for bad in [
            &b"c=biws,r=abc"[..],
            b"c=***,r=abc,p=AAEC",
            b"r=abc,c=biws,p=AAEC",
            b"c=biws,r=abc,p=!!",
            b"c=biws,p=AAEC",
        ] {
            assert!(
                ClientFinal::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn saslnames_round_trip() {
        for name in ["plain", "a,b", "a=b", "=2C", "ünï"] {
            assert_eq!(
                decode_saslname(&encode_saslname(name)).as_deref(),
                Some(name)
            );
        }
    }
}
