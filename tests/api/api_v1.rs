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
        json!({ "username": "alice", "email": "alice@example.com", "created_at": START_TIME, "email_verified": false, "two_factor_enabled": false })
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

/// A token signed with our key, with the claims and header the test wants: `header` may set
/// `alg` (signed with that algorithm, still with our key) and `typ` (`null` leaves it out);
/// anything unset is what the app issues (`HS256`, `at+jwt`).
fn forge(app: &TestApp, header: Value, claims: Value) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let secret = secrecy::ExposeSecret::expose_secret(&app.state.settings.secret_key).to_string();
    let key = sha2::Digest::chain_update(
        sha2::Digest::chain_update(sha2::Sha256::default(), b"gatehouse/jwt/hs256/v1\0"),
        secret.as_bytes(),
    );
    let key = sha2::Digest::finalize(key);
    let alg = match header.get("alg") {
        Some(alg) => alg.as_str().unwrap().parse::<Algorithm>().unwrap(),
        None => Algorithm::HS256,
    };
    let mut h = Header::new(alg);
    h.typ = match header.get("typ") {
        None => Some("at+jwt".into()),
        Some(Value::Null) => None,
        Some(typ) => Some(typ.as_str().unwrap().into()),
    };
    jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(&key)).unwrap()
}

/// Claims as the app would issue them to `sub` (an account's public id) now, with `overrides`
/// applied (`null` removes a claim).
fn claims(app: &TestApp, sub: &str, overrides: Value) -> Value {
    let now = gatehouse::server::clock::Clock::now(&app.clock);
    let mut c = json!({
        "sub": sub, "iat": now, "nbf": now, "exp": now + 600,
        "iss": "gatehouse", "aud": "gatehouse-api", "jti": "x", "ver": 0,
        "client_id": "gatehouse-password-grant"
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
    let alice = app.stored_user("alice").await.unwrap();
    let claims = |overrides| claims(&app, &alice.public_id, overrides);
    let now = gatehouse::server::clock::Clock::now(&app.clock);
    assert_eq!(
        app.me(&forge(&app, json!({}), claims(json!({}))))
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
    let other_key = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.typ = Some("at+jwt".into());
        jsonwebtoken::encode(
            &h,
            &claims(json!({})),
            &jsonwebtoken::EncodingKey::from_secret(b"not our key at all, 32+ bytes!!!"),
        )
        .unwrap()
    };
    let cases: Vec<(&str, String)> = vec![
        ("alg none", format!("{none_header}.{payload}.")),
        // Signed with our key, so only the header check (and jsonwebtoken's own algorithm
        // list) can refuse these.
        (
            "other algorithm",
            forge(&app, json!({"alg": "HS512"}), claims(json!({}))),
        ),
        (
            "another type of JWT",
            forge(&app, json!({"typ": "JWT"}), claims(json!({}))),
        ),
        (
            "no type",
            forge(&app, json!({"typ": null}), claims(json!({}))),
        ),
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
                claims(json!({"iat": now - 4000, "nbf": now - 4000, "exp": now - 3000})),
            ),
        ),
        (
            "not yet valid",
            forge(
                &app,
                json!({}),
                claims(json!({"nbf": now + 3600, "iat": now + 3600, "exp": now + 7200})),
            ),
        ),
        (
            "wrong audience",
            forge(&app, json!({}), claims(json!({"aud": "another-api"}))),
        ),
        (
            "wrong issuer",
            forge(&app, json!({}), claims(json!({"iss": "evil"}))),
        ),
        (
            "missing exp",
            forge(&app, json!({}), claims(json!({"exp": null}))),
        ),
        (
            "old token version",
            forge(&app, json!({}), claims(json!({"ver": -1}))),
        ),
        (
            "missing client_id",
            forge(&app, json!({}), claims(json!({"client_id": null}))),
        ),
        // Tokens from before public ids named the account by its row id: refused.
        (
            "internal id as subject",
            forge(
                &app,
                json!({}),
                claims(json!({"sub": alice.id.to_string()})),
            ),
        ),
        (
            "unknown subject",
            forge(&app, json!({}), claims(json!({"sub": "0".repeat(32)}))),
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
        json!({"username": "apiuser", "email": "a@example.com", "created_at": START_TIME, "email_verified": false, "two_factor_enabled": false})
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

    // Only the SHA-256 of the secret part (`gk_<prefix>_<secret>`) is stored: not the key,
    // not the secret's decoded bytes (as long as a hash), not in any other column either.
    let prefix = created["prefix"].as_str().unwrap();
    let secret_part = secret
        .strip_prefix(&format!("gk_{prefix}_"))
        .expect("gk_<prefix>_<secret>");
    let stored = app
        .store()
        .api_key_by_prefix(prefix)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.secret_hash,
        sha256(secret_part.as_bytes()),
        "the stored value is the secret's SHA-256"
    );
    assert_ne!(
        stored.secret_hash,
        URL_SAFE_NO_PAD.decode(secret_part).unwrap(),
        "not the secret's own bytes"
    );
    for column in [&stored.name, &stored.prefix, &stored.scopes] {
        assert!(!column.contains(secret_part), "{column}");
    }

    let res = revoke_key(&app, &jwt, &created["id"]).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_invalid_token(&app.me(&secret).await, "revoked key");
}

/// `DELETE /api/v1/keys/{id}` with `Authorization: Bearer <bearer>`.
async fn revoke_key(app: &TestApp, bearer: &str, id: &Value) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/api/v1/keys/{id}")))
        .header(AUTHORIZATION, format!("Bearer {bearer}"))
        .send()
        .await
        .unwrap()
}

