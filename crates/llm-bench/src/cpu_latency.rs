//! Keeping idle CPUs awake during a run: a Linux PM QoS request on `/dev/cpu_dma_latency`.
//!
//! On a VM whose idle driver halts the vCPU (`haltpoll` with polling off, say), every write that
//! wakes the other side pays an inter-processor interrupt of tens of µs, which dominates the
//! added latency at low load. Writing a maximum wake-up latency of 0 µs to
//! `/dev/cpu_dma_latency` keeps idle CPUs in their shallowest state (polling) for as long as the
//! file stays open — what `tuned`'s `latency-performance` profile does. Needs root.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;

/// The kernel's CPU wake-up latency request file.
pub const DEVICE: &str = "/dev/cpu_dma_latency";

/// A CPU wake-up latency request, held until dropped (closing the file ends it).
#[derive(Debug)]
pub struct CpuLatencyHold {
    _file: File,
    /// The maximum wake-up latency requested (µs).
    pub max_us: i32,
}

impl CpuLatencyHold {
    /// Requests at most `max_us` µs of wake-up latency by writing it (as the 4-byte native-endian
    /// integer the kernel expects) to `path`, normally [`DEVICE`].
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("cpu-latency-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// # let path = dir.join("cpu_dma_latency");
    /// # std::fs::write(&path, b"").unwrap();
    /// use llm_bench::cpu_latency::CpuLatencyHold;
    /// let hold = CpuLatencyHold::acquire(&path, 0).unwrap();
    /// assert_eq!(hold.max_us, 0);
    /// assert_eq!(std::fs::read(&path).unwrap(), 0i32.to_ne_bytes());
    /// ```
    pub fn acquire(path: &Path, max_us: i32) -> std::io::Result<Self> {
        let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
        file.write_all(&max_us.to_ne_bytes())?;
        Ok(Self { _file: file, max_us })
    }
}

/// The CPU idle driver and governor in use (`/sys/devices/system/cpu/cpuidle`), e.g.
/// `haltpoll / haltpoll`; empty when the kernel does not say.
pub fn idle_driver() -> String {
    let read = |name: &str| {
        std::fs::read_to_string(format!("/sys/devices/system/cpu/cpuidle/{name}"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let (driver, governor) = (read("current_driver"), read("current_governor_ro"));
    let governor = if governor.is_empty() { read("current_governor") } else { governor };
    match (driver.is_empty(), governor.is_empty()) {
        (true, true) => String::new(),
        _ => format!("{driver} / {governor}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_written_as_a_native_endian_integer() {
        let dir = std::env::temp_dir().join(format!("cpu-latency-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("device");
        std::fs::write(&path, b"").unwrap();
        let hold = CpuLatencyHold::acquire(&path, 20).unwrap();
        assert_eq!(hold.max_us, 20);
        assert_eq!(std::fs::read(&path).unwrap(), 20i32.to_ne_bytes());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_device_is_an_error_not_a_silent_run() {
        let err = CpuLatencyHold::acquire(Path::new("/nonexistent/cpu_dma_latency"), 0).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
