//! Topic names and topic filters (spec 4.7) and shared subscriptions (spec 4.8.2).

use super::error::DecodeError;

/// A topic name in PUBLISH: no wildcard characters [MQTT-3.3.2-2], [MQTT-4.7.1-1].
/// Emptiness is checked by the caller, since MQTT 5 allows an empty topic name
/// when a topic alias stands in for it [MQTT-3.3.2-1].
pub fn check_topic_name(topic: &str) -> Result<(), DecodeError> {
    if topic.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(DecodeError::WildcardInTopicName);
    }
    Ok(())
}

/// A topic filter in SUBSCRIBE or UNSUBSCRIBE: at least one character
/// [MQTT-4.7.3-1]; `#` only as the whole last level [MQTT-4.7.1-2]; `+` only as
/// a whole level [MQTT-4.7.1-3]; a `$share/` filter has a share name without
/// wildcards or `/` and a filter after it [MQTT-4.8.2-1], [MQTT-4.8.2-2].
pub fn check_topic_filter(filter: &str) -> Result<(), DecodeError> {
    let inner = match parse_shared(filter) {
        Some(Ok(shared)) => shared.filter,
        Some(Err(e)) => return Err(e),
        None => filter,
    };
    check_plain_filter(inner)
}

fn check_plain_filter(filter: &str) -> Result<(), DecodeError> {
    if filter.is_empty() {
        return Err(DecodeError::InvalidTopicFilter);
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        let ok = match level {
            "#" => last,
            "+" => true,
            _ => !level.contains(['+', '#']),
        };
        if !ok {
            return Err(DecodeError::InvalidTopicFilter);
        }
    }
    Ok(())
}

/// A shared subscription filter split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedFilter<'a> {
    pub group: &'a str,
    pub filter: &'a str,
}

/// `None` when `filter` is not a shared subscription; otherwise its parts, or
/// why it is not a valid one.
pub fn parse_shared(filter: &str) -> Option<Result<SharedFilter<'_>, DecodeError>> {
    let rest = filter.strip_prefix("$share/")?;
    let Some((group, inner)) = rest.split_once('/') else {
        return Some(Err(DecodeError::InvalidTopicFilter));
    };
    if group.is_empty() || group.contains(['+', '#']) || inner.is_empty() {
        return Some(Err(DecodeError::InvalidTopicFilter));
    }
    if let Err(e) = check_plain_filter(inner) {
        return Some(Err(e));
    }
    Some(Ok(SharedFilter {
        group,
        filter: inner,
    }))
}

/// Whether `filter` (not shared) matches `topic` (spec 4.7). Topics starting
/// with `$` are not matched by a filter starting with a wildcard [MQTT-4.7.2-1].
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            // "sport/#" also matches the parent level "sport" [MQTT-4.7.1-2].
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}
