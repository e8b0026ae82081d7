//! Primitive MQTT data types (spec section 1.5): two- and four-byte integers,
//! variable byte integers, UTF-8 strings and binary data, read from a bounded
//! slice and written to a `Vec<u8>`.

use super::error::DecodeError;
use bytes::Bytes;

/// Largest value a variable byte integer can hold (spec 1.5.5).
pub const VARINT_MAX: u32 = 268_435_455;

/// A cursor over exactly one packet's bytes. Every read is bounds-checked and a
/// read past the end is `Truncated`: a field ran past the remaining length.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated);
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// The rest of the packet, consumed.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Variable byte integer inside a packet (property lengths, subscription
    /// identifiers). At most four bytes [MQTT-1.5.5-1].
    pub fn varint(&mut self) -> Result<u32, DecodeError> {
        match parse_varint(&self.buf[self.pos..])? {
            Some((value, used)) => {
                self.pos += used;
                Ok(value)
            }
            None => Err(DecodeError::Truncated),
        }
    }

    /// UTF-8 encoded string (spec 1.5.4): well-formed UTF-8 [MQTT-1.5.4-1]
    /// with no U+0000 [MQTT-1.5.4-2].
    pub fn string(&mut self) -> Result<String, DecodeError> {
        let len = self.u16()? as usize;
        let raw = self.take(len)?;
        let s = std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8)?;
        if raw.contains(&0) {
            return Err(DecodeError::NullCharacter);
        }
        Ok(s.to_owned())
    }

    /// Binary data (spec 1.5.6): a two-byte length and that many bytes.
    pub fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.u16()? as usize;
        Ok(Bytes::copy_from_slice(self.take(len)?))
    }
}

/// Parses a variable byte integer from the start of `buf`.
/// `Ok(None)`: more bytes are needed. More than four bytes is malformed.
pub fn parse_varint(buf: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for i in 0..4 {
        let Some(&byte) = buf.get(i) else {
            return Ok(None);
        };
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            // A non-minimal encoding (a trailing zero group) is still one value;
            // the spec only bounds the length [MQTT-1.5.5-1].
            return Ok(Some((value, i + 1)));
        }
    }
    Err(DecodeError::MalformedVarint)
}

/// Number of bytes the variable byte integer encoding of `value` takes.
pub fn varint_len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

pub fn put_varint(out: &mut Vec<u8>, mut value: u32) {
    debug_assert!(value <= VARINT_MAX);
    loop {
        let mut byte = (value & 0x7F) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if value == 0 {
            return;
        }
    }
}

pub fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

pub fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Writes a length-prefixed string or binary field. Callers check lengths
/// first (see `check_str` and `check_bin`), so the cast cannot truncate.
pub fn put_bytes(out: &mut Vec<u8>, value: &[u8]) {
    debug_assert!(value.len() <= u16::MAX as usize);
    put_u16(out, value.len() as u16);
    out.extend_from_slice(value);
}

/// Size on the wire of a length-prefixed string or binary field.
pub fn field_len(value: &[u8]) -> usize {
    2 + value.len()
}
