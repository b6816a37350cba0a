//! Form building blocks shared by the pages.

mod banner;
mod field;
mod form_state;
mod notice;
mod strength;

pub use banner::{FormBanner, LoadError};
pub use field::{Field, SubmitButton};
pub use form_state::{action_error, FormFields};
pub use notice::Notice;
pub use strength::StrengthMeter;
