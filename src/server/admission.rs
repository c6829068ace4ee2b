//! Admission control for heavy work. Requests that go to the blocking pool (long texts, texts
//! off the fast tokenizer routes, large batches) each hold their body and its working copies
//! while they wait for one of the few blocking threads; without a bound, a burst of them makes
//! memory grow with the queue rather than with the work. At most `limit` heavy requests are
//! admitted at once (running or waiting); the next one is refused at once with 429 and
//! `Retry-After`, which frees its body and tells the client when to come back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts heavy requests in flight against a fixed bound.
#[derive(Debug)]
pub struct Admission {
    in_flight: Arc<AtomicUsize>,
    limit: usize,
}

/// Held while a heavy request is admitted; dropping it (on completion, error or a cancelled
/// request) frees the slot.
#[derive(Debug)]
pub struct Ticket {
    in_flight: Arc<AtomicUsize>,
}

impl Admission {
    /// `limit` is at least 1 (a limit of 0 would refuse every long article).
    pub fn new(limit: usize) -> Self {
        Admission {
            in_flight: Arc::new(AtomicUsize::new(0)),
            limit: limit.max(1),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Heavy requests admitted now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// A ticket when a slot is free; `None` when `limit` requests are already admitted.
    pub fn try_enter(&self) -> Option<Ticket> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Ticket {
                in_flight: self.in_flight.clone(),
            })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_and_frees_on_drop() {
        let a = Admission::new(2);
        let t1 = a.try_enter().expect("first");
        let t2 = a.try_enter().expect("second");
        assert_eq!(a.in_flight(), 2);
        assert!(a.try_enter().is_none(), "a third is refused");
        drop(t1);
        assert_eq!(a.in_flight(), 1);
        let t3 = a.try_enter().expect("a freed slot is reused");
        drop((t2, t3));
        assert_eq!(a.in_flight(), 0);
        assert_eq!(Admission::new(0).limit(), 1);
    }

    #[test]
    fn never_admits_more_than_the_limit_across_threads() {
        let a = Arc::new(Admission::new(3));
        let peak = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (a, peak) = (a.clone(), peak.clone());
                std::thread::spawn(move || {
                    for _ in 0..2_000 {
                        if let Some(t) = a.try_enter() {
                            peak.fetch_max(a.in_flight(), Ordering::AcqRel);
                            drop(t);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(peak.load(Ordering::Acquire) <= 3);
        assert_eq!(a.in_flight(), 0);
    }
}
