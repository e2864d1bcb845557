//! Kafka's `ssl.principal.mapping.rules` (KIP-371): from a client
//! certificate's subject (RFC 2253 form, see `dn`) to a user name.
//!
//! The value is a list of rules separated by commas or new lines, tried in
//! order: `DEFAULT` takes the whole subject; `RULE:pattern/replacement/`
//! with an optional `L` or `U` (lower or upper case) applies when the
//! pattern matches the whole subject, and then, as Java's `replaceAll`,
//! replaces every match of the pattern with the replacement (`$1`,
//! `${name}`, `\` quoting the next character). A rule that does not match
//! passes to the next; when none matches, the client is refused, as Kafka
//! refuses it. A `/` or `\` inside a pattern or replacement is written `\/`
//! or `\\`.

use regex_automata::meta::Regex;
use regex_automata::util::captures::Captures;
use regex_automata::Input;

const NAME: &str = "ssl.principal.mapping.rules";

#[derive(Debug)]
enum Rule {
    Default,
    Replace {
        /// The pattern as written, shown in messages.
        source: String,
        /// Matches only the whole subject (Java's `Matcher.matches`).
        whole: Regex,
        /// The pattern itself, for the replacements.
        pattern: Regex,
        replacement: Vec<Piece>,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

/// A parsed replacement: literal text and group references.
#[derive(Debug)]
enum Piece {
    Text(String),
    Group(usize),
}

/// The rules of one listener.
#[derive(Debug)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

impl Default for PrincipalMapper {
    fn default() -> Self {
        PrincipalMapper {
            rules: vec![Rule::Default],
        }
    }
}

impl PrincipalMapper {
    /// Parses the config's value; `config` is the name it was given under.
    pub fn parse(config: &str, value: &str) -> Result<Self, String> {
        let refuse =
            |reason: String| format!("Invalid value {value} for configuration {config}: {reason}");
        let mut rules = Vec::new();
        let mut rest = value;
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            let (rule, after) = if let Some(after) = rest.strip_prefix("DEFAULT") {
                (Rule::Default, after)
            } else if let Some(after) = rest.strip_prefix("RULE:") {
                replace_rule(after).map_err(refuse)?
            } else {
                let end = rest.find([',', '\n']).unwrap_or(rest.len());
                return Err(refuse(format!(
                    "Invalid rule: {}; a rule is DEFAULT or RULE:pattern/replacement/ with an \
                     optional L or U",
                    rest[..end].trim()
                )));
            };
            rules.push(rule);
            // Anything up to the next separator is ignored, as Kafka's
            // rule splitter ignores it.
            rest = match after.find([',', '\n']) {
                Some(at) => &after[at + 1..],
                None => "",
            };
        }
        if rules.is_empty() {
            return Err(refuse(format!(
                "{NAME} needs at least one rule, e.g. DEFAULT"
            )));
        }
        Ok(PrincipalMapper { rules })
    }

    /// The user name for `subject`; Err names the subject when no rule
    /// applies.
    pub fn map(&self, subject: &str) -> Result<String, String> {
        for rule in &self.rules {
            if let Some(name) = rule.apply(subject) {
                return Ok(name);
            }
        }
        let rules: Vec<String> = self.rules.iter().map(Rule::to_string).collect();
        Err(format!(
            "no rule of {NAME} applies to the client certificate's subject {subject} \
             (rules: {})",
            rules.join(", ")
        ))
    }
}

/// `pattern/replacement/[LU]` after `RULE:`, and what follows it.
fn replace_rule(text: &str) -> Result<(Rule, &str), String> {
    let (source, rest) = until_slash(text)
        .ok_or_else(|| format!("Invalid rule: RULE:{text}; the pattern needs a closing /"))?;
    let (replacement_source, rest) = until_slash(rest)
        .ok_or_else(|| format!("Invalid rule: RULE:{text}; the replacement needs a closing /"))?;
    let (case, rest) = match rest.as_bytes().first() {
        Some(b'L') => (Case::Lower, &rest[1..]),
        Some(b'U') => (Case::Upper, &rest[1..]),
        _ => (Case::Keep, rest),
    };
    let compile = |pattern: &str| {
        Regex::new(pattern).map_err(|e| format!("the pattern {source} is not a valid regex: {e}"))
    };
    let pattern = compile(&source)?;
    let whole = compile(&format!(r"\A(?:{source})\z"))?;
    let replacement = parse_replacement(&replacement_source, &pattern)?;
    Ok((
        Rule::Replace {
            source,
            whole,
            pattern,
            replacement,
            case,
        },
        rest,
    ))
}

/// The text up to an unescaped `/` (escapes kept, as Kafka keeps them for
/// the regex and the replacement), and what follows the `/`.
fn until_slash(text: &str) -> Option<(String, &str)> {
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next()?;
            }
            '/' => return Some((text[..at].to_string(), &text[at + 1..])),
            _ => {}
        }
    }
    None
}

