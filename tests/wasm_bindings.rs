//! The wasm-bindgen layer in a real browser (Chromium, through
//! wasm-bindgen-test-runner and chromedriver): frames in and out as
//! Uint8Array, options checked with coded Errors, JS hooks called.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Function, Object, Reflect, Uint8Array};
use tabmq::wasm::WasmBroker;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// CONNECT, MQTT 5, clean start, keep alive 60, client id "c".
const CONNECT_V5: [u8; 16] = [
    0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60, 0, 0, 1, b'c',
];

fn options(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap()
}

fn drain_bytes(b: &mut WasmBroker) -> Vec<(u32, Vec<u8>, bool)> {
    let out: Array = b.drain();
    (0..out.length())
        .step_by(3)
        .map(|i| {
            let conn = out.get(i).as_f64().unwrap() as u32;
            let bytes = out.get(i + 1).dyn_into::<Uint8Array>().unwrap().to_vec();
            (conn, bytes, out.get(i + 2).as_bool().unwrap())
        })
        .collect()
}

#[wasm_bindgen_test]
fn connect_gets_connack_as_uint8array() {
    let mut b = WasmBroker::new(
        options(r#"{"durability":"memory","sysInterval":0}"#),
        JsValue::UNDEFINED,
    )
    .unwrap();
    b.open(1, 1000.0);
    b.bytes(1, &CONNECT_V5, 1000.0);
    let out = drain_bytes(&mut b);
    assert_eq!(out.len(), 1);
    let (conn, bytes, close) = &out[0];
    assert_eq!((*conn, *close), (1, false));
    assert_eq!(
        &bytes[..4],
        &[0x20, bytes[1], 0x00, 0x00],
        "CONNACK, session absent, success"
    );
    let events = b.events().unwrap();
    let first = events.get(0);
    assert_eq!(Reflect::get(&first, &"type".into()).unwrap(), "connected");
    assert_eq!(Reflect::get(&first, &"clientId".into()).unwrap(), "c");
}

#[wasm_bindgen_test]
fn a_bad_option_is_an_error_with_a_code_naming_it() {
    let err = WasmBroker::new(
        options(r#"{"limits":{"maxInflight":0}}"#),
        JsValue::UNDEFINED,
    )
    .err()
    .unwrap();
    let err: js_sys::Error = err.dyn_into().expect("a real Error");
    assert_eq!(
        Reflect::get(&err, &"code".into()).unwrap(),
        "ERR_TABMQ_OPTION"
    );
    let message = String::from(err.message());
    assert!(message.contains("limits.maxInflight"), "{message}");
    let err = WasmBroker::new(options(r#"{"durability":"sometimes"}"#), JsValue::UNDEFINED)
        .err()
        .unwrap();
    assert!(
        String::from(err.dyn_into::<js_sys::Error>().unwrap().message()).contains("durability")
    );
}

#[wasm_bindgen_test]
fn js_authenticate_hook_refuses_with_its_reason_code() {
    let hooks = Object::new();
    let auth = Function::new_with_args("req", "return req.clientId === 'c' ? 0x87 : true");
    Reflect::set(&hooks, &"authenticate".into(), &auth).unwrap();
    let mut b = WasmBroker::new(
        options(r#"{"durability":"memory","sysInterval":0}"#),
        hooks.into(),
    )
    .unwrap();
    b.open(7, 1.0);
    b.bytes(7, &CONNECT_V5, 1.0);
    let out = drain_bytes(&mut b);
    let (_, bytes, close) = &out[0];
    assert_eq!(bytes[3], 0x87, "CONNACK not authorized");
    assert!(close);
}

#[wasm_bindgen_test]
fn stats_cross_as_a_plain_object() {
    let mut b = WasmBroker::new(
        options(r#"{"durability":"memory","sysInterval":0}"#),
        JsValue::UNDEFINED,
    )
    .unwrap();
    b.open(1, 5.0);
    b.bytes(1, &CONNECT_V5, 5.0);
    drain_bytes(&mut b);
    let stats = b.stats(5.0).unwrap();
    assert_eq!(Reflect::get(&stats, &"connections".into()).unwrap(), 1);
    assert!(
        Reflect::get(&stats, &"bytesReceived".into())
            .unwrap()
            .as_f64()
            .unwrap()
            >= 16.0
    );
}

#[wasm_bindgen_test]
fn the_timer_deadline_follows_keep_alive() {
    let mut b = WasmBroker::new(
        options(r#"{"durability":"memory","sysInterval":0}"#),
        JsValue::UNDEFINED,
    )
    .unwrap();
    b.open(1, 1000.0);
    b.bytes(1, &CONNECT_V5, 1000.0);
    drain_bytes(&mut b);
    // 1.5 x 60 s after the CONNECT, the keep alive check is due (the connect
    // timeout, earlier, has nothing left to do once CONNECT arrived).
    b.timeout(20_000.0);
    assert_eq!(b.next_timeout(), Some(91_000.0));
    b.timeout(91_000.0);
    let out = drain_bytes(&mut b);
    assert_eq!(
        out[0].1,
        vec![0xE0, 1, 0x8D],
        "DISCONNECT keep alive timeout"
    );
    assert!(out[0].2);
}
