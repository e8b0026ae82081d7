//! Authentication and authorization callbacks written in JS.
//!
//! `authenticate(request)` returns `true` (accept), `false` (0x86 bad user
//! name or password), a reason code number, `{ reasonCode }`,
//! `{ continue: Uint8Array }` (enhanced authentication: send AUTH 0x18), or
//! `'pending'` when the host will call `Broker.handleAuthDecision` later (the JS
//! host turns a returned Promise into that). `authorize(request)` returns a
//! boolean, synchronously, for each publish and subscribe.

use super::errors::coded_error;
use crate::broker::{AuthDecision, AuthRequest, ClientInfo, Hooks};
use crate::codec::{QoS, ReasonCode};
use bytes::Bytes;
use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

pub struct JsHooks {
    authenticate: Option<Function>,
    authorize: Option<Function>,
}

/// `obj[key]`, undefined where it cannot be read.
pub(super) fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn function(obj: &JsValue, key: &str) -> Result<Option<Function>, JsValue> {
    let v = get(obj, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.dyn_into::<Function>().map(Some).map_err(|_| {
        coded_error(
            "ERR_TABMQ_OPTION",
            &format!("tabmq: option `{key}` must be a function"),
        )
    })
}

impl JsHooks {
    pub fn from_js(hooks: &JsValue) -> Result<JsHooks, JsValue> {
        if hooks.is_undefined() || hooks.is_null() {
            return Ok(JsHooks {
                authenticate: None,
                authorize: None,
            });
        }
        Ok(JsHooks {
            authenticate: function(hooks, "authenticate")?,
            authorize: function(hooks, "authorize")?,
        })
    }
}

fn set(obj: &Object, key: &str, value: JsValue) {
    // Setting a property on a plain new object cannot fail.
    let _ = Reflect::set(obj, &key.into(), &value);
}

fn opt_str(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::UNDEFINED, JsValue::from)
}

fn opt_bytes(v: Option<&[u8]>) -> JsValue {
    v.map_or(JsValue::UNDEFINED, |b| Uint8Array::from(b).into())
}

pub fn decision_from_js(v: &JsValue) -> Result<AuthDecision, JsValue> {
    if let Some(b) = v.as_bool() {
        return Ok(if b {
            AuthDecision::Accept
        } else {
            AuthDecision::Reject(ReasonCode::BadUserNameOrPassword)
        });
    }
    if v.as_string().as_deref() == Some("pending") {
        return Ok(AuthDecision::Pending);
    }
    let code = if let Some(n) = v.as_f64() {
        Some(n)
    } else {
        get(v, "reasonCode").as_f64()
    };
    if let Some(n) = code {
        let reason = ReasonCode::from_u8(n as u8).filter(|r| r.is_error() && n.fract() == 0.0);
        return reason.map(AuthDecision::Reject).ok_or_else(|| {
            coded_error("ERR_TABMQ_AUTH", &format!("tabmq: authenticate returned reason code {n}, not an MQTT 5 error code (0x80 and above)"))
        });
    }
    let data = get(v, "continue");
    if !data.is_undefined() {
        let bytes = data
            .dyn_into::<Uint8Array>()
            .map(|a| Bytes::from(a.to_vec()))
            .ok();
        return Ok(AuthDecision::Continue(bytes));
    }
    Err(coded_error("ERR_TABMQ_AUTH", "tabmq: authenticate must return true, false, a reason code, { reasonCode }, { continue } or a Promise of one"))
}

fn log_error(what: &str, e: &JsValue) {
    web_console_error(&format!("tabmq: {what} threw"), e);
}

fn web_console_error(msg: &str, e: &JsValue) {
    let console = get(&js_sys::global().into(), "console");
    if let Ok(error) = get(&console, "error").dyn_into::<Function>() {
        let _ = error.call2(&console, &msg.into(), e);
    }
}

impl Hooks for JsHooks {
    fn authenticate(&mut self, r: &AuthRequest) -> AuthDecision {
        let Some(f) = &self.authenticate else {
            return match r.method {
                Some(_) => AuthDecision::Reject(ReasonCode::BadAuthenticationMethod),
                None => AuthDecision::Accept,
            };
        };
        let req = Object::new();
        set(&req, "conn", (r.conn.0 as u32).into());
        set(&req, "clientId", r.client_id.into());
        set(&req, "username", opt_str(r.username));
        set(&req, "password", opt_bytes(r.password));
        set(&req, "protocolVersion", (r.protocol as u8).into());
        set(&req, "method", opt_str(r.method));
        set(&req, "data", opt_bytes(r.data));
        set(&req, "reauthenticate", r.reauthenticate.into());
        match f
            .call1(&JsValue::NULL, &req)
            .and_then(|v| decision_from_js(&v))
        {
            Ok(d) => d,
            Err(e) => {
                log_error("authenticate", &e);
                AuthDecision::Reject(ReasonCode::ImplementationSpecificError)
            }
        }
    }

    fn authorize_publish(&mut self, c: &ClientInfo, topic: &str, qos: QoS, retain: bool) -> bool {
        self.authorize("publish", c, topic, qos, Some(retain))
    }

    fn authorize_subscribe(&mut self, c: &ClientInfo, filter: &str, qos: QoS) -> bool {
        self.authorize("subscribe", c, filter, qos, None)
    }
}

impl JsHooks {
    fn authorize(
        &self,
        action: &str,
        c: &ClientInfo,
        topic: &str,
        qos: QoS,
        retain: Option<bool>,
    ) -> bool {
        let Some(f) = &self.authorize else {
            return true;
        };
        let req = Object::new();
        set(&req, "action", action.into());
        set(&req, "clientId", c.client_id.into());
        set(&req, "username", opt_str(c.username));
        set(&req, "protocolVersion", (c.protocol as u8).into());
        set(&req, "topic", topic.into());
        set(&req, "qos", (qos as u8).into());
        if let Some(retain) = retain {
            set(&req, "retain", retain.into());
        }
        match f.call1(&JsValue::NULL, &req) {
            Ok(v) => v.as_bool() == Some(true),
            Err(e) => {
                log_error("authorize", &e);
                false
            }
        }
    }
}
