//! How the broker applies `Access`: at CONNECT (credentials, client ids,
//! the TLS identity, who may resume a session), at PUBLISH (write), at
//! SUBSCRIBE (something readable) and for each delivery (read).

use super::{Access, ClientAcl, Refusal, READ, WRITE};
use crate::broker::{Broker, ConnId, ConnState, DropReason, SessionKey};
use crate::codec::topic::parse_shared;
use crate::codec::{Connect, ReasonCode};
use crate::time::Millis;
use std::rc::Rc;

impl Broker {
    /// The transport has authenticated the peer of `conn` as `identity` (a
    /// TLS client certificate's name): its CONNECT's username is replaced
    /// by it and needs no password (Mosquitto's `use_identity_as_username`).
    pub fn handle_identity(&mut self, conn: ConnId, identity: &str) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.identity = Some(Rc::from(identity));
        }
    }

    /// Replaces the access settings; every session's ACL rules follow at
    /// once. A connected client whose user is no longer known or has a new
    /// password (or, without a username, when anonymous clients are no
    /// longer allowed) is disconnected with 0x87, as Mosquitto does on a
    /// reload; the others stay connected.
    pub fn set_access(&mut self, access: Access, now: Millis) {
        self.cfg.access = access;
        self.refresh_acls();
        let gone: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(id, c)| {
                // A bridge's link and a webhook's are the broker's own; the
                // host's other clients act for a user (or anonymously).
                (!id.is_internal() || self.acts_for_a_user(**id))
                    && matches!(c.state, ConnState::Connected)
                    && !self.cfg.access.still_admits(
                        c.username.as_deref(),
                        c.credential,
                        c.identity.is_some(),
                    )
            })
            .map(|(id, _)| *id)
            .collect();
        for conn in gone {
            let detail = "no longer authorized after an access change";
            self.protocol_violation(conn, ReasonCode::NotAuthorized, detail, now);
        }
    }

    /// Checks a CONNECT's credentials against the access settings. The username becomes the TLS identity first,
    /// if the transport gave one.
    pub(in crate::broker) fn admit(
        &mut self,
        conn: ConnId,
        connect: &mut Connect,
    ) -> Result<(), ReasonCode> {
        let identity = self.conns.get(&conn).and_then(|c| c.identity.clone());
        if let Some(name) = &identity {
            connect.username = Some(name.to_string());
        }
        let username = connect.username.as_deref();
        let password = connect.password.as_deref();
        match self
            .cfg
            .access
            .admit(username, password, identity.is_some())
        {
            Ok(()) => {
                let credential = username.and_then(|u| self.cfg.access.credential(u));
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.credential = credential;
                }
                Ok(())
            }
            Err(Refusal::BadCredentials) => Err(ReasonCode::BadUserNameOrPassword),
            Err(Refusal::Anonymous) => Err(ReasonCode::NotAuthorized),
        }
    }

    /// Whether a connection with `username` may resume the session `key`:
    /// with access control in force, only the user who last held it may
    /// (a client id is not a credential; another user taking the id gets a
    /// new session, not the subscriptions and messages of the old one).
    pub(in crate::broker) fn may_resume(&self, key: SessionKey, username: Option<&str>) -> bool {
        !self.cfg.access.is_active() || self.session(key).username.as_deref() == username
    }

    /// The ACL rules for a client, while an ACL is in force.
    pub(in crate::broker) fn client_acl(
        &self,
        client_id: &str,
        username: Option<&str>,
    ) -> Option<ClientAcl> {
        self.cfg.access.client_acl(client_id, username)
    }

    /// Whether the client of `conn` may publish to `topic`.
    pub(in crate::broker) fn may_write(&self, conn: ConnId, topic: &str) -> bool {
        if self.cfg.access.acl.is_none() {
            return true;
        }
        let key = self.conns.get(&conn).and_then(|c| c.session);
        match key.and_then(|k| self.session(k).acl.as_ref()) {
            Some(acl) => acl.allows(topic, WRITE),
            None => true,
        }
    }

    /// Whether session `key` may subscribe to `filter` (`$share/g/f` is
    /// checked on `f`): something it matches must be readable.
    pub(in crate::broker) fn may_subscribe(&self, key: SessionKey, filter: &str) -> bool {
        match &self.session(key).acl {
            Some(acl) => acl.may_subscribe(plain(filter)),
            None => true,
        }
    }

    /// Whether session `key` may receive a message on `topic`.
    pub(in crate::broker) fn may_read(&self, key: SessionKey, topic: &str) -> bool {
        self.session(key)
            .acl
            .as_ref()
            .map_or(true, |acl| acl.allows(topic, READ))
    }

    /// Whether messages through session `key`'s subscription to `filter`
    /// each need a read check.
    pub(in crate::broker) fn needs_read_check(&self, key: SessionKey, filter: &str) -> bool {
        self.session(key)
            .acl
            .as_ref()
            .is_some_and(|acl| !acl.reads_all(plain(filter)))
    }

    /// Resolves session `key`'s ACL rules again (its user, or the ACL,
    /// changed) and updates its subscriptions' read checks.
    pub(in crate::broker) fn refresh_acl(&mut self, key: SessionKey) {
        let s = self.session(key);
        // A bridge's or a webhook's session is the broker's own: no rules.
        let acl = match crate::broker::host_client::is_broker_session(&s.client_id) {
            true => None,
            false => self
                .client_acl(&s.client_id, s.username.as_deref())
                .map(Rc::new),
        };
        self.session_mut(key).acl = acl;
        self.drop_unreadable_queue(key);
        let subs: Vec<_> = self
            .session(key)
            .subscriptions
            .iter()
            .map(|(f, st)| (f.clone(), st.options, st.identifier))
            .collect();
        for (filter, options, identifier) in subs {
            let check_read = self.needs_read_check(key, &filter);
            let entry = crate::broker::topic_tree::SubEntry {
                session: key,
                options,
                identifier,
                check_read,
            };
            self.tree.insert(&filter, entry);
        }
    }

    /// Messages queued for session `key` that its ACL no longer lets it
    /// read are dropped (and forgotten by storage), as Mosquitto checks a
    /// queue again when its client reconnects. Those already sent stay in
    /// flight: the client has them.
    fn drop_unreadable_queue(&mut self, key: SessionKey) {
        let s = self.session_mut(key);
        let Some(acl) = s.acl.clone() else {
            return;
        };
        if s.queue.iter().all(|o| acl.allows(&o.msg.topic, READ)) {
            return;
        }
        let queue = std::mem::take(&mut s.queue);
        s.queued_bytes = 0;
        for out in queue {
            if acl.allows(&out.msg.topic, READ) {
                self.session_mut(key).push_queue(out);
            } else {
                self.forget_delivery(key, &out);
                self.dropped(key, &out.msg, DropReason::NotAuthorized);
            }
        }
    }

    /// `refresh_acl` for every session.
    pub(in crate::broker) fn refresh_acls(&mut self) {
        let keys: Vec<SessionKey> = (0..self.sessions.len() as u32)
            .map(SessionKey)
            .filter(|k| self.sessions[k.0 as usize].is_some())
            .collect();
        for key in keys {
            self.refresh_acl(key);
        }
    }
}

/// The filter a subscription matches with: for `$share/group/filter`, `filter`.
fn plain(filter: &str) -> &str {
    match parse_shared(filter) {
        Some(Ok(shared)) => shared.filter,
        _ => filter,
    }
}
