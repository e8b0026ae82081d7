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
use std::rc::Rc;

pub const READ: u8 = 1;
pub const WRITE: u8 = 2;
const DENY: u8 = 0;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    filter: Box<str>,
    access: u8,
}

/// Rules shared by every session they apply to.
type Rules = Rc<RuleSet>;

/// One section's rules (or the patterns), indexed by their first level so
/// that a check looks only at rules that can match the topic: its cost does
/// not grow with rules about other parts of the tree.
#[derive(Debug, Default, PartialEq, Eq)]
struct RuleSet {
    /// Every rule, denials first (for SUBSCRIBE-time answers).
    all: Vec<Rule>,
    denials: Index,
    grants: Index,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Index {
    /// Rules whose first level is this literal.
    by_head: HashMap<Box<str>, Vec<Rule>>,
    /// Rules whose first level is `+`, `#`, `%c` or `%u`.
    any_head: Vec<Rule>,
}

impl Index {
    fn add(&mut self, rule: Rule) {
        let head = rule.filter.split('/').next().unwrap_or_default();
        if ["+", "#", "%c", "%u"].contains(&head) {
            self.any_head.push(rule);
        } else {
            self.by_head.entry(head.into()).or_default().push(rule);
        }
    }

    /// The rules that can match `topic`, whose first level is `head`.
    fn candidates<'a>(&'a self, head: &str) -> impl Iterator<Item = &'a Rule> {
        self.by_head
            .get(head)
            .into_iter()
            .flatten()
            .chain(&self.any_head)
    }
}

/// A parsed ACL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    anonymous: Rules,
    users: HashMap<String, Rules>,
    patterns: Rules,
}

fn sorted(mut rules: Vec<Rule>) -> Rules {
    crate::broker::sort::sort_by_key(&mut rules, |r| r.access != DENY);
    let mut set = RuleSet::default();
    for r in &rules {
        match r.access {
            DENY => set.denials.add(r.clone()),
            _ => set.grants.add(r.clone()),
        }
    }
    set.all = rules;
    Rc::new(set)
}

impl Acl {
    /// Reads an ACL file's text. An error names the line.
    pub fn parse(text: &str) -> Result<Acl, AccessError> {
        let mut anonymous = Vec::new();
        let mut users: HashMap<String, Vec<Rule>> = HashMap::new();
        let mut patterns = Vec::new();
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
                    users.entry(rest.to_owned()).or_default();
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
                        ("pattern", _) => patterns.push(rule),
                        (_, Some(u)) => users.entry(u.clone()).or_default().push(rule),
                        (_, None) => anonymous.push(rule),
                    }
                }
                other => {
                    return Err(err(&format!(
                        "starts with `{other}`: expected `user`, `topic` or `pattern`"
                    )))
                }
            }
        }
        Ok(Acl {
            anonymous: sorted(anonymous),
            users: users.into_iter().map(|(u, r)| (u, sorted(r))).collect(),
            patterns: sorted(patterns),
        })
    }

    /// The rules for one client: its user's (or the anonymous section's)
    /// and the patterns. Shared, not copied: resolving costs the same
    /// whatever the number of rules and users.
    pub fn resolve(&self, client_id: &str, username: Option<&str>) -> ClientAcl {
        let own = match username {
            Some(u) => self.users.get(u).cloned().unwrap_or_default(),
            None => self.anonymous.clone(),
        };
        // A value holding `+`, `#` or `/` cannot widen a pattern: patterns
        // using it do not apply.
        let safe = |v: &str| (!v.contains(['+', '#', '/'])).then(|| Rc::from(v));
        ClientAcl {
            own,
            patterns: self.patterns.clone(),
            client_id: safe(client_id),
            username: username.and_then(safe),
        }
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

/// A pattern's filter with `%c` and `%u` replaced where they are a whole
/// level (as Mosquitto does; elsewhere they are literal text), or `None` if
/// this client has no (safe) value for one.
fn substitute(pattern: &str, client_id: Option<&str>, username: Option<&str>) -> Option<String> {
    let mut out = String::with_capacity(pattern.len() + 16);
    for (i, level) in pattern.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        match level {
            "%c" => out.push_str(client_id?),
            "%u" => out.push_str(username?),
            other => out.push_str(other),
        }
    }
    Some(out)
}

/// `filter_matches` for a pattern, replacing `%c`/`%u` levels as it goes
/// (no allocation): false where the client has no value for one.
fn pattern_matches(
    pattern: &str,
    topic: &str,
    client_id: Option<&str>,
    username: Option<&str>,
) -> bool {
    if topic.starts_with('$') && pattern.starts_with(['+', '#']) {
        return false;
    }
    let mut f = pattern.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some("%c"), Some(tl)) if client_id == Some(tl) => {}
            (Some("%u"), Some(tl)) if username == Some(tl) => {}
            (Some("%c" | "%u"), _) => return false,
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// One client's rules: its own section's and the patterns, both shared
/// with the other clients they apply to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAcl {
    own: Rules,
    patterns: Rules,
    /// The values patterns use; `None` where absent or unsafe.
    client_id: Option<Rc<str>>,
    username: Option<Rc<str>>,
}

