//! OTLP/gRPC (feature `grpc`): tonic clients of the LogsService, TraceService and
//! MetricsService on one lazily connected channel, driven by a single-threaded tokio runtime.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status};

use super::transport::{Accepted, Exporter, SendError};

/// An OTLP/gRPC endpoint.
pub struct Grpc {
    rt: tokio::runtime::Runtime,
    logs: LogsServiceClient<Channel>,
    traces: TraceServiceClient<Channel>,
    metrics: MetricsServiceClient<Channel>,
    headers: Vec<(
        MetadataKey<tonic::metadata::Ascii>,
        MetadataValue<tonic::metadata::Ascii>,
    )>,
    target: String,
}

/// The gRPC codes OTLP says to retry.
fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Cancelled
            | Code::DeadlineExceeded
            | Code::OutOfRange
            | Code::DataLoss
    )
}

impl Grpc {
    /// A channel to `url` (http or https); the error names what is wrong with the URL or a
    /// header.
    pub fn new(
        url: &str,
        headers: &[(String, String)],
        gzip: bool,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
    ) -> Result<Grpc, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the gRPC runtime: {e}"))?;
        let mut ep = Endpoint::from_shared(url.to_string())
            .map_err(|e| format!("`{url}` is not a gRPC endpoint URL: {e}"))?
            .timeout(timeout)
            .connect_timeout(timeout);
        if url.starts_with("https://") {
            let tls = match ca_pem {
                Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
                None => ClientTlsConfig::new().with_webpki_roots(),
            };
            ep = ep
                .tls_config(tls)
                .map_err(|e| format!("TLS for {url}: {e}"))?;
        }
        let channel = {
            let _in_runtime = rt.enter();
            ep.connect_lazy()
        };
        let mut logs = LogsServiceClient::new(channel.clone());
        let mut traces = TraceServiceClient::new(channel.clone());
        let mut metrics = MetricsServiceClient::new(channel);
        if gzip {
            logs = logs.send_compressed(CompressionEncoding::Gzip);
            traces = traces.send_compressed(CompressionEncoding::Gzip);
            metrics = metrics.send_compressed(CompressionEncoding::Gzip);
        }
        let headers = headers
            .iter()
            .map(|(k, v)| {
                let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                    .map_err(|_| format!("--header {k}: not a gRPC metadata key"))?;
                let value = MetadataValue::try_from(v.as_str())
                    .map_err(|_| format!("--header {k}: the value must be printable ASCII"))?;
                Ok((key, value))
            })
            .collect::<Result<_, String>>()?;
        Ok(Grpc {
            rt,
            logs,
            traces,
            metrics,
            headers,
            target: url.to_string(),
        })
    }

    fn request<T>(&self, msg: T) -> Request<T> {
        let mut r = Request::new(msg);
        for (k, v) in &self.headers {
            r.metadata_mut().insert(k.clone(), v.clone());
        }
        r
    }

    fn error(&self, what: &str, s: Status) -> SendError {
        SendError {
            retryable: retryable(s.code()),
            message: format!(
                "gRPC {what} to {}: {:?}: {}",
                self.target,
                s.code(),
                s.message()
            ),
            retry_after: None,
        }
    }
}

impl Exporter for Grpc {
    fn logs(&mut self, req: ExportLogsServiceRequest) -> Result<Accepted, SendError> {
        let r = self.request(req);
        let mut c = self.logs.clone();
        let resp = self
            .rt
            .block_on(c.export(r))
            .map_err(|s| self.error("logs", s))?;
        Ok(resp
            .into_inner()
            .partial_success
            .map_or_else(Accepted::default, |p| Accepted {
                rejected: p.rejected_log_records,
                message: p.error_message,
            }))
    }

    fn traces(&mut self, req: ExportTraceServiceRequest) -> Result<Accepted, SendError> {
        let r = self.request(req);
        let mut c = self.traces.clone();
        let resp = self
            .rt
            .block_on(c.export(r))
            .map_err(|s| self.error("traces", s))?;
        Ok(resp
            .into_inner()
            .partial_success
            .map_or_else(Accepted::default, |p| Accepted {
                rejected: p.rejected_spans,
                message: p.error_message,
            }))
    }

    fn metrics(&mut self, req: ExportMetricsServiceRequest) -> Result<Accepted, SendError> {
        let r = self.request(req);
        let mut c = self.metrics.clone();
        let resp = self
            .rt
            .block_on(c.export(r))
            .map_err(|s| self.error("metrics", s))?;
        Ok(resp
            .into_inner()
            .partial_success
            .map_or_else(Accepted::default, |p| Accepted {
                rejected: p.rejected_data_points,
                message: p.error_message,
            }))
    }
}
