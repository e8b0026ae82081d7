//! Access control a Mosquitto user already knows: a password file (or the
//! host's list of users), whether anonymous clients may connect, and an ACL
//! file. The broker applies it before the host's hooks, which still run
//! after it (see `hooks.rs`).

mod acl;
mod apply;
mod passwords;

pub use acl::{Acl, ClientAcl, READ, WRITE};
pub use passwords::{hash_password, Passwords};

use std::fmt;

/// A password or ACL file that does not read, with the line at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessError {
    pub line: Option<usize>,
    pub message: String,
}

impl AccessError {
    fn at(line: usize, message: &str) -> AccessError {
        AccessError {
            line: Some(line),
            message: message.to_owned(),
        }
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(n) => write!(f, "line {n} {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Who may connect and what they may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Known users; `None`: usernames are not checked here.
    pub passwords: Option<Passwords>,
    /// `None` decides by `passwords`: anonymous clients are allowed exactly
    /// when there are no passwords (Mosquitto 2.0 refuses them once a
    /// password file is given).
    pub allow_anonymous: Option<bool>,
    /// `None`: every topic is open to every client (the hooks aside).
    pub acl: Option<Acl>,
}

/// Why a CONNECT is refused by `Access::admit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A username that is unknown or a wrong password (0x86).
    BadCredentials,
    /// No username, and anonymous clients are not allowed (0x87).
    Anonymous,
}

impl Access {
    /// Whether anything is checked at all.
    pub fn is_active(&self) -> bool {
        self.passwords.is_some() || self.acl.is_some() || self.allow_anonymous == Some(false)
    }

    pub fn anonymous_allowed(&self) -> bool {
        self.allow_anonymous.unwrap_or(self.passwords.is_none())
    }

    /// Checks a CONNECT's credentials. `identity` is a name the transport
    /// has already authenticated (a TLS client certificate): it is the
    /// username then, and no password is needed.
    pub fn admit(
        &self,
        username: Option<&str>,
        password: Option<&[u8]>,
        identity: bool,
    ) -> Result<(), Refusal> {
        if identity {
            return Ok(());
        }
        let Some(username) = username else {
            return match self.anonymous_allowed() {
                true => Ok(()),
                false => Err(Refusal::Anonymous),
            };
        };
        match &self.passwords {
            None => Ok(()),
            Some(p) if p.check(username, password.unwrap_or_default()) => Ok(()),
            Some(_) => Err(Refusal::BadCredentials),
        }
    }

    /// A fingerprint of `username`'s password entry, kept by a connection
    /// it admitted (not the password): see `still_admits`.
    pub fn credential(&self, username: &str) -> Option<u64> {
        self.passwords.as_ref()?.fingerprint(username)
    }

    /// Whether a connection admitted earlier with `username` (and password
    /// entry `credential`) would still be: its user still exists with the
    /// same password entry. A changed password ends the connection, as the
    /// password it gave is not kept to check again.
    pub fn still_admits(
        &self,
        username: Option<&str>,
        credential: Option<u64>,
        identity: bool,
    ) -> bool {
        match (username, &self.passwords) {
            _ if identity => true,
            (None, _) => self.anonymous_allowed(),
            (Some(_), None) => true,
            (Some(u), Some(p)) => p.fingerprint(u).is_some_and(|f| Some(f) == credential),
        }
    }

    /// The ACL rules of a client, if an ACL is in force.
    pub fn client_acl(&self, client_id: &str, username: Option<&str>) -> Option<ClientAcl> {
        self.acl.as_ref().map(|a| a.resolve(client_id, username))
    }
}
