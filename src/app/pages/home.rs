use leptos::prelude::*;
use leptos_meta::Title;

use crate::app::auth::use_auth;
use crate::app::components::Notice;

#[component]
pub fn HomePage() -> impl IntoView {
    let auth = use_auth();
    view! {
        <Title text="Home"/>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match auth.user.await {
                    Ok(Some(user)) => {
                        view! {
                            <section class="card" aria-labelledby="home-title">
                                <h1 id="home-title">"Welcome back"</h1>
                                <p class="signed-in-as" data-testid="signed-in-as">
                                    "Signed in as " <strong>{user.username}</strong>
                                </p>
                                <p class="card-lead">
                                    "Your account details and security settings are on your account page."
                                </p>
                                <a class="button button-primary button-block" href="/account">"Go to your account"</a>
                            </section>
                        }
                            .into_any()
                    }
                    _ => {
                        view! {
                            <Notice/>
                            <section class="card" aria-labelledby="home-title">
                                <h1 id="home-title">"The secure front door"</h1>
                                <p class="card-lead">
                                    "Create an account or sign in. Passwords are hashed with argon2id, sessions live on the server, and every form works with or without JavaScript."
                                </p>
                                <div class="actions">
                                    <a class="button button-primary" href="/register">"Create account"</a>
                                    <a class="button" href="/login">"Sign in"</a>
                                </div>
                            </section>
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
    }
}
