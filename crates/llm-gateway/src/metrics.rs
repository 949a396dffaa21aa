//! Prometheus counters, fed by the same spend records as the spend log.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use llm_cost::SpendRecord;

/// Latency histogram bounds, seconds.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Gateway-overhead histogram bounds, seconds (10 µs to 50 ms).
const OVERHEAD_BUCKETS: [f64; 10] =
    [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05];

/// A cumulative Prometheus histogram over fixed bounds.
#[derive(Clone, Copy)]
struct Histogram<const N: usize> {
    buckets: [u64; N],
    sum: f64,
    count: u64,
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Self {
        Self { buckets: [0; N], sum: 0.0, count: 0 }
    }
}

impl<const N: usize> Histogram<N> {
    fn observe(&mut self, bounds: &[f64; N], secs: f64) {
        self.sum += secs;
        self.count += 1;
        for (bound, count) in bounds.iter().zip(self.buckets.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64; N]) {
        for (bound, count) in bounds.iter().zip(self.buckets.iter()) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Series {
    requests: u64,
    failures: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    cached_tokens: u64,
    cache_hits: u64,
    spend_usd: f64,
    latency: Histogram<{ BUCKETS.len() }>,
    time_to_first_token: Histogram<{ BUCKETS.len() }>,
}

/// Counters by (model group, deployment, key hash).
#[derive(Default)]
pub(crate) struct Metrics {
    series: Mutex<BTreeMap<(String, String, String), Series>>,
    refusals: Mutex<BTreeMap<&'static str, u64>>,
    /// The gateway's own time per response, by deployment.
    overhead: Mutex<BTreeMap<String, Histogram<{ OVERHEAD_BUCKETS.len() }>>>,
}

impl Metrics {
    /// Counts a request refused by access control (`invalid_key`, `model_not_allowed`,
    /// `rpm_limit`, `budget`, …).
    pub(crate) fn refuse(&self, reason: &'static str) {
        *self.refusals.lock().unwrap_or_else(|p| p.into_inner()).entry(reason).or_default() += 1;
    }

    /// Records the gateway's own overhead for one response.
    pub(crate) fn observe_overhead(&self, deployment: &str, overhead: Duration) {
        let mut map = self.overhead.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(deployment) {
            Some(h) => h.observe(&OVERHEAD_BUCKETS, overhead.as_secs_f64()),
            None => {
                let mut h = Histogram::default();
                h.observe(&OVERHEAD_BUCKETS, overhead.as_secs_f64());
                map.insert(deployment.to_owned(), h);
            }
        }
    }

    pub(crate) fn observe(&self, r: &SpendRecord) {
        let key = (
            r.model.clone(),
            r.deployment.clone().unwrap_or_default(),
            r.caller.key_id.as_deref().map(|k| k.chars().take(12).collect()).unwrap_or_default(),
        );
        let mut map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let s = map.entry(key).or_default();
        s.requests += 1;
        if !r.status.is_success() {
            s.failures += 1;
        }
        if let Some(u) = &r.usage {
            s.prompt_tokens += u.prompt_tokens;
            s.completion_tokens += u.completion_tokens;
            s.cached_tokens += u.cached_tokens();
        }
        if r.cache_hit {
            s.cache_hits += 1;
        }
        if let Ok(c) = &r.cost {
            s.spend_usd += c.usd;
        }
        s.latency.observe(&BUCKETS, r.latency.as_secs_f64());
        if let Some(ttft) = r.time_to_first_token {
            s.time_to_first_token.observe(&BUCKETS, ttft.as_secs_f64());
        }
    }

    /// Prometheus text exposition format.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let name = "llm_gateway_refusals_total";
        let _ = writeln!(
            out,
            "# HELP {name} Requests refused by access control, by reason.\n# TYPE {name} counter"
        );
        for (reason, n) in self.refusals.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {n}");
        }
        let map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        type Get = fn(&Series) -> f64;
        let counters: [(&str, &str, Get); 7] = [
            ("llm_requests_total", "Requests, by model group, deployment and key.", |s| s.requests as f64),
            ("llm_failures_total", "Failed requests.", |s| s.failures as f64),
            ("llm_input_tokens_total", "Prompt tokens.", |s| s.prompt_tokens as f64),
            ("llm_output_tokens_total", "Completion tokens.", |s| s.completion_tokens as f64),
            ("llm_cached_tokens_total", "Cached prompt tokens.", |s| s.cached_tokens as f64),
            ("llm_cache_hits_total", "Responses served from the cache.", |s| s.cache_hits as f64),
            ("llm_spend_usd_total", "Spend in US dollars.", |s| s.spend_usd),
        ];
        for (name, help, get) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((model, dep, key), s) in map.iter() {
                let _ = writeln!(out, "{name}{{{}}} {}", labels(model, dep, key), get(s));
            }
        }
        type Hist = fn(&Series) -> &Histogram<{ BUCKETS.len() }>;
        let histograms: [(&str, &str, Hist); 2] = [
            ("llm_request_latency_seconds", "Request latency.", |s| &s.latency),
            ("llm_time_to_first_token_seconds", "Time to the first streamed chunk.", |s| {
                &s.time_to_first_token
            }),
        ];
        for (name, help, get) in histograms {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for ((model, dep, key), s) in map.iter() {
                get(s).render(&mut out, name, &labels(model, dep, key), &BUCKETS);
            }
        }
        let name = "llm_gateway_overhead_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} The gateway's own time per response (total minus upstream attempts).\n# TYPE {name} histogram"
        );
        for (dep, h) in self.overhead.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            h.render(&mut out, name, &format!("deployment=\"{}\"", escape(dep)), &OVERHEAD_BUCKETS);
        }
        out
    }
}

