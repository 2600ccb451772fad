//! Zoho ids are JSON strings of digits (`"1892000000042034"`); each kind gets its own newtype so a
//! contact id cannot be passed where a ticket id is expected.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id as Zoho spells it.
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            /// The id as Zoho spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }
    )*};
}

id_type! {
    /// An organization (portal) id, sent as the `orgId` header.
    OrganizationId,
    /// A ticket id (not the human-facing ticket number).
    TicketId,
    /// A ticket thread id.
    ThreadId,
    /// A ticket comment id.
    CommentId,
    /// A contact id.
    ContactId,
    /// An account (customer company) id.
    AccountId,
    /// An agent id.
    AgentId,
    /// A department id.
    DepartmentId,
}

/// Ids become path segments: only digits (Zoho's ids) and a few safe characters are allowed, so an
/// id can never change the path it is placed in.
pub(crate) fn path_segment(id: &str) -> Option<&str> {
    let safe = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    safe.then_some(id)
}