/// The ids of the keys `/api/v1/keys` lists for `bearer`, and whether each is revoked.
async fn listed_keys(app: &TestApp, bearer: &str) -> Vec<(i64, bool)> {
    let res = app.get_with_bearer("/api/v1/keys", bearer).await;
    assert_eq!(res.status(), StatusCode::OK);
    let list: Vec<Value> = res.json().await.unwrap();
    list.iter()
        .map(|k| (k["id"].as_i64().unwrap(), !k["revoked_at"].is_null()))
        .collect()
}

/// Each account sees and revokes only its own keys: another account's key is as unknown to
/// it as a key that does not exist, and stays usable.
#[tokio::test]
async fn another_account_can_neither_list_nor_revoke_a_key() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    app.register_ok("bob", "bob@example.com").await;
    let alice = app.access_token("alice").await;
    let bob = app.access_token("bob").await;
    let alices = app.create_key(&alice, "alice's deploy").await;
    let alices_secret = alices["secret"].as_str().unwrap().to_string();
    let bobs = app.create_key(&bob, "bob's laptop").await;
    let (alices_id, bobs_id) = (alices["id"].as_i64().unwrap(), bobs["id"].as_i64().unwrap());

    assert_eq!(listed_keys(&app, &bob).await, [(bobs_id, false)]);
    assert_eq!(listed_keys(&app, &alice).await, [(alices_id, false)]);

    let refused = revoke_key(&app, &bob, &alices["id"]).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let refused: Value = refused.json().await.unwrap();
    let unknown = revoke_key(&app, &bob, &json!(alices_id + bobs_id + 1000)).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(
        refused["error"], unknown["error"],
        "answered as an unknown key"
    );

    // Alice's key is untouched: it works, and she still sees it unrevoked.
    assert_eq!(app.me(&alices_secret).await.status(), StatusCode::OK);
    assert_eq!(listed_keys(&app, &alice).await, [(alices_id, false)]);
    // Bob's own revocation works, and only on his key.
    assert_eq!(
        revoke_key(&app, &bob, &bobs["id"]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(listed_keys(&app, &bob).await, [(bobs_id, true)]);
    assert_eq!(app.me(&alices_secret).await.status(), StatusCode::OK);
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
            .post_json_with_bearer(
                "/api/v1/keys",
                &jwt,
                &json!({ "name": name, "password": PASSWORD }),
            )
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
    let created = app.create_key(&jwt, "ci").await;
    let secret = created["secret"].as_str().unwrap().to_string();
    let id = created["id"].as_i64().unwrap();
    let refusals = [
        ("list", app.get_with_bearer("/api/v1/keys", &secret).await),
        (
            "create",
            app.post_json_with_bearer(
                "/api/v1/keys",
                &secret,
                &json!({"name": "escalate", "password": PASSWORD}),
            )
            .await,
        ),
        ("revoke", revoke_key(&app, &secret, &created["id"]).await),
    ];
    for (what, res) in refusals {
        // A valid credential without the right to the route (RFC 6750 §3.1), not a bad one.
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{what}");
        let challenge = header(&res, "www-authenticate").unwrap_or("").to_string();
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains(r#"error="insufficient_scope""#),
            "{what}: {challenge}"
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "insufficient_scope", "{what}: {body}");
    }
    // Nothing was made or revoked.
    assert_eq!(listed_keys(&app, &jwt).await, [(id, false)]);
    assert_eq!(app.me(&secret).await.status(), StatusCode::OK);
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
            &json!({"name": "one day", "expires_in_days": 1, "password": PASSWORD}),
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

#[tokio::test]
async fn the_openapi_document_describes_client_id_the_key_password_and_the_default_expiry() {
    let app = spawn_app().await;
    let doc = app.get_json("/api/v1/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    let token_body = &doc["paths"]["/api/v1/token"]["post"]["requestBody"]["content"]
        ["application/x-www-form-urlencoded"]["schema"];
    assert_eq!(token_body["$ref"], "#/components/schemas/TokenRequest");
    let token_request = &schemas["TokenRequest"];
    assert_eq!(token_request["properties"]["client_id"]["maxLength"], 64);
    let required = token_request["required"].as_array().unwrap();
    for field in ["grant_type", "username", "password"] {
        assert!(required.contains(&json!(field)), "{field}: {token_request}");
    }
    assert!(!required.contains(&json!("client_id")));
    let key_request = &schemas["CreateKeyRequest"];
    assert!(key_request["required"]
        .as_array()
        .unwrap()
        .contains(&json!("password")));
    let expiry = &schemas["RequestedExpiry"];
    assert_eq!(expiry["default"], 90, "{expiry}");
    assert!(expiry.to_string().contains(r#""never""#), "{expiry}");
    let token_errors = doc["paths"]["/api/v1/token"]["post"]["responses"]["400"].to_string();
    assert!(token_errors.contains("repeated"), "{token_errors}");
    let me_errors = &doc["paths"]["/api/v1/users/me"]["get"]["responses"];
    assert!(me_errors["400"].to_string().contains("invalid_request"));
    assert!(me_errors["403"].to_string().contains("insufficient_scope"));
}

/// The claims of an access token, read without checking it (the test trusts its own app).
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn an_access_token_names_its_account_by_a_random_public_id_not_its_row_id() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    app.register_ok("bobby", "bobby@example.com").await;
    let alice = app.stored_user("alice").await.unwrap();
    let bobby = app.stored_user("bobby").await.unwrap();
    let claims = payload(&app.access_token("alice").await);
    assert_eq!(claims["sub"], alice.public_id.as_str());
    assert_ne!(claims["sub"], alice.id.to_string().as_str());
    for user in [&alice, &bobby] {
        assert_eq!(user.public_id.len(), 32);
        assert!(user.public_id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    // Random, not a counter: neighbouring accounts share no visible order.
    assert_ne!(alice.public_id, bobby.public_id);
    assert_ne!(alice.public_id[..24], bobby.public_id[..24]);
    // The new id is the token's business only: the API shows no id at all.
    let me = app
        .me(&app.access_token("alice").await)
        .await
        .text()
        .await
        .unwrap();
    assert!(!me.contains(&alice.public_id), "{me}");
}

#[tokio::test]
async fn the_token_carries_the_client_id_sent_or_the_documented_default() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let grant = |client_id: Option<&'static str>| {
        let mut form = vec![
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
        ];
        form.extend(client_id.map(|c| ("client_id", c)));
        form
    };
    let token = |res: Value| res["access_token"].as_str().unwrap().to_string();
    let res = app.token(&grant(None)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let claims = payload(&token(res.json().await.unwrap()));
    assert_eq!(claims["client_id"], "gatehouse-password-grant");
    let res = app.token(&grant(Some("backup-cli/2.1 (nightly)"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let issued = token(res.json().await.unwrap());
    assert_eq!(payload(&issued)["client_id"], "backup-cli/2.1 (nightly)");
    assert_eq!(app.me(&issued).await.status(), StatusCode::OK);
    // RFC 6749 §3.1: a parameter without a value counts as omitted.
    let res = app.token(&grant(Some(""))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        payload(&token(res.json().await.unwrap()))["client_id"],
        "gatehouse-password-grant"
    );
}

#[tokio::test]
async fn a_client_id_that_is_not_short_printable_ascii_is_invalid_request() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let too_long = "c".repeat(65);
    for client_id in [too_long.as_str(), "tab\there", "nul\0", "déjà vu", "\u{7f}"] {
        let res = app
            .token(&[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PASSWORD),
                ("client_id", client_id),
            ])
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{client_id:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{client_id:?}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("client_id"),
            "{body}"
        );
    }
    let res = app
        .token(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
            ("client_id", &"c".repeat(64)),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_token_request_that_repeats_a_parameter_is_invalid_request() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let post = |body: String| {
        app.client
            .post(app.url("/api/v1/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let password = "correct%20horse%20battery%20staple";
    for body in [
        format!("grant_type=password&username=alice&username=mallory&password={password}"),
        // Even the same value twice: which copy counts is not for the server to guess.
        format!("grant_type=password&username=alice&password={password}&password={password}"),
        format!("grant_type=password&grant_type=password&username=alice&password={password}"),
        format!("grant_type=password&username=alice&password={password}&client_id=a&client_id=b"),
    ] {
        let res = post(body.clone()).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["error"], "invalid_request", "{body}");
        assert!(
            answer["error_description"]
                .as_str()
                .unwrap()
                .contains("more than once"),
            "{answer}"
        );
    }
    let res = post(format!(
        "grant_type=password&username=alice&password={password}"
    ))
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// A request to `path` with this `Authorization` header (raw bytes), or none.
async fn with_authorization(app: &TestApp, path: &str, value: Option<&[u8]>) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    if let Some(value) = value {
        req = req.header(
            AUTHORIZATION,
            reqwest::header::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_wrong_authorization_scheme_is_400_invalid_request_and_a_missing_one_401() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let jwt = app.access_token("alice").await;
    let key = app.create_key_secret(&jwt, "ci").await;
    let basic = format!(
        "Basic {}",
        URL_SAFE_NO_PAD.encode(format!("alice:{PASSWORD}"))
    );
    let malformed: Vec<Vec<u8>> = vec![
        basic.into_bytes(),
        format!("Token {jwt}").into_bytes(),
        format!("Digest {key}").into_bytes(),
        // The key without a scheme.
        key.clone().into_bytes(),
        b"Bearer".to_vec(),
    ];
    for path in ["/api/v1/users/me", "/api/v1/keys"] {
        for value in &malformed {
            let res = with_authorization(&app, path, Some(value)).await;
            let what = format!("{path} {}", String::from_utf8_lossy(value));
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
            let challenge = header(&res, "www-authenticate").unwrap_or("").to_string();
            assert!(
                challenge.starts_with("Bearer ")
                    && challenge.contains(r#"error="invalid_request""#),
                "{what}: {challenge}"
            );
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"], "invalid_request", "{what}");
            assert!(body["request_id"].is_string(), "{what}: {body}");
        }
        // No header at all: 401 and a bare challenge, no error code (RFC 6750 §3.1).
        let res = with_authorization(&app, path, None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            header(&res, "www-authenticate"),
            Some(r#"Bearer realm="gatehouse""#)
        );
        // A Bearer value that is no credential of ours: 401 invalid_token.
        assert_invalid_token(
            &with_authorization(&app, path, Some(b"Bearer not-a-token")).await,
            path,
        );
    }
    // Two Authorization headers are two credentials: refused, even if both are good.
    let res = app
        .client
        .get(app.url("/api/v1/users/me"))
        .header(AUTHORIZATION, format!("Bearer {jwt}"))
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The right scheme still works, in any case, for tokens and keys alike.
    for bearer in [format!("Bearer {jwt}"), format!("bearer {key}")] {
        let res = with_authorization(&app, "/api/v1/users/me", Some(bearer.as_bytes())).await;
        assert_eq!(res.status(), StatusCode::OK, "{bearer}");
    }
}

#[tokio::test]
async fn a_key_without_the_scope_a_route_needs_gets_403_insufficient_scope() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let jwt = app.access_token("alice").await;
    let created = app.create_key(&jwt, "ci").await;
    let secret = created["secret"].as_str().unwrap().to_string();
    let prefix = created["prefix"].as_str().unwrap().to_string();
    assert_eq!(app.me(&secret).await.status(), StatusCode::OK);
    // A key holding only scopes that do not exist yet (or none): it is a valid key, and it
    // must not reach `read:profile` routes by being one.
    for scopes in ["write:notes", "", "read:profile:extra"] {
        let changed = app
            .execute_sql(&format!(
                "UPDATE api_keys SET scopes = '{scopes}' WHERE prefix = '{prefix}'"
            ))
            .await
            .unwrap();
        assert_eq!(changed, 1);
        let res = app.me(&secret).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{scopes:?}");
        let challenge = header(&res, "www-authenticate").unwrap_or("").to_string();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#)
                && challenge.contains(r#"scope="read:profile""#),
            "{scopes:?}: {challenge}"
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "insufficient_scope");
    }
    app.execute_sql(&format!(
        "UPDATE api_keys SET scopes = 'write:notes read:profile' WHERE prefix = '{prefix}'"
    ))
    .await
    .unwrap();
    assert_eq!(app.me(&secret).await.status(), StatusCode::OK);
    // Access tokens hold every scope.
    assert_eq!(app.me(&jwt).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn creating_a_key_through_the_api_needs_the_current_password() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let jwt = app.access_token("alice").await;
    let create = async |body: Value| app.post_json_with_bearer("/api/v1/keys", &jwt, &body).await;
    let res = create(json!({"name": "ci"})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["fields"]["password"], "Enter your current password.");
    for _ in 0..5 {
        let res = create(json!({"name": "ci", "password": "not my password"})).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "validation_failed");
        assert_eq!(
            body["fields"]["password"],
            "That is not your current password."
        );
    }
    // The wrong guesses count against the account's throttle, as at the sign-in form.
    let res = create(json!({"name": "ci", "password": PASSWORD})).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let list: Value = app
        .get_with_bearer("/api/v1/keys", &jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]), "no key was made");
    app.clock.advance(120);
    let res = create(json!({"name": "ci", "password": PASSWORD})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn an_api_key_expires_in_90_days_unless_never_is_sent_explicitly() {
    let app = spawn_app().await;
    app.register_ok("alice", "alice@example.com").await;
    let jwt = app.access_token("alice").await;
    let days = 86_400;
    let cases = [
        (
            json!({"name": "omitted", "password": PASSWORD}),
            json!(START_TIME + 90 * days),
        ),
        (
            json!({"name": "null", "expires_in_days": null, "password": PASSWORD}),
            json!(START_TIME + 90 * days),
        ),
        (
            json!({"name": "week", "expires_in_days": 7, "password": PASSWORD}),
            json!(START_TIME + 7 * days),
        ),
        (
            json!({"name": "never", "expires_in_days": "never", "password": PASSWORD}),
            Value::Null,
        ),
    ];
    for (body, expires_at) in cases {
        let res = app.post_json_with_bearer("/api/v1/keys", &jwt, &body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{body}");
        let created: Value = res.json().await.unwrap();
        assert_eq!(created["expires_at"], expires_at, "{body}");
    }
    for expiry in [
        json!("soon"),
        json!(""),
        json!(0),
        json!(3651),
        json!(1.5),
        json!(-1),
        json!(1e12),
        json!(true),
    ] {
        let res = app
            .post_json_with_bearer(
                "/api/v1/keys",
                &jwt,
                &json!({"name": "bad", "expires_in_days": expiry, "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{expiry}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["fields"]["expires_in_days"].is_string(),
            "{expiry}: {body}"
        );
    }
}

/// Runs the migrations of the backend under test that come before `before` (a version) on
/// the database at `url`: a database as an older release left it.
async fn migrate_before(url: &str, before: i64) {
    let backend = match test_backend() {
        TestBackend::Sqlite => "sqlite",
        TestBackend::Postgres => "postgres",
    };
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let older = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let version: i64 = name.split('_').next().unwrap().parse().unwrap();
        if version < before {
            std::fs::copy(&path, older.path().join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(older.path()).await.unwrap();
    match test_backend() {
        TestBackend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
        TestBackend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// Accounts made before public ids existed get a random one from the migration itself, keep
/// their sessions' and keys' rows (no cascade on the way), and sign in as before; an account
/// can never be stored without one.
#[tokio::test]
async fn accounts_from_before_public_ids_get_one_in_the_migration_and_keep_their_keys() {
    let database = TestDatabase::new().await;
    migrate_before(&database.url, 20261130000002).await;
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    // A key whose secret the test knows, stored as the app stores keys.
    let secret = URL_SAFE_NO_PAD.encode([7u8; 32]);
    let secret_hash = sha2::Digest::finalize(sha2::Digest::chain_update(
        sha2::Sha256::default(),
        secret.as_bytes(),
    ));
    let key = format!("gk_oldkey01_{secret}");
    let hex: String = secret_hash.iter().map(|b| format!("{b:02x}")).collect();
    let blob = match test_backend() {
        TestBackend::Sqlite => format!("X'{hex}'"),
        TestBackend::Postgres => format!("'\\x{hex}'::bytea"),
    };
    // The rows go in between the old migrations and the new one, over plain SQL.
    let statements = [
        format!(
            "INSERT INTO users (username, username_canonical, email, email_canonical, password_hash, created_at)
             VALUES ('alice', 'alice', 'alice@example.com', 'alice@example.com', '{hash}', 1),
                    ('bobby', 'bobby', 'bobby@example.com', 'bobby@example.com', '{hash}', 1)"
        ),
        format!(
            "INSERT INTO api_keys (user_id, name, prefix, secret_hash, scopes, created_at)
             SELECT id, 'old key', 'oldkey01', {blob}, 'read:profile', 1 FROM users WHERE username = 'alice'"
        ),
    ];
    raw_sql(&database.url, &statements).await;

    let app = spawn_app_with(&[("DATABASE_URL", &database.url)]).await;
    let alice = app.stored_user("alice").await.unwrap();
    let bobby = app.stored_user("bobby").await.unwrap();
    for user in [&alice, &bobby] {
        assert_eq!(user.public_id.len(), 32, "{user:?}");
        assert!(
            user.public_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{user:?}"
        );
    }
    assert_ne!(alice.public_id, bobby.public_id);
    assert_eq!(
        app.me(&key).await.status(),
        StatusCode::OK,
        "the key survived"
    );
    let jwt = app.access_token("alice").await;
    assert_eq!(payload(&jwt)["sub"], alice.public_id.as_str());
    assert_eq!(app.me(&jwt).await.status(), StatusCode::OK);
    // No row without a well-formed id, whatever writes to the table.
    for public_id in [None, Some("''"), Some("'NOT-HEX-NOT-HEX-NOT-HEX-NOT-HEX!'")] {
        let (column, value) = match public_id {
            Some(value) => ("public_id, ", format!("{value}, ")),
            None => ("", String::new()),
        };
        let inserted = app
            .execute_sql(&format!(
                "INSERT INTO users ({column}username, username_canonical, email, email_canonical, password_hash, created_at)
                 VALUES ({value}'carol', 'carol', 'c@example.com', 'c@example.com', 'x', 1)"
            ))
            .await;
        assert!(inserted.is_err(), "{public_id:?}");
    }
    let duplicate = app
        .execute_sql(&format!(
            "UPDATE users SET public_id = '{}' WHERE username = 'bobby'",
            alice.public_id
        ))
        .await;
    assert!(duplicate.is_err(), "public ids are unique");
}

/// Runs `statements` on the database at `url`, with no app in between.
async fn raw_sql(url: &str, statements: &[String]) {
    use sqlx::Connection;
    match test_backend() {
        TestBackend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            for sql in statements {
                sqlx::query(sql).execute(&mut conn).await.unwrap();
            }
            conn.close().await.unwrap();
        }
        TestBackend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            for sql in statements {
                sqlx::query(sql).execute(&mut conn).await.unwrap();
            }
            conn.close().await.unwrap();
        }
    }
}
