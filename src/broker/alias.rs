//! Topic aliases the broker sets towards one MQTT 5 client (spec 3.3.2.3.4):
//! a topic sent again costs two bytes of alias instead of its name.
//!
//! The table belongs to the network connection: a new connection starts
//! with none, so the first PUBLISH on it, a resend of an in-flight message
//! included, carries the full topic [MQTT-3.3.2-7]. It exists only for a
//! client whose CONNECT allowed aliases [MQTT-3.1.2-27], and never holds
//! more than the client's Topic Alias Maximum [MQTT-3.1.2-26],
//! [MQTT-3.3.2-11] (nor more than `Config::max_outgoing_topic_aliases`);
//! aliases run from 1 [MQTT-3.3.2-8].
//!
//! Policy. While aliases are free, every new topic gets the next one (its
//! PUBLISH carries the name and the alias, later ones the alias only). Once
//! all are taken, a topic without an alias must have been seen before to
//! get one: the first sighting only leaves a fingerprint in a small
//! direct-mapped table (a "doorkeeper", as in TinyLFU), and the PUBLISH
//! carries the name. Seen again while its fingerprint is still there, it
//! replaces the alias the CLOCK hand picks: the hand passes over aliases
//! used since it last passed (clearing that mark) and stops at one that was
//! not. So a stream of topics each seen once never evicts anything, and a
//! hot topic keeps its alias as long as it is used once per turn of the
//! hand. Each step is O(1) (amortised for the hand) and allocates nothing
//! for a topic that already has its alias.
//!
//! A QoS 2 PUBLISH always carries its topic name, with the alias (set or
//! repeated) where it fits: never the alias alone, because MQTT.js 5.16
//! keeps an incoming QoS 2 packet as it came until PUBREL and then gives
//! the application its empty topic name. (Paho's interoperability test
//! `test_server_topic_alias` expects the alias on a QoS 2 PUBLISH too.)
//!
//! Every choice is made as the PUBLISH is written to the connection's
//! output, in the order the client will read it, so the table here is the
//! client's table at that point of the stream.

use rustc_hash::FxHasher;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// How one PUBLISH names its topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TopicForm {
    /// The topic name only.
    Name,
    /// The topic name and a Topic Alias: the client maps the alias to it.
    NameAndAlias(u16),
    /// An empty topic name and the alias the client has for it.
    Alias(u16),
}

impl TopicForm {
    pub fn alias(self) -> Option<u16> {
        match self {
            TopicForm::Name => None,
            TopicForm::NameAndAlias(a) | TopicForm::Alias(a) => Some(a),
        }
    }

    /// The topic name the PUBLISH carries.
    pub fn topic(self, topic: &str) -> &str {
        match self {
            TopicForm::Alias(_) => "",
            _ => topic,
        }
    }
}

/// The hash of topics for every connection's table, seeded with the
/// broker's seed (`Config::client_id_seed`, random in the hosts): the core
/// has no randomness of its own, and the same seed makes the same choices.
/// A crafted set of colliding topics costs at most a table's length of
/// probes (at most twice the alias maximum) and only weakens admission. A
/// message going to many subscribers is hashed once: the last topic is
/// kept with its hash.
#[derive(Debug)]
pub(super) struct TopicHasher {
    seed: u64,
    /// Held, not only compared by address: its memory cannot be reused for
    /// another topic while it is here.
    last: Option<(Rc<str>, u64)>,
}

impl TopicHasher {
    pub fn new(seed: u64) -> TopicHasher {
        TopicHasher { seed, last: None }
    }

    pub fn hash(&mut self, topic: &Rc<str>) -> u64 {
        match &self.last {
            Some((t, h)) if Rc::ptr_eq(t, topic) => *h,
            _ => {
                let mut hasher = FxHasher::with_seed(self.seed as usize);
                topic.hash(&mut hasher);
                let h = hasher.finish();
                self.last = Some((topic.clone(), h));
                h
            }
        }
    }
}

#[derive(Debug)]
struct Slot {
    topic: Rc<str>,
    hash: u64,
    /// Used since the CLOCK hand last passed.
    used: bool,
}

/// One connection's outgoing topic aliases.
#[derive(Debug)]
pub(super) struct OutAliases {
    max: u16,
    /// Alias `n` is `slots[n - 1]`.
    slots: Vec<Slot>,
    /// Topic to alias: open addressing with linear probing on the topic's
    /// hash, holding alias numbers (0: empty); at least twice `max` long, a
    /// power of two.
    index: Box<[u16]>,
    /// The CLOCK hand: the next slot it looks at.
    hand: usize,
    /// Hashes of topics sent without an alias while the table was full (0:
    /// none), direct-mapped; made when the table first fills.
    seen: Box<[u64]>,
}

impl OutAliases {
    /// A table of at most `max` aliases (at least 1).
    pub fn new(max: u16) -> OutAliases {
        debug_assert!(max > 0);
        OutAliases {
            max,
            slots: Vec::new(),
            index: vec![0; table_len(max)].into_boxed_slice(),
            hand: 0,
            seen: Box::new([]),
        }
    }

