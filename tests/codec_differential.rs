//! Differential test against mqtt-packet, the codec MQTT.js uses, driven
//! through the line-oriented oracle `tests/node/mqtt-packet-oracle.mjs`.
//!
//! 1. tabmq -> mqtt-packet -> tabmq: random valid packets from the shared
//!    strategies are encoded by tabmq, parsed and generated again by
//!    mqtt-packet, and decoded by tabmq; the result must equal the original.
//! 2. mqtt-packet -> tabmq -> mqtt-packet: the oracle makes random valid
//!    packets; tabmq must decode every one and re-encode it to bytes that
//!    mqtt-packet parses to the same packet as the original bytes.
//!
//! These need Node and `npm install` (for node_modules/mqtt-packet), so they
//! are ignored by a bare `cargo test` and run from `npm test` as
//! `cargo test --test codec_differential -- --include-ignored`.
//!
//! # Where mqtt-packet (9.0.x) differs, and how each is handled
//!
//! Each one is checked for, not ignored: the test expects the exact
//! behaviour described, so a change in mqtt-packet shows up here.
//!
//! - User properties: mqtt-packet parses them into an object keyed by name,
//!   so when it generates them again the pairs are grouped by name, in
//!   JavaScript property order (names that are array indices, such as "1",
//!   first in numeric order, then the others in order of first appearance),
//!   each name's values in their order. The spec has the order kept
//!   [MQTT-3.3.2-18]. Moreover a name whose first value is "" loses that
//!   value when the name appears again (a truthiness test on the value in
//!   `_parseProperties`). `mqtt_packet_user_properties` applies exactly
//!   this to the expected packet.
//! - AUTH with Remaining Length 0: spec 3.15.2.1 lets an AUTH with reason
//!   Success and no properties omit both; tabmq writes that `f0 00`, and
//!   mqtt-packet's parser refuses it ("Invalid auth reason code", its
//!   pull request #160). The test checks the refusal and then sends the
//!   equivalent long form `f0 02 00 00`.
//! - CONNECT that mqtt-packet refuses to generate, though tabmq (and the
//!   spec) allow the bytes: an empty client identifier without clean start
//!   (MQTT 5 allows it, spec 3.1.3.1; 3.1.1 forbids the client to send it,
//!   [MQTT-3.1.3-7], which makes it a protocol error, not malformed), an
//!   empty client identifier in MQTT 3.1 (whose spec requires 1 to 23
//!   characters), and in MQTT 5 a password without a user name (allowed
//!   since 5.0, spec 3.1.2.9). mqtt-packet parses these; the test checks its
//!   generator refuses them with the expected message and skips the rest.
//! - Sizes: in part 2 the oracle compares mqtt-packet's parsed objects without
//!   their `length` (the Remaining Length). Equal packets may be encoded in
//!   different sizes: tabmq leaves out a Success reason code and empty
//!   properties where spec 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1 and 3.14.2.1
//!   allow, while mqtt-packet always writes DISCONNECT's and, with a
//!   non-Success reason, an empty property length in PUBACK etc.

mod common;

use common::strategies::packet;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use tabmq::codec::{decode, Connect, Packet, Properties, ProtocolVersion};

/// No maximum packet size.
const NO_LIMIT: u32 = u32::MAX;

// ---------------------------------------------------------------------------
// The oracle process

struct Oracle {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Oracle {
    fn start() -> Oracle {
        // The crate root: cargo sets CARGO_MANIFEST_DIR when it runs the test.
        let root = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let root = root.as_path();
        let module = root.join("node_modules/mqtt-packet/package.json");
        assert!(
            module.is_file(),
            "{} is missing: run `npm install` in {} first (the differential test \
             needs the mqtt-packet npm package)",
            module.display(),
            root.display()
        );
        let mut child = Command::new("node")
            .arg("tests/node/mqtt-packet-oracle.mjs")
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `node` (is Node.js installed?): {e}"));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut oracle = Oracle {
            child,
            stdin,
            stdout,
        };
        // Fail early, and clearly, if the oracle does not answer.
        let reply = oracle.ask(r#"{"op":"parse","version":4,"hex":"c000"}"#);
        assert_eq!(
            reply.get("ok"),
            Some(&Json::Bool(true)),
            "the oracle does not parse PINGREQ: {reply:?}"
        );
        oracle
    }

