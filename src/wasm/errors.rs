//! Errors that cross into JS as real `Error` objects with a `code`.
//!
//! The JS host registers its error class once, right after loading the
//! module (`setErrorClass(TabmqError)` in `www/shared/host.js`), so that
//! every error made here is a `TabmqError`, the class the rest of the public
//! API throws. Until then (wasm-bindgen-test, a host that never registers
//! one) they are plain `Error`s with the same message and `code`.

use js_sys::{Array, Function, Reflect};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

thread_local! {
    /// The class errors are made with: `new ctor(message, code)`.
    static ERROR_CLASS: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Makes every error the module throws from now on `new ctor(message,
/// code)`: pass `TabmqError` (www/shared/errors.js). Anything that is not a
/// function unsets it (plain `Error`s with a `code` again).
#[wasm_bindgen(js_name = setErrorClass)]
pub fn set_error_class(ctor: JsValue) {
    ERROR_CLASS.with(|c| *c.borrow_mut() = ctor.dyn_into::<Function>().ok());
}

/// An `Error` whose `code` says what kind of failure it is (for example
/// `ERR_TABMQ_OPTION`), like Node's own errors: an instance of the class
/// given to `setErrorClass`, or a plain `Error` with a `code` property.
pub fn coded_error(code: &str, message: &str) -> JsValue {
    let made = ERROR_CLASS.with(|c| {
        let ctor = c.borrow();
        let ctor = ctor.as_ref()?;
        Reflect::construct(ctor, &Array::of2(&message.into(), &code.into())).ok()
    });
    if let Some(err) = made {
        return err;
    }
    let err = js_sys::Error::new(message);
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&err, &"code".into(), &code.into());
    err.into()
}

/// An invalid option: the message names it and says why.
pub fn option_error(name: &str, why: &str) -> JsValue {
    coded_error("ERR_TABMQ_OPTION", &format!("tabmq: option `{name}` {why}"))
}
