//! The wasm-bindgen layer in a real browser (Chromium, through
//! wasm-bindgen-test-runner and chromedriver): frames in and out as
//! Uint8Array, options checked with coded Errors, JS hooks called.
#![cfg(target_arch = "wasm32")]

use js_sys::{Function, Object, Reflect, Uint8Array};
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

/// `pollTransmit()`'s packed output, read as `readTransmits()` in
/// www/shared/host.js reads it: `(conns, ends, closes, data)`.
fn read_transmits(packed: &Uint8Array) -> (Vec<u32>, Vec<u32>, Vec<u8>, Vec<u8>) {
    let bytes = packed.to_vec();
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    let n = u32_at(0) as usize;
    let conns = (0..n).map(|i| u32_at(4 + 4 * i)).collect();
    let ends = (0..n).map(|i| u32_at(4 + 4 * n + 4 * i)).collect();
    let closes = bytes[4 + 8 * n..4 + 9 * n].to_vec();
    (conns, ends, closes, bytes[4 + 9 * n..].to_vec())
}

/// `pollTransmit()` as `(conn, bytes, close)` per connection.
fn poll_transmit(b: &mut WasmBroker) -> Vec<(u32, Vec<u8>, bool)> {
    let Some(packed) = b.poll_transmit() else {
        return Vec::new();
    };
    let (conns, ends, closes, data) = read_transmits(&packed);
    let mut start = 0;
    (0..conns.len())
        .map(|i| {
            let end = ends[i] as usize;
            let bytes = data[start..end].to_vec();
            start = end;
            (conns[i], bytes, closes[i] == 1)
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
    b.handle_open(1, 1000.0);
    b.handle_bytes(1, &CONNECT_V5, 1000.0);
    let out = poll_transmit(&mut b);
    assert_eq!(out.len(), 1);
    let (conn, bytes, close) = &out[0];
    assert_eq!((*conn, *close), (1, false));
    assert_eq!(
        &bytes[..4],
        &[0x20, bytes[1], 0x00, 0x00],
        "CONNACK, session absent, success"
    );
    let events = b.poll_events().unwrap();
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
    b.handle_open(7, 1.0);
    b.handle_bytes(7, &CONNECT_V5, 1.0);
    let out = poll_transmit(&mut b);
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
    b.handle_open(1, 5.0);
    b.handle_bytes(1, &CONNECT_V5, 5.0);
    poll_transmit(&mut b);
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
    b.handle_open(1, 1000.0);
    b.handle_bytes(1, &CONNECT_V5, 1000.0);
    poll_transmit(&mut b);
    // 1.5 x 60 s after the CONNECT, the keep alive check is due (the connect
    // timeout, earlier, has nothing left to do once CONNECT arrived).
    b.handle_timeout(20_000.0);
    assert_eq!(b.poll_timeout(), Some(91_000.0));
    b.handle_timeout(91_000.0);
    let out = poll_transmit(&mut b);
    assert_eq!(
        out[0].1,
        vec![0xE0, 1, 0x8D],
        "DISCONNECT keep alive timeout"
    );
    assert!(out[0].2);
}

#[wasm_bindgen_test]
fn one_poll_carries_every_connection_in_one_buffer() {
    let mut b = WasmBroker::new(
        options(r#"{"durability":"memory","sysInterval":0}"#),
        JsValue::UNDEFINED,
    )
    .unwrap();
    let mut connect_d = CONNECT_V5;
    connect_d[15] = b'd';
    b.handle_open(1, 1.0);
    b.handle_open(2, 1.0);
    b.handle_bytes(1, &CONNECT_V5, 1.0);
    b.handle_bytes(2, &connect_d, 1.0);
    let packed = b.poll_transmit().expect("two CONNACKs");
    let (conns, ends, closes, data) = read_transmits(&packed);
    let mut sorted = conns.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [1, 2]);
    assert_eq!(closes, [0, 0]);
    assert_eq!(
        ends[1] as usize,
        data.len(),
        "the bytes of both, back to back"
    );
    assert_eq!(data[0], 0x20);
    assert_eq!(data[ends[0] as usize], 0x20);
    assert!(b.poll_transmit().is_none(), "nothing left: undefined");
    assert_eq!(b.poll_events().map(|e| e.length()), Some(2));
    assert!(b.poll_events().is_none(), "no events left: undefined");
}

#[wasm_bindgen_test]
fn errors_are_made_with_the_class_the_host_registers() {
    let class: Function = Function::new_no_args(
        "return class TabmqError extends Error { \
           constructor(message, code) { super(message); this.name = 'TabmqError'; this.code = code; } }",
    )
    .call0(&JsValue::NULL)
    .unwrap()
    .dyn_into()
    .unwrap();
    tabmq::wasm::set_error_class(class.clone().into());
    let err = WasmBroker::new(
        options(r#"{"limits":{"maxInflight":0}}"#),
        JsValue::UNDEFINED,
    )
    .err()
    .unwrap();
    tabmq::wasm::set_error_class(JsValue::UNDEFINED);
    assert!(err.is_instance_of::<js_sys::Error>());
    assert!(err.dyn_ref::<js_sys::Object>().unwrap().constructor() == class);
    assert_eq!(Reflect::get(&err, &"name".into()).unwrap(), "TabmqError");
    assert_eq!(
        Reflect::get(&err, &"code".into()).unwrap(),
        "ERR_TABMQ_OPTION"
    );
    let message = String::from(err.dyn_into::<js_sys::Error>().unwrap().message());
    assert!(message.contains("limits.maxInflight"), "{message}");
    // Unset, errors are plain Errors with a code again.
    let err = WasmBroker::new(options(r#"{"durability":"sometimes"}"#), JsValue::UNDEFINED)
        .err()
        .unwrap();
    assert_eq!(Reflect::get(&err, &"name".into()).unwrap(), "Error");
}
