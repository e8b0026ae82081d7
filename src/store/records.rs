//! Storage records as bytes: how each kind of record is written into a
//! database value (an IndexedDB `Uint8Array`) and read back. Compact, with a
//! format byte first so a later format can be told apart, and reusing the
//! codec's primitives; message properties are stored exactly as MQTT 5
//! PUBLISH properties are sent. A record that does not read back is an error,
//! never a panic: the store skips it and reports it.

use super::{
    DeliveryRecord, DeliveryState, Message, SessionRecord, SubscriptionRecord, WillRecord,
};
use crate::codec::wire::{self, Reader};
use crate::codec::{
    DecodeError, PacketId, PacketType, Properties, PropertyScope, QoS, RetainHandling,
    SubscriptionOptions,
};
use crate::time::Millis;
use bytes::Bytes;
use std::fmt;
use std::rc::Rc;

/// The record format this code writes.
const FORMAT: u8 = 1;

/// A stored value that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRecord(pub String);

impl fmt::Display for CorruptRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "corrupt record: {}", self.0)
    }
}

impl std::error::Error for CorruptRecord {}

impl From<DecodeError> for CorruptRecord {
    fn from(e: DecodeError) -> Self {
        CorruptRecord(e.to_string())
    }
}

type Result<T> = std::result::Result<T, CorruptRecord>;

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Strings in records came from decoded packets: at most 65,535 bytes.
    wire::put_bytes(out, s.as_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => {
            out.push(1);
            put_u64(out, v);
        }
        None => out.push(0),
    }
}

fn u64_of(r: &mut Reader) -> Result<u64> {
    let hi = u64::from(r.u32()?);
    let lo = u64::from(r.u32()?);
    Ok(hi << 32 | lo)
}

fn opt_u64(r: &mut Reader) -> Result<Option<u64>> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(u64_of(r)?)),
        other => Err(CorruptRecord(format!("option flag {other}"))),
    }
}

fn qos(v: u8) -> Result<QoS> {
    QoS::from_u8(v).map_err(CorruptRecord::from)
}

fn start(r: &mut Reader) -> Result<()> {
    match r.u8()? {
        FORMAT => Ok(()),
        other => Err(CorruptRecord(format!("unknown record format {other}"))),
    }
}

fn finish<T>(r: &Reader, value: T) -> Result<T> {
    if r.is_empty() {
        Ok(value)
    } else {
        Err(CorruptRecord("trailing bytes".into()))
    }
}

fn message_body(out: &mut Vec<u8>, m: &Message) {
    put_u64(out, m.id);
    put_str(out, &m.topic);
    out.push(m.qos as u8);
    out.push(m.retain as u8);
    put_opt_u64(out, m.expires_at.map(|t| t.0));
    m.properties.encode(out);
    wire::put_u32(out, m.payload.len() as u32);
    out.extend_from_slice(&m.payload);
}

fn read_message(r: &mut Reader) -> Result<Message> {
    let id = u64_of(r)?;
    let topic: Rc<str> = Rc::from(r.string()?);
    let qos = qos(r.u8()?)?;
    let retain = r.u8()? != 0;
    let expires_at = opt_u64(r)?.map(Millis);
    let properties = Properties::decode(r, PropertyScope::Packet(PacketType::Publish))?;
    let len = r.u32()? as usize;
    let payload = Bytes::copy_from_slice(r.take(len)?);
    Ok(Message {
        id,
        topic,
        payload,
        qos,
        retain,
        properties,
        expires_at,
    })
}

/// A message (queued for sessions, or retained).
pub fn encode_message(m: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + m.topic.len() + m.payload.len());
    out.push(FORMAT);
    message_body(&mut out, m);
    out
}

pub fn decode_message(bytes: &[u8]) -> Result<Message> {
    let mut r = Reader::new(bytes);
    start(&mut r)?;
    let m = read_message(&mut r)?;
    finish(&r, m)
}

fn put_will(out: &mut Vec<u8>, will: &Option<WillRecord>) {
    match will {
        Some(w) => {
            out.push(1);
            wire::put_u32(out, w.delay);
            message_body(out, &w.message);
        }
        None => out.push(0),
    }
}

fn read_will(r: &mut Reader) -> Result<Option<WillRecord>> {
    match r.u8()? {
        0 => Ok(None),
        1 => {
            let delay = r.u32()?;
            let message = Rc::new(read_message(r)?);
            Ok(Some(WillRecord { message, delay }))
        }
        other => Err(CorruptRecord(format!("will flag {other}"))),
    }
}

pub fn encode_session(s: &SessionRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + s.client_id.len());
    out.push(FORMAT);
    put_str(&mut out, &s.client_id);
    out.push(s.protocol);
    wire::put_u32(&mut out, s.expiry_interval);
    put_opt_u64(&mut out, s.disconnected_at.map(|t| t.0));
    put_will(&mut out, &s.pending_will);
    put_will(&mut out, &s.will);
    // Added after format 1 was first written: a record without it reads
    // as having no username.
    if let Some(u) = &s.username {
        put_str(&mut out, u);
    }
    out
}

