//! The JSON API: OAuth2 password grant, JWT validation and revocation, API keys, OpenAPI.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

fn assert_invalid_token(res: &reqwest::Response, what: &str) {
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
    let challenge = header(res, "www-authenticate").unwrap_or("");
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains(r#"error="invalid_token""#),
        "{what}: {challenge}"
    );
}

#[tokio::test]
async fn the_password_grant_issues_a_bearer_token_that_works_on_me() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let res = app.password_grant("alice@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1800);
    let me = app.me(body["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(
        me,
        json!({ "username": "alice", "email": "alice@example.com", "created_at": START_TIME })
    );
}

#[tokio::test]
async fn token_errors_follow_rfc_6749_and_do_not_tell_users_apart() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let error = |res: Value| res["error"].as_str().unwrap().to_string();
    let wrong = app.password_grant("alice", "nope nope").await;
    let unknown = app.password_grant("ghost", "nope nope").await;
    assert_eq!(
        (wrong.status(), unknown.status()),
        (StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST)
    );
    let (wrong, unknown) = (wrong.text().await.unwrap(), unknown.text().await.unwrap());
    assert_eq!(wrong, unknown);
    assert_eq!(
        error(serde_json::from_str(&wrong).unwrap()),
        "invalid_grant"
    );
    let res = app.token(&[("grant_type", "client_credentials")]).await;
    assert_eq!(error(res.json().await.unwrap()), "unsupported_grant_type");
    let res = app.token(&[("username", "alice")]).await;
    assert_eq!(error(res.json().await.unwrap()), "invalid_request");
    let res = app
        .post_json("/api/v1/token", &json!({"grant_type": "password"}))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error(res.json().await.unwrap()), "invalid_request");
}

#[tokio::test]
async fn the_token_endpoint_shares_the_sign_in_rate_limit() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.password_grant(&format!("n{i}"), "nope nope").await;
    }
    let res = app.password_grant("n9", "nope nope").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
}

/// A token signed with our key but whatever header and claims the test wants.
fn forge(app: &TestApp, header: Value, claims: Value) -> String {
    use jsonwebtoken::{EncodingKey, Header};
    let _ = header;
    let secret = secrecy::ExposeSecret::expose_secret(&app.state.settings.secret_key).to_string();
    let key = sha2::Digest::chain_update(
        sha2::Digest::chain_update(sha2::Sha256::default(), b"gatehouse/jwt/hs256/v1\0"),
        secret.as_bytes(),
    );
    let key = sha2::Digest::finalize(key);
    let mut h = Header::new(jsonwebtoken::Algorithm::HS256);
    h.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(&key)).unwrap()
}

