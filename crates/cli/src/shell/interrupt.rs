//! Ctrl-C while a query runs: a thread of its own waits for SIGINT, so that the signal is
//! seen even when every runtime worker is busy with the query.

use std::sync::Arc;

use tokio::sync::Notify;

/// Wakes the tasks waiting in [`Interrupts::wait`] on each SIGINT.
#[derive(Clone)]
pub struct Interrupts {
    notify: Arc<Notify>,
}

impl Interrupts {
    /// Starts the listening thread. From then on SIGINT no longer ends the process; the
    /// shell reads Ctrl-C at the prompt as a key, and a running query is cancelled.
    pub fn listen() -> std::io::Result<Self> {
        let notify = Arc::new(Notify::new());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let waker = Arc::clone(&notify);
        std::thread::Builder::new()
            .name("sigint".to_string())
            .spawn(move || {
                runtime.block_on(async move {
                    while tokio::signal::ctrl_c().await.is_ok() {
                        // Only a query running now is cancelled; no permit is kept for later.
                        waker.notify_waiters();
                    }
                });
            })?;
        Ok(Self { notify })
    }

    /// Returns at the next SIGINT.
    pub async fn wait(&self) {
        self.notify.notified().await;
    }
}
