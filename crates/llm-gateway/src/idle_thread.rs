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
use std::sync::mpsc;

type Job = Box<dyn FnOnce() + Send>;

/// A named thread running jobs one at a time at the lowest scheduling priority the platform
/// allows without privileges (`SCHED_IDLE` on Linux; an ordinary thread elsewhere, or where the
/// policy cannot be set). It ends when its handle is dropped.
#[derive(Debug)]
pub(crate) struct IdleThread {
    jobs: mpsc::Sender<Job>,
}

impl IdleThread {
    /// Starts the thread.
    pub(crate) fn spawn(name: &str) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread_name = name.to_owned();
        std::thread::Builder::new().name(thread_name.clone()).spawn(move || {
            if let Err(e) = lower_priority() {
                tracing::debug!(thread = thread_name, error = e, "runs at normal priority");
            }
            for job in queue {
                // A panicking job drops its answer channel (the caller sees `None`); the thread
                // goes on with the next one.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            }
        })?;
        Ok(Self { jobs })
    }

    /// Runs `f` on the thread and returns its result; `None` if `f` panicked.
    pub(crate) async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (answer, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(f());
        });
        self.jobs.send(job).ok()?;
        result.await.ok()
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
        let thread = IdleThread::spawn("llm-test-idle").unwrap();
        assert_eq!(thread.run(|| 6 * 7).await, Some(42));
        assert_eq!(thread.run(|| -> u8 { panic!("job failed") }).await, None);
        assert_eq!(thread.run(|| "still here").await, Some("still here"));
    }

    /// The scheduling policy of the thread running the job, from `/proc` (5 is `SCHED_IDLE`).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn runs_under_sched_idle_on_linux() {
        let thread = IdleThread::spawn("llm-test-idle").unwrap();
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
