//! `/openapi.json` describes every route of the route table; `/docs` works offline.

use eye_server::http::ROUTES;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::spawn;

#[tokio::test]
async fn the_openapi_document_covers_every_route_with_its_errors() {
    let app = spawn().await;
    let response = app
        .request(Method::GET, "/openapi.json", None)
        .send()
        .await
        .expect("openapi");
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.expect("json");
    assert!(
        document["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.1")
    );
    for (method, path, scope) in ROUTES {
        if matches!(*path, "/openapi.json" | "/docs" | "/") {
            continue;
        }
        let operation = &document["paths"][*path][method.to_ascii_lowercase()];
        assert!(operation.is_object(), "{method} {path} is not documented");
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|code| code.starts_with('2')),
            "{method} {path}: no success answer"
        );
        if scope.is_some() {
            assert_eq!(
                operation["security"][0]["bearer"],
                Value::Array(vec![]),
                "{method} {path}: security"
            );
            for code in ["401", "403", "503"] {
                assert!(
                    responses.contains_key(code),
                    "{method} {path}: {code} undocumented"
                );
            }
        }
    }
    let ingest = &document["paths"]["/v1/events"]["post"]["responses"];
    for code in ["202", "422", "400", "413", "415"] {
        assert!(
            ingest[code].is_object(),
            "POST /v1/events: {code} undocumented"
        );
    }
    assert!(document["components"]["schemas"]["StoredEvent"].is_object());
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn interactive_docs_are_served_from_the_binary() {
    let app = spawn().await;
    let response = app
        .request(Method::GET, "/docs", None)
        .send()
        .await
        .expect("docs");
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.expect("html");
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    assert!(!html.contains("src=\"http"), "no script from the internet");
    for asset in [
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/docs/swagger-initializer.js",
    ] {
        let response = app
            .request(Method::GET, asset, None)
            .send()
            .await
            .expect("asset");
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
    }
    let initializer = app
        .request(Method::GET, "/docs/swagger-initializer.js", None)
        .send()
        .await
        .expect("js")
        .text()
        .await
        .expect("text");
    assert!(initializer.contains("/openapi.json"), "{initializer}");
}
