//! The browser's side of passkeys: `navigator.credentials.create` / `get`, called from the
//! wasm app (no inline script, so the CSP stays strict).
//!
//! The server sends the ceremony's options as WebAuthn's JSON (binary fields base64url), and
//! takes the browser's answer back as JSON. The conversion both ways is the browser's own
//! (`PublicKeyCredential.parseCreationOptionsFromJSON`, `parseRequestOptionsFromJSON`,
//! `toJSON`, WebAuthn level 3, in every current engine): no base64 or CBOR code ships in the
//! bundle, and webauthn-rs's browser types (which would bring `url` and its Unicode tables)
//! are not needed. web-sys does not bind those three yet, hence js-sys' `Reflect`.
//!
//! Only one request runs at a time: a new one aborts the one before (a conditional request,
//! waiting on the username field's autofill, would otherwise block the button's).
//!
//! On the server (no `hydrate` feature) the same functions exist and answer "unsupported";
//! the pages call them only from event handlers and effects, which run in the browser.

use std::future::Future;

use leptos::prelude::*;

use crate::model::passkey::{ALREADY_ON_DEVICE, CANCELLED, REFUSED, UNSUPPORTED};
use crate::model::AppError;

/// How a request ended without an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Replaced by a newer request, or the page stopped it: nothing to tell anyone.
    Aborted,
    /// What to tell the person.
    Message(&'static str),
}

/// A browser error's name (`DOMException.name`), as a message for the person.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn message_for(name: &str) -> Failure {
    match name {
        "AbortError" => Failure::Aborted,
        // The dialog was closed, timed out, or no passkey was chosen.
        "NotAllowedError" => Failure::Message(CANCELLED),
        // `excludeCredentials` matched: this authenticator already has one for the account.
        "InvalidStateError" => Failure::Message(ALREADY_ON_DEVICE),
        "NotSupportedError" => Failure::Message(UNSUPPORTED),
        _ => Failure::Message(REFUSED),
    }
}

/// Runs a page's passkey sign-in (`ceremony`: its requests around the browser's prompt,
/// answering where to go, or `None` when the prompt was replaced): then a full load of that
/// address, so every part of the page learns of the new session, or the error in `error`.
/// `try_`: the person may leave the page while the prompt is open, and the answer then arrives
/// after the page's signals are gone.
pub fn sign_in_from_page(
    ceremony: impl Future<Output = Result<Option<String>, AppError>> + 'static,
    pending: RwSignal<bool>,
    error: RwSignal<Option<AppError>>,
) {
    leptos::task::spawn_local(async move {
        let outcome = ceremony.await;
        pending.try_set(false);
        match outcome {
            Ok(Some(target)) => {
                let _ = window().location().assign(&target);
            }
            Ok(None) => {}
            Err(failure) => {
                error.try_set(Some(failure));
            }
        }
    });
}

/// What to say under a passkey button about `error`.
pub fn failure_message(error: RwSignal<Option<AppError>>) -> Option<String> {
    error
        .get()
        .map(|e| e.field("passkey").unwrap_or_else(|| e.to_string()))
}

pub use imp::{abort_pending, conditional_mediation_available, create, get, supported};

#[cfg(feature = "hydrate")]
mod imp {
    use std::cell::RefCell;

    use js_sys::{Function, Object, Reflect, JSON};
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::AbortController;

    use super::{message_for, Failure};
    use crate::model::passkey::{REFUSED, UNSUPPORTED};

    thread_local! {
        /// The running request's abort switch.
        static PENDING: RefCell<Option<AbortController>> = const { RefCell::new(None) };
    }

    fn get_property(target: &JsValue, name: &str) -> Option<JsValue> {
        Reflect::get(target, &JsValue::from_str(name))
            .ok()
            .filter(|value| !value.is_undefined() && !value.is_null())
    }

    fn class() -> Option<JsValue> {
        get_property(&js_sys::global(), "PublicKeyCredential")
    }

    fn static_method(name: &str) -> Option<(JsValue, Function)> {
        let class = class()?;
        let method = get_property(&class, name)?.dyn_into::<Function>().ok()?;
        Some((class, method))
    }

    /// Can this browser make and use passkeys the way these pages ask (with the JSON
    /// helpers)?
    pub fn supported() -> bool {
        static_method("parseCreationOptionsFromJSON").is_some()
            && static_method("parseRequestOptionsFromJSON").is_some()
    }

