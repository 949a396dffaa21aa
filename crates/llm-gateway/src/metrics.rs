//! Prometheus counters, fed by the same spend records as the spend log.
//!
//! Recording takes no lock: series live in a [`Registry`] read through an atomic snapshot, and
//! every counter is an atomic. Only the first record of a new series (model group, deployment,
//! key) copies the registry's map under a mutex.

use std::fmt::Write as _;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use arc_swap::ArcSwap;
use hashbrown::{Equivalent, HashMap};
use llm_cost::SpendRecord;

/// Latency histogram bounds, seconds.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Gateway-overhead histogram bounds, seconds (10 µs to 50 ms).
const OVERHEAD_BUCKETS: [f64; 10] =
    [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05];

/// Characters of the key hash shown in the `key` label.
const KEY_LABEL_CHARS: usize = 12;

/// An `f64` sum kept as bits in an [`AtomicU64`].
#[derive(Default)]
struct AtomicSum(AtomicU64);

impl AtomicSum {
    fn add(&self, value: f64) {
        let _ = self.0.fetch_update(Relaxed, Relaxed, |bits| Some((f64::from_bits(bits) + value).to_bits()));
    }

    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }
}

/// A Prometheus histogram over fixed bounds: one atomic per bucket (not cumulative; rendering
/// sums them), the count above the last bound, and the sum.
struct Histogram<const N: usize> {
    buckets: [AtomicU64; N],
    above: AtomicU64,
    sum: AtomicSum,
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            above: AtomicU64::new(0),
            sum: AtomicSum::default(),
        }
    }
}

impl<const N: usize> Histogram<N> {
    fn observe(&self, bounds: &[f64; N], secs: f64) {
        self.sum.add(secs);
        match bounds.iter().position(|bound| secs <= *bound) {
            Some(i) => self.buckets[i].fetch_add(1, Relaxed),
            None => self.above.fetch_add(1, Relaxed),
        };
    }

    /// The count is the buckets' total, so `+Inf` always equals `_count`.
    fn render(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64; N]) {
        let mut cumulative = 0;
        for (bound, count) in bounds.iter().zip(self.buckets.iter()) {
            cumulative += count.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let count = cumulative + self.above.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum.get());
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

#[derive(Default)]
struct Series {
    requests: AtomicU64,
    failures: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    cached_tokens: AtomicU64,
    cache_hits: AtomicU64,
    spend_usd: AtomicSum,
    latency: Histogram<{ BUCKETS.len() }>,
    time_to_first_token: Histogram<{ BUCKETS.len() }>,
}

/// A series' labels: model group, deployment, key hash prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct SeriesKey {
    model: Box<str>,
    deployment: Box<str>,
    key: Box<str>,
}

/// A [`SeriesKey`] borrowed from a record, to look a series up without allocating (hashes
/// exactly as the owned key: the same `str`s in the same order).
#[derive(Hash)]
struct SeriesLabels<'a> {
    model: &'a str,
    deployment: &'a str,
    key: &'a str,
}

impl Equivalent<SeriesKey> for SeriesLabels<'_> {
    fn equivalent(&self, key: &SeriesKey) -> bool {
        *self.model == *key.model && *self.deployment == *key.deployment && *self.key == *key.key
    }
}

/// A map that is read without locking: readers load the current snapshot; adding an entry
/// copies the map under a mutex and publishes the copy (entries are added once and never
/// removed, so copies stay rare).
struct Registry<K, V> {
    map: ArcSwap<HashMap<K, std::sync::Arc<V>>>,
    adding: Mutex<()>,
}

impl<K, V> Default for Registry<K, V> {
    fn default() -> Self {
        Self { map: ArcSwap::from_pointee(HashMap::new()), adding: Mutex::new(()) }
    }
}

