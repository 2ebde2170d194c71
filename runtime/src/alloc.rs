//! The global allocator of the static musl build (see .cargo/config.toml): dlmalloc behind a
//! spin lock.
//!
//! musl's own malloc maps and unmaps small pages on nearly every allocation burst; dlmalloc takes
//! 64 KiB segments. dlmalloc's `GlobalDlmalloc` guards its heap with a pthread mutex, and musl's
//! mutex calls cost about 75,000 instructions over a `husk run`, a tenth of its user time before
//! clone3. husk runs a single thread, so the lock is never contended: an atomic flag is enough,
//! and stays correct should a thread ever appear. clone3 happens outside any allocation, so the
//! child never inherits the flag set.
use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct Allocator {
    locked: AtomicBool,
    heap: UnsafeCell<dlmalloc::Dlmalloc>,
}

// SAFETY: `heap` is only reached through `with_heap`, which holds `locked`.
unsafe impl Sync for Allocator {}

impl Allocator {
    pub const fn new() -> Allocator {
        Allocator {
            locked: AtomicBool::new(false),
            heap: UnsafeCell::new(dlmalloc::Dlmalloc::new()),
        }
    }

    fn with_heap<T>(&self, f: impl FnOnce(&mut dlmalloc::Dlmalloc) -> T) -> T {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: holding the flag makes this the only reference to the heap until it is cleared.
        let out = f(unsafe { &mut *self.heap.get() });
        self.locked.store(false, Ordering::Release);
        out
    }
}

// SAFETY: each method hands dlmalloc the caller's pointer and layout, which GlobalAlloc's contract
// makes valid for the matching dlmalloc call, and runs under the lock.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        self.with_heap(|heap| unsafe { heap.malloc(layout.size(), layout.align()) })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: see the impl.
        self.with_heap(|heap| unsafe { heap.free(ptr, layout.size(), layout.align()) })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        self.with_heap(|heap| unsafe { heap.calloc(layout.size(), layout.align()) })
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl.
        self.with_heap(|heap| unsafe { heap.realloc(ptr, layout.size(), layout.align(), new_size) })
    }
}
