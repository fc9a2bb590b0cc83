//! The server's CPU time and memory, read from `/proc/<pid>` (Linux): CPU from `stat`
//! (`utime` + `stime`, every thread, in USER_HZ ticks, 100 per second on Linux), peak
//! resident memory from `status` (`VmHWM`).

use anyhow::{bail, Context, Result};
use std::path::Path;

/// USER_HZ: the unit of the CPU times in `/proc/<pid>/stat`, fixed by the kernel ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds spent so far by process `pid`.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"))
        .with_context(|| format!("process {pid} introuvable dans /proc"))?;
    parse_stat_cpu(&stat)
}

/// Peak resident memory of process `pid`, MiB.
pub fn peak_rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status"))
        .with_context(|| format!("process {pid} introuvable dans /proc"))?;
    parse_status_hwm(&status)
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in seconds. The command name (field 2) is in
/// parentheses and may hold spaces: fields are counted after its closing parenthesis.
fn parse_stat_cpu(stat: &str) -> Result<f64> {
    let Some((_, after_name)) = stat.rsplit_once(')') else {
        bail!("/proc stat illisible");
    };
    // After the name: field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let tick = |i: usize| -> Result<f64> {
        let value: u64 = fields
            .get(i)
            .context("/proc stat trop court")?
            .parse()
            .context("/proc stat: temps CPU illisible")?;
        Ok(value as f64)
    };
    Ok((tick(11)? + tick(12)?) / TICKS_PER_SECOND)
}

/// `VmHWM` of a `/proc/<pid>/status`, in MiB.
fn parse_status_hwm(status: &str) -> Result<f64> {
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("VmHWM absent de /proc status")?;
    let kib: f64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .context("VmHWM illisible")?;
    Ok(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_cpu_after_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (aidants (x) co) S 1 4242 4242 0 -1 4194304 1200 0 0 0 \
                    250 75 0 0 20 0 9 0 123 456 789";
        assert!((parse_stat_cpu(stat).unwrap() - 3.25).abs() < 1e-9);
        assert!(parse_stat_cpu("4242 (x) S 1").is_err());
    }

    #[test]
    fn reads_the_peak_resident_memory() {
        let status = "Name:\taidants-connect\nVmPeak:\t  900000 kB\nVmHWM:\t   49152 kB\n";
        assert_eq!(parse_status_hwm(status).unwrap(), 48.0);
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(cpu_seconds(me).unwrap() >= 0.0);
        assert!(peak_rss_mib(me).unwrap() > 1.0);
    }
}
