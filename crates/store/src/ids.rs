//! Row identifiers: one type per kind of row that others refer to, so that an aidant's id can
//! never be passed where a structure's is expected (argument order is checked by the compiler).
//!
//! An id is 128 random bits in hexadecimal ([`new_id`](crate::new_id)), stored as text. Building
//! one from text (`From<String>`, `From<&str>`) proves nothing: it names a row that may not exist,
//! and every lookup by id says so when it does not.
//!
//! ```
//! fn member(aidant: &store::AidantId, structure: &store::OrganisationId) -> String {
//!     format!("{aidant} @ {structure}")
//! }
//! let aidant = store::AidantId::from("a1");
//! let structure = store::OrganisationId::from("s1");
//! assert_eq!(member(&aidant, &structure), "a1 @ s1");
//! ```
//!
//! Swapped arguments do not compile:
//!
//! ```compile_fail
//! fn member(aidant: &store::AidantId, structure: &store::OrganisationId) {}
//! let aidant = store::AidantId::from("a1");
//! let structure = store::OrganisationId::from("s1");
//! member(&structure, &aidant);
//! ```

use diesel_derive_newtype::DieselNewType;
use ring::rand::SecureRandom;

macro_rules! row_id {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, DieselNewType,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random id.
            pub fn generate(rng: &dyn SecureRandom) -> Result<$name, crate::StoreError> {
                crate::new_id(rng).map($name)
            }

            /// The id as text (a URL, a form, a log line).
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> $name {
                $name(text)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> $name {
                $name(text.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(text: &String) -> $name {
                $name(text.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    )*};
}

row_id! {
    /// An aidant (`aidants.id`).
    AidantId;
    /// A structure (`organisations.id`); also the name of its journal chain.
    OrganisationId;
    /// An usager (`usagers.id`).
    UsagerId;
    /// A mandate (`mandates.id`).
    MandateId;
    /// An autorisation: one démarche of a mandate (`autorisations.id`).
    AutorisationId;
    /// An OTP card (`otp_cards.id`).
    CardId;
    /// A member of the national team (`staff.id`).
    StaffId;
}
