//! What the kernel says about CPU time and memory, read from `/proc` (Linux only; elsewhere
//! every figure is `None`). CPU time comes from each thread's `sched` file (nanosecond
//! resolution), falling back to `stat` ticks (10 ms) where the kernel lacks it.

use std::fs;
use std::path::Path;

/// CPU seconds of one process, split by thread-name prefix.
#[derive(Debug, Clone, Default)]
pub struct ThreadTimes {
    /// (thread name, CPU seconds), one entry per live thread.
    pub threads: Vec<(String, f64)>,
}

impl ThreadTimes {
    /// Every live thread of `pid` (`"self"` for this process).
    pub fn of(pid: &str) -> Option<ThreadTimes> {
        let dir = Path::new("/proc").join(pid).join("task");
        let mut threads = Vec::new();
        for entry in fs::read_dir(dir).ok()? {
            let path = entry.ok()?.path();
            let name = fs::read_to_string(path.join("comm")).unwrap_or_default();
            if let Some(secs) = thread_cpu_secs(&path) {
                threads.push((name.trim_end().to_string(), secs));
            }
        }
        Some(ThreadTimes { threads })
    }

    /// Seconds used by threads whose name starts with `prefix`.
    pub fn named(&self, prefix: &str) -> f64 {
        self.threads
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, s)| s)
            .sum()
    }

    pub fn total(&self) -> f64 {
        self.threads.iter().map(|(_, s)| s).sum()
    }
}

fn thread_cpu_secs(task: &Path) -> Option<f64> {
    if let Ok(sched) = fs::read_to_string(task.join("sched")) {
        let runtime_ms = sched
            .lines()
            .find(|l| l.starts_with("se.sum_exec_runtime"))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse::<f64>().ok());
        if let Some(ms) = runtime_ms {
            return Some(ms / 1000.0);
        }
    }
    let stat = fs::read_to_string(task.join("stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after its closing paren are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLOCK_TICKS_PER_SEC)
}

/// USER_HZ: 100 on every Linux ABI we run on (the kernel fixes it for /proc's tick units).
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// Resident set size of `pid`, in bytes.
pub fn rss_bytes(pid: &str) -> Option<u64> {
    let status = fs::read_to_string(Path::new("/proc").join(pid).join("status")).ok()?;
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Machine-wide CPU seconds spent busy (all cores), from `/proc/stat`: the
/// difference of two readings, minus what this run used, is what other tenants took.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineTimes {
    pub busy_secs: f64,
}

impl MachineTimes {
    pub fn now() -> Option<MachineTimes> {
        let stat = fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?;
        let ticks: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal ...
        let total: f64 = ticks.iter().take(8).sum();
        let idle = ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0);
        Some(MachineTimes {
            busy_secs: (total - idle) / CLOCK_TICKS_PER_SEC,
        })
    }
}

/// Datagrams the kernel dropped machine-wide because a UDP socket's receive buffer was full
/// (`RcvbufErrors` in `/proc/net/snmp`, IPv4 and IPv6 summed).
pub fn udp_receive_buffer_drops() -> Option<u64> {
    let mut total = None;
    for file in ["/proc/net/snmp", "/proc/net/snmp6"] {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        if file.ends_with('6') {
            if let Some(v) = text
                .lines()
                .find(|l| l.starts_with("Udp6RcvbufErrors"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            {
                *total.get_or_insert(0) += v;
            }
            continue;
        }
        let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
        let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
            continue;
        };
        let at = names.split_whitespace().position(|n| n == "RcvbufErrors");
        if let Some(v) = at.and_then(|i| values.split_whitespace().nth(i)?.parse::<u64>().ok()) {
            *total.get_or_insert(0) += v;
        }
    }
    total
}

/// The number of CPUs this process may run on.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The CPU model line, for reports.
pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_threads_and_memory() {
        if !Path::new("/proc/self/task").exists() {
            return;
        }
        let times = ThreadTimes::of("self").unwrap();
        assert!(!times.threads.is_empty());
        assert!(rss_bytes("self").unwrap() > 0);
        assert!(MachineTimes::now().unwrap().busy_secs > 0.0);
    }
}
