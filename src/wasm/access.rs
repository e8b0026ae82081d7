//! Access options from JS: `passwordFile` (a Mosquitto password file's
//! text), `users` (`[{ username, password | passwordHash }]`), `acl` (a
//! Mosquitto ACL file's text) and `allowAnonymous`; and `hashPassword` for
//! `tabmq passwd`. Errors name the option (and the line of a file).

use super::errors::option_error;
use super::hooks::get;
use crate::broker::{hash_password, Access, AccessError, Acl, Passwords};
use js_sys::Array;
use wasm_bindgen::prelude::*;

fn text(obj: &JsValue, key: &str) -> Result<Option<String>, JsValue> {
    let v = get(obj, key);
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| option_error(key, "must be a string (the file's text)"))
}

fn file_error(key: &str, e: AccessError) -> JsValue {
    option_error(key, &format!("does not read: {e}"))
}

/// Whether any access option is present in `obj`.
fn given(obj: &JsValue, key: &str) -> bool {
    !get(obj, key).is_undefined()
}

/// `users`: each `{ username, password }` or `{ username, passwordHash }`.
fn users(list: &JsValue, into: &mut Passwords) -> Result<(), JsValue> {
    if !Array::is_array(list) {
        return Err(option_error(
            "users",
            "must be an array of { username, password | passwordHash }",
        ));
    }
    for (i, u) in Array::from(list).iter().enumerate() {
        let name = format!("users[{i}]");
        let username = get(&u, "username").as_string().filter(|s| !s.is_empty());
        let Some(username) = username else {
            return Err(option_error(
                &format!("{name}.username"),
                "must be a non-empty string",
            ));
        };
        match (
            get(&u, "password").as_string(),
            get(&u, "passwordHash").as_string(),
        ) {
            (Some(p), None) => into.add_plain(&username, &p),
            (None, Some(h)) => into
                .add_hash(&username, &h)
                .map_err(|e| option_error(&format!("{name}.passwordHash"), &e))?,
            _ => return Err(option_error(
                &name,
                "needs exactly one of `password` (a string) and `passwordHash` (a $7$ or $6$ hash)",
            )),
        }
    }
    Ok(())
}

/// Reads the access options of `obj` over `current`: an option that is
/// absent keeps its current value; `passwordFile` and `users` together
/// make the users (giving either replaces both); `null` removes.
pub fn parse(obj: &JsValue, current: &Access) -> Result<Access, JsValue> {
    let mut access = current.clone();
    if obj.is_undefined() || obj.is_null() {
        return Ok(access);
    }
    if given(obj, "passwordFile") || given(obj, "users") {
        let mut passwords = match text(obj, "passwordFile")? {
            Some(t) => Some(Passwords::parse(&t).map_err(|e| file_error("passwordFile", e))?),
            None => None,
        };
        let list = get(obj, "users");
        if !list.is_undefined() && !list.is_null() {
            users(&list, passwords.get_or_insert_with(Passwords::default))?;
        }
        access.passwords = passwords;
    }
    if given(obj, "acl") {
        access.acl = match text(obj, "acl")? {
            Some(t) => Some(Acl::parse(&t).map_err(|e| file_error("acl", e))?),
            None => None,
        };
    }
    if given(obj, "allowAnonymous") {
        let v = get(obj, "allowAnonymous");
        access.allow_anonymous = match v.as_bool() {
            Some(b) => Some(b),
            None if v.is_null() => None,
            None => return Err(option_error("allowAnonymous", "must be a boolean")),
        };
    }
    Ok(access)
}

/// The `$7$` hash `mosquitto_passwd` would write for `password` with this
/// salt (12 random bytes, from the host) and iteration count (Mosquitto's
/// default is 101): PBKDF2-HMAC-SHA512, salt and hash in base64.
#[wasm_bindgen(js_name = hashPassword)]
pub fn hash_password_js(password: &str, salt: &[u8], iterations: u32) -> Result<String, JsValue> {
    if iterations == 0 || salt.is_empty() {
        return Err(option_error(
            "iterations",
            "and the salt must not be zero or empty",
        ));
    }
    Ok(hash_password(password.as_bytes(), salt, iterations))
}
