//! Managing SCRAM credentials, as Kafka's `ScramControlManager` (alter) and
//! `ScramImage.describe` do it, without the wire types: the handlers of
//! DescribeUserScramCredentials (50) and AlterUserScramCredentials (51)
//! translate, `fjord user` reuses the validation.

use std::collections::BTreeMap;
use zeroize::Zeroizing;

use fjord_storage::scram::{ScramStore, ScramUsers};
use kafka_protocol::error::ResponseError;

use crate::security::scram_credentials::{
    ScramCredential, ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS,
};

/// Why one user's part of a request failed, with Kafka's code and text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramAdminError {
    #[error("A user credential cannot be altered twice in the same request")]
    AlteredTwice,
    #[error("Username must not be empty")]
    EmptyUser,
    #[error("Unknown SCRAM mechanism")]
    UnknownMechanism,
    #[error("Too few iterations")]
    TooFewIterations,
    #[error("Too many iterations")]
    TooManyIterations,
    #[error("Attempt to delete a user credential that does not exist")]
    DeleteMissing,
    #[error("Cannot describe SCRAM credentials for the same user twice in a single request: {0}")]
    DescribedTwice(String),
    #[error("Attempt to describe a user credential that does not exist: {0}")]
    DescribeMissing(String),
    #[error("the SCRAM credential store failed: {0}")]
    Storage(String),
}

impl ScramAdminError {
    pub fn code(&self) -> i16 {
        let error = match self {
            ScramAdminError::AlteredTwice | ScramAdminError::DescribedTwice(_) => {
                ResponseError::DuplicateResource
            }
            ScramAdminError::EmptyUser
            | ScramAdminError::TooFewIterations
            | ScramAdminError::TooManyIterations => ResponseError::UnacceptableCredential,
            ScramAdminError::UnknownMechanism => ResponseError::UnsupportedSaslMechanism,
            ScramAdminError::DeleteMissing | ScramAdminError::DescribeMissing(_) => {
                ResponseError::ResourceNotFound
            }
            ScramAdminError::Storage(_) => ResponseError::KafkaStorageError,
        };
        error.code()
    }
}

/// Removes `user`'s credential for `mechanism` (a wire type).
#[derive(Debug, Clone)]
pub struct Deletion {
    pub user: String,
    pub mechanism: i8,
}

/// Sets `user`'s credential for `mechanism` (a wire type) from the salted
/// password a client computed.
#[derive(Clone)]
pub struct Upsertion {
    pub user: String,
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Vec<u8>,
    /// Stands for the password: wiped when dropped.
    pub salted_password: Zeroizing<Vec<u8>>,
}

/// Kafka's `validateScramUsernameAndMechanism`.
fn mechanism_for(user: &str, mechanism: i8) -> Result<ScramMechanism, ScramAdminError> {
    if user.is_empty() {
        return Err(ScramAdminError::EmptyUser);
    }
    ScramMechanism::from_wire_type(mechanism).ok_or(ScramAdminError::UnknownMechanism)
}

/// The iteration counts Kafka's controller accepts.
pub fn check_iterations(iterations: i32) -> Result<(), ScramAdminError> {
    if iterations < MIN_ITERATIONS {
        Err(ScramAdminError::TooFewIterations)
    } else if iterations > MAX_ITERATIONS {
        Err(ScramAdminError::TooManyIterations)
    } else {
        Ok(())
    }
}

