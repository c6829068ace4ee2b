//! Prometheus metrics: request counts and latencies by route, documents and tokens scored, the
//! model version served, reload outcomes and what the HTTP layer and connection wrapper refuse.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// All of the service's metrics, registered in their own registry.
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub documents: IntCounter,
    pub tokens: IntCounter,
    /// Documents scored `on_topic: false`.
    pub off_topic: IntCounter,
    /// Documents scored with `insufficient_evidence`.
    pub insufficient_evidence: IntCounter,
    pub model_info: IntGaugeVec,
    pub reloads: IntCounterVec,
    /// Heavy requests refused with 429 because the admission bound was reached.
    pub shed: IntCounter,
    /// Responses the HTTP layer sent before any route ran (a malformed request, a request head
    /// too slow or too large), by status: `requests` never sees them.
    pub http_layer: IntCounterVec,
    /// Connections closed because no byte of a response could be written for
    /// `--write-timeout`: a client that stops reading would otherwise hold its slot for good.
    pub write_timeouts: IntCounter,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "stance_http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "stance_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route"],
        )
        .expect("valid metric");
        let documents = IntCounter::new("stance_documents_scored_total", "Documents scored")
            .expect("valid metric");
        let tokens = IntCounter::new("stance_tokens_scored_total", "Tokens in scored documents")
            .expect("valid metric");
        let off_topic = IntCounter::new(
            "stance_off_topic_total",
            "Documents scored as not about the open-versus-closed models debate",
        )
        .expect("valid metric");
        let insufficient_evidence = IntCounter::new(
            "stance_insufficient_evidence_total",
            "Documents whose score rests on too little evidence",
        )
        .expect("valid metric");
        let model_info = IntGaugeVec::new(
            Opts::new(
                "stance_model_info",
                "The model version being served (value 1)",
            ),
            &["version"],
        )
        .expect("valid metric");
        let reloads = IntCounterVec::new(
            Opts::new("stance_model_reloads_total", "Model reloads by result"),
            &["result"],
        )
        .expect("valid metric");
        let shed = IntCounter::new(
            "stance_shed_requests_total",
            "Heavy requests refused with 429 because --max-heavy were already in flight",
        )
        .expect("valid metric");
        let http_layer = IntCounterVec::new(
            Opts::new(
                "stance_http_layer_responses_total",
                "Error responses sent before any route ran (malformed request 400, request-head \
                 timeout 408, URI too long 414, head too large 431), by status",
            ),
            &["status"],
        )
        .expect("valid metric");
        let write_timeouts = IntCounter::new(
            "stance_write_timeouts_total",
            "Connections closed because no byte of a response could be written within \
             --write-timeout (the client stopped reading)",
        )
        .expect("valid metric");
        for c in [
            Box::new(shed.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_layer.clone()),
            Box::new(write_timeouts.clone()),
            Box::new(super::telemetry::LOG_LINES_DROPPED.clone()),
            Box::new(requests.clone()),
            Box::new(latency.clone()),
            Box::new(documents.clone()),
            Box::new(tokens.clone()),
            Box::new(off_topic.clone()),
            Box::new(insufficient_evidence.clone()),
            Box::new(model_info.clone()),
            Box::new(reloads.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        for r in ["success", "failure"] {
            reloads.with_label_values(&[r]);
        }
        Metrics {
            registry,
            requests,
            latency,
            documents,
            tokens,
            off_topic,
            insufficient_evidence,
            model_info,
            reloads,
            shed,
            http_layer,
            write_timeouts,
        }
    }

    /// Marks `version` as the one served.
    pub fn set_model(&self, version: &str) {
        self.model_info.reset();
        self.model_info.with_label_values(&[version]).set(1);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
