//! Load generator for a running Aidants Connect: drives complete identity-provider flows (an
//! aidant already signed in: authorize → usager → démarche → code → token → userinfo), or the
//! token endpoint alone with codes minted beforehand, over loopback only, bounded in time and
//! in flows; reports throughput, latency percentiles, errors by kind, and the server's CPU time
//! and memory read from `/proc` so that CPU-ms per flow compare across machines.

pub mod flow;
pub mod server;
pub mod stats;
