//! The extension map each request starts with.

use http::Extensions;

thread_local! {
    /// An empty extension map with room for seven: a request's starts as a
    /// clone of it. Grown from nothing, the map would be allocated for
    /// three, then regrown and rehashed when axum's router adds its three
    /// (`OriginalUri`, `MatchedPath`, the path parameters) to the runtime's
    /// two. A clone of the empty map is allocated at its final size at
    /// once. (A clone of a map holding the runtime's two values cost more
    /// than the regrowth: each value is boxed again.)
    static PRESIZED: Extensions = presized();
}

fn presized() -> Extensions {
    #[derive(Clone)]
    struct Room<const N: usize>;
    let mut extensions = Extensions::new();
    extensions.insert(Room::<0>);
    extensions.insert(Room::<1>);
    extensions.insert(Room::<2>);
    extensions.insert(Room::<3>);
    extensions.insert(Room::<4>);
    extensions.insert(Room::<5>);
    extensions.insert(Room::<6>);
    // Clearing keeps the room.
    extensions.clear();
    extensions
}

/// A request's extension map: empty, with room for seven.
pub(super) fn extensions() -> Extensions {
    PRESIZED.with(Extensions::clone)
}
