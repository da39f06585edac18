//! The blocking client, for programs without an async runtime.
//!
//! `cargo run -p eye-client --example blocking -- http://127.0.0.1:8000 "$INGEST_KEY"`

use eye_client::{BlockingClient, Client};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(key)) = (args.next(), args.next()) else {
        eprintln!("usage: blocking URL INGEST_KEY");
        std::process::exit(2);
    };
    let client = BlockingClient::new(Client::builder(&url, &key))?;
    for page in ["/", "/pricing", "/signup"] {
        client.track(
            "blocking-example",
            "page interaction",
            "pageview",
            json!({"host": "www.example.com", "path": page}),
        )?;
    }
    client.flush();
    println!("{:?}", client.stats());
    client.close();
    Ok(())
}
