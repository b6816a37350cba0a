use std::sync::Arc;

use leptos::prelude::*;

use super::{Field, FormFields, StrengthMeter};
use crate::api::get_password_policy;
use crate::model::strength::estimate;
use crate::model::{AppError, PasswordPolicy};

/// Choosing a password: the new password with the policy as its hint and the strength meter
/// under it, then the same password again. The meter weighs the password against the
/// person's username and email, as the server's policy does.
#[component]
pub fn NewPasswordFields(
    form: FormFields,
    policy: PasswordPolicy,
    /// The password's field name and label.
    name: &'static str,
    label: &'static str,
    /// The confirmation's field name and label.
    confirm_name: &'static str,
    confirm_label: &'static str,
    #[prop(into)] username: Signal<String>,
    #[prop(into)] email: Signal<String>,
) -> impl IntoView {
    let strength = Signal::derive(move || {
        let password = form.get(name);
        (!password.is_empty()).then(|| estimate(&password, &username.read(), &email.read()))
    });
    view! {
        <Field
            form
            name
            label
            kind="password"
            autocomplete="new-password"
            hint=policy.hint()
            reveal=true
        />
        <StrengthMeter strength/>
        <Field
            form
            name=confirm_name
            label=confirm_label
            kind="password"
            autocomplete="new-password"
            reveal=true
        />
    }
}

/// The password rules this server enforces, loaded with the page (blocking: the form is in the
/// first HTML and works without JavaScript).
///
/// Started by the page itself, outside any `Suspense`: on the server a `Suspense` walks its
/// children again while a read is pending, and a resource *created* in there is created and
/// fetched again on every walk, each new one pending and so asking for another walk. Made inside
/// the account page's `Transition`, it cost that page one more walk (a full render of every
/// card) whenever the session came from memory (docs/benchmarks.md).
#[derive(Clone, Copy)]
pub struct PasswordPolicyLoad(Resource<Result<PasswordPolicy, AppError>>);

impl PasswordPolicyLoad {
    pub fn start() -> Self {
        Self(Resource::new_blocking(|| (), |_| get_password_policy()))
    }

    /// The policy once loaded, or the default should the load fail (the server checks its
    /// own anyway).
    pub async fn policy(self) -> PasswordPolicy {
        self.0.await.unwrap_or_default()
    }
}

/// `children` rendered with the policy of `policy`, so the form checks the same rules in the
/// browser. Should the fetch fail, the default policy stands in: the server checks its own
/// anyway.
#[component]
pub fn WithPasswordPolicy<V>(
    policy: PasswordPolicyLoad,
    children: impl Fn(PasswordPolicy) -> V + Send + Sync + 'static,
) -> impl IntoView
where
    V: IntoView + 'static,
{
    let children = Arc::new(children);
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let children = Arc::clone(&children);
                Suspend::new(async move { children(policy.policy().await) })
            }}
        </Suspense>
    }
}
