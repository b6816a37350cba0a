//! Findings of the security review (ASVS 5.0 L2), each with the test that would catch its
//! regression.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn signing_in_again_ends_the_session_the_browser_came_with() {
    let app = spawn_app().await;
    let old = app.register_ok("alice", "alice@example.com").await;
    app.register_ok("bob", "bob@example.com").await;

    // The same browser signs in again (as someone else, here): its old session must end.
    let res = app
        .call(
            "login",
            &[("username", "bob"), ("password", PASSWORD)],
            Some(&old),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let new = session_token_from(&res, app.cookie_name).expect("a new session");
    assert_ne!(new, old);
    assert_eq!(app.current_username(&old).await, None);
    assert_eq!(app.current_username(&new).await.as_deref(), Some("bob"));

    // Registering from a signed-in browser too.
    let res = app
        .call(
            "register",
            &[
                ("email", "carol@example.com"),
                ("username", "carol"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
            Some(&new),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.current_username(&new).await, None);
}
