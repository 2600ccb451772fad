//! Time control for tests that drive a client against the emulator in the same tokio runtime.

use std::time::Duration;

/// Keeps tokio's paused clock from auto-advancing while a test runs, and ends the process if the
/// test hangs.
///
/// With a paused clock (`#[tokio::test(start_paused = true)]`) tokio jumps to the next timer
/// whenever every task waits — including while a request is on a real socket to the emulator,
/// which fires request timeouts at once. A `spawn_blocking` task in flight inhibits that, so
/// virtual time moves only when the test calls [`FrozenClock::advance`] (or
/// `tokio::time::advance`). The emulator reads the same tokio clock, so client and emulator age
/// together.
#[derive(Debug)]
pub struct FrozenClock {
    release: std::sync::mpsc::Sender<()>,
}

impl FrozenClock {
    /// Freezes the clock until the returned value is dropped; a test still running after
    /// `watchdog` of real time ends the process with a message, so a hang fails CI instead of
    /// stalling it. Must be called inside a paused current-thread runtime.
    pub fn new(watchdog: Duration) -> Self {
        let (release, released) = std::sync::mpsc::channel::<()>();
        tokio::task::spawn_blocking(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = released.recv_timeout(watchdog)
            {
                eprintln!(
                    "zoho-sim FrozenClock watchdog: a test ran for {watchdog:?} of real time; aborting"
                );
                std::process::exit(101);
            }
        });
        FrozenClock { release }
    }

    /// Moves virtual time forward one second at a time, letting due timers fire at each step.
    pub async fn advance(&self, by: Duration) {
        let mut left = by;
        while !left.is_zero() {
            let step = left.min(Duration::from_secs(1));
            tokio::time::advance(step).await;
            left -= step;
        }
    }
}

impl Drop for FrozenClock {
    fn drop(&mut self) {
        let _ = self.release.send(());
    }
}
