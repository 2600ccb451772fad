//! The emulator's clock.
//!
//! Sim time is `tokio::time::Instant` elapsed since the emulator started, plus an offset that the
//! control API can push forward. Reading tokio's clock (not the OS clock) means a test that pauses
//! tokio time moves the emulator and the client under test together; the explicit offset serves
//! tests that drive the emulator from another process, where time cannot be shared.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// A point in emulator time: the duration since the emulator started.
pub type SimTime = Duration;

#[derive(Debug)]
pub(crate) struct SimClock {
    started: tokio::time::Instant,
    started_wall: SystemTime,
    offset: Mutex<Duration>,
}

impl SimClock {
    pub(crate) fn new() -> Self {
        Self {
            started: tokio::time::Instant::now(),
            started_wall: SystemTime::now(),
            offset: Mutex::new(Duration::ZERO),
        }
    }

    pub(crate) fn now(&self) -> SimTime {
        self.started.elapsed() + *self.offset.lock().expect("clock lock")
    }

    /// Wall-clock time as the emulator presents it (for timestamps in bodies).
    pub(crate) fn wall(&self) -> SystemTime {
        self.started_wall + self.now()
    }

    pub(crate) fn advance(&self, by: Duration) {
        *self.offset.lock().expect("clock lock") += by;
    }
}
