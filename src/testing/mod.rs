//! Test-only helpers shared by the unit tests of several modules.

pub mod apiserver;
pub mod jobmanager;
