//! The aggregate queries of the SDK against the real server: event stats, the session list
//! page by page and to its end, their blocking mirrors, and the server's 400 kept whole.

mod support;

use std::time::{Duration, Instant};

use eye_client::{BlockingClient, Client, ClientError, Event, SessionListQuery, StatsQuery};
use support::server;

/// Sessions `s0`..`s6`, session `sN` with N+1 pageviews a minute apart, on one hour of
/// 2021-01-01, and one form submit in `s3`.
fn events() -> Vec<Event> {
    let mut events = Vec::new();
    for session in 0..7 {
        for minute in 0..=session {
            events.push(event(session, "page interaction", "pageview", minute));
        }
    }
    events.push(event(3, "form interaction", "submit", 30));
    events
}

fn event(session: u32, category: &str, name: &str, minute: u32) -> Event {
    Event {
        session_id: format!("s{session}"),
        category: category.into(),
        name: name.into(),
        data: serde_json::Map::new(),
        timestamp: format!("2021-01-01 09:{minute:02}:{session:02}"),
        event_id: None,
        user_id: None,
        context: None,
    }
}

/// Waits until the store holds `expected` events, up to half a minute.
async fn wait_until_stored(client: &Client, expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let query = StatsQuery::new("2021-01-01", "2021-01-02");
        let stats = client.event_stats(&query).await.expect("stats");
        if stats.total == expected as u64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {expected} stored",
            stats.total
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_and_session_lists_through_the_sdk() {
    let server = server(|_| {}).await;
    let ingest = Client::builder(&server.url, &server.ingest_key)
        .build()
        .expect("client");
    let sent = events();
    let answer = ingest.send(&sent).await.expect("send");
    assert_eq!(answer.accepted, sent.len(), "{answer:?}");
    let client = Client::builder(&server.url, &server.query_key)
        .build()
        .expect("client");
    wait_until_stored(&client, sent.len()).await;

    let mut query = StatsQuery::new("2021-01-01 09:00:00", "2021-01-01 10:00:00");
    query.group_by = vec!["category".into(), "name".into()];
    query.interval = Some("minute".into());
    let stats = client.event_stats(&query).await.expect("stats");
    assert_eq!(stats.total, sent.len() as u64);
    assert_eq!(stats.series.len(), 2);
    assert_eq!(stats.series[0].key.name.as_deref(), Some("pageview"));
    assert_eq!(stats.series[0].points.len(), 60, "every minute");
    assert_eq!(stats.series[0].points[0].count, 7, "every session's first");
    assert_eq!(stats.series[1].total, 1);

    let page = client
        .sessions(&SessionListQuery {
            limit: Some(3),
            ..SessionListQuery::default()
        })
        .await
        .expect("sessions");
    assert_eq!(page.sessions.len(), 3);
    assert!(page.next_cursor.is_some());
    let all = client
        .all_sessions(&SessionListQuery {
            limit: Some(2),
            order: Some("asc".into()),
            ..SessionListQuery::default()
        })
        .await
        .expect("all sessions");
    let ids: Vec<&str> = all.iter().map(|s| s.session_id.as_str()).collect();
    assert_eq!(
        ids,
        ["s0", "s1", "s2", "s4", "s5", "s6", "s3"],
        "by last activity"
    );
    let busy = client
        .all_sessions(&SessionListQuery {
            min_events: Some(5),
            has_event: Some("form interaction/submit".into()),
            ..SessionListQuery::default()
        })
        .await
        .expect("filtered");
    assert_eq!(busy.len(), 1);
    assert_eq!(
        (busy[0].session_id.as_str(), busy[0].event_count),
        ("s3", 5)
    );

    let wrong = client
        .event_stats(&StatsQuery::new("2021-01-02", "2021-01-01"))
        .await;
    let Err(ClientError::Api { status, problem }) = wrong else {
        panic!("{wrong:?}");
    };
    assert_eq!((status, problem.code.as_str()), (400, "invalid_parameter"));
    assert!(problem.message.contains("to"), "{}", problem.message);
}

#[test]
fn the_blocking_client_mirrors_the_aggregate_queries() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(server(|_| {}));
    let ingest = runtime.block_on(async {
        let client = Client::builder(&server.url, &server.ingest_key)
            .build()
            .expect("client");
        let sent = events();
        client.send(&sent).await.expect("send");
        let query = Client::builder(&server.url, &server.query_key)
            .build()
            .expect("client");
        wait_until_stored(&query, sent.len()).await;
        sent.len()
    });
    let client =
        BlockingClient::new(Client::builder(&server.url, &server.query_key)).expect("client");
    let stats = client
        .event_stats(&StatsQuery::new("2021-01-01", "2021-01-02"))
        .expect("stats");
    assert_eq!(stats.total, ingest as u64);
    let page = client
        .sessions(&SessionListQuery::default())
        .expect("sessions");
    assert_eq!(page.sessions.len(), 7);
    let all = client
        .all_sessions(&SessionListQuery {
            limit: Some(4),
            ..SessionListQuery::default()
        })
        .expect("all");
    assert_eq!(
        all, page.sessions,
        "the same sessions, newest first, over two pages"
    );
}
