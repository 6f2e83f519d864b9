//! What the request line and the head's fields said, as bits: the facts
//! the framing of the body (and a switch of protocols) is decided from.

use std::ops::BitOr;

/// A set of facts about the request being read; empty for a new one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Flags(u16);

impl Flags {
    pub(super) const HTTP10: Flags = Flags(1);
    pub(super) const OPTIONS: Flags = Flags(1 << 1);
    pub(super) const CONNECT: Flags = Flags(1 << 2);
    pub(super) const HOST: Flags = Flags(1 << 3);
    pub(super) const CONTENT_TYPE: Flags = Flags(1 << 4);
    pub(super) const CONTENT_LENGTH: Flags = Flags(1 << 5);
    pub(super) const TRANSFER_ENCODING: Flags = Flags(1 << 6);
    /// `chunked` was among the transfer codings.
    pub(super) const CHUNKED_SEEN: Flags = Flags(1 << 7);
    pub(super) const CHUNKED_TWICE: Flags = Flags(1 << 8);
    /// The last transfer coding seen is `chunked`.
    pub(super) const LAST_CHUNKED: Flags = Flags(1 << 9);
    /// A transfer coding other than chunked.
    pub(super) const OTHER_CODING: Flags = Flags(1 << 10);
    pub(super) const UPGRADE: Flags = Flags(1 << 11);
    /// `upgrade` among the Connection options.
    pub(super) const CONNECTION_UPGRADE: Flags = Flags(1 << 12);

    /// Whether every fact of `facts` holds.
    #[inline]
    pub(super) fn has(self, facts: Flags) -> bool {
        self.0 & facts.0 == facts.0
    }

    /// Whether any fact of `facts` holds.
    #[inline]
    pub(super) fn has_any(self, facts: Flags) -> bool {
        self.0 & facts.0 != 0
    }

    #[inline]
    pub(super) fn set(&mut self, facts: Flags) {
        self.0 |= facts.0;
    }

    #[inline]
    pub(super) fn clear(&mut self, facts: Flags) {
        self.0 &= !facts.0;
    }

    /// Sets `fact`; false when it held already.
    #[inline]
    pub(super) fn set_once(&mut self, fact: Flags) -> bool {
        let first = !self.has(fact);
        self.set(fact);
        first
    }
}

impl BitOr for Flags {
    type Output = Flags;

    #[inline]
    fn bitor(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}
