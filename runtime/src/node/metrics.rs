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
}

impl Metrics {
    /// Fresh metrics of a node whose backend is `backend` (`cpu` or `gpu`).
    pub fn new(backend: &str) -> Self {
        // 0.25 ms to about 33 s, doubling.
        let latency = Family::<FunctionLabel, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.000_25, 2.0, 18))) as fn() -> Histogram,
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
