//! "Recent security activity": the latest 50 events of the person's tamper-evident log.

use leptos::prelude::*;

use super::AccountActions;
use crate::api::security_activity;
use crate::app::components::Loaded;
use crate::model::activity::ActivityView;
use crate::model::user::format_time;

#[component]
pub fn ActivitySection() -> impl IntoView {
    let actions = expect_context::<AccountActions>();
    let events = Resource::new(move || actions.version(), |_| security_activity());
    view! {
        <section class="card" aria-labelledby="activity-title">
            <h2 id="activity-title">"Recent security activity"</h2>
            <p class="card-lead">"Sign-ins, password changes and key changes on your account. Something you don't recognise? Change your password and sign out everywhere."</p>
            <Loaded resource=events let:events>
                {if events.is_empty() {
                    view! { <p class="muted">"Nothing yet."</p> }.into_any()
                } else {
                    view! {
                        <ol class="activity-list" data-testid="activity-list">
                            {events.into_iter().map(|event| view! { <ActivityRow event/> }).collect_view()}
                        </ol>
                    }
                        .into_any()
                }}
            </Loaded>
        </section>
    }
}

#[component]
fn ActivityRow(event: ActivityView) -> impl IntoView {
    let context = [event.device, event.ip]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <li class="activity-row" class:activity-warning=event.kind.is_warning() data-kind=event.kind.as_str()>
            <div>
                <strong>{event.kind.describe()}</strong>
                {event.detail.map(|detail| view! { <span class="activity-detail">{format!(" · {detail}")}</span> })}
                <p class="muted">
                    <time>{format_time(event.at)}</time>
                    {(!context.is_empty()).then(|| format!(" · {context}"))}
                </p>
            </div>
        </li>
    }
}
