//! `/metrics`: the node's Prometheus text exposition (prometheus-client): calls by
//! function and status, call latency, fuel and ops, the executor that ran each call,
//! queue depth and calls in flight, and function-cache hits.

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, prometheus_text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A function name as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FunctionLabel {
    function: String,
}

/// A call's function and how it ended (`ok` or the error code).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    function: String,
    status: String,
}

/// The executor that ran a call's models.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabel {
    backend: String,
}

/// A function-cache lookup's result: `hit` or `miss`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabel {
    result: String,
}

/// A spot-check's peer and result (`match`, `mismatch`, `error`, `skipped`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SpotLabels {
    peer: String,
    result: String,
}

/// How a dispute this node refereed ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DisputeLabels {
    winner: String,
    reason: String,
}

/// Why an op trace was run: `commit` (a challenger asked) or `capture` (to hand over
/// leaf tensors).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TraceLabel {
    purpose: String,
}

/// The node's metrics and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    latency: Family<FunctionLabel, Histogram>,
    fuel: Family<FunctionLabel, Counter>,
    ops: Family<FunctionLabel, Counter>,
    executed: Family<BackendLabel, Counter>,
    cache: Family<CacheLabel, Counter>,
    in_flight: Gauge<i64, AtomicI64>,
    queued: Gauge<i64, AtomicI64>,
    backend: Family<BackendLabel, Gauge<i64, AtomicI64>>,
    spot_checks: Family<SpotLabels, Counter>,
    disputes: Family<DisputeLabels, Counter>,
    dispute_rounds: Histogram,
    traces: Family<TraceLabel, Counter>,
    trace_duration: Family<TraceLabel, Histogram>,
}

impl Metrics {
    /// Fresh metrics of a node whose backend is `backend` (`cpu` or `gpu`).
    pub fn new(backend: &str) -> Self {
        // 0.25 ms to about 33 s, doubling.
        let latency = Family::<FunctionLabel, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.000_25, 2.0, 18))) as fn() -> Histogram,
        );
        let trace_duration = Family::<TraceLabel, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 2.0, 18))) as fn() -> Histogram,
        );
        let metrics = Metrics {
            registry: Registry::with_prefix("wasmnn"),
            calls: Family::default(),
            latency,
            fuel: Family::default(),
            ops: Family::default(),
            executed: Family::default(),
            cache: Family::default(),
            in_flight: Gauge::default(),
            queued: Gauge::default(),
            backend: Family::default(),
            spot_checks: Family::default(),
            disputes: Family::default(),
            dispute_rounds: Histogram::new(exponential_buckets(1.0, 2.0, 8)),
            traces: Family::default(),
            trace_duration,
        };
        metrics.backend.get_or_create(&BackendLabel { backend: backend.to_owned() }).set(1);
        metrics.registered()
    }

    /// Registers every metric with the registry.
    fn registered(mut self) -> Self {
        let registry = &mut self.registry;
        registry.register("calls", "Calls by function and status (ok or the error code)", self.calls.clone());
        registry.register("call_duration_seconds", "Wall time of calls, admission to answer", self.latency.clone());
        registry.register("call_fuel", "Fuel used by successful calls", self.fuel.clone());
        registry.register("call_ops", "Graph ops executed by successful calls", self.ops.clone());
        registry.register("executor_calls", "Successful calls by the executor that ran them", self.executed.clone());
        registry.register("function_cache_lookups", "Loaded-function cache lookups", self.cache.clone());
        registry.register("calls_in_flight", "Calls running on a worker", self.in_flight.clone());
        registry.register("queue_depth", "Calls admitted and waiting for a worker", self.queued.clone());
        registry.register(
            "backend",
            "The executor this node runs models on (1 for the one in use)",
            self.backend.clone(),
        );
        registry.register("spot_checks", "Peers' receipts re-executed, by peer and result", self.spot_checks.clone());
        registry.register("disputes", "Disputes this node refereed, by winner and reason", self.disputes.clone());
        registry.register(
            "dispute_rounds",
            "Protocol rounds of the disputes this node refereed",
            self.dispute_rounds.clone(),
        );
        registry.register("trace_runs", "Op-traced runs of calls, by purpose", self.traces.clone());
        registry.register(
            "trace_duration_seconds",
            "Wall time of op-traced runs, by purpose",
            self.trace_duration.clone(),
        );
        self
    }

    /// Records a finished call: its status, and for a successful one its fuel, ops and
    /// executor.
    pub fn call(&self, function: &str, status: &str, elapsed: Duration, done: Option<(u64, u64, &str)>) {
        let labels = CallLabels { function: function.to_owned(), status: status.to_owned() };
        self.calls.get_or_create(&labels).inc();
        let function = FunctionLabel { function: function.to_owned() };
        self.latency.get_or_create(&function).observe(elapsed.as_secs_f64());
        if let Some((fuel, ops, backend)) = done {
            self.fuel.get_or_create(&function).inc_by(fuel);
            self.ops.get_or_create(&function).inc_by(ops);
            self.executed.get_or_create(&BackendLabel { backend: backend.to_owned() }).inc();
        }
    }

    /// Records a spot-check of `peer`'s receipt that ended with `result`.
    pub fn spot_check(&self, peer: &str, result: &str) {
        self.spot_checks.get_or_create(&SpotLabels { peer: peer.to_owned(), result: result.to_owned() }).inc();
    }

    /// Records a dispute this node refereed.
    pub fn dispute(&self, verdict: &crate::dispute::verdict::SignedVerdict) {
        let stated = verdict.value();
        let labels = DisputeLabels { winner: serde_name(&stated.winner), reason: serde_name(&stated.reason) };
        self.disputes.get_or_create(&labels).inc();
        self.dispute_rounds.observe(f64::from(stated.rounds));
    }

    /// Records an op-traced run for `purpose` that took `elapsed`.
    pub fn trace_run(&self, purpose: &str, elapsed: Duration) {
        let label = TraceLabel { purpose: purpose.to_owned() };
        self.traces.get_or_create(&label).inc();
        self.trace_duration.get_or_create(&label).observe(elapsed.as_secs_f64());
    }

    /// Records a function-cache lookup.
    pub fn cache_lookup(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache.get_or_create(&CacheLabel { result: result.to_owned() }).inc();
    }

    /// The text exposition, with the queue gauges set to `in_flight` and `queued` first.
    pub fn encode(&self, in_flight: usize, queued: usize) -> Result<String, std::fmt::Error> {
        self.in_flight.set(i64::try_from(in_flight).unwrap_or(i64::MAX));
        self.queued.set(i64::try_from(queued).unwrap_or(i64::MAX));
        let mut text = String::new();
        prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The name a unit enum variant serializes to (`challenger`, `op_recomputed`).
fn serde_name(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