    fn ask(&mut self, request: &str) -> Json {
        let stdin = self.stdin.as_mut().expect("oracle stdin open");
        writeln!(stdin, "{request}").expect("write to the oracle");
        stdin.flush().expect("flush the oracle's stdin");
        let mut line = String::new();
        let n = self
            .stdout
            .read_line(&mut line)
            .expect("read from the oracle");
        assert!(n > 0, "the oracle exited (request: {request})");
        Json::parse(&line).unwrap_or_else(|e| panic!("oracle answer is not JSON ({e}): {line}"))
    }

    fn roundtrip(&mut self, version: u8, bytes: &[u8]) -> Json {
        self.ask(&format!(
            r#"{{"op":"roundtrip","version":{version},"hex":"{}"}}"#,
            hex(bytes)
        ))
    }

    fn compare(&mut self, version: u8, a: &[u8], b: &[u8]) -> Json {
        self.ask(&format!(
            r#"{{"op":"compare","version":{version},"a":"{}","b":"{}"}}"#,
            hex(a),
            hex(b)
        ))
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        // Closing stdin ends the oracle's read loop.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        write!(s, "{b:02x}").expect("write to a String");
    }
    s
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd-length hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn version_number(v: ProtocolVersion) -> u8 {
    v as u8
}

fn protocol_version(n: u8) -> ProtocolVersion {
    match n {
        3 => ProtocolVersion::V3_1,
        4 => ProtocolVersion::V3_1_1,
        5 => ProtocolVersion::V5,
        _ => panic!("no protocol version {n}"),
    }
}

/// The version a packet is encoded in: CONNECT carries its own.
fn wire_version(p: &Packet, connection: ProtocolVersion) -> ProtocolVersion {
    match p {
        Packet::Connect(c) => c.protocol,
        _ => connection,
    }
}

// ---------------------------------------------------------------------------
// Known differences (see the module comment)

/// AUTH, Success, no properties, Remaining Length 0 (spec 3.15.2.1).
const SHORT_AUTH: [u8; 2] = [0xF0, 0x00];
/// The same AUTH with the reason code and an empty property list written out.
const LONG_AUTH: [u8; 4] = [0xF0, 0x02, 0x00, 0x00];

/// What mqtt-packet says when it refuses to generate this CONNECT, if it does.
fn connect_refusal(c: &Connect) -> Option<&'static str> {
    if c.client_id.is_empty() && c.protocol == ProtocolVersion::V3_1 {
        return Some("clientId must be supplied before 3.1.1");
    }
    if c.client_id.is_empty() && !c.clean_start {
        return Some("clientId must be given if cleanSession set to 0");
    }
    if c.password.is_some() && c.username.is_none() {
        return Some("Username is required to use password");
    }
    None
}

/// Whether `name` is an array index as ECMAScript defines it: the canonical
/// decimal form of an integer from 0 to 2^32 - 2. Objects list such keys
/// first, in numeric order.
fn is_array_index(name: &str) -> bool {
    let canonical = name == "0"
        || (!name.is_empty()
            && !name.starts_with('0')
            && name.len() <= 10
            && name.bytes().all(|b| b.is_ascii_digit()));
    canonical && name.parse::<u64>().is_ok_and(|n| n < u64::from(u32::MAX))
}

/// User properties as mqtt-packet's parser and generator leave them: grouped
/// by name in JavaScript property order, and a first value "" dropped when
/// the name repeats (`if (result[name][currentUserProperty.name])`).
fn mqtt_packet_user_properties(pairs: &[(String, String)]) -> Vec<(String, String)> {
    // Per name, in order of first appearance: Ok(single value) or Err(array).
    let mut names: Vec<(String, Result<String, Vec<String>>)> = Vec::new();
    for (name, value) in pairs {
        match names.iter_mut().find(|(n, _)| n == name) {
            None => names.push((name.clone(), Ok(value.clone()))),
            Some((_, Ok(first))) if first.is_empty() => *first = value.clone(),
            Some((_, slot @ Ok(_))) => {
                let Ok(first) = std::mem::replace(slot, Err(Vec::new())) else {
                    unreachable!()
                };
                *slot = Err(vec![first, value.clone()]);
            }
            Some((_, Err(values))) => values.push(value.clone()),
        }
    }
    let (mut indices, others): (Vec<_>, Vec<_>) =
        names.into_iter().partition(|(n, _)| is_array_index(n));
    indices.sort_by_key(|(n, _)| n.parse::<u64>().expect("array index"));
    indices
        .into_iter()
        .chain(others)
        .flat_map(|(name, values)| {
            let values = values.map_or_else(|many| many, |one| vec![one]);
            values.into_iter().map(move |v| (name.clone(), v))
        })
        .collect()
}

fn normalise_properties(p: &mut Properties) {
    p.user_properties = mqtt_packet_user_properties(&p.user_properties);
}

/// `p` as it comes back from mqtt-packet.
fn after_mqtt_packet(p: &Packet) -> Packet {
    let mut p = p.clone();
    match &mut p {
        Packet::Connect(c) => {
            normalise_properties(&mut c.properties);
            if let Some(w) = &mut c.will {
                normalise_properties(&mut w.properties);
            }
        }
        Packet::ConnAck(x) => normalise_properties(&mut x.properties),
        Packet::Publish(x) => normalise_properties(&mut x.properties),
        Packet::PubAck(x) | Packet::PubRec(x) | Packet::PubRel(x) | Packet::PubComp(x) => {
            normalise_properties(&mut x.properties)
        }
        Packet::Subscribe(x) => normalise_properties(&mut x.properties),
        Packet::SubAck(x) => normalise_properties(&mut x.properties),
        Packet::Unsubscribe(x) => normalise_properties(&mut x.properties),
        Packet::UnsubAck(x) => normalise_properties(&mut x.properties),
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(x) => normalise_properties(&mut x.properties),
        Packet::Auth(x) => normalise_properties(&mut x.properties),
    }
    p
}

/// tabmq's bytes in a form mqtt-packet parses: only the short AUTH differs.
/// Checks that mqtt-packet still refuses the short form, so that a fixed
/// mqtt-packet is noticed.
fn for_mqtt_packet(oracle: &mut Oracle, bytes: &[u8]) -> Vec<u8> {
    if bytes != SHORT_AUTH {
        return bytes.to_vec();
    }
    let reply = oracle.roundtrip(5, bytes);
    if reply.get("ok") != Some(&Json::Bool(true)) {
        assert_eq!(
            reply.str("error"),
            "Invalid auth reason code",
            "unexpected refusal of f000: {reply:?}"
        );
    }
    LONG_AUTH.to_vec()
}

// ---------------------------------------------------------------------------
// 1. tabmq -> mqtt-packet -> tabmq

#[derive(Default, Debug)]
struct Counts {
    compared: usize,
    refused_connect: usize,
    short_auth: usize,
}

fn check_tabmq_packet(
    oracle: &mut Oracle,
    v: ProtocolVersion,
    p: &Packet,
    counts: &mut Counts,
) -> Result<(), TestCaseError> {
    let bytes = p
        .to_bytes(v)
        .map_err(|e| TestCaseError::fail(format!("tabmq refuses a valid packet: {e}")))?;
    let sent = for_mqtt_packet(oracle, &bytes);
    if sent != bytes {
        counts.short_auth += 1;
    }
    let reply = oracle.roundtrip(version_number(v), &sent);
    if let Packet::Connect(c) = p {
        if let Some(message) = connect_refusal(c) {
            counts.refused_connect += 1;
            let refused = reply.get("ok") == Some(&Json::Bool(false))
                && reply.str("stage") == "generate"
                && reply.str("error") == message;
            if !refused {
                return Err(TestCaseError::fail(format!(
                    "expected mqtt-packet to refuse with {message:?}; got {reply:?}"
                )));
            }
            return Ok(());
        }
    }
    if reply.get("ok") != Some(&Json::Bool(true)) {
        return Err(TestCaseError::fail(format!(
            "mqtt-packet fails on tabmq's {}: {reply:?}",
            hex(&sent)
        )));
    }
    let back = unhex(reply.str("hex"));
    let decoded = decode(&back, v, NO_LIMIT);
    let Ok(Some((q, used))) = decoded else {
        return Err(TestCaseError::fail(format!(
            "tabmq cannot decode mqtt-packet's {} (from {}): {decoded:?}\nmqtt-packet parsed: {:?}",
            hex(&back),
            hex(&sent),
            reply.get("packet")
        )));
    };
    if used != back.len() {
        return Err(TestCaseError::fail(format!(
            "tabmq used {used} of {} bytes",
            back.len()
        )));
    }
    let expected = after_mqtt_packet(p);
    if q != expected {
        return Err(TestCaseError::fail(format!(
            "differs after mqtt-packet\n sent {}\n back {}\n expected {expected:?}\n got      {q:?}\n mqtt-packet parsed: {:?}",
            hex(&sent),
            hex(&back),
            reply.get("packet")
        )));
    }
    counts.compared += 1;
    Ok(())
}

fn tabmq_through_mqtt_packet(v: ProtocolVersion, cases: u32) {
    // `TestRunner::run` takes an `Fn`, so the mutable state sits in cells.
    let oracle = RefCell::new(Oracle::start());
    let counts = RefCell::new(Counts::default());
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&packet(v), |p| {
        check_tabmq_packet(&mut oracle.borrow_mut(), v, &p, &mut counts.borrow_mut())
    });
    if let Err(e) = result {
        panic!("{v:?}: {e}");
    }
    let counts = counts.into_inner();
    println!("{v:?}: {counts:?}");
    assert!(
        counts.compared > cases as usize / 2,
        "too few compared: {counts:?}"
    );
}