    /// Does the browser offer passkeys in the username field's autofill?
    pub async fn conditional_mediation_available() -> bool {
        let Some((class, method)) = static_method("isConditionalMediationAvailable") else {
            return false;
        };
        let Ok(promise) = method.call0(&class) else {
            return false;
        };
        match JsFuture::from(js_sys::Promise::resolve(&promise)).await {
            Ok(answer) => answer.as_bool().unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Stops the running request, if any.
    pub fn abort_pending() {
        PENDING.with(|pending| {
            if let Some(controller) = pending.borrow_mut().take() {
                controller.abort();
            }
        });
    }

    fn new_signal() -> Result<web_sys::AbortSignal, Failure> {
        abort_pending();
        let controller = AbortController::new().map_err(|_| Failure::Message(UNSUPPORTED))?;
        let signal = controller.signal();
        PENDING.with(|pending| *pending.borrow_mut() = Some(controller));
        Ok(signal)
    }

    fn options(parser: &str, json: &str, extra: &[(&str, JsValue)]) -> Result<Object, Failure> {
        let (class, parse) = static_method(parser).ok_or(Failure::Message(UNSUPPORTED))?;
        let parsed = JSON::parse(json)
            .and_then(|value| parse.call1(&class, &value))
            .map_err(|_| Failure::Message(REFUSED))?;
        let options = Object::new();
        let set = |name: &str, value: &JsValue| {
            Reflect::set(&options, &JsValue::from_str(name), value)
                .map(|_| ())
                .map_err(|_| Failure::Message(UNSUPPORTED))
        };
        set("publicKey", &parsed)?;
        set("signal", &new_signal()?.into())?;
        for (name, value) in extra {
            set(name, value)?;
        }
        Ok(options)
    }

    async fn answer(promise: Result<js_sys::Promise, JsValue>) -> Result<String, Failure> {
        let outcome = match promise {
            Ok(promise) => JsFuture::from(promise).await,
            Err(error) => Err(error),
        };
        PENDING.with(|pending| pending.borrow_mut().take());
        let credential = outcome.map_err(|error| {
            let name = get_property(&error, "name").and_then(|name| name.as_string());
            message_for(name.as_deref().unwrap_or_default())
        })?;
        let to_json = get_property(&credential, "toJSON")
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or(Failure::Message(UNSUPPORTED))?;
        to_json
            .call0(&credential)
            .and_then(|object| JSON::stringify(&object))
            .map(String::from)
            .map_err(|_| Failure::Message(REFUSED))
    }

    fn credentials() -> web_sys::CredentialsContainer {
        leptos::prelude::window().navigator().credentials()
    }

    /// Makes a passkey with the server's creation options (JSON); answers the new credential
    /// as JSON.
    pub async fn create(options_json: &str) -> Result<String, Failure> {
        let options = options("parseCreationOptionsFromJSON", options_json, &[])?;
        answer(credentials().create_with_options(options.unchecked_ref())).await
    }

    /// Signs the server's challenge with a passkey (request options as JSON); answers the
    /// assertion as JSON. `conditional`: wait for the person to pick a passkey in the
    /// username field's autofill, instead of opening a dialog now.
    pub async fn get(options_json: &str, conditional: bool) -> Result<String, Failure> {
        let mediation: &[(&str, JsValue)] = if conditional {
            &[("mediation", JsValue::from_str("conditional"))]
        } else {
            &[]
        };
        let options = options("parseRequestOptionsFromJSON", options_json, mediation)?;
        answer(credentials().get_with_options(options.unchecked_ref())).await
    }
}

#[cfg(not(feature = "hydrate"))]
mod imp {
    use super::Failure;
    use crate::model::passkey::UNSUPPORTED;

    pub fn supported() -> bool {
        false
    }

    pub async fn conditional_mediation_available() -> bool {
        false
    }

    pub fn abort_pending() {}

    pub async fn create(_options_json: &str) -> Result<String, Failure> {
        Err(Failure::Message(UNSUPPORTED))
    }

    pub async fn get(_options_json: &str, _conditional: bool) -> Result<String, Failure> {
        Err(Failure::Message(UNSUPPORTED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_refusals_become_messages_and_an_abort_stays_quiet() {
        assert_eq!(message_for("AbortError"), Failure::Aborted);
        assert_eq!(message_for("NotAllowedError"), Failure::Message(CANCELLED));
        assert_eq!(
            message_for("InvalidStateError"),
            Failure::Message(ALREADY_ON_DEVICE)
        );
        assert_eq!(message_for("SecurityError"), Failure::Message(REFUSED));
    }
}
