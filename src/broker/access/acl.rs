//! ACL files in Mosquitto's `acl_file` syntax:
//!
//! ```text
//! # the anonymous section: rules for clients without a username
//! topic read public/#
//! user alice
//! topic readwrite alice/#
//! topic deny alice/secret
//! # patterns are for every client: %c its client id, %u its username
//! pattern write devices/%c/state
//! ```
//!
//! `topic [read|write|readwrite|deny] FILTER` (no access word: readwrite)
//! adds a rule to the current section: the anonymous one before any
//! `user NAME` line, that user's after it. `pattern` rules apply to every
//! client, with `%c` and `%u` replaced by its client id and username; a
//! pattern is skipped for a client whose id (or username) contains `+`, `#`
//! or `/`, or that has no username where `%u` is used (so an id cannot widen
//! a rule). A client's rules are resolved once per connection, so a check
//! never looks at other users' rules: a matching `deny` refuses, otherwise a
//! matching rule that grants the access allows, otherwise the access is
//! refused. As in MQTT matching, a filter starting with `+` or `#` does not
//! reach topics starting with `$`.

use super::AccessError;
use crate::codec::topic::filter_matches;
use std::collections::HashMap;

pub const READ: u8 = 1;
pub const WRITE: u8 = 2;
const DENY: u8 = 0;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    filter: Box<str>,
    access: u8,
}

/// A parsed ACL file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    anonymous: Vec<Rule>,
    users: HashMap<String, Vec<Rule>>,
    patterns: Vec<Rule>,
}

impl Acl {
    /// Reads an ACL file's text. An error names the line.
    pub fn parse(text: &str) -> Result<Acl, AccessError> {
        let mut acl = Acl::default();
        let mut user: Option<String> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_start().trim_end_matches(['\r', ' ', '\t']);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |m: &str| AccessError::at(i + 1, m);
            let (word, rest) = split_word(line);
            match word {
                "user" => {
                    if rest.is_empty() {
                        return Err(err("`user` needs a username"));
                    }
                    acl.users.entry(rest.to_owned()).or_default();
                    user = Some(rest.to_owned());
                }
                "topic" | "pattern" => {
                    let (access, filter) = match split_word(rest) {
                        ("read", f) => (READ, f),
                        ("write", f) => (WRITE, f),
                        ("readwrite", f) => (READ | WRITE, f),
                        ("deny", f) => (DENY, f),
                        _ => (READ | WRITE, rest),
                    };
                    if filter.is_empty() {
                        return Err(err(&format!("`{word}` needs a topic filter")));
                    }
                    check_filter(filter).map_err(|m| err(&m))?;
                    let rule = Rule {
                        filter: filter.into(),
                        access,
                    };
                    match (word, &user) {
                        ("pattern", _) => acl.patterns.push(rule),
                        (_, Some(u)) => acl.users.entry(u.clone()).or_default().push(rule),
                        (_, None) => acl.anonymous.push(rule),
                    }
                }
                other => {
                    return Err(err(&format!(
                        "starts with `{other}`: expected `user`, `topic` or `pattern`"
                    )))
                }
            }
        }
        Ok(acl)
    }

    /// The rules for one client: its user's (or the anonymous section's)
    /// and the patterns, resolved.
    pub fn resolve(&self, client_id: &str, username: Option<&str>) -> ClientAcl {
        let own = match username {
            Some(u) => self.users.get(u).map_or(&[][..], Vec::as_slice),
            None => &self.anonymous,
        };
        let mut rules: Vec<Rule> = own.to_vec();
        for p in &self.patterns {
            if let Some(filter) = substitute(&p.filter, client_id, username) {
                rules.push(Rule {
                    filter: filter.into(),
                    access: p.access,
                });
            }
        }
        // Denials first: a check can stop at the first rule that decides.
        rules.sort_by_key(|r| r.access != DENY);
        ClientAcl { rules }
    }
}

/// The first word of `s` and the rest, trimmed (a filter may hold spaces).
fn split_word(s: &str) -> (&str, &str) {
    match s.split_once([' ', '\t']) {
        Some((w, rest)) => (w, rest.trim_matches([' ', '\t'])),
        None => (s, ""),
    }
}

/// A rule's filter must be a valid MQTT topic filter (with `%c`/`%u`).
fn check_filter(f: &str) -> Result<(), String> {
    let levels: Vec<&str> = f.split('/').collect();
    for (i, l) in levels.iter().enumerate() {
        let ok = match *l {
            "#" => i == levels.len() - 1,
            "+" => true,
            _ => !l.contains(['+', '#']),
        };
        if !ok {
            return Err(format!("has `{f}`, which is not a valid topic filter"));
        }
    }
    Ok(())
}