    /// Chooses how to name `topic` (whose hash is `hash`) in the PUBLISH
    /// about to be written, the smallest form that `fits` (the client's
    /// Maximum Packet Size), and records it; with `named`, a form that
    /// carries the topic name, with the alias where it fits. `None`: no form
    /// fits, nothing changed.
    pub fn choose(
        &mut self,
        topic: &Rc<str>,
        hash: u64,
        named: bool,
        fits: impl Fn(TopicForm) -> bool,
    ) -> Option<TopicForm> {
        if let Some((_, alias)) = self.find(topic, hash) {
            // The alias alone is the smallest form: if it does not fit,
            // nothing does. Named, the alias is repeated with the name
            // (mapping it again to the same topic), or left out if that is
            // too large.
            let form = if named {
                let forms = [TopicForm::NameAndAlias(alias), TopicForm::Name];
                forms.into_iter().find(|&f| fits(f))?
            } else {
                Some(TopicForm::Alias(alias)).filter(|&f| fits(f))?
            };
            self.slots[usize::from(alias - 1)].used = true;
            return Some(form);
        }
        let alias = if self.slots.len() < usize::from(self.max) {
            Some(self.slots.len() as u16 + 1)
        } else if self.admit(hash) {
            Some(self.victim())
        } else {
            None
        };
        if let Some(alias) = alias {
            let form = TopicForm::NameAndAlias(alias);
            if fits(form) {
                self.map(alias, topic, hash);
                return Some(form);
            }
        }
        fits(TopicForm::Name).then_some(TopicForm::Name)
    }

    /// Where `topic` is in `index`, and its alias.
    fn find(&self, topic: &str, hash: u64) -> Option<(usize, u16)> {
        let mask = self.index.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            // Never full (at most `max` of at least twice as many cells):
            // an empty cell ends every probe.
            let alias = self.index[i];
            if alias == 0 {
                return None;
            }
            let slot = &self.slots[usize::from(alias - 1)];
            if slot.hash == hash && *slot.topic == *topic {
                return Some((i, alias));
            }
            i = (i + 1) & mask;
        }
    }

    /// The table is full and the topic hashed to `hash` has no alias:
    /// whether it was seen recently enough to get one. Leaves its hash if
    /// not.
    fn admit(&mut self, hash: u64) -> bool {
        if self.seen.is_empty() {
            self.seen = vec![0; table_len(self.max)].into_boxed_slice();
        }
        let fp = hash.max(1);
        let i = fp as usize & (self.seen.len() - 1);
        if self.seen[i] == fp {
            self.seen[i] = 0;
            true
        } else {
            self.seen[i] = fp;
            false
        }
    }

    /// The alias to replace: the first, from the hand on, not used since
    /// the hand last passed it.
    fn victim(&mut self) -> u16 {
        loop {
            let i = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            let slot = &mut self.slots[i];
            if !std::mem::take(&mut slot.used) {
                return i as u16 + 1;
            }
        }
    }

    /// Points `alias` at `topic`, replacing what it stood for.
    fn map(&mut self, alias: u16, topic: &Rc<str>, hash: u64) {
        let i = usize::from(alias - 1);
        if i < self.slots.len() {
            let old = &self.slots[i];
            if let Some((at, _)) = self.find(&old.topic, old.hash) {
                self.unindex(at);
            }
        }
        let slot = Slot {
            topic: topic.clone(),
            hash,
            used: false,
        };
        if i == self.slots.len() {
            self.slots.push(slot);
        } else {
            self.slots[i] = slot;
        }
        let mask = self.index.len() - 1;
        let mut at = hash as usize & mask;
        while self.index[at] != 0 {
            at = (at + 1) & mask;
        }
        self.index[at] = alias;
    }

    /// Empties cell `hole` of `index`, moving back the entries after it
    /// that would no longer be found (backward-shift deletion).
    fn unindex(&mut self, mut hole: usize) {
        let mask = self.index.len() - 1;
        self.index[hole] = 0;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let alias = self.index[j];
            if alias == 0 {
                return;
            }
            let home = self.slots[usize::from(alias - 1)].hash as usize & mask;
            // Its probe from `home` passes the hole before reaching `j`.
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.index[hole] = alias;
                self.index[j] = 0;
                hole = j;
            }
        }
    }

    /// How many aliases are in use.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.len()
    }
}