fn claims(app: &TestApp, overrides: Value) -> Value {
    let now = gatehouse::server::clock::Clock::now(&app.clock);
    let mut c = json!({
        "sub": "1", "iat": now, "nbf": now, "exp": now + 600,
        "iss": "gatehouse", "aud": "gatehouse-api", "jti": "x", "ver": 0
    });
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

#[tokio::test]
async fn every_kind_of_bad_token_gets_401_invalid_token() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let good = app.access_token("alice").await;
    let now = gatehouse::server::clock::Clock::now(&app.clock);
    assert_eq!(
        app.me(&forge(&app, json!({}), claims(&app, json!({}))))
            .await
            .status(),
        StatusCode::OK,
        "the forger itself is sound"
    );

    let (head, payload) = {
        let mut parts = good.split('.');
        (
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
        )
    };
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    let hs512 = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512);
        h.typ = Some("at+jwt".into());
        jsonwebtoken::encode(
            &h,
            &claims(&app, json!({})),
            &jsonwebtoken::EncodingKey::from_secret(b"guess"),
        )
        .unwrap()
    };
    let other_key = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.typ = Some("at+jwt".into());
        jsonwebtoken::encode(
            &h,
            &claims(&app, json!({})),
            &jsonwebtoken::EncodingKey::from_secret(b"not our key at all, 32+ bytes!!!"),
        )
        .unwrap()
    };
    let cases: Vec<(&str, String)> = vec![
        ("alg none", format!("{none_header}.{payload}.")),
        ("other algorithm", hs512),
        ("wrong key", other_key),
        (
            "tampered payload",
            format!(
                "{head}.{}.{}",
                URL_SAFE_NO_PAD.encode(br#"{"sub":"2"}"#),
                good.split('.').nth(2).unwrap()
            ),
        ),
        (
            "expired",
            forge(
                &app,
                json!({}),
                claims(
                    &app,
                    json!({"iat": now - 4000, "nbf": now - 4000, "exp": now - 3000}),
                ),
            ),
        ),
        (
            "not yet valid",
            forge(
                &app,
                json!({}),
                claims(
                    &app,
                    json!({"nbf": now + 3600, "iat": now + 3600, "exp": now + 7200}),
                ),
            ),
        ),
        (
            "wrong audience",
            forge(&app, json!({}), claims(&app, json!({"aud": "another-api"}))),
        ),
        (
            "wrong issuer",
            forge(&app, json!({}), claims(&app, json!({"iss": "evil"}))),
        ),
        (
            "missing exp",
            forge(&app, json!({}), claims(&app, json!({"exp": null}))),
        ),
        (
            "old token version",
            forge(&app, json!({}), claims(&app, json!({"ver": -1}))),
        ),
        ("garbage", "not.a.jwt".into()),
    ];
    for (what, token) in &cases {
        assert_invalid_token(&app.me(token).await, what);
    }
    // In the query string the token is not even looked at.
    let res = app
        .get(&format!("/api/v1/users/me?access_token={good}"))
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_stops_working_when_its_owner_signs_out_everywhere() {
    let app = spawn_app().await;
    let session = app.register_ok("alice", "alice@example.com").await;
    let jwt = app.access_token("alice").await;
    assert_eq!(app.me(&jwt).await.status(), StatusCode::OK);
    let res = app.call("logout_everywhere", &[], Some(&session)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_invalid_token(&app.me(&jwt).await, "revoked");
    assert_eq!(
        app.current_username(&session).await,
        None,
        "the session ended too"
    );
}

#[tokio::test]
async fn an_expired_token_is_refused_by_the_clock() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let jwt = app.access_token("alice").await;
    app.clock.advance(1800 + 31);
    assert_invalid_token(&app.me(&jwt).await, "expired");
}

#[tokio::test]
async fn json_registration_returns_201_or_field_errors_and_ignores_extra_fields() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "a@example.com", "username": "apiuser", "password": PASSWORD, "role": "admin", "id": 1}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"username": "apiuser", "email": "a@example.com", "created_at": START_TIME})
    );
    assert!(!body.to_string().contains("argon2"));

    let res = app
        .post_json(
            "/api/v1/users",
            &json!({"email": "nope", "username": "apiuser", "password": "short"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "validation_failed");
    assert_eq!(
        body["fields"]["email"],
        "Enter an email address like name@example.com."
    );
    assert_eq!(body["fields"]["password"], "Use at least 8 characters.");

    let res = app
        .client
        .post(app.url("/api/v1/users"))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
}

#[tokio::test]
async fn api_keys_are_shown_once_work_on_me_and_can_be_revoked() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let jwt = app.access_token("alice").await;
    let created = app.create_key(&jwt, "laptop script").await;
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with(&format!("gk_{}_", created["prefix"].as_str().unwrap())));
    assert_eq!(created["scopes"], json!(["read:profile"]));

    assert_eq!(app.me(&secret).await.status(), StatusCode::OK);
    let list: Value = app
        .get_with_bearer("/api/v1/keys", &jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(
        !list.to_string().contains(&secret),
        "the secret is never listed"
    );
    assert_eq!(list[0]["last_used_at"], START_TIME);

    let stored = app
        .store()
        .api_key_by_prefix(created["prefix"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_ne!(
        stored.secret_hash,
        secret.as_bytes(),
        "only a hash is stored"
    );

    let res = app
        .client
        .delete(app.url(&format!("/api/v1/keys/{}", created["id"])))
        .header(AUTHORIZATION, format!("Bearer {jwt}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_invalid_token(&app.me(&secret).await, "revoked key");
}

/// Key names are shown on the account page; control characters are refused (a NUL, which
/// PostgreSQL cannot store, would otherwise be a 500 there and stored on SQLite).
#[tokio::test]
async fn a_key_name_with_control_characters_is_refused() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let jwt = app.access_token("alice").await;
    for name in ["nul\u{0}name", "line\nbreak", "\u{7}bell"] {
        let res = app
            .post_json_with_bearer("/api/v1/keys", &jwt, &json!({ "name": name }))
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
    }
    app.create_key(&jwt, "CI déploiement (été)").await;
}

#[tokio::test]
async fn a_key_cannot_manage_keys_or_open_browser_pages() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let jwt = app.access_token("alice").await;
    let secret = app.create_key(&jwt, "ci").await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app.get_with_bearer("/api/v1/keys", &secret).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .post_json_with_bearer("/api/v1/keys", &secret, &json!({"name": "escalate"}))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Pages only know session cookies: with a key, /account still sends you to sign in.
    let res = app
        .client
        .get(app.url("/account"))
        .header("accept", "text/html")
        .header(AUTHORIZATION, format!("Bearer {secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn expired_keys_stop_working() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let jwt = app.access_token("alice").await;
    let res = app
        .post_json_with_bearer(
            "/api/v1/keys",
            &jwt,
            &json!({"name": "one day", "expires_in_days": 1}),
        )
        .await;
    let secret = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.me(&secret).await.status(), StatusCode::OK);
    app.clock.advance(86_400);
    assert_invalid_token(&app.me(&secret).await, "expired key");
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_both_security_schemes() {
    let app = spawn_app().await;
    let doc = app.get_json("/api/v1/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for (path, method) in [
        ("/api/v1/token", "post"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/me", "get"),
        ("/api/v1/keys", "get"),
        ("/api/v1/keys", "post"),
        ("/api/v1/keys/{id}", "delete"),
        ("/api/v1/openapi.json", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer_jwt"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["scheme"], "bearer");
}
