//! One shutdown signal (SIGTERM or SIGINT) observed by every task; the worker is PID 1 in its container,
//! so nobody else will turn a SIGTERM into an exit for it.

use tokio::{
    signal::unix::{SignalKind, signal},
    sync::watch,
};

/// A cloneable handle that resolves once the process was asked to stop.
#[derive(Clone)]
pub struct ShutdownSignal {
    rx: watch::Receiver<bool>,
}

impl ShutdownSignal {
    /// Installs the SIGTERM and SIGINT handlers.
    pub fn install() -> std::io::Result<Self> {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received, stopping"),
                _ = int.recv() => tracing::info!("SIGINT received, stopping"),
            }
            let _ = tx.send(true);
        });
        Ok(Self { rx })
    }

    /// Resolves when the signal has arrived.
    pub async fn wait(mut self) {
        let _ = self.rx.wait_for(|stopped| *stopped).await;
    }
}
