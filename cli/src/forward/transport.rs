//! What the run loop needs of an OTLP transport (HTTP/protobuf or gRPC): send one export
//! request, and say whether a failure may be retried.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

/// Why an export failed.
#[derive(Debug)]
pub struct SendError {
    /// 429, 502, 503, 504, UNAVAILABLE and the like, and connection failures: try again.
    pub retryable: bool,
    /// What happened, for the status line.
    pub message: String,
    /// How long the endpoint asked us to wait (Retry-After, RetryInfo).
    pub retry_after: Option<Duration>,
}

/// What the endpoint accepted: the records it says it rejected (`partial_success`). OTLP says
/// a partial success must not be retried: the rejected records are counted and reported.
#[derive(Debug, Default)]
pub struct Accepted {
    /// Records (or spans, or data points) the endpoint rejected.
    pub rejected: i64,
    /// Its reason.
    pub message: String,
}

/// One OTLP transport.
pub trait Exporter {
    /// Sends log records.
    fn logs(&mut self, req: ExportLogsServiceRequest) -> Result<Accepted, SendError>;
    /// Sends spans.
    fn traces(&mut self, req: ExportTraceServiceRequest) -> Result<Accepted, SendError>;
    /// Sends metrics.
    fn metrics(&mut self, req: ExportMetricsServiceRequest) -> Result<Accepted, SendError>;
}

/// The HTTP statuses OTLP/HTTP says to retry.
pub fn http_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}
