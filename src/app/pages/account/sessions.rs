//! The person's sessions: where they are signed in, and a way to end any of them.

use leptos::prelude::*;

use crate::api::{RevokeOtherSessions, RevokeSession};
use crate::app::components::{loaded, posted_error, FormBanner};
use crate::model::activity::{describe_duration, SessionList, SessionView};
use crate::model::user::format_time;
use crate::model::AppError;

#[component]
pub fn SessionsSection(sessions: Result<SessionList, AppError>) -> impl IntoView {
    // Plain forms, no island: each posts and the server answers with this page again.
    let error = Signal::stored(
        posted_error::<RevokeSession>().or_else(posted_error::<RevokeOtherSessions>),
    );
    view! {
        <section class="card" aria-labelledby="sessions-title">
            <h2 id="sessions-title">"Where you're signed in"</h2>
            <FormBanner error/>
            {loaded(sessions, |list| view! { <Sessions list/> })}
        </section>
    }
}

#[component]
fn Sessions(list: SessionList) -> impl IntoView {
    let (revoke, revoke_others) = (ServerAction::new(), ServerAction::new());
    let SessionList {
        sessions,
        idle_timeout_secs,
        absolute_timeout_secs,
    } = list;
    let others = sessions.iter().filter(|s| !s.current).count();
    let policy = format!(
        "Sessions end after {} without activity (unless you chose “Remember me”) and after {} in any case.",
        describe_duration(idle_timeout_secs),
        describe_duration(absolute_timeout_secs),
    );
    view! {
        <p class="card-lead">{policy}</p>
        <ul class="session-list" data-testid="session-list">
            {sessions
                .into_iter()
                .map(|session| view! { <SessionRow session revoke/> })
                .collect_view()}
        </ul>
        {(others > 0).then(|| view! { <SignOutOthersButton action=revoke_others others/> })}
    }
}

#[component]
fn SessionRow(session: SessionView, revoke: ServerAction<RevokeSession>) -> impl IntoView {
    let place = session
        .ip
        .clone()
        .unwrap_or_else(|| "unknown address".into());
    let label = format!("Sign out {} ({place})", session.device);
    view! {
        <li class="session-row" data-testid="session-row" data-current=session.current.to_string()>
            <div>
                <strong>{session.device.clone()}</strong>
                {session.current.then(|| view! { <span class="badge badge-current">"This device"</span> })}
                {session.remember.then(|| view! { <span class="badge">"Remembered"</span> })}
                <p class="muted">
                    {format!(
                        "{place} · signed in {} · last active {}",
                        format_time(session.created_at),
                        format_time(session.last_seen_at),
                    )}
                </p>
            </div>
            {(!session.current)
                .then(|| {
                    view! {
                        <ActionForm action=revoke attr:class="inline-form">
                            <input type="hidden" name="id" value=session.id.clone()/>
                            <button type="submit" class="button button-small" aria-label=label>
                                "Sign out"
                            </button>
                        </ActionForm>
                    }
                })}
        </li>
    }
}

#[component]
fn SignOutOthersButton(action: ServerAction<RevokeOtherSessions>, others: usize) -> impl IntoView {
    let label = if others == 1 {
        "Sign out the other session".to_string()
    } else {
        format!("Sign out the {others} other sessions")
    };
    view! {
        <ActionForm action=action attr:class="inline-form">
            <button type="submit" class="button button-small button-quiet">
                {label}
            </button>
        </ActionForm>
    }
}
