//! tabmq: a complete MQTT 3.1.1 + 5.0 broker that runs in a browser tab.
//!
//! Layers, top to bottom (each imports only the ones below it):
//! - `wasm` (wasm32 only): the `Broker` class for JS, and IndexedDB storage.
//! - `broker`: the sans-IO core; the host feeds `handle_*` and drains `poll_*`.
//! - `store`: persistence as data: the storage operations, restart snapshots.
//! - `codec`: the wire format for both protocol versions, pure functions.
//! - `time`: time as the host gives it (`Millis`); the core reads no clock.

pub mod broker;
pub mod codec;
pub mod store;
pub mod time;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