/// Java's replacement syntax: `$n` (as many digits as name a group),
/// `${name}`, and `\` quoting the next character.
fn parse_replacement(text: &str, pattern: &Regex) -> Result<Vec<Piece>, String> {
    let info = pattern.group_info();
    let groups = info.group_len(regex_automata::PatternID::ZERO);
    let bad = |reason: &str| format!("the replacement {text} {reason}");
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => literal.push(chars.next().ok_or_else(|| bad("ends with a lone \\"))?),
            '$' => {
                let group = match chars.next() {
                    Some('{') => {
                        let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                        info.to_index(regex_automata::PatternID::ZERO, &name)
                            .ok_or_else(|| {
                                bad(&format!("names a group {name} the pattern lacks"))
                            })?
                    }
                    Some(d) if d.is_ascii_digit() => {
                        let mut group = d.to_digit(10).map_or(0, |d| d as usize);
                        if group >= groups {
                            return Err(bad(&format!(
                                "refers to group {group}, which the pattern lacks"
                            )));
                        }
                        while let Some(next) = chars.peek().and_then(|c| c.to_digit(10)) {
                            let longer = group * 10 + next as usize;
                            if longer >= groups {
                                break;
                            }
                            group = longer;
                            chars.next();
                        }
                        group
                    }
                    _ => {
                        return Err(bad(
                            "has a $ that is not followed by a group number or {name}",
                        ))
                    }
                };
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Group(group));
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

impl Rule {
    fn apply(&self, subject: &str) -> Option<String> {
        let Rule::Replace {
            whole,
            pattern,
            replacement,
            case,
            ..
        } = self
        else {
            return Some(subject.to_string());
        };
        if !whole.is_match(subject) {
            return None;
        }
        let replaced = replace_all(pattern, replacement, subject);
        Some(match case {
            Case::Keep => replaced,
            Case::Lower => replaced.to_lowercase(),
            Case::Upper => replaced.to_uppercase(),
        })
    }
}

/// Java's `Matcher.replaceAll`: after an empty match the search moves on
/// by one character, and an empty match right after a non-empty one
/// counts (so `.*` on `abc` replaces twice).
fn replace_all(pattern: &Regex, replacement: &[Piece], subject: &str) -> String {
    let mut out = String::new();
    let mut captures: Captures = pattern.create_captures();
    let mut copied = 0;
    let mut from = 0;
    while from <= subject.len() {
        pattern.search_captures(&Input::new(subject).range(from..), &mut captures);
        let Some(found) = captures.get_match() else {
            break;
        };
        out.push_str(&subject[copied..found.start()]);
        for piece in replacement {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Group(group) => {
                    if let Some(span) = captures.get_group(*group) {
                        out.push_str(&subject[span.range()]);
                    }
                }
            }
        }
        copied = found.end();
        from = if found.is_empty() {
            match subject[found.end()..].chars().next() {
                Some(c) => found.end() + c.len_utf8(),
                None => break,
            }
        } else {
            found.end()
        };
    }
    out.push_str(&subject[copied..]);
    out
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::Default => write!(f, "DEFAULT"),
            Rule::Replace { source, case, .. } => {
                let case = match case {
                    Case::Keep => "",
                    Case::Lower => "L",
                    Case::Upper => "U",
                };
                write!(f, "RULE:{source}/…/{case}")
            }
        }
    }
}

#[cfg(test)]
#[path = "principal_tests.rs"]
mod tests;
