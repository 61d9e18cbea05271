//! systemd integration: readiness, watchdog pings and stop signals.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use leadgate_core::health::Health;

/// Tells systemd we are ready (Type=notify). Outside systemd this does nothing.
pub fn notify_ready() {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
}

pub fn notify_stopping() {
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
}

/// Pings the watchdog at half the interval systemd asked for, from the main
/// runtime, and only while every part of the daemon beats: a wedged runtime
/// or a dead part (a pipeline worker stuck on the database, a poller hung
/// in a call) stops the pings, and systemd restarts us.
pub fn spawn_watchdog(stop: CancellationToken, health: Health) {
    let mut usec = 0u64;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let period = Duration::from_micros(usec / 2);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        let mut silent = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => break,
            }
            let down = health.down();
            if down.is_empty() {
                if silent {
                    tracing::info!("every part beats again; watchdog pings resume");
                    silent = false;
                }
                // The send blocks while the receiver's queue is full: off
                // the runtime's threads, one at a time.
                let _ = tokio::task::spawn_blocking(|| {
                    sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog])
                })
                .await;
            } else if !silent {
                tracing::error!(parts = %down.join(", "), "parts are down; watchdog pings stop");
                silent = true;
            }
        }
    });
}

/// Fires on SIGTERM or SIGINT.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let fire = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stop signal received");
        notify_stopping();
        fire.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
