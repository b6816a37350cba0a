//! Building blocks shared by the pages: form fields and their state, banners, loaders.

mod banner;
mod field;
mod form_state;
mod loaded;
mod mail_cards;
mod new_password;
mod notice;
mod strength;
mod verify_banner;

pub use banner::{FormBanner, LoadError};
pub use field::{Field, SubmitButton};
pub use form_state::{action_error, posted_error, FieldValues, FormFields};
pub use loaded::{loaded, Loaded};
pub use mail_cards::{CheckInbox, DeadLink};
pub use new_password::{NewPasswordFields, PasswordPolicyLoad, WithPasswordPolicy};
pub use notice::Notice;
pub use strength::StrengthMeter;
pub use verify_banner::VerifyEmailBanner;
