//! Subscriptions as a tree of topic levels (spec 4.7), with shared
//! subscription groups (spec 4.8.2) kept at the node of their filter.

use crate::codec::topic::parse_shared;
use crate::codec::SubscriptionOptions;
use std::collections::HashMap;
use std::rc::Rc;

/// Index of a session in the broker's session table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubEntry {
    pub session: SessionKey,
    pub options: SubscriptionOptions,
    pub identifier: Option<u32>,
    /// Each message through this subscription needs the session's ACL read
    /// check: the ACL does not let it read everything the filter matches.
    pub check_read: bool,
}

/// One subscription that matched a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub entry: SubEntry,
    /// The full `$share/group/filter` when the hit came from a shared group.
    pub shared: Option<Rc<str>>,
}

#[derive(Debug, Default)]
struct SharedGroup {
    name: Rc<str>,
    members: Vec<SubEntry>,
    /// Round-robin position: where the next search for a member starts.
    next: usize,
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    subs: Vec<SubEntry>,
    shared: Vec<SharedGroup>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.subs.is_empty() && self.shared.is_empty()
    }
}

#[derive(Debug, Default)]
pub struct TopicTree {
    root: Node,
    count: usize,
}

/// Splits off the first level of a topic: `("a", Some("b/c"))` for "a/b/c".
fn split_level(s: &str) -> (&str, Option<&str>) {
    match s.split_once('/') {
        Some((level, rest)) => (level, Some(rest)),
        None => (s, None),
    }
}

impl TopicTree {
    /// Number of subscriptions held (each shared group member counts once).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Adds or replaces the session's subscription to `filter` [MQTT-3.8.4-3].
    /// Returns true if it is new.
    pub fn insert(&mut self, filter: &str, entry: SubEntry) -> bool {
        let (group, plain) = shared_parts(filter);
        let node = self.node_mut(plain);
        let list = match group {
            None => &mut node.subs,
            Some(_) => {
                let idx = match node.shared.iter().position(|g| &*g.name == filter) {
                    Some(i) => i,
                    None => {
                        let name = Rc::from(filter);
                        node.shared.push(SharedGroup {
                            name,
                            ..Default::default()
                        });
                        node.shared.len() - 1
                    }
                };
                &mut node.shared[idx].members
            }
        };
        match list.iter_mut().find(|e| e.session == entry.session) {
            Some(existing) => {
                *existing = entry;
                false
            }
            None => {
                list.push(entry);
                self.count += 1;
                true
            }
        }
    }

    /// Removes the session's subscription to `filter`; true if there was one.
    pub fn remove(&mut self, filter: &str, session: SessionKey) -> bool {
        let (group, plain) = shared_parts(filter);
        let removed = remove_in(&mut self.root, Some(plain), &mut |node| {
            let removed = match group {
                None => retain_others(&mut node.subs, session),
                Some(_) => match node.shared.iter_mut().find(|g| &*g.name == filter) {
                    Some(g) => retain_others(&mut g.members, session),
                    None => false,
                },
            };
            node.shared.retain(|g| !g.members.is_empty());
            removed
        });
        if removed {
            self.count -= 1;
        }
        removed
    }

    /// Members of one shared group, by its full `$share/group/filter`.
    pub fn shared_group(&self, filter: &str) -> Option<&[SubEntry]> {
        let (_, plain) = shared_parts(filter);
        let mut node = &self.root;
        let mut rest = Some(plain);
        while let Some(s) = rest {
            let (level, tail) = split_level(s);
            node = node.children.get(level)?;
            rest = tail;
        }
        let group = node.shared.iter().find(|g| &*g.name == filter)?;
        Some(&group.members)
    }

    fn node_mut(&mut self, filter: &str) -> &mut Node {
        let mut node = &mut self.root;
        let mut rest = Some(filter);
        while let Some(s) = rest {
            let (level, tail) = split_level(s);
            node = node.children.entry(level.into()).or_default();
            rest = tail;
        }
        node
    }

    /// Appends every subscription matching `topic` to `out`. For each shared
    /// group that matches, `choose(members, start)` picks the member to get
    /// the message (searching from the round-robin position `start`).
    pub fn matches(
        &mut self,
        topic: &str,
        out: &mut Vec<Hit>,
        choose: &mut dyn FnMut(&[SubEntry], usize) -> Option<usize>,
    ) {
        // [MQTT-4.7.2-1]: a leading wildcard does not match a `$` topic.
        let dollar = topic.starts_with('$');
        collect(&mut self.root, Some(topic), !dollar, out, choose);
    }
}

/// Removes the session's entry; true if it had one.
fn retain_others(list: &mut Vec<SubEntry>, session: SessionKey) -> bool {
    let before = list.len();
    list.retain(|e| e.session != session);
    before != list.len()
}

fn shared_parts(filter: &str) -> (Option<&str>, &str) {
    match parse_shared(filter) {
        Some(Ok(s)) => (Some(s.group), s.filter),
        _ => (None, filter),
    }
}

fn emit(
    node: &mut Node,
    out: &mut Vec<Hit>,
    choose: &mut dyn FnMut(&[SubEntry], usize) -> Option<usize>,
) {
    out.extend(node.subs.iter().map(|&entry| Hit {
        entry,
        shared: None,
    }));
    for group in &mut node.shared {
        if let Some(i) = choose(&group.members, group.next % group.members.len()) {
            group.next = i + 1;
            out.push(Hit {
                entry: group.members[i],
                shared: Some(group.name.clone()),
            });
        }
    }
}

fn collect(
    node: &mut Node,
    rest: Option<&str>,
    wildcards: bool,
    out: &mut Vec<Hit>,
    choose: &mut dyn FnMut(&[SubEntry], usize) -> Option<usize>,
) {
    if wildcards {
        // "#" matches the rest, including the parent level [MQTT-4.7.1-2].
        if let Some(hash) = node.children.get_mut("#") {
            emit(hash, out, choose);
        }
    }
    let Some(s) = rest else {
        emit(node, out, choose);
        return;
    };
    let (level, tail) = split_level(s);
    if wildcards {
        if let Some(plus) = node.children.get_mut("+") {
            collect(plus, tail, true, out, choose);
        }
    }
    if level != "+" && level != "#" {
        if let Some(child) = node.children.get_mut(level) {
            collect(child, tail, true, out, choose);
        }
    }
}

/// Walks to the node of `rest`, applies `f` there, and prunes nodes left empty.
fn remove_in(node: &mut Node, rest: Option<&str>, f: &mut dyn FnMut(&mut Node) -> bool) -> bool {
    let Some(s) = rest else {
        return f(node);
    };
    let (level, tail) = split_level(s);
    let Some(child) = node.children.get_mut(level) else {
        return false;
    };
    let removed = remove_in(child, tail, f);
    if child.is_empty() {
        node.children.remove(level);
    }
    removed
}
