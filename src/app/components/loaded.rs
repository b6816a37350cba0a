use std::sync::Arc;

use leptos::prelude::*;

use super::LoadError;
use crate::model::AppError;

/// A section's data, once loaded: `children` renders the value, a failure shows its
/// `LoadError`, and nothing shows while the first load runs. Later reloads keep the
/// current view until the new value arrives (a `Transition`), so a list does not blink
/// after each action.
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
                Suspend::new(async move {
                    match resource.await {
                        Ok(value) => children(value).into_any(),
                        Err(error) => view! { <LoadError error/> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}
