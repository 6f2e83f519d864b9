//! `rg::Allocator`, the global allocator `rg new` writes into `main.rs`:
//! mimalloc, for more requests per second at the same memory (the book's
//! benchmark chapter), built without transparent huge pages, which doubled
//! a worker's memory.
//!
//! Except in a `rg runserver` dev build, which links the runtime as a
//! shared library (rg-runtime's `dynamic-linking`): that library allocates
//! with the system's allocator before the application can say otherwise,
//! and memory one side allocates the other frees, so there `Allocator` is
//! the system's. One name in both builds, so `main.rs` need not know which.

use std::alloc::{GlobalAlloc, Layout};

#[cfg(not(feature = "dynamic-linking"))]
use mimalloc::MiMalloc as Inner;
#[cfg(feature = "dynamic-linking")]
use std::alloc::System as Inner;

/// The runtime's global allocator: mimalloc, or the system allocator in a
/// `rg runserver` dev build that links the runtime as a shared library.
///
/// ```no_run
/// # extern crate rg_internal as rg;
/// #[global_allocator]
/// static ALLOCATOR: rg::Allocator = rg::Allocator;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Allocator;

// SAFETY: every call is passed on unchanged to `Inner` (mimalloc or
// `System`), which upholds the `GlobalAlloc` contract.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees are `Inner`'s preconditions.
        unsafe { Inner.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        unsafe { Inner.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `Inner`.
        unsafe { Inner.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `Inner`; the rest is the caller's.
        unsafe { Inner.realloc(ptr, layout, new_size) }
    }
}
