use leptos::prelude::*;

use super::FormFields;

/// A labelled input with its hint and its error message, wired for assistive technology:
/// the label is tied to the input, the input points at its hint and error through
/// `aria-describedby`, and the error region is `aria-live` so a new message is announced.
#[component]
pub fn Field(
    /// The form the field belongs to: its value, its message and whether it was visited are
    /// read there by `name`.
    form: FormFields,
    /// The form field name the server function receives.
    name: &'static str,
    #[prop(into)] label: String,
    /// `text`, `email`, `password`…
    #[prop(default = "text")]
    kind: &'static str,
    autocomplete: &'static str,
    #[prop(optional, into)] hint: Option<&'static str>,
    /// Show a "Show / Hide" toggle (password fields).
    #[prop(optional)]
    reveal: bool,
    /// The input's id, when the page needs another one than `field-{name}` (two forms with
    /// the same field, or one form per item of a list).
    #[prop(optional, into)]
    id: Option<String>,
    #[prop(optional)] maxlength: Option<usize>,
    /// The keyboard a phone shows (`numeric` for one-time codes).
    #[prop(optional)]
    inputmode: Option<&'static str>,
) -> impl IntoView {
    let value = form.value(name);
    let error = Signal::derive(move || form.message(name));
    let input_id = id.unwrap_or_else(|| format!("field-{name}"));
    let error_id = format!("{input_id}-error");
    let hint_id = format!("{input_id}-hint");
    let described_by = match hint {
        Some(_) => format!("{hint_id} {error_id}"),
        None => error_id.clone(),
    };
    let shown = RwSignal::new(false);
    let input_type = move || if reveal && shown.get() { "text" } else { kind };
    // The toggle needs JavaScript; it stays hidden until the page has hydrated, so a
    // browser without JavaScript never shows a button that does nothing.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    view! {
        <div class="field" class:field-invalid=move || error.with(Option::is_some)>
            <label for=input_id.clone()>{label}</label>
            {hint.map(|text| view! { <p class="field-hint" id=hint_id.clone()>{text}</p> })}
            <div class="input-row">
                <input
                    id=input_id.clone()
                    name=name
                    type=input_type
                    autocomplete=autocomplete
                    aria-required="true"
                    aria-invalid=move || if error.with(Option::is_some) { "true" } else { "false" }
                    aria-describedby=described_by
                    maxlength=maxlength
                    inputmode=inputmode
                    bind:value=value
                    on:blur=move |_| form.touch(name)
                />
                {reveal
                    .then(|| {
                        view! {
                            <button
                                type="button"
                                class="reveal"
                                aria-controls=input_id.clone()
                                aria-pressed=move || shown.get().to_string()
                                hidden=move || !hydrated.get()
                                on:click=move |_| shown.update(|s| *s = !*s)
                            >
                                {move || if shown.get() { "Hide" } else { "Show" }}
                                <span class="visually-hidden">" password"</span>
                            </button>
                        }
                    })}
            </div>
            <p class="field-error" id=error_id aria-live="polite">
                {move || error.get()}
            </p>
        </div>
    }
}

/// The submit button: disabled with a busy label while the request runs.
#[component]
pub fn SubmitButton(
    /// The form it submits: pressing it shows every field's message, and sends the form only
    /// when the browser finds nothing wrong.
    form: FormFields,
    label: &'static str,
    busy_label: &'static str,
    #[prop(into)] pending: Signal<bool>,
) -> impl IntoView {
    view! {
        <button
            type="submit"
            class="button button-primary button-block"
            disabled=move || pending.get()
            aria-busy=move || pending.get().to_string()
            on:click=form.on_submit()
        >
            {move || if pending.get() { busy_label } else { label }}
        </button>
    }
}