impl<K: Hash + Eq + Clone, V: Default> Registry<K, V> {
    /// Runs `f` on the entry for `key`, adding it (with `owned()` as its key) when missing.
    fn with<Q>(&self, key: &Q, owned: impl FnOnce() -> K, f: impl FnOnce(&V))
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        if let Some(value) = self.map.load().get(key) {
            return f(value);
        }
        let _adding = self.adding.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.map.load_full();
        let value = match current.get(key) {
            Some(value) => std::sync::Arc::clone(value),
            None => {
                let value = std::sync::Arc::new(V::default());
                let mut next = (*current).clone();
                next.insert(owned(), std::sync::Arc::clone(&value));
                self.map.store(std::sync::Arc::new(next));
                value
            }
        };
        f(&value)
    }

    /// The entries, sorted by key.
    fn sorted(&self) -> Vec<(K, std::sync::Arc<V>)>
    where
        K: Ord,
    {
        let mut entries: Vec<_> =
            self.map.load().iter().map(|(k, v)| (k.clone(), std::sync::Arc::clone(v))).collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    }
}

/// Counters by (model group, deployment, key hash).
#[derive(Default)]
pub(crate) struct Metrics {
    series: Registry<SeriesKey, Series>,
    refusals: Registry<&'static str, AtomicU64>,
    /// The gateway's own time per response, by deployment.
    overhead: Registry<Box<str>, Histogram<{ OVERHEAD_BUCKETS.len() }>>,
}

impl Metrics {
    /// Counts a request refused by access control (`invalid_key`, `model_not_allowed`,
    /// `rpm_limit`, `budget`, …).
    pub(crate) fn refuse(&self, reason: &'static str) {
        self.refusals.with(
            reason,
            || reason,
            |n| {
                n.fetch_add(1, Relaxed);
            },
        );
    }

    /// Records the gateway's own overhead for one response.
    pub(crate) fn observe_overhead(&self, deployment: &str, overhead: Duration) {
        self.overhead.with(
            deployment,
            || deployment.into(),
            |h| h.observe(&OVERHEAD_BUCKETS, overhead.as_secs_f64()),
        );
    }

    pub(crate) fn observe(&self, r: &SpendRecord) {
        let key = r.caller.key_id.as_deref().unwrap_or_default();
        let key = key.char_indices().nth(KEY_LABEL_CHARS).map_or(key, |(end, _)| &key[..end]);
        let labels =
            SeriesLabels { model: &r.model, deployment: r.deployment.as_deref().unwrap_or_default(), key };
        let owned = || SeriesKey {
            model: labels.model.into(),
            deployment: labels.deployment.into(),
            key: key.into(),
        };
        self.series.with(&labels, owned, |s| {
            s.requests.fetch_add(1, Relaxed);
            if !r.status.is_success() {
                s.failures.fetch_add(1, Relaxed);
            }
            if let Some(u) = &r.usage {
                s.prompt_tokens.fetch_add(u.prompt_tokens, Relaxed);
                s.completion_tokens.fetch_add(u.completion_tokens, Relaxed);
                s.cached_tokens.fetch_add(u.cached_tokens(), Relaxed);
            }
            if r.cache_hit {
                s.cache_hits.fetch_add(1, Relaxed);
            }
            if let Ok(c) = &r.cost {
                s.spend_usd.add(c.usd);
            }
            s.latency.observe(&BUCKETS, r.latency.as_secs_f64());
            if let Some(ttft) = r.time_to_first_token {
                s.time_to_first_token.observe(&BUCKETS, ttft.as_secs_f64());
            }
        });
    }

