use leptos::prelude::*;

use crate::model::strength::Strength;

/// Four segments and a label. Colours come from classes keyed on the score (no inline
/// styles: the CSP allows none).
#[component]
pub fn StrengthMeter(#[prop(into)] strength: Signal<Option<Strength>>) -> impl IntoView {
    let score = move || strength.get().map(|s| s.score).unwrap_or(0);
    view! {
        <div class="strength" hidden=move || strength.get().is_none()>
            <div class="strength-bar" data-score=move || score().to_string() aria-hidden="true">
                <span></span>
                <span></span>
                <span></span>
                <span></span>
            </div>
            <p class="strength-label" aria-live="polite" data-testid="password-strength">
                "Password strength: "
                {move || strength.get().map(|s| s.label())}
            </p>
        </div>
    }
}