#[test]
#[ignore = "needs node + npm packages; runs in npm test"]
fn tabmq_packets_survive_mqtt_packet_v3_1_1() {
    tabmq_through_mqtt_packet(ProtocolVersion::V3_1_1, 2000);
}

#[test]
#[ignore = "needs node + npm packages; runs in npm test"]
fn tabmq_packets_survive_mqtt_packet_v5() {
    tabmq_through_mqtt_packet(ProtocolVersion::V5, 3000);
}

#[test]
#[ignore = "needs node + npm packages; runs in npm test"]
fn tabmq_packets_survive_mqtt_packet_v3_1() {
    tabmq_through_mqtt_packet(ProtocolVersion::V3_1, 500);
}

// ---------------------------------------------------------------------------
// 2. mqtt-packet -> tabmq -> mqtt-packet

/// The seed for the oracle's generator: `MQTT_ORACLE_SEED` to replay one,
/// otherwise a new one each run (printed on failure).
fn seed() -> u64 {
    match std::env::var("MQTT_ORACLE_SEED") {
        Ok(s) => s.parse().expect("MQTT_ORACLE_SEED is a number"),
        Err(_) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970");
            (now.as_nanos() % u128::from(u32::MAX)) as u64
        }
    }
}

fn mqtt_packet_through_tabmq(version: u8, count: usize) {
    let mut oracle = Oracle::start();
    let v = protocol_version(version);
    let seed = seed();
    let reply = oracle.ask(&format!(
        r#"{{"op":"generate","version":{version},"seed":{seed},"count":{count}}}"#
    ));
    assert_eq!(
        reply.get("ok"),
        Some(&Json::Bool(true)),
        "oracle generate failed (seed {seed}): {reply:?}"
    );
    let Some(Json::Arr(packets)) = reply.get("packets") else {
        panic!("no packets: {reply:?}");
    };
    assert_eq!(packets.len(), count);
    let mut identical = 0;
    for (i, item) in packets.iter().enumerate() {
        let original = unhex(item.str("hex"));
        let context = || {
            format!(
                "version {version}, seed {seed}, packet {i}: {}",
                hex(&original)
            )
        };
        let (p, used) = match decode(&original, v, NO_LIMIT) {
            Ok(Some(decoded)) => decoded,
            other => panic!(
                "tabmq cannot decode mqtt-packet's packet ({}): {other:?}",
                context()
            ),
        };
        assert_eq!(used, original.len(), "{}", context());
        let again = p
            .to_bytes(wire_version(&p, v))
            .unwrap_or_else(|e| panic!("tabmq cannot re-encode {p:?} ({}): {e}", context()));
        if again == original {
            identical += 1;
        }
        let again = for_mqtt_packet(&mut oracle, &again);
        let cmp = oracle.compare(version, &original, &again);
        assert_eq!(
            cmp.get("ok"),
            Some(&Json::Bool(true)),
            "mqtt-packet cannot parse tabmq's re-encoding {} of {p:?} ({}): {cmp:?}",
            hex(&again),
            context()
        );
        assert_eq!(
            cmp.get("equal"),
            Some(&Json::Bool(true)),
            "mqtt-packet parses tabmq's re-encoding {} differently ({})\n original: {:?}\n tabmq:    {:?}",
            hex(&again),
            context(),
            cmp.get("a"),
            cmp.get("b")
        );
    }
    println!(
        "version {version}, seed {seed}: {count} packets, {identical} re-encoded byte for byte"
    );
}

