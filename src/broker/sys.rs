//! `$SYS/broker/...`: counters published as retained messages at the
//! interval the host sets. Subscribers need a filter starting with `$SYS`
//! [MQTT-4.7.2-1].

use super::Broker;
use crate::codec::{Properties, QoS};
use crate::store::Message;
use crate::time::Millis;
use bytes::Bytes;
use std::rc::Rc;

impl Broker {
    pub(super) fn publish_sys(&mut self, now: Millis) {
        let stats = self.stats(now);
        let values: [(&str, String); 13] = [
            ("version", format!("tabmq {}", env!("CARGO_PKG_VERSION"))),
            ("uptime", format!("{} seconds", stats.uptime_secs)),
            ("clients/connected", stats.connections.to_string()),
            ("clients/total", stats.sessions.to_string()),
            ("messages/received", stats.messages_received.to_string()),
            ("messages/sent", stats.messages_sent.to_string()),
            ("messages/dropped", stats.messages_dropped.to_string()),
            ("messages/inflight", stats.inflight_messages.to_string()),
            ("messages/queued", stats.queued_messages.to_string()),
            ("bytes/received", stats.bytes_received.to_string()),
            ("bytes/sent", stats.bytes_sent.to_string()),
            ("subscriptions/count", stats.subscriptions.to_string()),
            ("retained messages/count", stats.retained.to_string()),
        ];
        for (name, value) in values {
            self.publish_sys_value(format!("$SYS/broker/{name}"), value, now);
        }
    }

    /// Publishes one `$SYS` value as a retained message, if it changed.
    pub(super) fn publish_sys_value(&mut self, topic: String, value: String, now: Millis) {
        if self
            .retained
            .get(topic.as_str())
            .is_some_and(|m| m.payload == value.as_bytes())
        {
            return;
        }
        let msg = Rc::new(Message {
            id: self.take_message_id(),
            topic: Rc::from(topic),
            payload: Bytes::from(value),
            qos: QoS::AtMostOnce,
            retain: true,
            properties: Properties::default(),
            expires_at: None,
        });
        self.set_retained(&msg);
        self.route(&msg, None, now);
    }
}
