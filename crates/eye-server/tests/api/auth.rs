//! Authentication and scopes on every route, generated from the route table.

use eye_server::http::ROUTES;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{expect_error, json_of, pageview, spawn};

fn concrete(path: &str) -> String {
    path.replace("{session_id}", "s1")
        .replace("{category}", "c")
        .replace("{name}", "n")
        .replace("{id}", "key_0")
}

#[tokio::test]
async fn every_route_refuses_missing_unknown_revoked_and_wrongly_scoped_keys() {
    let app = spawn().await;
    let revoked =
        crate::helpers::create_key(app.dir.path(), "old", &eye_server::model::Scope::ALL).await;
    let store = eye_server::store::SqliteStore::open(app.dir.path()).expect("store");
    use eye_server::store::Store;
    let keys = store.keys().await.expect("keys");
    let old = keys.iter().find(|k| k.app == "old").expect("old key");
    store.revoke_key(&old.id).await.expect("revoke");

    for (method, path, scope) in ROUTES {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let path = concrete(path);
        let send = |header: Option<String>| {
            let mut request = app
                .client
                .request(method.clone(), format!("{}{path}", app.base));
            if let Some(header) = header {
                request = request.header("authorization", header);
            }
            request.send()
        };
        let Some(scope) = scope else {
            assert_eq!(
                send(None).await.expect("send").status(),
                StatusCode::OK,
                "{path}"
            );
            continue;
        };
        for header in [
            None,
            Some("Basic abc".to_owned()),
            Some("Bearer".to_owned()),
            Some("Bearer eye_unknown".to_owned()),
            Some(format!("Bearer {revoked}")),
        ] {
            let response = send(header.clone()).await.expect("send");
            // The Segment-compatible routes also take the key as Basic credentials.
            let challenge = response.headers()["www-authenticate"]
                .to_str()
                .expect("text");
            assert!(challenge.ends_with("Bearer"), "{path}: {challenge}");
            expect_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
        for (key, key_scope) in [
            (&app.ingest_key, "ingest"),
            (&app.query_key, "query"),
            (&app.admin_key, "admin"),
        ] {
            let status = send(Some(format!("Bearer {key}")))
                .await
                .expect("send")
                .status();
            if key_scope == *scope {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{method} {path}: {status}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} with {key_scope}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once_and_keys_are_managed_over_http() {
    let app = spawn().await;
    let (status, created) = json_of(
        app.request(Method::POST, "/v1/keys", Some(&app.admin_key))
            .json(&json!({"app": "blog", "scopes": ["ingest"]}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().expect("key").to_owned();
    let send = || {
        app.request(Method::POST, "/v1/events", Some(&key))
            .json(&pageview("s-k", "2021-01-01 09:00:00"))
            .send()
    };
    assert_eq!(send().await.expect("send").status(), StatusCode::ACCEPTED);

    let (_, list) = json_of(
        app.request(Method::GET, "/v1/keys", Some(&app.admin_key))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert!(!list.to_string().contains(&key), "secrets are never listed");
    let id = created["id"].as_str().expect("id");
    let revoke = app
        .request(
            Method::DELETE,
            &format!("/v1/keys/{id}"),
            Some(&app.admin_key),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(revoke.status(), StatusCode::OK);
    expect_error(
        send().await.expect("send"),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    app.drain().await;
    let (_, page) = app.query("/v1/events?app=blog").await;
    assert_eq!(
        page["events"][0]["app"], "blog",
        "events record the sending application"
    );
    let missing = app
        .request(Method::DELETE, "/v1/keys/key_nope", Some(&app.admin_key))
        .send()
        .await
        .expect("send");
    expect_error(missing, StatusCode::NOT_FOUND, "not_found").await;
    // A key's secret given where its id belongs is not repeated back.
    let by_secret = app
        .request(
            Method::DELETE,
            &format!("/v1/keys/{}", app.ingest_key),
            Some(&app.admin_key),
        )
        .send()
        .await
        .expect("send");
    let body = expect_error(by_secret, StatusCode::NOT_FOUND, "not_found").await;
    assert!(!body.to_string().contains(&app.ingest_key), "{body}");
    let bad = app
        .request(Method::POST, "/v1/keys", Some(&app.admin_key))
        .json(&json!({"app": "x", "scopes": ["root"]}))
        .send()
        .await
        .expect("send");
    expect_error(bad, StatusCode::BAD_REQUEST, "invalid_body").await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = spawn().await;
    let response = app
        .request(Method::GET, "/v2/nothing", None)
        .send()
        .await
        .expect("send");
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app
        .request(Method::PATCH, "/v1/events", None)
        .send()
        .await
        .expect("send");
    expect_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}
