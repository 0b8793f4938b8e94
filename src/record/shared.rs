//! [`Shared`]: a reference-counted pointer whose count can move many at a time.
//!
//! A poll hands out thousands of records that all point into one segment map, each keeping
//! it alive. With `Arc`, every record costs an atomic increment when it is made and an
//! atomic decrement when it is dropped. Those locked instructions were about a third of a
//! catch-up read's time: each one waits for the stores before it (the records being
//! written into the poll's vector) to reach the cache. `Shared` lets a reader take
//! references for thousands of records with one atomic add ([`Lease`]), and lets a poll's
//! records give theirs back with one atomic subtraction per run of records from the same
//! source ([`release_all`]). A single clone or drop costs what it costs with `Arc`.
//!
//! The count is the number of references owned: one per live `Shared`, plus those a
//! `Lease` holds. Whoever owns `n` references may give `n` back, and whoever gives back
//! the last one frees the value, exactly as `Arc` does (no weak references).

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{self, AtomicUsize, Ordering};

/// References a [`Lease`] takes at a time: enough that the atomic add is rare, few enough
/// that the count can never overflow on the way.
const LEASE_REFS: usize = 4096;

/// The most references there may be, as for `Arc`: more means references are being leaked
/// in a loop, and going on could wrap the count and free a value still in use.
const MAX_REFS: usize = isize::MAX as usize;

struct Inner<T> {
    refs: AtomicUsize,
    value: T,
}

/// A shared, immutable value, freed when the last reference to it goes; see the module docs.
pub(crate) struct Shared<T> {
    inner: NonNull<Inner<T>>,
    /// Owns an `Inner<T>` for the drop checker, as `Arc` does.
    owns: PhantomData<Inner<T>>,
}

#[expect(
    unsafe_code,
    reason = "a counted pointer is Send and Sync as Arc is; see SAFETY"
)]
// SAFETY: a `Shared<T>` hands out `&T` on any thread (so `T: Sync`) and drops the `T` on
// whichever thread gives back the last reference (so `T: Send`), the same bounds as `Arc`.
// The count itself is atomic.
unsafe impl<T: Send + Sync> Send for Shared<T> {}

#[expect(
    unsafe_code,
    reason = "a counted pointer is Send and Sync as Arc is; see SAFETY"
)]
// SAFETY: as for `Send` above.
unsafe impl<T: Send + Sync> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// Moves `value` to the heap, with one reference: the one returned.
    pub(crate) fn new(value: T) -> Self {
        let inner = Box::new(Inner {
            refs: AtomicUsize::new(1),
            value,
        });
        Self {
            inner: NonNull::from(Box::leak(inner)),
            owns: PhantomData,
        }
    }

    /// A lease of references to this value, for handing out many at the cost of one.
    pub(crate) fn lease(&self) -> Lease<T> {
        Lease {
            own: self.clone(),
            spare: 0,
        }
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        #[expect(unsafe_code, reason = "reading through a counted pointer; see SAFETY")]
        // SAFETY: this handle owns a reference, so the count is at least 1 and the value is
        // not freed while `self` (and so the returned borrow) lives.
        unsafe {
            &self.inner.as_ref().value
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        acquire(self.inner, 1);
        Self {
            inner: self.inner,
            owns: PhantomData,
        }
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        #[expect(unsafe_code, reason = "giving back a counted reference; see SAFETY")]
        // SAFETY: this handle owns one reference and is never used again.
        unsafe {
            release(self.inner, 1);
        }
    }
}

/// References taken in advance from a [`Shared`] and handed out by [`take`](Lease::take)
/// without touching the count; those not handed out are given back when it drops.
pub(crate) struct Lease<T> {
    /// The lease's own reference, which keeps the value alive between refills.
    own: Shared<T>,
    /// References owned besides `own`, not handed out yet.
    spare: usize,
}

impl<T> Lease<T> {
    /// A new handle to the value: one of the spare references, or a fresh batch of them.
    pub(crate) fn take(&mut self) -> Shared<T> {
        if self.spare == 0 {
            acquire(self.own.inner, LEASE_REFS);
            self.spare = LEASE_REFS;
        }
        self.spare -= 1;
        Shared {
            inner: self.own.inner,
            owns: PhantomData,
        }
    }
}

impl<T> Deref for Lease<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.own
    }
}

impl<T> Drop for Lease<T> {
    fn drop(&mut self) {
        if self.spare > 0 {
            #[expect(unsafe_code, reason = "giving back counted references; see SAFETY")]
            // SAFETY: the lease owns `spare` references besides `own`, and drops now.
            unsafe {
                release(self.own.inner, self.spare);
            }
        }
    }
}

