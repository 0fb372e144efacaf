//! How health checks run, as the flags say.

use std::time::Duration;

use crate::clusters::health_rules::Thresholds;

/// How health checks run and the thresholds of the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthSettings {
    /// Zero turns health checks off.
    pub interval: Duration,
    pub thresholds: Thresholds,
}

impl HealthSettings {
    pub fn disabled() -> Self {
        Self {
            interval: Duration::ZERO,
            thresholds: Thresholds::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.interval.is_zero()
    }
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self::disabled()
    }
}
