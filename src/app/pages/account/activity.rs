//! "Recent security activity": the latest 50 events of the person's tamper-evident log.

use leptos::prelude::*;

use crate::app::components::loaded;
use crate::model::activity::ActivityView;
use crate::model::user::format_time;
use crate::model::AppError;

#[component]
pub fn ActivitySection(events: Result<Vec<ActivityView>, AppError>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="activity-title">
            <h2 id="activity-title">"Recent security activity"</h2>
            <p class="card-lead">"Sign-ins, password changes and key changes on your account. Something you don't recognise? Change your password and sign out everywhere."</p>
            {loaded(events, |events| {
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
            })}
        </section>
    }
}

#[component]
fn ActivityRow(event: ActivityView) -> impl IntoView {
    let title = event.title();
    let context = [event.device, event.ip]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    // A folded run of failures: from how many addresses, and since when (its context is
    // that of the latest attempt).
    let summary = event.repeated.as_ref().map(|run| {
        let addresses = match run.addresses {
            1 => "1 address".to_string(),
            n => format!("{n} addresses"),
        };
        let slowed = if run.throttled {
            ", sign-in slowed down"
        } else {
            ""
        };
        format!(" · from {addresses}{slowed}")
    });
    let since = event.repeated.as_ref().map(|run| {
        view! { <time>{format_time(run.since)}</time> " – " }
    });
    let context = match (&event.repeated, context.is_empty()) {
        (_, true) => None,
        (Some(_), false) => Some(format!(" · latest: {context}")),
        (None, false) => Some(format!(" · {context}")),
    };
    view! {
        <li class="activity-row" class:activity-warning=event.kind.is_warning() data-kind=event.kind.as_str()>
            <div>
                <strong>{title}</strong>
                {event.detail.map(|detail| view! { <span class="activity-detail">{format!(" · {detail}")}</span> })}
                {summary.map(|summary| view! { <span class="activity-detail">{summary}</span> })}
                <p class="muted">{since} <time>{format_time(event.at)}</time> {context}</p>
            </div>
        </li>
    }
}
