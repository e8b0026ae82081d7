//! Password files in Mosquitto's format, as `mosquitto_passwd` writes them:
//! one `username:hash` line per user, where the hash is
//! `$7$<iterations>$<salt>$<hash>` (PBKDF2-HMAC-SHA512, Mosquitto 2.x) or
//! `$6$<salt>$<hash>` (SHA-512 of the password then the salt, older
//! Mosquitto), salt and hash in base64. Blank lines and lines starting with
//! `#` are skipped. The hashing is RustCrypto's (`sha2`, `pbkdf2`); nothing
//! here is hand-written cryptography.

use super::AccessError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha512};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// Most iterations accepted from a file: a hash is checked while other
/// clients wait (about 1 ms per 1,000 iterations here).
const MAX_ITERATIONS: u32 = 1_000_000;

/// How one user's password is checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Secret {
    /// `$6$`: SHA-512(password || salt).
    Sha512 { salt: Vec<u8>, hash: Vec<u8> },
    /// `$7$`: PBKDF2-HMAC-SHA512.
    Pbkdf2 {
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    /// Given in plain text by the host (`users: [{ username, password }]`).
    Plain(Vec<u8>),
}

/// The users a password file (or the `users` option) names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Passwords {
    users: HashMap<String, Secret>,
}

impl Passwords {
    /// Reads a password file's text. An error names the line.
    pub fn parse(text: &str) -> Result<Passwords, AccessError> {
        let mut p = Passwords::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches(['\r', ' ', '\t']);
            if line.trim_start().is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |m: &str| AccessError::at(i + 1, m);
            let Some((user, hash)) = line.split_once(':') else {
                return Err(err("is not `username:hash`"));
            };
            if user.is_empty() {
                return Err(err("has an empty username"));
            }
            let secret = parse_hash(hash).map_err(|m| err(&m))?;
            p.users.insert(user.to_owned(), secret);
        }
        Ok(p)
    }

    /// Adds (or replaces) a user with a plain-text password.
    pub fn add_plain(&mut self, username: &str, password: &str) {
        let secret = Secret::Plain(password.as_bytes().to_vec());
        self.users.insert(username.to_owned(), secret);
    }

    /// Adds (or replaces) a user with a `$7$`/`$6$` hash.
    pub fn add_hash(&mut self, username: &str, hash: &str) -> Result<(), String> {
        self.users.insert(username.to_owned(), parse_hash(hash)?);
        Ok(())
    }

    /// A hash of `username`'s entry (salt and hash, or the plain
    /// password), to tell later whether it changed.
    pub fn fingerprint(&self, username: &str) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        let secret = self.users.get(username)?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        secret.hash(&mut h);
        Some(h.finish())
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether `username` is known and `password` is theirs. The comparison
    /// of the final bytes takes the same time wherever they differ.
    pub fn check(&self, username: &str, password: &[u8]) -> bool {
        let Some(secret) = self.users.get(username) else {
            return false;
        };
        let (expected, got) = match secret {
            Secret::Plain(p) => (p.as_slice(), password.to_vec()),
            Secret::Sha512 { salt, hash } => {
                let mut d = Sha512::new();
                d.update(password);
                d.update(salt);
                (hash.as_slice(), d.finalize().to_vec())
            }
            Secret::Pbkdf2 {
                iterations,
                salt,
                hash,
            } => (
                hash.as_slice(),
                pbkdf2(password, salt, *iterations, hash.len()),
            ),
        };
        bool::from(expected.ct_eq(&got))
    }
}

fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
    out
}

fn b64(field: &str, what: &str) -> Result<Vec<u8>, String> {
    B64.decode(field)
        .map_err(|_| format!("has a {what} that is not base64"))
}

/// Reads `$7$iterations$salt$hash` or `$6$salt$hash`.
fn parse_hash(hash: &str) -> Result<Secret, String> {
    let parts: Vec<&str> = hash.split('$').collect();
    match parts.as_slice() {
        ["", "7", iterations, salt, h] => {
            let iterations = iterations
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_ITERATIONS).contains(n))
                .ok_or_else(|| {
                    format!("has an iteration count that is not from 1 to {MAX_ITERATIONS}")
                })?;
            let hash = b64(h, "hash")?;
            if hash.is_empty() {
                return Err("has an empty hash".into());
            }
            Ok(Secret::Pbkdf2 {
                iterations,
                salt: b64(salt, "salt")?,
                hash,
            })
        }
        ["", "6", salt, h] => {
            let hash = b64(h, "hash")?;
            if hash.len() != 64 {
                return Err("has a $6$ hash that is not 64 bytes of SHA-512".into());
            }
            Ok(Secret::Sha512 {
                salt: b64(salt, "salt")?,
                hash,
            })
        }
        _ => Err(
            "has a password that is not a $7$ (PBKDF2-SHA512) or $6$ (SHA-512) hash: \
             make the file with `tabmq passwd` or `mosquitto_passwd`"
                .into(),
        ),
    }
}

/// The `$7$` hash of `password`, as `mosquitto_passwd` writes it (the salt
/// comes from the host: the core has no randomness of its own).
pub fn hash_password(password: &[u8], salt: &[u8], iterations: u32) -> String {
    let hash = pbkdf2(password, salt, iterations, 64);
    format!("$7${iterations}${}${}", B64.encode(salt), B64.encode(hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_made_here_checks_its_password_only() {
        let line = format!("alice:{}", hash_password(b"s3cret", b"0123456789ab", 101));
        let p = Passwords::parse(&line).unwrap();
        assert!(p.check("alice", b"s3cret"));
        assert!(!p.check("alice", b"s3cret "));
        assert!(!p.check("alice", b""));
        assert!(!p.check("bob", b"s3cret"));
    }

    #[test]
    fn sha512_lines_check() {
        let salt = b"saltsaltsalt";
        let mut d = Sha512::new();
        d.update(b"pw");
        d.update(salt);
        let line = format!("u:$6${}${}\n", B64.encode(salt), B64.encode(d.finalize()));
        let p = Passwords::parse(&line).unwrap();
        assert!(p.check("u", b"pw"));
        assert!(!p.check("u", b"px"));
    }

    #[test]
    fn comments_and_blank_lines_are_skipped_and_errors_name_the_line() {
        let ok = format!(
            "# users\n\nbob:{}\r\n",
            hash_password(b"x", b"abcdefghijkl", 2)
        );
        assert_eq!(Passwords::parse(&ok).unwrap().len(), 1);
        let e = Passwords::parse("# x\nbob:plain\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(Passwords::parse("nocolon\n").is_err());
        assert!(Passwords::parse(":$7$1$AAAA$AAAA\n").is_err());
        assert!(Passwords::parse("a:$7$0$AAAA$AAAA\n").is_err());
        assert!(Passwords::parse("a:$7$101$!!$AAAA\n").is_err());
    }

    #[test]
    fn a_username_with_a_colon_does_not_match_a_shorter_one() {
        let line = format!("alice:{}", hash_password(b"pw", b"abcdefghijkl", 5));
        let p = Passwords::parse(&line).unwrap();
        assert!(!p.check("alice:", b"pw"));
        assert!(!p.check("alic", b"pw"));
    }
}
