//! Helpers shared by the integration tests (each test file includes them with `mod support;`).

// Each test crate uses a different part of the fake.
#[allow(dead_code)]
pub mod api_app;
#[allow(dead_code)]
pub mod fake_flink;
#[allow(dead_code)]
pub mod hostile;
#[allow(dead_code)]
pub mod local_flink;
#[allow(dead_code)]
pub mod monitor_binary;
#[allow(dead_code)]
pub mod monitor_process;
#[allow(dead_code)]
pub mod sim;
#[allow(dead_code)]
pub mod wait;