/// Cells of `index` (and of `seen`) for a table of `max` aliases.
fn table_len(max: u16) -> usize {
    (usize::from(max) * 2).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Rc<str> {
        Rc::from(s)
    }

    /// A hash for tests (a real table gets `TopicHasher`'s).
    fn h(topic: &str) -> u64 {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut hasher = DefaultHasher::new();
        topic.hash(&mut hasher);
        hasher.finish()
    }

    fn send(a: &mut OutAliases, topic: &str) -> TopicForm {
        a.choose(&t(topic), h(topic), false, |_| true)
            .expect("fits")
    }

    use TopicForm::*;

    #[test]
    fn new_topics_take_free_aliases_from_1_then_the_alias_alone() {
        let mut a = OutAliases::new(2);
        assert_eq!(send(&mut a, "x"), NameAndAlias(1));
        assert_eq!(send(&mut a, "y"), NameAndAlias(2));
        assert_eq!(send(&mut a, "x"), Alias(1));
        assert_eq!(send(&mut a, "y"), Alias(2));
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn a_full_table_sends_a_first_seen_topic_by_name_only() {
        let mut a = OutAliases::new(1);
        assert_eq!(send(&mut a, "hot"), NameAndAlias(1));
        for i in 0..100 {
            assert_eq!(send(&mut a, &format!("once/{i}")), Name);
            assert_eq!(send(&mut a, "hot"), Alias(1));
        }
    }

    #[test]
    fn a_topic_seen_again_replaces_one_not_used_since_the_hand_passed() {
        let mut a = OutAliases::new(2);
        send(&mut a, "a");
        send(&mut a, "b");
        assert_eq!(send(&mut a, "a"), Alias(1)); // a is used, b is not
        assert_eq!(send(&mut a, "c"), Name);
        assert_eq!(send(&mut a, "c"), NameAndAlias(2), "b, unused, goes");
        assert_eq!(send(&mut a, "b"), Name);
        assert_eq!(send(&mut a, "a"), Alias(1));
        assert_eq!(send(&mut a, "c"), Alias(2));
    }

    #[test]
    fn the_smallest_form_that_fits_is_chosen_and_nothing_recorded_otherwise() {
        let mut a = OutAliases::new(1);
        // Name and alias too large, the name alone fits: no alias is set.
        let name_only = |f: TopicForm| f == Name;
        assert_eq!(a.choose(&t("x"), h("x"), false, name_only), Some(Name));
        assert_eq!(a.len(), 0);
        assert_eq!(a.choose(&t("x"), h("x"), false, |_| false), None);
        assert_eq!(a.len(), 0);
        assert_eq!(send(&mut a, "x"), NameAndAlias(1));
        // Mapped: only the alias form is tried; it is the smallest.
        assert_eq!(
            a.choose(&t("x"), h("x"), false, |f| f == Alias(1)),
            Some(Alias(1))
        );
        assert_eq!(a.choose(&t("x"), h("x"), false, |f| f != Alias(1)), None);
    }

    #[test]
    fn a_named_form_carries_the_topic_and_may_set_an_alias() {
        let mut a = OutAliases::new(2);
        assert_eq!(
            a.choose(&t("x"), h("x"), true, |_| true),
            Some(NameAndAlias(1))
        );
        assert_eq!(
            a.choose(&t("x"), h("x"), true, |_| true),
            Some(NameAndAlias(1))
        );
        let no_alias = |f: TopicForm| f.alias().is_none();
        assert_eq!(a.choose(&t("x"), h("x"), true, no_alias), Some(Name));
        assert_eq!(send(&mut a, "x"), Alias(1));
    }

    #[test]
    fn aliases_never_exceed_the_maximum() {
        let mut a = OutAliases::new(3);
        for round in 0..50 {
            for i in 0..10 {
                if let Some(alias) = send(&mut a, &format!("t/{}", (i * 7 + round) % 13)).alias() {
                    assert!((1..=3).contains(&alias));
                }
            }
        }
        assert_eq!(a.len(), 3);
        assert_eq!(a.index.iter().filter(|&&x| x != 0).count(), 3);
    }

    #[test]
    fn the_index_finds_every_alias_through_collisions_and_replacements() {
        // Hashes from a tiny range: long probe runs, wrapping around the
        // index, and deletions in the middle of them.
        let mut a = OutAliases::new(8);
        let mut model: Vec<Option<String>> = vec![None; 8]; // alias - 1 -> topic
        let mut x: u64 = 7;
        for _ in 0..5_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = (x >> 33) % 24;
            let topic = format!("t/{n}");
            let hash = (n % 5) * 3 + (a.index.len() as u64 - 4); // near the end
            let form = a.choose(&t(&topic), hash, false, |_| true).unwrap();
            let known = model.iter().position(|m| m.as_deref() == Some(&topic));
            match form {
                Alias(al) => assert_eq!(known, Some(usize::from(al - 1)), "{topic}"),
                NameAndAlias(al) => {
                    assert_eq!(known, None, "{topic} had an alias");
                    model[usize::from(al - 1)] = Some(topic.clone());
                }
                Name => assert_eq!(known, None, "{topic} had an alias"),
            }
            for (i, m) in model.iter().enumerate() {
                if let Some(m) = m {
                    let mh = (m[2..].parse::<u64>().unwrap() % 5) * 3 + (a.index.len() as u64 - 4);
                    assert_eq!(a.find(m, mh).map(|(_, al)| al), Some(i as u16 + 1));
                }
            }
        }
    }
}
