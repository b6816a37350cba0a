use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    // During the server render, answer with a real 404 status, not a 200 page saying so.
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Page not found"/>
        <section class="card" aria-labelledby="nf-title">
            <h1 id="nf-title">"Page not found"</h1>
            <p class="card-lead">"There is nothing at this address. It may have moved, or the link may be mistyped."</p>
            <a class="button button-primary" href="/">"Go to the home page"</a>
        </section>
    }
}
