//! Where callbacks run. THREAD dispatch: one SDK thread runs them in order. POLL dispatch: they
//! wait in the queue until the game calls `voip_poll()` on its own thread (its main thread).
//!
//! A job is taken off the queue before it runs, so no lock is held during a callback and a
//! callback may call any `voip_*` function, `voip_poll` and `voip_shutdown` included.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{JoinHandle, ThreadId};

pub(crate) type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    stopping: bool,
}

pub(crate) struct Dispatcher {
    queue: Mutex<Queue>,
    ready: Condvar,
    thread: Mutex<Option<(ThreadId, JoinHandle<()>)>>,
}

impl Dispatcher {
    /// A dispatcher; with `own_thread` it starts the SDK thread that runs the callbacks.
    pub(crate) fn new(own_thread: bool) -> std::io::Result<Arc<Dispatcher>> {
        let dispatcher = Arc::new(Dispatcher {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            thread: Mutex::new(None),
        });
        if own_thread {
            let worker = dispatcher.clone();
            let handle = std::thread::Builder::new()
                .name("voipchat-callbacks".into())
                .spawn(move || worker.run_until_stopped())?;
            *dispatcher.thread.lock().expect("fresh lock") = Some((handle.thread().id(), handle));
        }
        Ok(dispatcher)
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        // Jobs run outside the lock, so a poisoned queue is still a consistent queue.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn push(&self, job: Job) {
        self.queue().jobs.push_back(job);
        self.ready.notify_one();
    }

    /// Runs the jobs queued when called (not ones they queue in turn, so a callback that
    /// triggers another cannot trap the caller in a loop). Returns how many ran.
    pub(crate) fn run_pending(&self) -> u32 {
        let queued = self.queue().jobs.len();
        let mut ran = 0;
        for _ in 0..queued {
            let Some(job) = self.queue().jobs.pop_front() else {
                break;
            };
            run(job);
            ran += 1;
        }
        ran
    }

    fn run_until_stopped(&self) {
        loop {
            let job = {
                let mut queue = self.queue();
                loop {
                    if let Some(job) = queue.jobs.pop_front() {
                        break job;
                    }
                    if queue.stopping {
                        return;
                    }
                    queue = self.ready.wait(queue).unwrap_or_else(|p| p.into_inner());
                }
            };
            run(job);
        }
    }

    /// Runs every job still queued, then stops the SDK thread (if any) and waits for it —
    /// unless called from that very thread, which then stops once its current job returns.
    pub(crate) fn drain_and_stop(&self) {
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        match thread {
            Some((id, handle)) => {
                self.queue().stopping = true;
                self.ready.notify_all();
                if id != std::thread::current().id() {
                    let _ = handle.join();
                }
            }
            None => while self.run_pending() > 0 {},
        }
    }
}

fn run(job: Job) {
    // Our own code inside a job could panic; the dispatcher must survive it.
    let _ = catch_unwind(AssertUnwindSafe(job));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn poll_runs_only_what_was_queued_and_survives_a_panicking_job() {
        let dispatcher = Dispatcher::new(false).unwrap();
        let count = Arc::new(AtomicU32::new(0));
        let d = dispatcher.clone();
        let c = count.clone();
        dispatcher.push(Box::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
            let c = c.clone();
            d.push(Box::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            }));
        }));
        dispatcher.push(Box::new(|| panic!("a job that panics")));
        assert_eq!(dispatcher.run_pending(), 2);
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert_eq!(dispatcher.run_pending(), 1);
        assert_eq!(count.load(Ordering::SeqCst), 2);
        assert_eq!(dispatcher.run_pending(), 0);
    }

    #[test]
    fn the_thread_runs_jobs_in_order_and_drains_before_stopping() {
        let dispatcher = Dispatcher::new(true).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        for i in 0..100 {
            let seen = seen.clone();
            dispatcher.push(Box::new(move || seen.lock().unwrap().push(i)));
        }
        dispatcher.drain_and_stop();
        assert_eq!(*seen.lock().unwrap(), (0..100).collect::<Vec<_>>());
    }
}
