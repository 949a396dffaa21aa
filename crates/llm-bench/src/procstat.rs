//! Reads a process's CPU time and RSS, and the machine's CPU model, from `/proc` (Linux; `None`
//! or empty elsewhere).

/// User plus system CPU time of `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat)
}

/// Parses `utime + stime` (fields 14 and 15) from a `/proc/<pid>/stat` line.
///
/// ```
/// let line = "42 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 1 0 100 0 0";
/// assert_eq!(llm_bench::procstat::parse_cpu_ticks(line), Some(175));
/// ```
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size of `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

/// Parses `VmRSS:` from a `/proc/<pid>/status` text.
///
/// ```
/// assert_eq!(llm_bench::procstat::parse_vm_rss("Name:\tx\nVmRSS:\t   9876 kB\n"), Some(9876));
/// ```
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 when unknown).
pub fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The machine's CPU model and how many CPUs it has (`/proc/cpuinfo`), e.g. `AMD EPYC × 2`;
/// empty when the kernel does not say.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo").map(|info| parse_cpu_model(&info)).unwrap_or_default()
}

/// Parses the first `model name` and the number of `processor` entries from a `/proc/cpuinfo`
/// text.
///
/// ```
/// let info = "processor\t: 0\nmodel name\t: AMD EPYC\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\n";
/// assert_eq!(llm_bench::procstat::parse_cpu_model(info), "AMD EPYC × 2");
/// assert_eq!(llm_bench::procstat::parse_cpu_model(""), "");
/// ```
pub fn parse_cpu_model(info: &str) -> String {
    let value = |line: &str, key: &str| {
        let (name, value) = line.split_once(':')?;
        (name.trim() == key).then(|| value.trim().to_owned())
    };
    let count = info.lines().filter(|l| value(l, "processor").is_some()).count();
    match info.lines().find_map(|l| value(l, "model name")) {
        Some(model) if count > 0 => format!("{model} × {count}"),
        Some(model) => model,
        None => String::new(),
    }
}