/// Drops `handles`, with one atomic subtraction per run of handles to the same value.
pub(crate) fn release_all<T>(handles: impl IntoIterator<Item = Shared<T>>) {
    // The value of the current run and how many of its references are taken over from
    // handles that will not drop themselves.
    let mut run: Option<(NonNull<Inner<T>>, usize)> = None;
    for handle in handles {
        let handle = ManuallyDrop::new(handle);
        match &mut run {
            Some((inner, n)) if *inner == handle.inner => *n += 1,
            _ => {
                if let Some((inner, n)) = run.replace((handle.inner, 1)) {
                    #[expect(unsafe_code, reason = "giving back counted references; see SAFETY")]
                    // SAFETY: the run owns the `n` references of the handles it took over.
                    unsafe {
                        release(inner, n);
                    }
                }
            }
        }
    }
    if let Some((inner, n)) = run {
        #[expect(unsafe_code, reason = "giving back counted references; see SAFETY")]
        // SAFETY: as above.
        unsafe {
            release(inner, n);
        }
    }
}

/// Adds `n` references to a value the caller holds a reference to.
fn acquire<T>(inner: NonNull<Inner<T>>, n: usize) {
    #[expect(unsafe_code, reason = "reading through a counted pointer; see SAFETY")]
    // SAFETY: callers own a reference, so the value is alive.
    let refs = unsafe { &inner.as_ref().refs };
    // Relaxed, as in `Arc::clone`: a new reference is made from an existing one, which
    // already orders every access to the value before it is given back.
    let before = refs.fetch_add(n, Ordering::Relaxed);
    if before > MAX_REFS - n {
        std::process::abort();
    }
}

/// Gives back `n` references, freeing the value if they were the last.
///
/// # Safety
///
/// The caller owns `n` references to `inner`'s value and uses none of them again.
#[expect(
    unsafe_code,
    reason = "frees the value after the last reference; see SAFETY"
)]
unsafe fn release<T>(inner: NonNull<Inner<T>>, n: usize) {
    // SAFETY: the caller's references keep the value alive until the subtraction.
    let refs = unsafe { &inner.as_ref().refs };
    // Release, and Acquire before freeing, as in `Arc::drop`: every use of the value
    // through other references happens before it is freed.
    if refs.fetch_sub(n, Ordering::Release) != n {
        return;
    }
    atomic::fence(Ordering::Acquire);
    // SAFETY: these were the last references, so nothing else can reach the value, and
    // `inner` came from `Box::leak` in `Shared::new`.
    drop(unsafe { Box::from_raw(inner.as_ptr()) });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::{release_all, Shared, LEASE_REFS};

    /// Counts its drops, to tell that a value is freed exactly once and only at the end.
    struct Tracked(Arc<AtomicUsize>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn tracked() -> (Shared<Tracked>, Arc<AtomicUsize>) {
        let drops = Arc::new(AtomicUsize::new(0));
        (Shared::new(Tracked(Arc::clone(&drops))), drops)
    }

    fn dropped(drops: &AtomicUsize) -> usize {
        drops.load(Ordering::SeqCst)
    }

    #[test]
    fn freed_when_the_last_handle_drops() {
        let (a, drops) = tracked();
        let b = a.clone();
        drop(a);
        assert_eq!(dropped(&drops), 0);
        drop(b);
        assert_eq!(dropped(&drops), 1);
    }

    #[test]
    fn a_lease_gives_back_what_it_did_not_hand_out() {
        let (a, drops) = tracked();
        let mut lease = a.lease();
        // Past one batch of spares, so a refill happens too.
        let handles: Vec<_> = (0..LEASE_REFS + 3).map(|_| lease.take()).collect();
        drop(a);
        drop(lease);
        assert_eq!(dropped(&drops), 0, "handed-out references keep it alive");
        let last = handles[0].clone();
        drop(handles);
        assert_eq!(dropped(&drops), 0);
        drop(last);
        assert_eq!(dropped(&drops), 1);
    }

    #[test]
    fn a_lease_keeps_the_value_alive_by_itself() {
        let (a, drops) = tracked();
        let mut lease = a.lease();
        drop(a);
        let b = lease.take();
        drop(lease);
        assert_eq!(dropped(&drops), 0);
        drop(b);
        assert_eq!(dropped(&drops), 1);
    }

    #[test]
    fn release_all_gives_back_runs_of_mixed_values() {
        let (a, a_drops) = tracked();
        let (b, b_drops) = tracked();
        let mut handles = Vec::new();
        for i in 0..10 {
            // Runs of several lengths, alternating between the two values.
            for _ in 0..=i % 3 {
                handles.push(if i % 2 == 0 { a.clone() } else { b.clone() });
            }
        }
        let keep = handles[handles.len() - 1].clone();
        release_all(handles);
        assert_eq!(dropped(&a_drops), 0);
        drop(a);
        assert_eq!(dropped(&a_drops), 1, "a's last references were in the runs");
        drop(b);
        assert_eq!(dropped(&b_drops), 0, "a clone of b is still held");
        drop(keep);
        assert_eq!(dropped(&b_drops), 1);
        release_all(Vec::<Shared<Tracked>>::new());
    }

    #[test]
    fn handles_dropped_on_many_threads_free_once() {
        let (a, drops) = tracked();
        let mut lease = a.lease();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let mine: Vec<_> = (0..50).map(|_| lease.take()).collect();
                std::thread::spawn(move || {
                    let extra: Vec<_> = mine.iter().map(Shared::clone).collect();
                    release_all(mine);
                    drop(extra);
                })
            })
            .collect();
        drop(lease);
        drop(a);
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(dropped(&drops), 1);
    }
}
