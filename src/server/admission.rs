//! Admission control for heavy work. Requests that go to the blocking pool (long texts, texts
//! off the fast tokenizer routes, large batches) each hold their body and its working copies
//! while they wait for one of the few blocking threads; without a bound, a burst of them makes
//! memory grow with the queue rather than with the work. At most `limit` heavy requests are
//! admitted at once (running or waiting); the next one is refused at once with 429 and
//! `Retry-After`, which frees its body and tells the client when to come back.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Heavy requests in flight against a fixed bound: a semaphore that is never waited on.
#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    limit: usize,
}

/// Held while a heavy request is admitted; dropping it (on completion, error or a cancelled
/// request) frees the slot.
pub type Ticket = OwnedSemaphorePermit;

impl Admission {
    /// `limit` is at least 1 (a limit of 0 would refuse every long article).
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Admission {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Heavy requests admitted now.
    pub fn in_flight(&self) -> usize {
        self.limit - self.slots.available_permits()
    }

    /// A ticket when a slot is free; `None` when `limit` requests are already admitted.
    pub fn try_enter(&self) -> Option<Ticket> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Runs `work` on the blocking pool in a slot, or refuses at once when none is free. The
    /// slot goes with the work, not with the caller: a request dropped while its work waits or
    /// runs (a `--request-deadline` 408, a client gone) leaves that work on the pool, and the
    /// slot stays taken until the work ends, so no more heavy work runs than `limit` allows.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Refused> {
        let ticket = self.try_enter().ok_or(Refused::Full)?;
        actix_web::web::block(move || {
            let _ticket = ticket;
            work()
        })
        .await
        .map_err(|e| Refused::Pool(e.to_string()))
    }
}

/// Why [`Admission::run`] did not run the work.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// Every slot is taken.
    Full,
    /// The blocking pool failed the work (it panicked or the pool is shutting down).
    Pool(String),
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

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

    /// A request timed out by `--request-deadline` dropped its ticket with its future while its
    /// work went on running on the blocking pool, so new heavy work was admitted beside it.
    #[tokio::test]
    async fn abandoned_work_keeps_its_slot_until_it_ends() {
        let a = Admission::new(1);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let abandoned = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            a.run(move || wait.recv().is_ok()),
        )
        .await;
        assert!(abandoned.is_err(), "the caller gave up");
        assert_eq!(a.in_flight(), 1, "the work still runs, and holds the slot");
        assert_eq!(a.run(|| ()).await, Err(Refused::Full));
        release.send(()).unwrap();
        for _ in 0..500 {
            if a.in_flight() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(a.in_flight(), 0, "freed when the work ended");
        assert_eq!(a.run(|| 7).await, Ok(7));
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
