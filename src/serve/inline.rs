//! The executor hyper runs HTTP/2 streams on: a stream's answer is polled once at once, in
//! the connection's own task, and becomes a task of its own only if it must wait.
//!
//! hyper hands every HTTP/2 request's service future (with the sending of its answer) to
//! the executor. Spawned, each one is a task allocated, scheduled, polled on the next turn
//! of the runtime, and completed, and its answer's frames wake the connection task again to
//! be written. Most answers need nothing to wait for (a playlist or a part looked up in the
//! current snapshot, a refusal), so the first poll happens here: the answer is queued on
//! the connection before hyper accepts the next stream, and is written with the others
//! read in the same turn. A future that returns `Pending` (a blocking reload, a body larger
//! than the flow-control window) is spawned and polled again there; every future hlsd runs
//! registers its waker anew at each poll, so the no-op waker of the first poll is never
//! relied on. A panic in that first poll is caught as a spawned task's would be: the
//! stream is dropped (reset), the connection goes on.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::{Context, Waker};

#[derive(Debug, Clone, Copy, Default)]
pub struct InlineFirst;

impl<F> hyper::rt::Executor<F> for InlineFirst
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        let mut fut = Box::pin(fut);
        let mut cx = Context::from_waker(Waker::noop());
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
            Ok(std::task::Poll::Ready(_)) => {}
            Ok(std::task::Poll::Pending) => {
                tokio::spawn(fut);
            }
            Err(_) => tracing::error!("an HTTP/2 stream's answer panicked: stream reset"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Executor;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn a_ready_future_runs_before_execute_returns_and_a_waiting_one_on_its_own_task() {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        InlineFirst.execute(async move { d.store(true, Ordering::SeqCst) });
        assert!(done.load(Ordering::SeqCst));

        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let (back, got) = tokio::sync::oneshot::channel::<u32>();
        InlineFirst.execute(async move {
            let v = rx.await.unwrap_or(0);
            let _ = back.send(v + 1);
        });
        // Waiting: spawned, so a value sent later still reaches it (its waker is the task's,
        // not the no-op one of the first poll).
        tokio::task::yield_now().await;
        tx.send(41).unwrap();
        assert_eq!(got.await.unwrap(), 42);
    }

    #[tokio::test]
    async fn a_panic_in_the_first_poll_stays_in_the_stream() {
        InlineFirst.execute(async { panic!("answer failed") });
        // Still here, and the runtime still runs tasks.
        let (tx, rx) = tokio::sync::oneshot::channel();
        InlineFirst.execute(async move {
            tokio::task::yield_now().await;
            let _ = tx.send(());
        });
        rx.await.unwrap();
    }
}