/// One result per user named: the valid changes are stored together, in
/// one durable write; a user named more than once (by deletions and
/// upsertions alike) is refused as a whole, as Kafka refuses it. Results
/// come as Kafka's controller orders them: deletions, upsertions, errors.
pub async fn alter(
    store: &dyn ScramStore,
    deletions: Vec<Deletion>,
    upsertions: Vec<Upsertion>,
) -> Vec<(String, Result<(), ScramAdminError>)> {
    let current = store.users();
    let mut errors: Vec<(String, ScramAdminError)> = Vec::new();
    let failed =
        |errors: &[(String, ScramAdminError)], user: &str| errors.iter().any(|(u, _)| u == user);
    let mut to_delete: Vec<(String, ScramMechanism)> = Vec::new();
    for deletion in deletions {
        if failed(&errors, &deletion.user) {
            continue;
        }
        if let Some(at) = to_delete.iter().position(|(u, _)| *u == deletion.user) {
            to_delete.remove(at);
            errors.push((deletion.user, ScramAdminError::AlteredTwice));
            continue;
        }
        let checked = mechanism_for(&deletion.user, deletion.mechanism).and_then(|m| {
            let stored = current
                .get(&deletion.user)
                .is_some_and(|mechanisms| mechanisms.contains_key(m.name()));
            if stored {
                Ok(m)
            } else {
                Err(ScramAdminError::DeleteMissing)
            }
        });
        match checked {
            Ok(m) => to_delete.push((deletion.user, m)),
            Err(e) => errors.push((deletion.user, e)),
        }
    }
    let mut to_upsert: Vec<(String, ScramMechanism, ScramCredential)> = Vec::new();
    for upsertion in upsertions {
        if failed(&errors, &upsertion.user) {
            continue;
        }
        let deleted = to_delete.iter().position(|(u, _)| *u == upsertion.user);
        let upserted = to_upsert.iter().position(|(u, _, _)| *u == upsertion.user);
        if deleted.is_some() || upserted.is_some() {
            if let Some(at) = deleted {
                to_delete.remove(at);
            }
            if let Some(at) = upserted {
                to_upsert.remove(at);
            }
            errors.push((upsertion.user, ScramAdminError::AlteredTwice));
            continue;
        }
        let checked = mechanism_for(&upsertion.user, upsertion.mechanism)
            .and_then(|m| check_iterations(upsertion.iterations).map(|()| m));
        match checked {
            Ok(m) => {
                let credential = ScramCredential::from_salted_password(
                    m,
                    &upsertion.salted_password,
                    upsertion.salt,
                    upsertion.iterations,
                );
                to_upsert.push((upsertion.user, m, credential));
            }
            Err(e) => errors.push((upsertion.user, e)),
        }
    }

    let mut results: Vec<(String, Result<(), ScramAdminError>)> = to_delete
        .iter()
        .map(|(u, _)| u.clone())
        .chain(to_upsert.iter().map(|(u, _, _)| u.clone()))
        .map(|u| (u, Ok(())))
        .collect();
    if !results.is_empty() {
        let change = move |users: &mut ScramUsers| {
            for (user, m) in to_delete {
                if let Some(mechanisms) = users.get_mut(&user) {
                    mechanisms.remove(m.name());
                }
            }
            for (user, m, credential) in to_upsert {
                users
                    .entry(user)
                    .or_default()
                    .insert(m.name().to_string(), credential.to_stored());
            }
        };
        if let Err(e) = store.update(Box::new(change)).await {
            tracing::warn!("storing SCRAM credentials failed: {e}");
            for (_, result) in &mut results {
                *result = Err(ScramAdminError::Storage(e.to_string()));
            }
        }
    }
    results.extend(errors.into_iter().map(|(u, e)| (u, Err(e))));
    results
}

/// A described user's mechanisms with their iterations, or why not.
pub type Described = Result<Vec<(ScramMechanism, i32)>, ScramAdminError>;

/// Each user asked about (every stored user when `users` is None or
/// empty) with the mechanisms and iterations of its credentials.
pub fn describe(store: &dyn ScramStore, users: Option<Vec<String>>) -> Vec<(String, Described)> {
    let stored = store.users();
    let credentials_of = |user: &str| -> Vec<(ScramMechanism, i32)> {
        let Some(mechanisms) = stored.get(user) else {
            return Vec::new();
        };
        ScramMechanism::ALL
            .into_iter()
            .filter_map(|m| mechanisms.get(m.name()).map(|c| (m, c.iterations)))
            .collect()
    };
    let asked: Vec<String> = match users.filter(|u| !u.is_empty()) {
        Some(users) => users,
        None => stored.keys().cloned().collect(),
    };
    let mut times: BTreeMap<&str, usize> = BTreeMap::new();
    for user in &asked {
        *times.entry(user.as_str()).or_default() += 1;
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut results = Vec::new();
    for user in &asked {
        if seen.contains(&user.as_str()) {
            continue;
        }
        seen.push(user);
        let result = if times.get(user.as_str()).copied().unwrap_or(0) > 1 {
            Err(ScramAdminError::DescribedTwice(user.clone()))
        } else {
            let credentials = credentials_of(user);
            if credentials.is_empty() {
                Err(ScramAdminError::DescribeMissing(user.clone()))
            } else {
                Ok(credentials)
            }
        };
        results.push((user.clone(), result));
    }
    results
}
