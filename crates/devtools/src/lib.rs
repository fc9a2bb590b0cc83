//! What development and measurements need and the service in production does not: the demo
//! seed (`aidants-connect demo`, `dev`, `otp-code`) and the national-scale volume
//! (`aidants-connect volume`). The `aidants-connect` binary includes them through its
//! `dev-tools` feature (on by default); `cargo build --release -p aidants-connect
//! --no-default-features` leaves them out.

pub mod demo;
pub mod volume;
