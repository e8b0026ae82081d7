//! tabmq: a complete MQTT 3.1.1 + 5.0 broker that runs in a browser tab.
//!
//! Layers, top to bottom (each imports only the ones below it):
//! - `codec`: the wire format for both protocol versions, pure functions.

pub mod broker;
pub mod codec;
pub mod store;
pub mod time;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