fn labels(model: &str, deployment: &str, key: &str) -> String {
    format!("model_group=\"{}\",deployment=\"{}\",key=\"{}\"", escape(model), escape(deployment), escape(key))
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use llm_core::{Caller, ErrorKind, Usage};
    use llm_cost::{CostUnknown, SpendStatus};

    use super::*;

    #[test]
    fn counts_and_renders() {
        let m = Metrics::default();
        let mut r = SpendRecord {
            request_id: None,
            model: "g\"x".into(),
            provider: None,
            deployment: Some("d".into()),
            caller: Caller::default(),
            tags: vec![],
            usage: Some(Usage::new(7, 3)),
            cost: Err(CostUnknown::NoUsage),
            latency: Duration::from_millis(30),
            time_to_first_token: None,
            status: SpendStatus::Success,
            started_at: SystemTime::now(),
            stream: false,
            cache_hit: false,
        };
        m.observe(&r);
        r.status = SpendStatus::Failed(ErrorKind::Timeout);
        m.observe(&r);
        m.refuse("rpm_limit");
        m.refuse("rpm_limit");
        let text = m.render();
        assert!(text.contains("llm_gateway_refusals_total{reason=\"rpm_limit\"} 2"), "{text}");
        let l = r#"model_group="g\"x",deployment="d",key="""#;
        assert!(text.contains(&format!("llm_requests_total{{{l}}} 2")), "{text}");
        assert!(text.contains(&format!("llm_failures_total{{{l}}} 1")), "{text}");
        assert!(text.contains(&format!("llm_input_tokens_total{{{l}}} 14")), "{text}");
        assert!(text.contains(&format!("llm_request_latency_seconds_bucket{{{l},le=\"0.05\"}} 2")), "{text}");
        assert!(
            text.contains(&format!("llm_request_latency_seconds_bucket{{{l},le=\"0.025\"}} 0")),
            "{text}"
        );
        assert!(text.contains(&format!("llm_time_to_first_token_seconds_count{{{l}}} 0")), "{text}");
    }

    #[test]
    fn time_to_first_token_and_overhead_histograms() {
        let m = Metrics::default();
        let r = SpendRecord {
            request_id: None,
            model: "g".into(),
            provider: None,
            deployment: Some("d".into()),
            caller: Caller::default(),
            tags: vec![],
            usage: None,
            cost: Err(CostUnknown::NoUsage),
            latency: Duration::from_millis(900),
            time_to_first_token: Some(Duration::from_millis(200)),
            status: SpendStatus::Success,
            started_at: SystemTime::now(),
            stream: true,
            cache_hit: false,
        };
        m.observe(&r);
        m.observe_overhead("d", Duration::from_micros(80));
        m.observe_overhead("d", Duration::from_micros(400));
        let text = m.render();
        let l = r#"model_group="g",deployment="d",key="""#;
        assert!(
            text.contains(&format!("llm_time_to_first_token_seconds_bucket{{{l},le=\"0.25\"}} 1")),
            "{text}"
        );
        assert!(
            text.contains(&format!("llm_time_to_first_token_seconds_bucket{{{l},le=\"0.1\"}} 0")),
            "{text}"
        );
        assert!(
            text.contains("llm_gateway_overhead_seconds_bucket{deployment=\"d\",le=\"0.0001\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("llm_gateway_overhead_seconds_bucket{deployment=\"d\",le=\"0.0005\"} 2"),
            "{text}"
        );
        assert!(text.contains("llm_gateway_overhead_seconds_count{deployment=\"d\"} 2"), "{text}");
    }
}
