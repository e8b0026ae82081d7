//! A tiny cdylib that links the whole codec into a wasm module without
//! wasm-bindgen, so `scripts/check-wasm-imports.mjs` can check what the codec
//! needs from its host (it must need nothing from module "env") and call it.
//!
//! Build: `cargo build --target wasm32-unknown-unknown --release --example wasm_probe`
//! (output: `target/wasm32-unknown-unknown/release/examples/wasm_probe.wasm`).
//!
//! ABI (all offsets are into the module's linear memory):
//! - `probe_alloc(len) -> ptr` and `probe_free(ptr, len)`: a byte buffer.
//! - `probe_roundtrip(in_ptr, in_len, out_ptr, out_cap, version) -> i32`:
//!   decodes every packet in the input as a stream (`version` is 3, 4 or 5:
//!   the connection's protocol level; CONNECT carries its own) and re-encodes
//!   each one into the output. Returns the number of bytes written, or:
//!   - `-1` the input ends in the middle of a packet (decoder said `Ok(None)`),
//!   - `-2` the version is not 3, 4 or 5,
//!   - `-3` a decoded packet could not be encoded again,
//!   - `-4` the output buffer is too small,
//!   - `-(0x100 + reason)` a decode error, with the MQTT 5 reason code it maps to.

use tabmq::codec::{decode, Packet, ProtocolVersion};

const INCOMPLETE: i32 = -1;
const BAD_VERSION: i32 = -2;
const ENCODE_FAILED: i32 = -3;
const OUTPUT_TOO_SMALL: i32 = -4;

/// Allocates `len` bytes (at least one) and leaks them to the caller.
#[no_mangle]
pub extern "C" fn probe_alloc(len: usize) -> *mut u8 {
    let mut buf = vec![0u8; len.max(1)].into_boxed_slice();
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    ptr
}

/// Frees a buffer from `probe_alloc`.
///
/// # Safety
/// `ptr` and `len` must be exactly what one `probe_alloc` call took and returned,
/// and the buffer must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn probe_free(ptr: *mut u8, len: usize) {
    let slice = std::ptr::slice_from_raw_parts_mut(ptr, len.max(1));
    drop(Box::from_raw(slice));
}

/// Decodes and re-encodes every packet in the input; see the module docs.
///
/// # Safety
/// `in_ptr`/`in_len` and `out_ptr`/`out_cap` must describe valid, disjoint
/// buffers (for example two from `probe_alloc`).
#[no_mangle]
pub unsafe extern "C" fn probe_roundtrip(
    in_ptr: *const u8,
    in_len: usize,
    out_ptr: *mut u8,
    out_cap: usize,
    version: u32,
) -> i32 {
    let input = std::slice::from_raw_parts(in_ptr, in_len);
    let output = std::slice::from_raw_parts_mut(out_ptr, out_cap);
    let version = match version {
        3 => ProtocolVersion::V3_1,
        4 => ProtocolVersion::V3_1_1,
        5 => ProtocolVersion::V5,
        _ => return BAD_VERSION,
    };
    match roundtrip(input, version) {
        Ok(bytes) if bytes.len() <= output.len() && bytes.len() <= i32::MAX as usize => {
            output[..bytes.len()].copy_from_slice(&bytes);
            bytes.len() as i32
        }
        Ok(_) => OUTPUT_TOO_SMALL,
        Err(code) => code,
    }
}

fn roundtrip(mut input: &[u8], version: ProtocolVersion) -> Result<Vec<u8>, i32> {
    let mut out = Vec::with_capacity(input.len());
    while !input.is_empty() {
        let (packet, used) = match decode(input, version, u32::MAX) {
            Ok(Some(found)) => found,
            Ok(None) => return Err(INCOMPLETE),
            Err(e) => return Err(-(0x100 + i32::from(e.reason_code() as u8))),
        };
        // CONNECT is encoded in the version it names; every other packet in
        // the connection's version.
        let encode_version = match &packet {
            Packet::Connect(c) => c.protocol,
            _ => version,
        };
        packet
            .encode(encode_version, &mut out)
            .map_err(|_| ENCODE_FAILED)?;
        input = &input[used..];
    }
    Ok(out)
}
