//! Pure helpers: request parsing, chunk counting, /proc parsing, arguments, report rendering.

use llm_bench::args::{Args, ArgsError};
use llm_bench::load::{LoadReport, Percentiles, count_token_chunks};
use llm_bench::mock::{MockBodies, token_text, wants_stream};
use llm_bench::procstat::{parse_cpu_ticks, parse_vm_rss};
use llm_bench::report;
use llm_bench::runner::{BenchResults, Pair};

#[test]
fn stream_flag_is_detected_with_any_spacing() {
    assert!(wants_stream(br#"{"model":"m","stream":true}"#));
    assert!(wants_stream(br#"{"model":"m", "stream" : true}"#));
    assert!(!wants_stream(br#"{"model":"m","stream":false}"#));
    assert!(!wants_stream(br#"{"model":"m"}"#));
    assert!(!wants_stream(b"\"stream\""));
}

#[test]
fn mock_stream_frames_carry_one_countable_token_each() {
    let bodies = MockBodies::new(64);
    assert_eq!(count_token_chunks(&bodies.role_chunk), 0, "the role chunk has empty content");
    assert_eq!(count_token_chunks(&bodies.usage_chunk), 0);
    let all: Vec<u8> = bodies.token_chunks.iter().flat_map(|b| b.iter().copied()).collect();
    assert_eq!(count_token_chunks(&all), 64);
    let first = std::str::from_utf8(&bodies.token_chunks[0]).unwrap();
    assert!(first.starts_with("data: {") && first.ends_with("}\n\n") && first.contains(&token_text(0)));
    let usage: serde_json::Value =
        serde_json::from_str(std::str::from_utf8(&bodies.usage_chunk).unwrap().trim_start_matches("data: "))
            .unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], 64);
}

#[test]
fn completion_body_is_valid_openai_json_of_about_1_4_kb() {
    let bodies = MockBodies::new(1);
    let v: serde_json::Value = serde_json::from_slice(&bodies.completion).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert!((1300..1600).contains(&bodies.completion.len()), "{}", bodies.completion.len());
}

#[test]
fn proc_parsers_handle_odd_and_bad_input() {
    assert_eq!(parse_cpu_ticks("1 (a) R 0 0 0 0 0 0 0 0 0 0 3 4"), Some(7));
    assert_eq!(parse_cpu_ticks("garbage"), None);
    assert_eq!(parse_cpu_ticks("1 (a) R 0"), None);
    assert_eq!(parse_vm_rss("VmRSS:\tnot-a-number kB"), None);
    assert_eq!(parse_vm_rss(""), None);
}

#[test]
fn args_reject_bad_input() {
    assert_eq!(Args::parse(["oops".to_owned()], &[]), Err(ArgsError::Unexpected("oops".into())));
    let args = Args::parse(["--port".to_owned(), "x".to_owned()], &[]).unwrap();
    assert!(matches!(args.get::<u16>("port", 0), Err(ArgsError::Invalid { .. })));
    assert_eq!(args.get::<u16>("other", 7).unwrap(), 7);
}

fn sample_results() -> BenchResults {
    let report = |p50, p99| LoadReport {
        requests: 100,
        throughput: 1000.0,
        latency: Percentiles { count: 100, p50, p90: p50 + 5, p99, p999: p99 + 10, max: p99 + 20 },
        ..LoadReport::default()
    };
    BenchResults {
        concurrency1: Pair {
            label: "concurrency 1".into(),
            direct: report(40, 60),
            gateway: report(90, 130),
            relay: None,
            gateway_cpu_pct: 12.0,
            gateway_rss_kib: 10240,
        },
        max_gateway_rate: 12_000,
        rss_idle_kib: 8192,
        ..BenchResults::default()
    }
}

#[test]
fn markdown_shows_added_latency() {
    let md = report::markdown(&sample_results());
    assert!(
        md.contains("| concurrency 1 | 1000 | 40 / 60 / 80 | 90 / 130 / 150 | +50 / +70 / +70 |"),
        "{md}"
    );
    assert!(md.contains("**12000 req/s**"));
    assert!(md.contains("idle 8.0 MB"));
}

#[test]
fn markdown_shows_the_byte_relay_floor_where_it_was_measured() {
    let mut results = sample_results();
    let md = report::markdown(&results);
    assert!(md.contains("| +50 / +70 / +70 | – |"), "no relay run, no floor: {md}");
    let mut relay = results.concurrency1.direct.clone();
    relay.latency.p50 = 55;
    relay.latency.p99 = 98;
    relay.ttfb.p50 = 57;
    relay.ttfb.p99 = 101;
    results.concurrency1.relay = Some(relay.clone());
    results.single_stream = Pair { label: "one stream".into(), ..results.concurrency1.clone() };
    let md = report::markdown(&results);
    assert!(md.contains("| +50 / +70 / +70 | +15 / +38 |"), "{md}");
    assert_eq!(results.single_stream.relay_added_ttfb(), Some((57, 101)));
    assert!(md.contains("| one stream | 100 / 100 | +0 / +0 | +57 / +101 |"), "{md}");
    // Results written before the relay existed still load.
    let mut json = serde_json::to_value(sample_results()).unwrap();
    json["concurrency1"].as_object_mut().unwrap().remove("relay");
    let old: BenchResults = serde_json::from_value(json).unwrap();
    assert_eq!(old.concurrency1.relay, None);
}

#[test]
fn markdown_says_whether_idle_cpus_were_kept_awake() {
    let mut results = sample_results();
    results.cpuidle = "haltpoll / haltpoll".into();
    let md = report::markdown(&results);
    assert!(md.contains("CPU: unknown; idle driver: haltpoll / haltpoll; wake-up latency not held"), "{md}");
    results.cpu = "AMD EPYC × 2".into();
    let md = report::markdown(&results);
    assert!(md.contains("CPU: AMD EPYC × 2; idle driver: haltpoll"), "{md}");
    results.cpu_dma_latency_us = Some(0);
    let md = report::markdown(&results);
    assert!(md.contains("idle CPUs held at ≤ 0 µs wake-up latency"), "{md}");
    // Results written before these fields existed still load.
    let mut json = serde_json::to_value(sample_results()).unwrap();
    json.as_object_mut()
        .unwrap()
        .retain(|k, _| !["cpu_dma_latency_us", "cpuidle", "cpu"].contains(&k.as_str()));
    let old: BenchResults = serde_json::from_value(json).unwrap();
    assert_eq!(old.cpu_dma_latency_us, None);
    assert_eq!(old.cpu, "");
}

#[test]
fn chart_is_written_as_svg() {
    let path = std::env::temp_dir().join(format!("llm-bench-chart-{}.svg", std::process::id()));
    report::chart(&sample_results(), &path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(svg.starts_with("<svg") && svg.contains("concurrency 1"), "{}", &svg[..svg.len().min(200)]);
}

#[test]
fn markdown_reports_closed_loop_saturation_and_spaced_requests() {
    let mut results = sample_results();
    let step = |label: &str| Pair { label: label.into(), ..results.concurrency1.clone() };
    results.saturation_steps = vec![step("closed loop, concurrency 8")];
    results.spaced = step("spaced, 15 req/s");
    results.max_gateway_closed_throughput = 20_412.4;
    results.max_direct_closed_throughput = 52_001.0;
    let md = report::markdown(&results);
    assert!(md.contains("| closed loop, concurrency 8 | 1000 |"), "{md}");
    assert!(md.contains("| spaced, 15 req/s | 1000 |"), "{md}");
    assert!(md.contains("closed loop: gateway **20412 req/s**, direct 52001 req/s"), "{md}");
    // Results written before the closed-loop steps existed still load.
    let mut json = serde_json::to_value(sample_results()).unwrap();
    let fields =
        ["saturation_steps", "max_gateway_closed_throughput", "max_direct_closed_throughput", "spaced"];
    json.as_object_mut().unwrap().retain(|k, _| !fields.contains(&k.as_str()));
    let old: BenchResults = serde_json::from_value(json).unwrap();
    assert!(old.saturation_steps.is_empty());
}
