//! The README's SDK example (`cargo run -p eye-client --example track`), run against a real
//! server with the shipped schemas: every event it sends is accepted.

mod support;

#[path = "../examples/track.rs"]
#[allow(dead_code)]
mod track;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_tracks_events_the_shipped_schemas_accept() {
    let schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let server = support::server(|config| config.schemas = Some(schemas)).await;
    let (_, stats) = track::track_the_brief_events(&server.url, &server.ingest_key)
        .await
        .expect("the example runs");
    assert_eq!(
        (stats.accepted, stats.rejected, stats.failed),
        (3, 0, 0),
        "{stats:?}"
    );
}
