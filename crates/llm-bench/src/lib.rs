//! Performance harness for `llm-gateway`.
//!
//! - [`mock`]: a fast mock OpenAI upstream (precomputed ~1.4 KB body; paced SSE streams).
//! - [`load`]: a load generator (fixed-rate with coordinated-omission correction, closed loop, or
//!   concurrent streams) recording HDR histograms of latency, time to first byte and chunk gaps.
//! - [`relay`]: a byte relay with no HTTP parsing, the floor the gateway's added latency is
//!   compared with.
//! - [`runner`]: the scenarios behind `cargo xtask bench`, run direct-to-mock and through the gateway.
//! - [`report`]: markdown table and SVG chart; [`procstat`]: CPU and RSS from `/proc`.
//! - [`cpu_latency`]: optionally keeps idle CPUs polling during a run (`/dev/cpu_dma_latency`).
//!
//! Binaries: `llm-bench-mock`, `llm-bench-load`, `llm-bench-relay` and `llm-bench-run` (used by
//! `cargo xtask bench`).
#![deny(missing_docs)]

pub mod args;
pub mod cpu_latency;
pub mod load;
pub mod mock;
pub mod procstat;
pub mod relay;
pub mod report;
pub mod runner;