/// `%c` and `%u` replaced where they are a whole level (as Mosquitto does;
/// elsewhere they are literal text), or `None` if this client cannot use
/// the pattern.
fn substitute(pattern: &str, client_id: &str, username: Option<&str>) -> Option<String> {
    let safe = |v: &str| !v.contains(['+', '#', '/']);
    let mut out = String::with_capacity(pattern.len() + client_id.len());
    for (i, level) in pattern.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        match level {
            "%c" if safe(client_id) => out.push_str(client_id),
            "%c" => return None,
            "%u" => out.push_str(username.filter(|u| safe(u))?),
            other => out.push_str(other),
        }
    }
    Some(out)
}

/// One client's rules, denials first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientAcl {
    rules: Vec<Rule>,
}

impl ClientAcl {
    /// Whether the client may `access` (READ or WRITE) `topic`.
    pub fn allows(&self, topic: &str, access: u8) -> bool {
        for r in &self.rules {
            if filter_matches(&r.filter, topic) {
                if r.access == DENY {
                    return false;
                }
                if r.access & access != 0 {
                    return true;
                }
            }
        }
        false
    }

    /// Whether a subscription to `filter` could receive anything: some
    /// readable rule meets it in a part no single denial covers. (Each
    /// message is still checked with `allows`.)
    pub fn may_subscribe(&self, filter: &str) -> bool {
        let f = levels(filter);
        self.grants(READ).any(|r| {
            intersect(&f, &levels(&r.filter))
                .is_some_and(|both| !self.denials().any(|d| covers(&levels(&d.filter), &both)))
        })
    }

    /// Whether every message a subscription to `filter` can match is
    /// readable, so deliveries through it need no check.
    pub fn reads_all(&self, filter: &str) -> bool {
        let f = levels(filter);
        self.grants(READ).any(|r| covers(&levels(&r.filter), &f))
            && !self
                .denials()
                .any(|d| intersect(&f, &levels(&d.filter)).is_some())
    }

    fn grants(&self, access: u8) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(move |r| r.access & access != 0)
    }

    fn denials(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.access == DENY)
    }
}

fn levels(filter: &str) -> Vec<&str> {
    filter.split('/').collect()
}

fn is_wild(level: &str) -> bool {
    level == "+" || level == "#"
}

