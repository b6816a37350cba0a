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

/// The error a server action last returned. When the form was posted without JavaScript the
/// server redirected back here with the error in the URL (`?__path=…&__err=…`); the router
/// exposes it as `ServerActionError`, and it counts until the action runs in this page.
pub fn action_error<S>(action: ServerAction<S>) -> Signal<Option<AppError>>
where
    S: leptos::server_fn::ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
{
    let from_url = use_context::<leptos::server::ServerActionError>()
        .filter(|e| e.path() == S::PATH)
        .map(|e| leptos::server_fn::error::ServerFnUrlError::<AppError>::decode_err(e.err()));
    Signal::derive(move || {
        match action
            .value()
            .with(|v| v.as_ref().map(|r| r.as_ref().err().cloned()))
        {
            Some(err) => err,
            None if action.version().get() == 0 => from_url.clone(),
            None => None,
        }
    })
}

#[derive(Clone, Copy)]
pub struct FormFields {
    values: StoredValue<BTreeMap<&'static str, RwSignal<String>>>,
    touched: RwSignal<BTreeSet<&'static str>>,
    /// The values at the last submit; `None` before any submit from this page (including a
    /// server-rendered page showing the error of a form posted without JavaScript).
    submitted: RwSignal<Option<BTreeMap<&'static str, String>>>,
}

impl FormFields {
    pub fn new(names: &[&'static str]) -> Self {
        Self {
            values: StoredValue::new(
                names
                    .iter()
                    .map(|n| (*n, RwSignal::new(String::new())))
                    .collect(),
            ),
            touched: RwSignal::new(BTreeSet::new()),
            submitted: RwSignal::new(None),
        }
    }

    /// The signal bound to a field's input. Panics on a name not given to `new` (a typo in
    /// the page, caught by the first render in any test).
    pub fn value(&self, name: &'static str) -> RwSignal<String> {
        self.values.with_value(|v| v[name])
    }

    pub fn get(&self, name: &'static str) -> String {
        self.value(name).get()
    }

    pub fn touch(&self, name: &'static str) {
        if !self.touched.with_untracked(|t| t.contains(name)) {
            self.touched.update(|t| {
                t.insert(name);
            });
        }
    }

    /// Called when the submit button is pressed: every field now shows its message.
    pub fn touch_all(&self) {
        let names: Vec<_> = self.values.with_value(|v| v.keys().copied().collect());
        self.touched.update(|t| t.extend(names));
    }

    /// Back to a fresh, untouched form (after a change that succeeded: nothing sensitive stays
    /// in the page, and no "required" message greets the empty fields).
    pub fn reset(&self) {
        self.values
            .with_value(|v| v.values().for_each(|value| value.set(String::new())));
        self.touched.set(BTreeSet::new());
        self.submitted.set(None);
    }

    /// Remembers what is being sent, so server messages can be matched to it.
    pub fn snapshot(&self) {
        let values = self.values.with_value(|v| {
            v.iter()
                .map(|(name, value)| (*name, value.get_untracked()))
                .collect()
        });
        self.submitted.set(Some(values));
    }

    /// `message` as a signal: what the field `name` shows as the input and answers change.
    pub fn message_signal(
        self,
        name: &'static str,
        client: Memo<FieldErrors>,
        server: Signal<Option<AppError>>,
    ) -> Signal<Option<String>> {
        Signal::derive(move || self.message(name, &client.get(), server.get().as_ref()))
    }

    /// The submit button's click handler: every field shows its message from now on, and the
    /// form is sent only when the browser finds nothing wrong (the server checks again).
    pub fn on_submit(self, client: Memo<FieldErrors>) -> impl Fn(MouseEvent) + Copy + 'static {
        move |ev: MouseEvent| {
            self.touch_all();
            if client.with_untracked(FieldErrors::is_empty) {
                self.snapshot();
            } else {
                ev.prevent_default();
            }
        }
    }

    /// The message `name` shows now, given the browser's and the server's verdicts.
    pub fn message(
        &self,
        name: &'static str,
        client: &FieldErrors,
        server: Option<&AppError>,
    ) -> Option<String> {
        if self.touched.with(|t| t.contains(name)) {
            if let Some(message) = client.get(name) {
                return Some(message.to_string());
            }
        }
        let server_message = server?.field(name)?;
        let unchanged = self.submitted.with(|submitted| match submitted {
            None => true,
            Some(values) => values.get(name).is_some_and(|sent| *sent == self.get(name)),
        });
        unchanged.then_some(server_message)
    }
}
