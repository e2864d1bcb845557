//! DescribeClientQuotas' filter, as Kafka 4.1's `ClientQuotasImage.describe`
//! reads it: each component names an entity type once, matched exactly
//! (0, a name), as the default (1, no name) or as any entity of the type
//! (2, no name; the default entity included, as Kafka's image matches it).
//! Without `strict`, an entity may have types the filter does not name;
//! with it, it has exactly the filter's types. No component at all
//! matches every entity, or none when strict.

use std::collections::BTreeMap;

use fjord_storage::quotas::{QuotaEntity, QuotaValues, StoredQuotas};

use super::entity::{CLIENT_ID, IP, USER};
use super::QuotaError;

pub const MATCH_EXACT: i8 = 0;
pub const MATCH_DEFAULT: i8 = 1;
pub const MATCH_ANY: i8 = 2;

/// One component of the filter, as the request carries it.
#[derive(Debug, Clone)]
pub struct Component<'a> {
    pub entity_type: &'a str,
    pub match_type: i8,
    pub name: Option<&'a str>,
}

/// What a component asks of an entity's name of its type.
enum Wanted<'a> {
    Name(Option<&'a str>),
    Any,
}

/// Entities and their quotas, as stored.
pub type Matched<'q> = Vec<(&'q QuotaEntity, &'q QuotaValues)>;

/// The entities the filter matches, with their quotas.
pub fn describe<'q>(
    quotas: &'q StoredQuotas,
    components: &[Component<'_>],
    strict: bool,
) -> Result<Matched<'q>, QuotaError> {
    let mut filter: BTreeMap<&str, Wanted> = BTreeMap::new();
    for component in components {
        let entity_type = component.entity_type;
        if entity_type.is_empty() {
            return Err(QuotaError::invalid("Invalid empty entity type."));
        }
        if filter.contains_key(entity_type) {
            return Err(QuotaError::invalid(format!(
                "Entity type {entity_type} cannot appear more than once in the filter."
            )));
        }
        if ![IP, USER, CLIENT_ID].contains(&entity_type) {
            return Err(QuotaError::UnsupportedVersion(format!(
                "Unsupported entity type {entity_type}"
            )));
        }
        let wanted = match (component.match_type, component.name) {
            (MATCH_EXACT, Some(name)) => Wanted::Name(Some(name)),
            (MATCH_EXACT, None) => {
                return Err(QuotaError::invalid(
                    "Request specified MATCH_TYPE_EXACT, but set match string to null.",
                ))
            }
            (MATCH_DEFAULT, None) => Wanted::Name(None),
            (MATCH_DEFAULT, Some(_)) => {
                return Err(QuotaError::invalid(
                    "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
                ))
            }
            (MATCH_ANY, None) => Wanted::Any,
            (MATCH_ANY, Some(_)) => {
                return Err(QuotaError::invalid(
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.",
                ))
            }
            (other, _) => return Err(QuotaError::invalid(format!("Unknown match type {other}"))),
        };
        filter.insert(entity_type, wanted);
    }
    if filter.contains_key(IP) && (filter.contains_key(USER) || filter.contains_key(CLIENT_ID)) {
        return Err(QuotaError::invalid(
            "Invalid entity filter component combination. IP filter component should not be \
             used with user or clientId filter component.",
        ));
    }
    if filter.is_empty() && strict {
        return Ok(Vec::new());
    }
    let matches = |entity: &QuotaEntity| {
        let named =
            filter.iter().all(
                |(entity_type, wanted)| match (entity.get(*entity_type), wanted) {
                    (None, _) => false,
                    (Some(_), Wanted::Any) => true,
                    (Some(name), Wanted::Name(want)) => name.as_deref() == *want,
                },
            );
        named && (!strict || entity.len() == filter.len())
    };
    Ok(quotas
        .iter()
        .filter(|(entity, _)| matches(entity))
        .collect())
}
