//! What Kafka says about one config (the generated table in `kafka.rs` is a
//! list of these) and Kafka's rules for parsing and validating its values.

/// A config's type, as Kafka's ConfigDef names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    Class,
    Password,
}

impl Kind {
    /// DescribeConfigs v3+ `config_type` codes.
    pub fn wire_code(self) -> i8 {
        match self {
            Kind::Boolean => 1,
            Kind::String => 2,
            Kind::Int => 3,
            Kind::Short => 4,
            Kind::Long => 5,
            Kind::Double => 6,
            Kind::List => 7,
            Kind::Class => 8,
            Kind::Password => 9,
        }
    }

    fn kafka_name(self) -> &'static str {
        match self {
            Kind::Boolean => "BOOLEAN",
            Kind::String => "STRING",
            Kind::Int => "INT",
            Kind::Short => "SHORT",
            Kind::Long => "LONG",
            Kind::Double => "DOUBLE",
            Kind::List => "LIST",
            Kind::Class => "CLASS",
            Kind::Password => "PASSWORD",
        }
    }
}

/// When a broker config may change: Kafka's dynamic update modes. Topic
/// and group configs are all alterable per topic and per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    ReadOnly,
    PerBroker,
    ClusterWide,
    Topic,
    Group,
}

/// Kafka's validator for a config, as far as a table can say it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Validator {
    Any,
    IntRange(Option<i64>, Option<i64>),
    FloatRange(Option<f64>, Option<f64>),
    OneOf(&'static [&'static str]),
    OneOfIgnoringCase(&'static [&'static str]),
    /// A list whose every item is one of these.
    EachOneOf(&'static [&'static str]),
    NonEmpty,
    /// A validator Kafka wrote for this one config; its description.
    Described(&'static str),
}

/// One config as Kafka 4.1 defines it.
#[derive(Debug)]
pub struct KafkaConfigDef {
    pub name: &'static str,
    pub kind: Kind,
    /// None when Kafka has no default (or a null one).
    pub default: Option<&'static str>,
    pub validator: Validator,
    pub update: Update,
    /// Kafka accepts it but leaves it out of DescribeConfigs and its docs.
    pub internal: bool,
    /// Broker configs standing in for this topic config, most specific
    /// first, each with the factor from its unit to the topic config's.
    pub synonyms: &'static [(&'static str, i64)],
    pub doc: &'static str,
}

impl KafkaConfigDef {
    /// Checks a value as Kafka would: parsed as its type, then validated.
    /// The error is Kafka's reason, to follow "Invalid value V for configuration N: ".
    pub fn check(&self, value: &str) -> Result<(), String> {
        let trimmed = value.trim();
        match self.kind {
            Kind::Boolean => {
                if !trimmed.eq_ignore_ascii_case("true") && !trimmed.eq_ignore_ascii_case("false") {
                    return Err("Expected value to be either true or false".into());
                }
            }
            Kind::Int | Kind::Short | Kind::Long => {
                let number = self.parse_integer(trimmed)?;
                if let Validator::IntRange(min, max) = self.validator {
                    check_range(number as f64, min.map(|m| m as f64), max.map(|m| m as f64))?;
                }
            }
            Kind::Double => {
                let number: f64 = trimmed
                    .parse()
                    .map_err(|_| format!("Not a number of type {}", self.kind.kafka_name()))?;
                if let Validator::FloatRange(min, max) = self.validator {
                    check_range(number, min, max)?;
                }
            }
            Kind::String | Kind::Password | Kind::Class | Kind::List => {}
        }
        self.check_validator(trimmed)
    }

    fn parse_integer(&self, trimmed: &str) -> Result<i64, String> {
        let not_a_number = || format!("Not a number of type {}", self.kind.kafka_name());
        let number: i64 = trimmed.parse().map_err(|_| not_a_number())?;
        let fits = match self.kind {
            Kind::Int => i32::try_from(number).is_ok(),
            Kind::Short => i16::try_from(number).is_ok(),
            _ => true,
        };
        if fits {
            Ok(number)
        } else {
            Err(not_a_number())
        }
    }

    fn check_validator(&self, trimmed: &str) -> Result<(), String> {
        match self.validator {
            Validator::OneOf(allowed) => one_of(trimmed, allowed, false),
            Validator::OneOfIgnoringCase(allowed) => one_of(trimmed, allowed, true),
            Validator::EachOneOf(allowed) => list_items(trimmed)
                .try_for_each(|item| one_of(item, allowed, false))
                .map_err(|_| format!("String must be one of: {}", allowed.join(", "))),
            Validator::NonEmpty if trimmed.is_empty() => Err("String must be non-empty".into()),
            Validator::Described(description) => check_described(self.name, description, trimmed),
            _ => Ok(()),
        }
    }
}

/// Items of a Kafka LIST value: comma-separated, trimmed; "" is the empty list.
pub fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(str::trim)
        .filter(move |_| !value.trim().is_empty())
}

fn check_range(number: f64, min: Option<f64>, max: Option<f64>) -> Result<(), String> {
    let show = |bound: f64| {
        if bound.fract() == 0.0 && bound.abs() < 1e18 {
            format!("{}", bound as i64)
        } else {
            format!("{bound}")
        }
    };
    match (min, max) {
        (Some(min), Some(max)) if number < min || number > max => Err(format!(
            "Value must be in the range [{}, {}]",
            show(min),
            show(max)
        )),
        (Some(min), None) if number < min => Err(format!("Value must be at least {}", show(min))),
        (None, Some(max)) if number > max => {
            Err(format!("Value must be no more than {}", show(max)))
        }
        _ => Ok(()),
    }
}

fn one_of(value: &str, allowed: &[&str], ignore_case: bool) -> Result<(), String> {
    let found = allowed.iter().any(|a| {
        if ignore_case {
            a.eq_ignore_ascii_case(value)
        } else {
            *a == value
        }
    });
    if found {
        Ok(())
    } else {
        Err(format!("String must be one of: {}", allowed.join(", ")))
    }
}

/// The validators Kafka wrote for single configs, by what they check.
fn check_described(name: &str, description: &str, value: &str) -> Result<(), String> {
    if name.starts_with("compression.gzip.level") {
        // Kafka: 1 to 9, or -1 for zlib's default.
        return match value.parse::<i64>() {
            Ok(-1) | Ok(1..=9) => Ok(()),
            _ => Err(format!("Value must be {description}")),
        };
    }
    if name == "share.auto.offset.reset" {
        // Kafka: latest, earliest, or by_duration: and an ISO-8601 duration.
        let known = matches!(value, "latest" | "earliest")
            || value
                .strip_prefix("by_duration:")
                .is_some_and(|duration| duration.starts_with('P') && duration.len() > 1);
        return if known {
            Ok(())
        } else {
            Err(format!("Value must be one of {description}"))
        };
    }
    if name.ends_with("replication.throttled.replicas") {
        // "*" or partition:broker pairs.
        let pair = |item: &str| {
            item.split_once(':').is_some_and(|(p, b)| {
                p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok()
            })
        };
        return if value == "*" || list_items(value).all(pair) {
            Ok(())
        } else {
            Err(format!("Value must be {description}"))
        };
    }
    // The controller quorum's address lists: no controller quorum here, and
    // Kafka checks them only when it starts one.
    Ok(())
}