/// The filter matching exactly the topics both `a` and `b` match, or `None`
/// if no topic matches both.
fn intersect<'a>(a: &[&'a str], b: &[&'a str]) -> Option<Vec<&'a str>> {
    // [MQTT-4.7.2-1]: a wildcard first level does not match `$` topics.
    if let (Some(x), Some(y)) = (a.first(), b.first()) {
        if (x.starts_with('$') && is_wild(y)) || (y.starts_with('$') && is_wild(x)) {
            return None;
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    loop {
        match (a.get(i), b.get(j)) {
            (None, None) => return Some(out),
            (Some(&"#"), _) => {
                out.extend_from_slice(&b[j..]);
                return Some(out);
            }
            (_, Some(&"#")) => {
                out.extend_from_slice(&a[i..]);
                return Some(out);
            }
            (None, Some(_)) | (Some(_), None) => return None,
            (Some(&x), Some(&y)) => {
                if x == "+" {
                    out.push(y);
                } else if y == "+" || x == y {
                    out.push(x);
                } else {
                    return None;
                }
            }
        }
        i += 1;
        j += 1;
    }
}

/// Whether filter `outer` matches every topic filter `inner` matches.
fn covers(outer: &[&str], inner: &[&str]) -> bool {
    if let (Some(o), Some(i)) = (outer.first(), inner.first()) {
        if is_wild(o) && i.starts_with('$') {
            return false;
        }
    }
    let mut k = 0;
    loop {
        match (outer.get(k), inner.get(k)) {
            (Some(&"#"), _) => return true,
            (None, None) => return true,
            (None, Some(_)) | (Some(_), None) => return false,
            (Some(_), Some(&"#")) => return false,
            (Some(&"+"), Some(_)) => {}
            (Some(_), Some(&"+")) => return false,
            (Some(o), Some(i)) if o == i => {}
            _ => return false,
        }
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# anonymous
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret
topic read shared/+/status
user bob
topic write bob/out
pattern readwrite devices/%c/#
pattern read users/%u/inbox
";

    fn acl() -> Acl {
        Acl::parse(FILE).unwrap()
    }

    #[test]
    fn sections_apply_to_their_users_only() {
        let a = acl();
        let anon = a.resolve("x", None);
        assert!(anon.allows("public/news", READ));
        assert!(!anon.allows("public/news", WRITE));
        assert!(!anon.allows("alice/1", READ));
        let alice = a.resolve("a1", Some("alice"));
        assert!(alice.allows("alice/1", READ | WRITE));
        assert!(
            !alice.allows("public/news", READ),
            "the anonymous section is not alice's"
        );
        assert!(
            !alice.allows("alice/secret", READ),
            "deny wins over a wider grant"
        );
        let bob = a.resolve("b1", Some("bob"));
        assert!(bob.allows("bob/out", WRITE) && !bob.allows("bob/out", READ));
        let stranger = a.resolve("s", Some("mallory"));
        assert!(!stranger.allows("public/news", READ));
    }

    #[test]
    fn patterns_substitute_and_refuse_wildcards_in_ids() {
        let a = acl();
        let c = a.resolve("dev1", Some("alice"));
        assert!(c.allows("devices/dev1/temp", WRITE));
        assert!(!c.allows("devices/dev2/temp", WRITE));
        assert!(c.allows("users/alice/inbox", READ));
        let anon = a.resolve("dev1", None);
        assert!(
            !anon.allows("users//inbox", READ),
            "no username: %u patterns skipped"
        );
        for id in ["+", "#", "a/b"] {
            let c = a.resolve(id, Some("alice"));
            assert!(!c.allows("devices/x/y", WRITE), "client id {id:?}");
            assert!(!c.allows("devices/a/b/y", WRITE), "client id {id:?}");
        }
        assert!(!a.resolve("c", Some("a/#")).allows("users/a/x/inbox", READ));
        // Only a whole level is replaced, as in Mosquitto.
        let inside = Acl::parse("pattern read dev/%c-cmd/#\npattern read x/%c/%u\n").unwrap();
        let c = inside.resolve("d1", Some("u"));
        assert!(!c.allows("dev/d1-cmd/a", READ));
        assert!(c.allows("dev/%c-cmd/a", READ));
        assert!(c.allows("x/d1/u", READ));
    }

    #[test]
    fn subscriptions_need_something_readable() {
        let alice = acl().resolve("a1", Some("alice"));
        assert!(alice.may_subscribe("#"));
        assert!(alice.may_subscribe("alice/#"));
        assert!(alice.may_subscribe("+/+/status"));
        assert!(!alice.may_subscribe("alice/secret"));
        assert!(!alice.may_subscribe("bob/#"));
        assert!(!alice.may_subscribe("$SYS/#"));
        assert!(alice.reads_all("alice/x/#"));
        assert!(!alice.reads_all("alice/#"), "alice/secret is inside");
        assert!(!alice.reads_all("#"));
    }

    #[test]
    fn a_deny_topic_makes_its_subscription_fail() {
        let acl = Acl::parse("topic readwrite #\ntopic deny test/nosubscribe\n").unwrap();
        let anon = acl.resolve("c", None);
        assert!(!anon.may_subscribe("test/nosubscribe"));
        assert!(anon.may_subscribe("test/+"));
        assert!(!anon.allows("test/nosubscribe", READ));
        assert!(!anon.may_subscribe("$SYS/broker/uptime"));
    }

    #[test]
    fn dollar_topics_need_dollar_rules() {
        let acl = Acl::parse("topic read #\ntopic read $SYS/broker/#\n").unwrap();
        let c = acl.resolve("c", None);
        assert!(!c.allows("$SYS/x", READ));
        assert!(c.allows("$SYS/broker/uptime", READ));
        assert!(c.may_subscribe("$SYS/#"));
        assert!(!c.reads_all("$SYS/#"));
        assert!(c.reads_all("$SYS/broker/+"));
    }

    #[test]
    fn bad_lines_are_errors_with_their_number() {
        assert_eq!(
            Acl::parse("topic read a\nfoo bar\n").unwrap_err().line,
            Some(2)
        );
        assert!(Acl::parse("user\n").is_err());
        assert!(Acl::parse("topic read\n").is_err());
        assert!(Acl::parse("topic read a/#/b\n").is_err());
        assert!(Acl::parse("topic read a+\n").is_err());
        let spaced = Acl::parse("user John Smith\ntopic read my topic/#\n").unwrap();
        assert!(spaced
            .resolve("c", Some("John Smith"))
            .allows("my topic/x", READ));
    }

    #[test]
    fn intersection_and_cover() {
        let l = levels;
        assert_eq!(intersect(&l("a/+"), &l("+/b")), Some(vec!["a", "b"]));
        assert_eq!(intersect(&l("a/#"), &l("a")), Some(vec!["a"]));
        assert_eq!(intersect(&l("a/b"), &l("a/c")), None);
        assert_eq!(intersect(&l("#"), &l("$SYS/x")), None);
        assert!(covers(&l("a/#"), &l("a/+/c")));
        assert!(covers(&l("a/#"), &l("a")));
        assert!(!covers(&l("a/+"), &l("a/#")));
        assert!(!covers(&l("+/x"), &l("$SYS/x")));
    }
}
