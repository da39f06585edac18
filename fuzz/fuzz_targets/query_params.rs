//! Query strings of the read API: parsed or refused with `invalid_parameter`, never a panic;
//! a cursor that decodes encodes back to itself.
#![no_main]

use eye_server::http::cursor;
use eye_server::http::params::Params;
use eye_server::store::Order;
use libfuzzer_sys::fuzz_target;

const ALLOWED: [&str; 9] = [
    "limit", "cursor", "from", "to", "order", "category", "name", "session_id", "code",
];

fuzz_target!(|input: &str| {
    let Ok(params) = Params::parse(Some(input), &ALLOWED) else {
        return;
    };
    let _ = params.limit();
    let _ = params.order(Order::Desc);
    let _ = params.time("from");
    let _ = params.time("to");
    for name in ["category", "name", "session_id", "code"] {
        let _ = params.identifier(name);
    }
    if let Ok(Some(position)) = params.cursor() {
        assert_eq!(cursor::decode(&cursor::encode(position)), Some(position));
    }
});
