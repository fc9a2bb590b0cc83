//! What a run measured: latencies (exact percentiles over every sample), errors by kind, and
//! the report printed at the end.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Samples of one kind of operation (a request, or a whole flow), in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    micros: Vec<u64>,
}

impl Latencies {
    /// Records one sample.
    pub fn record(&mut self, elapsed: Duration) {
        self.micros
            .push(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    }

    /// Adds another set of samples.
    pub fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
    }

    /// How many samples.
    pub fn count(&self) -> usize {
        self.micros.len()
    }

    /// The `p`-th percentile (0 < p ≤ 100) by the nearest-rank method, in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> Option<f64> {
        if self.micros.is_empty() {
            return None;
        }
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        let index = rank.clamp(1, sorted.len()) - 1;
        Some(sorted[index] as f64 / 1000.0)
    }
}

/// Errors, counted by kind (`http 500 at token`, `connection at authorize`…).
#[derive(Debug, Default, Clone)]
pub struct Errors(BTreeMap<String, u64>);

impl Errors {
    /// Counts one error of `kind`.
    pub fn count(&mut self, kind: String) {
        *self.0.entry(kind).or_default() += 1;
    }

    /// Adds another count.
    pub fn merge(&mut self, other: Errors) {
        for (kind, n) in other.0 {
            *self.0.entry(kind).or_default() += n;
        }
    }

    /// All errors.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// What the server spent during the measured phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerUsage {
    /// CPU seconds (user + system, all threads, all the given processes).
    pub cpu_seconds: f64,
    /// Highest resident set size reached by any of the processes since it started, MiB.
    pub peak_rss_mib: f64,
}

/// The report of one measured phase.
#[derive(Debug)]
pub struct Report {
    /// `flows` or `tokens`.
    pub mode: &'static str,
    /// Concurrent virtual users.
    pub concurrency: usize,
    /// Instances the load was spread over.
    pub instances: usize,
    /// Wall time of the phase.
    pub elapsed: Duration,
    /// Whole operations (flows, or token requests) that succeeded.
    pub operations: Latencies,
    /// HTTP requests sent, succeeded or not.
    pub requests: u64,
    /// Latency of each request answered as expected (until its headers).
    pub request_latencies: Latencies,
    /// Errors by kind.
    pub errors: Errors,
    /// The server's usage, when its pids were given.
    pub server: Option<ServerUsage>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.elapsed.as_secs_f64().max(f64::EPSILON);
        let done = self.operations.count();
        let unit = if self.mode == "flows" {
            "flow"
        } else {
            "token"
        };
        writeln!(
            f,
            "mode {}: {} concurrent, {} instance(s), {:.1} s",
            self.mode, self.concurrency, self.instances, seconds
        )?;
        writeln!(
            f,
            "{unit}s completed: {done} ({:.1} {unit}s/s); requests: {} ({:.1} req/s)",
            done as f64 / seconds,
            self.requests,
            self.requests as f64 / seconds
        )?;
        let p = |q| self.operations.percentile_ms(q).unwrap_or(f64::NAN);
        writeln!(
            f,
            "{unit} latency ms: p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
            p(50.0),
            p(95.0),
            p(99.0),
            p(100.0)
        )?;
        let r = |q| self.request_latencies.percentile_ms(q).unwrap_or(f64::NAN);
        writeln!(
            f,
            "request latency ms: p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
            r(50.0),
            r(95.0),
            r(99.0),
            r(100.0)
        )?;
        if self.errors.total() == 0 {
            writeln!(f, "errors: 0")?;
        } else {
            writeln!(f, "errors: {}", self.errors.total())?;
            for (kind, n) in &self.errors.0 {
                writeln!(f, "  {n} × {kind}")?;
            }
        }
        if let Some(server) = self.server {
            let per_op = if done == 0 {
                f64::NAN
            } else {
                server.cpu_seconds * 1000.0 / done as f64
            };
            writeln!(
                f,
                "server: {:.2} CPU s ({:.3} CPU-ms per {unit}, {:.0} % of one core), peak RSS {:.1} MiB",
                server.cpu_seconds,
                per_op,
                server.cpu_seconds / seconds * 100.0,
                server.peak_rss_mib
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut l = Latencies::default();
        assert_eq!(l.percentile_ms(50.0), None);
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.percentile_ms(50.0), Some(50.0));
        assert_eq!(l.percentile_ms(99.0), Some(99.0));
        assert_eq!(l.percentile_ms(100.0), Some(100.0));
        let mut one = Latencies::default();
        one.record(Duration::from_micros(1500));
        assert_eq!(one.percentile_ms(1.0), Some(1.5));
    }

    #[test]
    fn errors_are_counted_by_kind() {
        let mut a = Errors::default();
        a.count("http 500 at token".into());
        let mut b = Errors::default();
        b.count("http 500 at token".into());
        b.count("connection at authorize".into());
        a.merge(b);
        assert_eq!(a.total(), 3);
        assert_eq!(a.0["http 500 at token"], 2);
    }
}
