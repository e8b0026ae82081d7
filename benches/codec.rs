//! Codec throughput: PUBLISH decode and encode with 16 B and 1 KiB payloads in
//! MQTT 3.1.1 and 5.0, and streaming decode of 100 back-to-back packets.
//!
//! Every case is measured twice: in `codec/packets` with
//! `Throughput::Elements` (read packets/s) and in `codec/bytes` with
//! `Throughput::Bytes` of the encoded size (read MB/s).
//!
//! `cargo bench --bench codec` measures; `cargo bench --bench codec -- --test`
//! runs each case once as a smoke test.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::num::NonZeroU16;
use std::time::Duration;
use tabmq::codec::{decode, Packet, Properties, ProtocolVersion, Publish, QoS};

/// Packets in the streaming case.
const STREAM_PACKETS: usize = 100;

struct Case {
    /// e.g. "v5/1KiB".
    name: String,
    version: ProtocolVersion,
    packet: Packet,
    /// The packet encoded once.
    bytes: Vec<u8>,
    /// `STREAM_PACKETS` copies of `bytes`, back to back.
    stream: Vec<u8>,
}

/// A QoS 1 PUBLISH; in MQTT 5 with a message expiry, a content type and one
/// user property.
fn publish(version: ProtocolVersion, payload_len: usize) -> Packet {
    let mut properties = Properties::default();
    if version.is_v5() {
        properties.message_expiry_interval = Some(3600);
        properties.content_type = Some("application/octet-stream".into());
        properties
            .user_properties
            .push(("trace-id".into(), "4bf92f3577b34da6".into()));
    }
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "sensors/building-1/floor-3/temperature".into(),
        packet_id: NonZeroU16::new(42),
        properties,
        payload: Bytes::from(vec![0xA5; payload_len]),
    })
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (vname, version) in [
        ("v3.1.1", ProtocolVersion::V3_1_1),
        ("v5", ProtocolVersion::V5),
    ] {
        for (pname, payload_len) in [("16B", 16), ("1KiB", 1024)] {
            let packet = publish(version, payload_len);
            let bytes = packet.to_bytes(version).expect("benchmark packet encodes");
            let stream = bytes.repeat(STREAM_PACKETS);
            out.push(Case {
                name: format!("{vname}/{pname}"),
                version,
                packet,
                bytes,
                stream,
            });
        }
    }
    out
}

/// Decodes every packet in `buf`, as a connection's read loop would.
fn decode_stream(buf: &[u8], version: ProtocolVersion) -> usize {
    let mut rest = buf;
    let mut count = 0;
    while let Some((packet, used)) = decode(rest, version, u32::MAX).expect("valid stream") {
        black_box(packet);
        rest = &rest[used..];
        count += 1;
    }
    assert!(rest.is_empty(), "stream ended mid-packet");
    count
}

/// Registers every case in one group, with the throughput `per_packet` and
/// `per_stream` give (packets or bytes).
fn run_group(
    c: &mut Criterion,
    group_name: &str,
    per_packet: impl Fn(&Case) -> Throughput,
    per_stream: impl Fn(&Case) -> Throughput,
) {
    let cases = cases();
    let mut group = c.benchmark_group(group_name);
    for case in &cases {
        group.throughput(per_packet(case));
        group.bench_with_input(BenchmarkId::new("decode", &case.name), case, |b, case| {
            b.iter(|| decode(black_box(&case.bytes), case.version, u32::MAX))
        });
        let mut out = Vec::with_capacity(case.bytes.len());
        group.bench_with_input(BenchmarkId::new("encode", &case.name), case, |b, case| {
            b.iter(|| {
                out.clear();
                black_box(&case.packet).encode(case.version, &mut out)
            })
        });
    }
    for case in &cases {
        assert_eq!(decode_stream(&case.stream, case.version), STREAM_PACKETS);
        group.throughput(per_stream(case));
        let id = BenchmarkId::new(format!("decode_stream_x{STREAM_PACKETS}"), &case.name);
        group.bench_with_input(id, case, |b, case| {
            b.iter(|| decode_stream(black_box(&case.stream), case.version))
        });
    }
    group.finish();
}

fn packets_per_second(c: &mut Criterion) {
    run_group(
        c,
        "codec/packets",
        |_| Throughput::Elements(1),
        |_| Throughput::Elements(STREAM_PACKETS as u64),
    );
}

fn bytes_per_second(c: &mut Criterion) {
    run_group(
        c,
        "codec/bytes",
        |case| Throughput::Bytes(case.bytes.len() as u64),
        |case| Throughput::Bytes(case.stream.len() as u64),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = packets_per_second, bytes_per_second
}
criterion_main!(benches);
