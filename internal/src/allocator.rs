//! `MiMalloc` in a dev build that links the runtime as a shared library
//! (rg-runtime's `dynamic-linking`, which `rg runserver` turns on).
//!
//! The shared library carries an allocator of its own, the system's: it is
//! linked before the application says which one it wants, and memory one
//! side allocates is freed by the other (a `String` the runtime builds and
//! the application drops). So the application's `#[global_allocator]` must
//! be the system allocator too. This type keeps the name `main.rs` uses
//! and calls the system allocator; release builds, and every build that is
//! not a `rg runserver` dev build, get mimalloc itself.

use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator, under the name of the one release builds use.
#[derive(Debug, Clone, Copy, Default)]
pub struct MiMalloc;

// SAFETY: every call is passed on unchanged to `System`, which upholds the
// `GlobalAlloc` contract.
unsafe impl GlobalAlloc for MiMalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees are `System`'s preconditions.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System`; the rest is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
