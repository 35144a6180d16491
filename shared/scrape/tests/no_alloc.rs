//! The target: no heap allocation per sample for a series already known.

use cardinal_exposition::Format;
use cardinal_scrape::testing::offline_loop;
use cardinal_tsdb::Head;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Counts allocations made on the current thread while counting is on.
struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.alloc(l) }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn parsing_known_series_allocates_nothing() {
    let mesh = e2e::istio::Mesh { pods: 4, workloads: 4 };
    let head = Arc::new(Head::new());
    let mut l = offline_loop(head, "envoy", "10.0.0.1:15090");
    let first = mesh.pod_body(1, 100.0);
    l.ingest(first.as_bytes(), Format::PromText, 100_000).expect("first scrape");
    let next = mesh.pod_body(1, 115.0);
    assert_ne!(first, next, "new values, same series");

    COUNTING.with(|c| c.set(true));
    let counts = l.stage(next.as_bytes(), Format::PromText, 115_000);
    COUNTING.with(|c| c.set(false));

    assert_eq!(counts.expect("parses").scraped, 337);
    // One allocation: the scrape's batch, sized by the last scrape; none per sample.
    assert_eq!(ALLOCATIONS.with(Cell::get), 1, "allocations while parsing 337 known series");

    // A new series on the other hand is parsed, relabeled and allocated for.
    let with_new = format!("{next}brand_new_series 1\n");
    COUNTING.with(|c| c.set(true));
    let counts = l.stage(with_new.as_bytes(), Format::PromText, 130_000);
    COUNTING.with(|c| c.set(false));
    assert_eq!(counts.expect("parses").scraped, 338);
    assert!(ALLOCATIONS.with(Cell::get) > 0, "the counter does count");
}
