//! One stable sort for every vector the broker sorts.
//!
//! `slice::sort_by` is generic over the element and the comparison, so
//! each call site compiles to its own copy of the standard library's sort
//! (driftsort: a few KB of wasm each, a tenth of the module for ten call
//! sites). Here the sort itself runs once, over `u32` indices with a
//! `dyn` comparison, and only a small permutation is generic: the same
//! stable order, at the cost of one index vector per call with two or
//! more elements: for what is sorted now and then (restore, inspection,
//! shutdown), not per message (routing keeps the standard sort).

use std::cmp::Ordering;

/// Sorts `v` stably by `cmp`, like `v.sort_by(cmp)`.
pub fn sort_by<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    let mut order: Vec<u32> = (0..v.len() as u32).collect();
    sort_indices(&mut order, &mut |a, b| cmp(&v[a as usize], &v[b as usize]));
    permute(v, &mut order);
}

/// Sorts `v` stably by the key `f` gives, like `v.sort_by_key(f)`.
pub fn sort_by_key<T, K: Ord>(v: &mut [T], mut f: impl FnMut(&T) -> K) {
    sort_by(v, |a, b| f(a).cmp(&f(b)));
}

/// Sorts `v` stably, like `v.sort()`.
pub fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, T::cmp);
}

/// The one instantiation of the standard library's stable sort.
#[inline(never)]
fn sort_indices(order: &mut [u32], cmp: &mut dyn FnMut(u32, u32) -> Ordering) {
    order.sort_by(|&a, &b| cmp(a, b));
}

/// Rearranges `v` so that `v[k]` is what `v[order[k]]` was, in place:
/// one swap per element, following each cycle of the permutation (and
/// marking where it has been by pointing `order` at itself).
fn permute<T>(v: &mut [T], order: &mut [u32]) {
    for start in 0..order.len() {
        let mut at = start;
        loop {
            let from = order[at] as usize;
            order[at] = at as u32;
            if from == start || from == at {
                break;
            }
            v.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_stably_like_the_standard_sort() {
        // Pairs sorted by their first half only: the second half shows the
        // order equal keys kept.
        let mut seed = 7u32;
        for len in 0..200 {
            let mut v: Vec<(u32, u32)> = (0..len)
                .map(|i| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    ((seed >> 16) % 13, i)
                })
                .collect();
            let mut expected = v.clone();
            expected.sort_by_key(|p| p.0);
            sort_by_key(&mut v, |p| p.0);
            assert_eq!(v, expected, "len {len}");
        }
        let mut words = vec!["b", "c", "a", "b"];
        sort(&mut words);
        assert_eq!(words, ["a", "b", "b", "c"]);
    }
}
