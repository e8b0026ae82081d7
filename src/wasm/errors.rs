//! Errors that cross into JS as real `Error` objects with a `code`.

use wasm_bindgen::JsValue;

/// An `Error` whose `code` says what kind of failure it is (for example
/// `ERR_TABMQ_OPTION`), like Node's own errors.
pub fn coded_error(code: &str, message: &str) -> JsValue {
    let err = js_sys::Error::new(message);
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&err, &"code".into(), &code.into());
    err.into()
}

/// An invalid option: the message names it and says why.
pub fn option_error(name: &str, why: &str) -> JsValue {
    coded_error("ERR_TABMQ_OPTION", &format!("tabmq: option `{name}` {why}"))
}