pub fn decode_session(bytes: &[u8]) -> Result<SessionRecord> {
    let mut r = Reader::new(bytes);
    start(&mut r)?;
    let client_id: Rc<str> = Rc::from(r.string()?);
    let protocol = r.u8()?;
    if !(3..=5).contains(&protocol) {
        return Err(CorruptRecord(format!("protocol level {protocol}")));
    }
    let expiry_interval = r.u32()?;
    let disconnected_at = opt_u64(&mut r)?.map(Millis);
    let pending_will = read_will(&mut r)?;
    let will = read_will(&mut r)?;
    let username = match r.is_empty() {
        true => None,
        false => Some(Rc::from(r.string()?)),
    };
    let s = SessionRecord {
        client_id,
        protocol,
        expiry_interval,
        disconnected_at,
        pending_will,
        will,
        username,
    };
    finish(&r, s)
}

fn options_byte(o: &SubscriptionOptions) -> u8 {
    o.qos as u8
        | (o.no_local as u8) << 2
        | (o.retain_as_published as u8) << 3
        | (o.retain_handling as u8) << 4
}

fn options_of(byte: u8) -> Result<SubscriptionOptions> {
    let retain_handling = match (byte >> 4) & 0b11 {
        0 => RetainHandling::OnSubscribe,
        1 => RetainHandling::OnNewSubscribe,
        2 => RetainHandling::Never,
        _ => return Err(CorruptRecord("retain handling 3".into())),
    };
    Ok(SubscriptionOptions {
        qos: qos(byte & 0b11)?,
        no_local: byte & 0b100 != 0,
        retain_as_published: byte & 0b1000 != 0,
        retain_handling,
    })
}

pub fn encode_subscription(s: &SubscriptionRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + s.client_id.len() + s.filter.len());
    out.push(FORMAT);
    put_str(&mut out, &s.client_id);
    put_str(&mut out, &s.filter);
    out.push(options_byte(&s.options));
    put_opt_u64(&mut out, s.identifier.map(u64::from));
    out
}

pub fn decode_subscription(bytes: &[u8]) -> Result<SubscriptionRecord> {
    let mut r = Reader::new(bytes);
    start(&mut r)?;
    let client_id: Rc<str> = Rc::from(r.string()?);
    let filter = r.string()?;
    let options = options_of(r.u8()?)?;
    let identifier = match opt_u64(&mut r)? {
        Some(v) => Some(u32::try_from(v).map_err(|_| CorruptRecord("identifier".into()))?),
        None => None,
    };
    finish(
        &r,
        SubscriptionRecord {
            client_id,
            filter,
            options,
            identifier,
        },
    )
}

fn state_parts(s: DeliveryState) -> (u8, u16) {
    match s {
        DeliveryState::Queued => (0, 0),
        DeliveryState::AwaitingPubAck(id) => (1, id.get()),
        DeliveryState::AwaitingPubRec(id) => (2, id.get()),
        DeliveryState::AwaitingPubComp(id) => (3, id.get()),
    }
}

fn state_of(tag: u8, id: u16) -> Result<DeliveryState> {
    let pid = || PacketId::new(id).ok_or_else(|| CorruptRecord("packet id 0".into()));
    Ok(match tag {
        0 => DeliveryState::Queued,
        1 => DeliveryState::AwaitingPubAck(pid()?),
        2 => DeliveryState::AwaitingPubRec(pid()?),
        3 => DeliveryState::AwaitingPubComp(pid()?),
        other => return Err(CorruptRecord(format!("delivery state {other}"))),
    })
}

pub fn encode_delivery(d: &DeliveryRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + d.client_id.len());
    out.push(FORMAT);
    put_str(&mut out, &d.client_id);
    put_u64(&mut out, d.seq);
    put_u64(&mut out, d.message_id);
    out.push(d.qos as u8);
    out.push(d.retain as u8);
    wire::put_u16(&mut out, d.subscription_identifiers.len() as u16);
    for id in &d.subscription_identifiers {
        wire::put_u32(&mut out, *id);
    }
    match &d.shared_filter {
        Some(f) => {
            out.push(1);
            put_str(&mut out, f);
        }
        None => out.push(0),
    }
    let (tag, id) = state_parts(d.state);
    out.push(tag);
    wire::put_u16(&mut out, id);
    out
}

pub fn decode_delivery(bytes: &[u8]) -> Result<DeliveryRecord> {
    let mut r = Reader::new(bytes);
    start(&mut r)?;
    let client_id: Rc<str> = Rc::from(r.string()?);
    let seq = u64_of(&mut r)?;
    let message_id = u64_of(&mut r)?;
    let qos = qos(r.u8()?)?;
    let retain = r.u8()? != 0;
    let count = r.u16()?;
    let subscription_identifiers = (0..count)
        .map(|_| r.u32())
        .collect::<std::result::Result<_, _>>()?;
    let shared_filter = match r.u8()? {
        0 => None,
        1 => Some(Rc::from(r.string()?)),
        other => return Err(CorruptRecord(format!("shared flag {other}"))),
    };
    let tag = r.u8()?;
    let state = state_of(tag, r.u16()?)?;
    let d = DeliveryRecord {
        client_id,
        seq,
        message_id,
        qos,
        retain,
        subscription_identifiers,
        shared_filter,
        state,
    };
    finish(&r, d)
}
