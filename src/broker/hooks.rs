//! Authentication and authorization, decided by the host.

use crate::codec::{ProtocolVersion, QoS, ReasonCode};
use bytes::Bytes;

/// What a CONNECT (or an AUTH exchange step) asks for.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    /// The connection asking; `Broker::handle_auth_decision` takes it back
    /// when the decision is `Pending`.
    pub conn: super::ConnId,
    pub client_id: &'a str,
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
    pub protocol: ProtocolVersion,
    /// Enhanced authentication (MQTT 5): the method name and this step's data.
    pub method: Option<&'a str>,
    pub data: Option<&'a [u8]>,
    /// True for AUTH 0x19 (re-authentication on a live connection).
    pub reauthenticate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthDecision {
    Accept,
    /// Refuse with this reason (e.g. 0x86 bad user name or password, 0x87
    /// not authorized, 0x8C bad authentication method).
    Reject(ReasonCode),
    /// Enhanced authentication continues: send AUTH 0x18 with this data.
    Continue(Option<Bytes>),
    /// The host decides later and calls `Broker::handle_auth_decision`.
    Pending,
}

/// Who is asking, for authorization.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo<'a> {
    pub client_id: &'a str,
    pub username: Option<&'a str>,
    pub protocol: ProtocolVersion,
}

/// Host decisions. The defaults accept everything; a CONNECT with an
/// authentication method is refused with 0x8C unless `authenticate` handles it.
pub trait Hooks {
    fn authenticate(&mut self, request: &AuthRequest) -> AuthDecision {
        match request.method {
            Some(_) => AuthDecision::Reject(ReasonCode::BadAuthenticationMethod),
            None => AuthDecision::Accept,
        }
    }

    fn authorize_publish(
        &mut self,
        _client: &ClientInfo,
        _topic: &str,
        _qos: QoS,
        _retain: bool,
    ) -> bool {
        true
    }

    fn authorize_subscribe(&mut self, _client: &ClientInfo, _filter: &str, _qos: QoS) -> bool {
        true
    }
}

/// Accepts everything.
pub struct AllowAll;

impl Hooks for AllowAll {}
