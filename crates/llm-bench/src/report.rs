//! Renders benchmark results: a markdown table and an SVG latency chart.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use crate::runner::{BenchResults, Pair};

fn mib(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 / 1024.0)
}

fn added(gateway: u64, direct: u64) -> i64 {
    gateway as i64 - direct as i64
}

/// `+a / +b`, or a dash when the relay was not measured.
fn floor(added: Option<(i64, i64)>) -> String {
    added.map_or_else(|| "–".to_owned(), |(p50, p99)| format!("{p50:+} / {p99:+}"))
}

fn rate_row(out: &mut String, p: &Pair) {
    let _ = writeln!(
        out,
        "| {} | {:.0} | {} / {} / {} | {} / {} / {} | {:+} / {:+} / {:+} | {} | {} / {} | {} / {} | {:.0}% | {} |",
        p.label,
        p.gateway.throughput,
        p.direct.latency.p50,
        p.direct.latency.p99,
        p.direct.latency.max,
        p.gateway.latency.p50,
        p.gateway.latency.p99,
        p.gateway.latency.max,
        p.added_p50(),
        p.added_p99(),
        added(p.gateway.latency.max, p.direct.latency.max),
        floor(p.relay_added()),
        p.direct.errors,
        p.gateway.errors,
        p.direct.send_lag.p99,
        p.gateway.send_lag.p99,
        p.gateway_cpu_pct,
        mib(p.gateway_rss_kib),
    );
}

