mod sim;
use sim::*;
use tabmq::broker::Config;
use tabmq::codec::{Packet, PubResponse};

#[test]
fn qos1_roundtrip_both_versions() {
    let mut s = Sim::new(Config {
        sys_interval_secs: 0,
        ..Config::default()
    });
    let sub = s.connect("sub", V5, true);
    let sub3 = s.connect("sub3", V311, true);
    s.subscribe(sub, "a/+", QoS::AtLeastOnce);
    s.subscribe(sub3, "a/#", QoS::ExactlyOnce);
    let p = s.connect("pub", V5, true);
    s.publish(p, "a/b", b"hello", QoS::AtLeastOnce, false, 7);
    assert_eq!(s.recv(p), Some(Packet::PubAck(PubResponse::new(pid(7)))));
    let got = s.publishes(sub);
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].payload[..], b"hello");
    let got3 = s.publishes(sub3);
    assert_eq!(got3.len(), 1);
    assert_eq!(got3[0].qos, QoS::AtLeastOnce);
}
