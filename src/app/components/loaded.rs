use std::sync::Arc;

use leptos::prelude::*;

use super::LoadError;
use crate::model::AppError;

/// A section's data that the page has awaited itself: `view` of the value, or its
/// `LoadError`. (A page that awaits every load in one place is rendered in one walk; each
/// `Loaded` is a `Suspense` of its own, which the server walks again once it resolves.)
pub fn loaded<T, V>(value: Result<T, AppError>, view: impl FnOnce(T) -> V) -> AnyView
where
    V: IntoView + 'static,
{
    match value {
        Ok(value) => view(value).into_any(),
        Err(error) => view! { <LoadError error/> }.into_any(),
    }
}

/// A section's data, once loaded: `children` renders the value, a failure shows its
/// `LoadError`. Rendered on the server, which waits for the load before it sends the page
/// (the routes are `SsrMode::Async`); a section that changes afterwards does so with the
/// next page load, or inside an island that got the value as a prop.
///
/// ```ignore
/// <Loaded resource=keys let:keys>
///     <KeyList keys/>
/// </Loaded>
/// ```
#[component]
pub fn Loaded<T, V>(
    resource: Resource<Result<T, AppError>>,
    children: impl Fn(T) -> V + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let children = Arc::new(children);
    view! {
        <Transition fallback=|| ()>
            {move || {
                let children = Arc::clone(&children);
                Suspend::new(async move { loaded(resource.await, |value| children(value)) })
            }}
        </Transition>
    }
}