/// The results as markdown tables (latencies in µs).
pub fn markdown(r: &BenchResults) -> String {
    let mut out = String::new();
    if r.smoke {
        out.push_str("_Smoke run: tiny scale, figures are not meaningful._\n\n");
    }
    let _ = writeln!(
        out,
        "Load average (start → end): {} → {}; gateway pinned to one core: {}\n",
        r.load_average.first().map_or("?", String::as_str),
        r.load_average.last().map_or("?", String::as_str),
        if r.pinned { "yes" } else { "no" }
    );
    let idle = if r.cpuidle.is_empty() { "unknown" } else { r.cpuidle.as_str() };
    let cpu = if r.cpu.is_empty() { "unknown" } else { r.cpu.as_str() };
    let _ = match r.cpu_dma_latency_us {
        Some(us) => {
            writeln!(out, "CPU: {cpu}; idle driver: {idle}; idle CPUs held at ≤ {us} µs wake-up latency\n")
        }
        None => writeln!(out, "CPU: {cpu}; idle driver: {idle}; wake-up latency not held\n"),
    };
    out.push_str("| Request scenario | gateway req/s | direct p50 / p99 / max (µs) | gateway p50 / p99 / max (µs) | added p50 / p99 / max (µs) | byte relay added p50 / p99 (µs) | errors direct / gateway | generator lag p99 direct / gateway (µs) | gateway CPU | gateway RSS |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    rate_row(&mut out, &r.concurrency1);
    for p in r.fixed_rates.iter().chain(&r.max_throughput_steps) {
        rate_row(&mut out, p);
    }
    for p in r.saturation_steps.iter().chain(std::iter::once(&r.spaced)) {
        rate_row(&mut out, p);
    }
    let _ = writeln!(
        out,
        "\nMax throughput with p99 < 5 ms and no error: gateway (one core) **{} req/s**, direct-to-mock (harness ceiling) {} req/s at a fixed rate; closed loop: gateway **{:.0} req/s**, direct {:.0} req/s.\n",
        r.max_gateway_rate,
        r.max_direct_rate,
        r.max_gateway_closed_throughput,
        r.max_direct_closed_throughput
    );
    out.push_str("| Stream scenario | streams ok direct / gateway | TTFT p50 / p99 added (µs) | byte relay TTFT added p50 / p99 (µs) | chunk gap p99 direct / gateway (µs) | lost chunks direct / gateway | stalls direct / gateway | gateway CPU | gateway RSS |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for p in std::iter::once(&r.single_stream).chain(&r.concurrent_streams) {
        let _ = writeln!(
            out,
            "| {} | {} / {} | {:+} / {:+} | {} | {} / {} | {} / {} | {} / {} | {:.0}% | {} |",
            p.label,
            p.direct.requests - p.direct.errors,
            p.gateway.requests - p.gateway.errors,
            added(p.gateway.ttfb.p50, p.direct.ttfb.p50),
            added(p.gateway.ttfb.p99, p.direct.ttfb.p99),
            floor(p.relay_added_ttfb()),
            p.direct.chunk_gap.p99,
            p.gateway.chunk_gap.p99,
            p.direct.lost_chunks,
            p.gateway.lost_chunks,
            p.direct.stalls,
            p.gateway.stalls,
            p.gateway_cpu_pct,
            mib(p.gateway_rss_kib),
        );
    }
    let _ = writeln!(
        out,
        "\nThe byte relay (`llm-bench-relay`, on the gateway's CPU) copies bytes between the client and the mock without parsing them: its added latency is this machine's floor for the extra hops, and the gateway's own work is what it adds above that.\n"
    );
    let _ = writeln!(
        out,
        "Paced streams: 64 token chunks every {} ms; a stall is a gap above 10x the interval.\n",
        r.paced_interval_ms
    );
    let _ = writeln!(
        out,
        "Gateway RSS: idle {}, at 1,000 streams {}, {} s after the load {}.",
        mib(r.rss_idle_kib),
        mib(r.rss_1k_streams_kib),
        r.rss_after_wait_s,
        mib(r.rss_after_kib)
    );
    out
}

/// Latency percentiles (p50 … max) of the concurrency-1 scenario, direct vs gateway.
pub fn percentile_series(p: &Pair) -> [(&'static str, u64, u64); 5] {
    let (d, g) = (&p.direct.latency, &p.gateway.latency);
    [
        ("p50", d.p50, g.p50),
        ("p90", d.p90, g.p90),
        ("p99", d.p99, g.p99),
        ("p99.9", d.p999, g.p999),
        ("max", d.max, g.max),
    ]
}

/// Writes an SVG chart of latency percentiles, direct vs gateway, for concurrency 1 and every rate.
pub fn chart(r: &BenchResults, path: &Path) -> std::io::Result<()> {
    let to_io = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let pairs: Vec<&Pair> = std::iter::once(&r.concurrency1).chain(&r.fixed_rates).collect();
    let ymax =
        pairs.iter().flat_map(|p| percentile_series(p)).map(|(_, d, g)| d.max(g)).max().unwrap_or(1).max(10)
            as f64
            * 2.0;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| to_io(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Latency percentiles: direct (dashed) vs through llm-gateway (solid)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..4f64, (1f64..ymax).log_scale())
        .map_err(|e| to_io(&e))?;
    let names = ["p50", "p90", "p99", "p99.9", "max"];
    chart
        .configure_mesh()
        .x_labels(5)
        .x_label_formatter(&|x| names.get(x.round() as usize).map_or(String::new(), |s| (*s).to_owned()))
        .y_desc("latency (µs, log)")
        .draw()
        .map_err(|e| to_io(&e))?;
    for (i, p) in pairs.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let series = percentile_series(p);
        let gateway: Vec<(f64, f64)> =
            series.iter().enumerate().map(|(x, (_, _, g))| (x as f64, (*g).max(1) as f64)).collect();
        let direct: Vec<(f64, f64)> =
            series.iter().enumerate().map(|(x, (_, d, _))| (x as f64, (*d).max(1) as f64)).collect();
        chart
            .draw_series(LineSeries::new(gateway, color.stroke_width(2)))
            .map_err(|e| to_io(&e))?
            .label(p.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        chart
            .draw_series(DashedLineSeries::new(direct, 6, 4, color.stroke_width(1)))
            .map_err(|e| to_io(&e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| to_io(&e))?;
    root.present().map_err(|e| to_io(&e))?;
    Ok(())
}
