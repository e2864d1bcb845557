//! A certificate's subject as Java's `X500Principal.getName()` prints it
//! (RFC 2253): what Kafka's `ssl.principal.mapping.rules` are written
//! against. Relative names last-to-first, the attributes of a multi-valued
//! one joined by `+`; the RFC's keywords (CN, L, ST, O, OU, C, STREET, DC,
//! UID) by name with their string values escaped, anything else as its OID
//! with the value's DER encoding in hex (`1.2.840.113549.1.9.1=#16…` for an
//! e-mail address).
//!
//! Only the subject is read, by a small DER walk: rustls has verified the
//! certificate before this runs, and a malformed one yields `None`.

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const VERSION: u8 = 0xa0;

/// One DER element: its tag, its content, and the whole encoding.
struct Element<'a> {
    tag: u8,
    content: &'a [u8],
    encoded: &'a [u8],
}

/// The element at the start of `input` and what follows it.
fn element(input: &[u8]) -> Option<(Element<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |len, byte| (len << 8) | usize::from(*byte));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some((
        Element {
            tag,
            content: &rest[..len],
            encoded: &input[..header + len],
        },
        &rest[len..],
    ))
}

/// The element at the start of `input`, which must have tag `tag`.
fn expect(input: &[u8], tag: u8) -> Option<(Element<'_>, &[u8])> {
    element(input).filter(|(e, _)| e.tag == tag)
}

/// The subject of a DER certificate, in RFC 2253 form.
pub fn subject_of(certificate: &[u8]) -> Option<String> {
    let (certificate, _) = expect(certificate, SEQUENCE)?;
    let (tbs, _) = expect(certificate.content, SEQUENCE)?;
    let mut fields = tbs.content;
    if fields.first() == Some(&VERSION) {
        fields = element(fields)?.1;
    }
    // serial number, signature algorithm, issuer, validity, then subject
    for _ in 0..4 {
        fields = element(fields)?.1;
    }
    let (subject, _) = expect(fields, SEQUENCE)?;
    rfc2253(subject.content)
}

/// A `Name`'s content (its relative names) in RFC 2253 form.
pub fn rfc2253(mut name: &[u8]) -> Option<String> {
    let mut relative_names = Vec::new();
    while !name.is_empty() {
        let (set, rest) = expect(name, SET)?;
        name = rest;
        let mut attributes = Vec::new();
        let mut members = set.content;
        while !members.is_empty() {
            let (attribute, rest) = expect(members, SEQUENCE)?;
            members = rest;
            attributes.push(attribute_text(attribute.content)?);
        }
        relative_names.push(attributes.join("+"));
    }
    relative_names.reverse();
    Some(relative_names.join(","))
}

fn attribute_text(attribute: &[u8]) -> Option<String> {
    let (oid, rest) = expect(attribute, OID)?;
    let (value, _) = element(rest)?;
    let oid = dotted(oid.content)?;
    let text = keyword(&oid).and_then(|keyword| Some((keyword, string_value(&value)?)));
    Some(match text {
        Some((keyword, text)) => format!("{keyword}={}", escape(&text)),
        None => {
            let hex: String = value.encoded.iter().map(|b| format!("{b:02x}")).collect();
            format!("{oid}=#{hex}")
        }
    })
}

/// RFC 2253's keywords, the only ones Java prints by name in this form.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

fn dotted(oid: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut arc: u64 = 0;
    for (i, byte) in oid.iter().enumerate() {
        arc = arc.checked_mul(128)? | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (arc / 40).min(2);
                arcs.push(first);
                arcs.push(arc - first * 40);
            } else {
                arcs.push(arc);
            }
            arc = 0;
        } else if i + 1 == oid.len() {
            return None;
        }
    }
    if arcs.is_empty() {
        return None;
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// The text of a directory string; None for other kinds of value.
fn string_value(value: &Element<'_>) -> Option<String> {
    match value.tag {
        // UTF8String
        0x0c => String::from_utf8(value.content.to_vec()).ok(),
        // PrintableString, T61String, IA5String, VisibleString, GeneralString
        0x13 | 0x14 | 0x16 | 0x1a | 0x1b => {
            Some(value.content.iter().map(|b| char::from(*b)).collect())
        }
        // BMPString (UTF-16BE)
        0x1e => {
            let units: Vec<u16> = value
                .content
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString (UTF-32BE)
        0x1c => value
            .content
            .chunks_exact(4)
            .map(|quad| char::from_u32(u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]])))
            .collect(),
        _ => None,
    }
}

/// Java's RFC 2253 escaping: the special characters anywhere, a NUL as
/// `\00`, spaces at either end.
fn escape(text: &str) -> String {
    const SPECIAL: &str = ",=+<>#;\"\\";
    let chars: Vec<char> = text.chars().collect();
    let lead = chars.iter().take_while(|c| **c == ' ').count();
    let trail = chars.iter().rev().take_while(|c| **c == ' ').count();
    let mut escaped = String::with_capacity(text.len());
    for (i, c) in chars.iter().enumerate() {
        if *c == '\0' {
            escaped.push_str("\\00");
            continue;
        }
        if SPECIAL.contains(*c) || i < lead || i >= chars.len() - trail {
            escaped.push('\\');
        }
        escaped.push(*c);
    }
    escaped
}
