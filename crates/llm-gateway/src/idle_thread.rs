//! A thread for background work that gives way to request handling at once.
//!
//! The SQLite spend writer commits batches of a few hundred rows, milliseconds of CPU. On an
//! ordinary thread sharing a core with the runtime, a request arriving meanwhile waits for the
//! scheduler to end the writer's time slice (≈ 1.3 ms at p999 through a gateway pinned to one
//! core). On Linux this thread runs under `SCHED_IDLE`: it gets the CPU only when no ordinary
//! thread wants it, and a woken worker preempts it immediately. Under `SCHED_IDLE` a thread can
//! starve while the CPUs stay busy, so callers send only work that may wait, and run anything
//! urgent elsewhere (the spend writer moves to `spawn_blocking` once its queue backs up).

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// How long the thread waits for a job before it ends (the next job starts a new one), as
/// tokio's blocking threads do. A thread that lives on keeps its allocator's cached pages: with
/// mimalloc, a gateway's RSS stayed at its peak (97 MB after 2,000 streams) instead of falling
/// back (31 MB) once the writer's thread ended.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Runs jobs one at a time on a named thread at the lowest scheduling priority the platform
/// allows without privileges (`SCHED_IDLE` on Linux; an ordinary thread elsewhere, or where the
/// policy cannot be set). The thread starts with the first job and ends after [`KEEP_ALIVE`]
/// without one.
#[derive(Debug)]
pub(crate) struct IdleThread {
    name: String,
    keep_alive: Duration,
    /// The running thread's queue; `None` when no thread runs. A thread only ends while holding
    /// this lock and after finding its queue empty, so a job sent under the lock always runs.
    jobs: Arc<Mutex<Option<mpsc::Sender<Job>>>>,
}

impl IdleThread {
    /// A handle; the thread itself starts with the first job.
    pub(crate) fn new(name: &str) -> Self {
        Self::with_keep_alive(name, KEEP_ALIVE)
    }

    fn with_keep_alive(name: &str, keep_alive: Duration) -> Self {
        Self { name: name.to_owned(), keep_alive, jobs: Arc::default() }
    }

    /// Runs `f` on the thread and returns its result; `None` if `f` panicked or no thread could
    /// be started.
    pub(crate) async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (answer, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(f());
        });
        self.submit(job).map_err(|e| tracing::error!(thread = self.name, error = %e, "cannot start")).ok()?;
        result.await.ok()
    }

    /// Whether a thread is running now.
    #[cfg(test)]
    fn is_running(&self) -> bool {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    fn submit(&self, job: Job) -> std::io::Result<()> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let job = match jobs.as_ref() {
            Some(tx) => match tx.send(job) {
                Ok(()) => return Ok(()),
                // The thread died (one that ends on its own also clears the slot).
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, queue) = mpsc::channel::<Job>();
        let _ = tx.send(job);
        let (slot, keep_alive, name) = (Arc::clone(&self.jobs), self.keep_alive, self.name.clone());
        std::thread::Builder::new()
            .name(self.name.clone())
            .spawn(move || work(&name, &queue, &slot, keep_alive))?;
        *jobs = Some(tx);
        Ok(())
    }
}

fn work(
    name: &str,
    queue: &mpsc::Receiver<Job>,
    slot: &Mutex<Option<mpsc::Sender<Job>>>,
    keep_alive: Duration,
) {
    if let Err(e) = lower_priority() {
        tracing::debug!(thread = name, error = e, "runs at normal priority");
    }
    loop {
        let job = match queue.recv_timeout(keep_alive) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let mut jobs = slot.lock().unwrap_or_else(|p| p.into_inner());
                match queue.try_recv() {
                    Ok(job) => job,
                    Err(_) => {
                        *jobs = None;
                        return;
                    }
                }
            }
        };
        // A panicking job drops its answer channel (the caller sees `None`); the thread goes on.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() -> Result<(), String> {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle)
        .map_err(|e| format!("{e:?}"))
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() -> Result<(), String> {
    Err("SCHED_IDLE is Linux-only".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panicking_one() {
        let thread = IdleThread::new("llm-test-idle");
        assert_eq!(thread.run(|| 6 * 7).await, Some(42));
        assert_eq!(thread.run(|| -> u8 { panic!("job failed") }).await, None);
        assert_eq!(thread.run(|| "still here").await, Some("still here"));
    }

    #[tokio::test]
    async fn the_thread_ends_when_idle_and_the_next_job_starts_another() {
        let thread = IdleThread::with_keep_alive("llm-test-idle", Duration::from_millis(20));
        assert!(!thread.is_running());
        let first = thread.run(|| std::thread::current().id()).await.unwrap();
        assert!(thread.is_running());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while thread.is_running() {
            assert!(std::time::Instant::now() < deadline, "the idle thread never ended");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let second = thread.run(|| std::thread::current().id()).await.unwrap();
        assert_ne!(first, second);
    }

    /// Jobs sent while the thread is deciding to end are never lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_job_is_lost_around_the_keep_alive() {
        let thread = IdleThread::with_keep_alive("llm-test-idle", Duration::from_micros(200));
        for i in 0..300u64 {
            assert_eq!(thread.run(move || i).await, Some(i));
            if i % 3 == 0 {
                tokio::time::sleep(Duration::from_micros(150 + i % 100)).await;
            }
        }
    }

    /// The scheduling policy of the thread running the job, from `/proc` (5 is `SCHED_IDLE`).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn runs_under_sched_idle_on_linux() {
        let thread = IdleThread::new("llm-test-idle");
        let policy = thread
            .run(|| {
                let sched = std::fs::read_to_string("/proc/thread-self/sched").unwrap();
                let line = sched.lines().find(|l| l.starts_with("policy")).unwrap().to_owned();
                line.rsplit(':').next().unwrap().trim().to_owned()
            })
            .await;
        assert_eq!(policy.as_deref(), Some("5"));
    }
}
