//! Which message each field shows, and when.
//!
//! - The browser runs the shared validation model on every keystroke, but a field only shows
//!   its message once it has been visited (left once, or the form was submitted): nobody wants
//!   "Enter your email" while they are still typing it for the first time.
//! - A message from the server (e.g. "That username is already taken.") stays next to its field
//!   while the field still holds the value that was sent; editing it hides the message.

use std::collections::{BTreeMap, BTreeSet};

use leptos::ev::MouseEvent;
use leptos::prelude::*;

use crate::model::{AppError, FieldErrors};

/// The error a form posted without JavaScript came back with: the server redirected back to
/// the page with it in the URL (`?__path=…&__err=…`), and the router exposes it as
/// `ServerActionError`. Read by the server-rendered page and handed to the form's island as
/// a prop: an island in the browser has no router to ask.
pub fn posted_error<S: leptos::server_fn::ServerFn>() -> Option<AppError> {
    use_context::<leptos::server::ServerActionError>()
        .filter(|e| e.path() == S::PATH)
        .map(|e| leptos::server_fn::error::ServerFnUrlError::<AppError>::decode_err(e.err()))
}

/// The error a server action last returned: `posted`, the error of a form posted without
/// JavaScript (see `posted_error`), until the action runs in this page.
pub fn action_error<S>(
    action: ServerAction<S>,
    posted: Option<AppError>,
) -> Signal<Option<AppError>>
where
    S: leptos::server_fn::ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
{
    Signal::derive(move || {
        match action
            .value()
            .with(|v| v.as_ref().map(|r| r.as_ref().err().cloned()))
        {
            Some(err) => err,
            None if action.version().get() == 0 => posted.clone(),
            None => None,
        }
    })
}

/// What a form's inputs hold now, by field name: what its check reads.
#[derive(Clone, Copy)]
pub struct FieldValues(StoredValue<BTreeMap<&'static str, RwSignal<String>>>);

impl FieldValues {
    /// The signal bound to a field's input. Panics on a name not given to `FormFields::new`
    /// (a typo in the page, caught by the first render in any test).
    fn signal(&self, name: &'static str) -> RwSignal<String> {
        self.0.with_value(|v| v[name])
    }

    pub fn get(&self, name: &'static str) -> String {
        self.signal(name).get()
    }
}

/// A form's state: its values, which fields were visited, what was last sent, and the two
/// verdicts on it (the browser's copy of the shared model, and the server's last answer).
/// `Field` and `SubmitButton` take it whole and find their part by field name.
#[derive(Clone, Copy)]
pub struct FormFields {
    values: FieldValues,
    touched: RwSignal<BTreeSet<&'static str>>,
    /// The values at the last submit; `None` before any submit from this page (including a
    /// server-rendered page showing the error of a form posted without JavaScript).
    submitted: RwSignal<Option<BTreeMap<&'static str, String>>>,
    /// The shared model's check of the current values, rerun as they change.
    client: Memo<FieldErrors>,
    server: Signal<Option<AppError>>,
}

impl FormFields {
    /// A form with the fields `names`, all empty. `check` is the shared model's validation
    /// (the one the server runs); `server` is the error the server last answered with.
    pub fn new(
        names: &[&'static str],
        server: Signal<Option<AppError>>,
        check: impl Fn(FieldValues) -> Result<(), FieldErrors> + Send + Sync + 'static,
    ) -> Self {
        let values = FieldValues(StoredValue::new(
            names
                .iter()
                .map(|n| (*n, RwSignal::new(String::new())))
                .collect(),
        ));
        Self {
            values,
            touched: RwSignal::new(BTreeSet::new()),
            submitted: RwSignal::new(None),
            client: Memo::new(move |_| check(values).err().unwrap_or_default()),
            server,
        }
    }

    pub fn get(&self, name: &'static str) -> String {
        self.values.get(name)
    }

    /// The signal a field's input is bound to.
    pub(super) fn value(&self, name: &'static str) -> RwSignal<String> {
        self.values.signal(name)
    }

    /// The field was left: it shows its message from now on.
    pub(super) fn touch(&self, name: &'static str) {
        if !self.touched.with_untracked(|t| t.contains(name)) {
            self.touched.update(|t| {
                t.insert(name);
            });
        }
    }

    /// Back to a fresh, untouched form (after a change that succeeded: nothing sensitive stays
    /// in the page, and no "required" message greets the empty fields).
    pub fn reset(&self) {
        self.values
            .0
            .with_value(|v| v.values().for_each(|value| value.set(String::new())));
        self.touched.set(BTreeSet::new());
        self.submitted.set(None);
    }

    /// The submit button's click handler: every field shows its message from now on, and the
    /// form is sent only when the browser finds nothing wrong (the server checks again).
    pub fn on_submit(self) -> impl Fn(MouseEvent) + Copy + 'static {
        move |ev: MouseEvent| {
            let names: Vec<_> = self.values.0.with_value(|v| v.keys().copied().collect());
            self.touched.update(|t| t.extend(names));
            if self.client.with_untracked(FieldErrors::is_empty) {
                self.snapshot();
            } else {
                ev.prevent_default();
            }
        }
    }

    /// Remembers what is being sent, so server messages can be matched to it.
    fn snapshot(&self) {
        let values = self.values.0.with_value(|v| {
            v.iter()
                .map(|(name, value)| (*name, value.get_untracked()))
                .collect()
        });
        self.submitted.set(Some(values));
    }

    /// The message the field `name` shows now, given the browser's and the server's verdicts
    /// (reactive: read inside a closure, it follows the input and the answers).
    pub(super) fn message(&self, name: &'static str) -> Option<String> {
        if self.touched.with(|t| t.contains(name)) {
            if let Some(message) = self.client.with(|c| c.get(name).map(str::to_string)) {
                return Some(message);
            }
        }
        let server_message = self
            .server
            .with(|e| e.as_ref().and_then(|e| e.field(name)))?;
        let unchanged = self.submitted.with(|submitted| match submitted {
            None => true,
            Some(values) => values.get(name).is_some_and(|sent| *sent == self.get(name)),
        });
        unchanged.then_some(server_message)
    }
}