    /// Prometheus text exposition format.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let name = "llm_gateway_refusals_total";
        let _ = writeln!(
            out,
            "# HELP {name} Requests refused by access control, by reason.\n# TYPE {name} counter"
        );
        for (reason, n) in self.refusals.sorted() {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {}", n.load(Relaxed));
        }
        let series = self.series.sorted();
        let labelled: Vec<(String, &Series)> =
            series.iter().map(|(k, s)| (labels(&k.model, &k.deployment, &k.key), &**s)).collect();
        type Get = fn(&Series) -> f64;
        let counters: [(&str, &str, Get); 7] = [
            ("llm_requests_total", "Requests, by model group, deployment and key.", |s| {
                s.requests.load(Relaxed) as f64
            }),
            ("llm_failures_total", "Failed requests.", |s| s.failures.load(Relaxed) as f64),
            ("llm_input_tokens_total", "Prompt tokens.", |s| s.prompt_tokens.load(Relaxed) as f64),
            ("llm_output_tokens_total", "Completion tokens.", |s| s.completion_tokens.load(Relaxed) as f64),
            ("llm_cached_tokens_total", "Cached prompt tokens.", |s| s.cached_tokens.load(Relaxed) as f64),
            ("llm_cache_hits_total", "Responses served from the cache.", |s| {
                s.cache_hits.load(Relaxed) as f64
            }),
            ("llm_spend_usd_total", "Spend in US dollars.", |s| s.spend_usd.get()),
        ];
        for (name, help, get) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, s) in &labelled {
                let _ = writeln!(out, "{name}{{{labels}}} {}", get(s));
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
            for (labels, s) in &labelled {
                get(s).render(&mut out, name, labels, &BUCKETS);
            }
        }
        let name = "llm_gateway_overhead_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} The gateway's own time per response (total minus upstream attempts).\n# TYPE {name} histogram"
        );
        for (dep, h) in self.overhead.sorted() {
            h.render(&mut out, name, &format!("deployment=\"{}\"", escape(&dep)), &OVERHEAD_BUCKETS);
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

    /// A successful call of `g` on deployment `d`, with no usage.
    fn record() -> SpendRecord {
        SpendRecord {
            request_id: None,
            model: "g".into(),
            provider: None,
            deployment: Some("d".into()),
            caller: Caller::default(),
            tags: vec![],
            usage: None,
            cost: Err(CostUnknown::NoUsage),
            latency: Duration::from_millis(30),
            time_to_first_token: None,
            status: SpendStatus::Success,
            started_at: SystemTime::now(),
            stream: false,
            cache_hit: false,
        }
    }

    #[test]
    fn counts_and_renders() {
        let m = Metrics::default();
        let mut r = SpendRecord { model: "g\"x".into(), usage: Some(Usage::new(7, 3)), ..record() };
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
            latency: Duration::from_millis(900),
            time_to_first_token: Some(Duration::from_millis(200)),
            stream: true,
            ..record()
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

    #[test]
    fn concurrent_records_are_all_counted() {
        const THREADS: usize = 4;
        const EACH: usize = 2_000;
        let m = std::sync::Arc::new(Metrics::default());
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let m = std::sync::Arc::clone(&m);
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        // Every thread creates the same new series at once, and one of its own.
                        let group = if i % 2 == 0 { "shared".to_owned() } else { format!("own-{t}") };
                        let r = SpendRecord {
                            model: group,
                            caller: Caller { key_id: Some("0123456789abcdef".into()), ..Caller::default() },
                            usage: Some(Usage::new(1, 2)),
                            latency: Duration::from_millis(1),
                            ..record()
                        };
                        m.observe(&r);
                        m.observe_overhead("d", Duration::from_micros(20));
                        m.refuse("rpm_limit");
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let text = m.render();
        let shared = r#"model_group="shared",deployment="d",key="0123456789ab""#;
        assert!(text.contains(&format!("llm_requests_total{{{shared}}} {}", THREADS * EACH / 2)), "{text}");
        assert!(text.contains(&format!("llm_output_tokens_total{{{shared}}} {}", THREADS * EACH)), "{text}");
        for t in 0..THREADS {
            let own = format!(r#"model_group="own-{t}",deployment="d",key="0123456789ab""#);
            assert!(text.contains(&format!("llm_requests_total{{{own}}} {}", EACH / 2)), "{text}");
        }
        let all = THREADS * EACH;
        assert!(
            text.contains(&format!("llm_gateway_refusals_total{{reason=\"rpm_limit\"}} {all}")),
            "{text}"
        );
        assert!(
            text.contains(&format!("llm_gateway_overhead_seconds_count{{deployment=\"d\"}} {all}")),
            "{text}"
        );
    }
}