#[test]
#[ignore = "needs node + npm packages; runs in npm test"]
fn mqtt_packet_packets_survive_tabmq_v3_1() {
    mqtt_packet_through_tabmq(3, 1000);
}

#[test]
#[ignore = "needs node + npm packages; runs in npm test"]
fn mqtt_packet_packets_survive_tabmq_v3_1_1() {
    mqtt_packet_through_tabmq(4, 3000);
}

#[test]
#[ignore = "needs node + npm packages; runs in npm test"]
fn mqtt_packet_packets_survive_tabmq_v5() {
    mqtt_packet_through_tabmq(5, 4000);
}

// ---------------------------------------------------------------------------
// Tests of the test's own helpers: these need no Node.

#[test]
fn user_properties_as_mqtt_packet_orders_them() {
    let pairs = |xs: &[(&str, &str)]| -> Vec<(String, String)> {
        xs.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let input = pairs(&[
        ("b", "1"),
        ("10", "x"),
        ("a", "2"),
        ("b", "3"),
        ("2", "y"),
        ("01", "z"),
        ("e", ""),
        ("e", "4"),
        ("e", ""),
        ("4294967295", "big"),
    ]);
    let expected = pairs(&[
        ("2", "y"),
        ("10", "x"),
        ("b", "1"),
        ("b", "3"),
        ("a", "2"),
        ("01", "z"),
        ("e", "4"),
        ("e", ""),
        ("4294967295", "big"),
    ]);
    assert_eq!(mqtt_packet_user_properties(&input), expected);
    assert!(is_array_index("0") && is_array_index("4294967294"));
    assert!(!is_array_index("4294967295") && !is_array_index("") && !is_array_index("1a"));
}

// ---------------------------------------------------------------------------
// A small JSON reader for the oracle's answers (no JSON crate among the
// dev-dependencies).

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Result<Json, String> {
        let mut p = JsonParser {
            s: text.as_bytes(),
            i: 0,
        };
        let value = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing characters at {}", p.i));
        }
        Ok(value)
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A string field, or "" when absent.
    fn str(&self, key: &str) -> &str {
        match self.get(key) {
            Some(Json::Str(s)) => s,
            _ => "",
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at {}", c as char, self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.eat(b':')?;
                    fields.push((key, self.value()?));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(fields));
                        }
                        _ => return Err(format!("bad object at {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("bad array at {}", self.i)),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len() && b"+-.eE0123456789".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).expect("ASCII");
                text.parse()
                    .map(Json::Num)
                    .map_err(|_| format!("bad number at {start}"))
            }
            None => Err("unexpected end".into()),
        }
    }

    fn word(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(value)
        } else {
            Err(format!("bad literal at {}", self.i))
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
        self.i += 4;
        let text = std::str::from_utf8(digits).map_err(|e| e.to_string())?;
        u32::from_str_radix(text, 16).map_err(|e| e.to_string())
    }

    fn string(&mut self) -> Result<String, String> {
        if self.s.get(self.i) != Some(&b'"') {
            return Err(format!("expected a string at {}", self.i));
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Err("unterminated string".into());
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err("unterminated escape".into());
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
                            } else {
                                hi
                            };
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        }
                        _ => return Err(format!("bad escape at {}", self.i)),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|e| e.to_string())
    }
}