impl ClientAcl {
    /// Whether the client may `access` (READ or WRITE) `topic`: any
    /// matching denial refuses, then any matching grant allows.
    pub fn allows(&self, topic: &str, access: u8) -> bool {
        let (id, user) = (self.client_id.as_deref(), self.username.as_deref());
        let own = |r: &Rule| filter_matches(&r.filter, topic);
        let pattern = |r: &Rule| pattern_matches(&r.filter, topic, id, user);
        let head = topic.split('/').next().unwrap_or_default();
        if self.own.denials.candidates(head).any(own)
            || self.patterns.denials.candidates(head).any(pattern)
        {
            return false;
        }
        let grants = |r: &&Rule| r.access & access != 0;
        self.own.grants.candidates(head).filter(grants).any(own)
            || self
                .patterns
                .grants
                .candidates(head)
                .filter(grants)
                .any(pattern)
    }

    /// Every rule with its filter as it applies to this client (patterns
    /// filled in; those it cannot use left out). For SUBSCRIBE-time answers,
    /// not per message.
    /// Only rules whose first level can meet `filter`'s are given (a quick
    /// cut that keeps SUBSCRIBE cheap with many rules).
    fn rules<'a>(&'a self, filter: &'a str) -> impl Iterator<Item = (String, u8)> + 'a {
        let (id, user) = (self.client_id.as_deref(), self.username.as_deref());
        let first = filter.split('/').next().unwrap_or_default();
        let meets = move |r: &&Rule| {
            let head = r.filter.split('/').next().unwrap_or_default();
            ["+", "#", "%c", "%u"].contains(&head) || ["+", "#"].contains(&first) || head == first
        };
        let own = self
            .own
            .all
            .iter()
            .filter(meets)
            .map(|r| (r.filter.to_string(), r.access));
        let patterns = self
            .patterns
            .all
            .iter()
            .filter(meets)
            .filter_map(move |r| substitute(&r.filter, id, user).map(|f| (f, r.access)));
        own.chain(patterns)
    }

    /// Whether a subscription to `filter` could receive anything: some
    /// readable rule meets it in a part no single denial covers. (Each
    /// message is still checked with `allows`.)
    pub fn may_subscribe(&self, filter: &str) -> bool {
        let f = levels(filter);
        let denials: Vec<String> = self
            .rules(filter)
            .filter(|r| r.1 == DENY)
            .map(|r| r.0)
            .collect();
        self.rules(filter)
            .filter(|r| r.1 & READ != 0)
            .any(|(g, _)| {
                intersect(&f, &levels(&g))
                    .is_some_and(|both| !denials.iter().any(|d| covers(&levels(d), &both)))
            })
    }

    /// Whether every message a subscription to `filter` can match is
    /// readable, so deliveries through it need no check.
    pub fn reads_all(&self, filter: &str) -> bool {
        let f = levels(filter);
        self.rules(filter)
            .filter(|r| r.1 & READ != 0)
            .any(|(g, _)| covers(&levels(&g), &f))
            && !self
                .rules(filter)
                .filter(|r| r.1 == DENY)
                .any(|(d, _)| intersect(&f, &levels(&d)).is_some())
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

    /// The indexed, shared matcher answers as the plain reading of the
    /// rules does: every rule of the client's section and every pattern
    /// (substituted), any matching denial refuses, then any matching grant
    /// allows.
    #[test]
    fn the_indexed_matcher_agrees_with_the_plain_reading() {
        let levels = ["a", "b", "$SYS", "%c", "%u", "+", "#", "c1", "u1"];
        let accesses = ["read", "write", "readwrite", "deny"];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..300 {
            let mut text = String::new();
            let mut filters = Vec::new();
            for _ in 0..1 + next(6) {
                let depth = 1 + next(3);
                let mut f: Vec<&str> = (0..depth).map(|_| levels[next(levels.len())]).collect();
                if let Some(pos) = f.iter().position(|l| *l == "#") {
                    f.truncate(pos + 1);
                }
                let filter = f.join("/");
                let kind = ["topic", "pattern"][next(2)];
                if next(3) == 0 {
                    text += "user u1\n";
                }
                text += &format!("{kind} {} {filter}\n", accesses[next(4)]);
                filters.push(filter);
            }
            let acl = Acl::parse(&text).unwrap();
            for user in [None, Some("u1")] {
                let client = acl.resolve("c1", user);
                let own = match user {
                    Some(u) => acl.users.get(u).map(|r| r.all.clone()).unwrap_or_default(),
                    None => acl.anonymous.all.clone(),
                };
                let mut plain: Vec<(String, u8)> = own
                    .iter()
                    .map(|r| (r.filter.to_string(), r.access))
                    .collect();
                for p in &acl.patterns.all {
                    if let Some(f) = substitute(&p.filter, Some("c1"), user) {
                        plain.push((f, p.access));
                    }
                }
                for _ in 0..20 {
                    let depth = 1 + next(3);
                    let topic: Vec<&str> = (0..depth)
                        .map(|_| ["a", "b", "$SYS", "c1", "u1", "x", "%c"][next(7)])
                        .collect();
                    let topic = topic.join("/");
                    for access in [READ, WRITE] {
                        let matching = |r: &&(String, u8)| filter_matches(&r.0, &topic);
                        let denied = plain.iter().filter(matching).any(|r| r.1 == DENY);
                        let granted = plain.iter().filter(matching).any(|r| r.1 & access != 0);
                        assert_eq!(
                            client.allows(&topic, access),
                            !denied && granted,
                            "{text}user {user:?} topic {topic} access {access}"
                        );
                    }
                }
            }
        }
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
