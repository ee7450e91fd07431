//! OTLP/HTTP with protobuf bodies: POST to `/v1/logs`, `/v1/traces`, `/v1/metrics` under the
//! endpoint, gzip-compressed on request, TLS (rustls, the web's root certificates) for https.

use std::io::Write;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use super::transport::{http_retryable, Accepted, Exporter, SendError};

/// An OTLP/HTTP endpoint.
pub struct Http {
    agent: ureq::Agent,
    base: String,
    headers: Vec<(String, String)>,
    gzip: bool,
}

impl Http {
    /// The endpoint at `base` (scheme, host, port and an optional path prefix); `ca_pem`: the
    /// only certificates to trust for https (else the web's roots).
    pub fn new(
        base: &str,
        headers: Vec<(String, String)>,
        gzip: bool,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
    ) -> Result<Http, String> {
        let mut config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false);
        if let Some(pem) = ca_pem {
            let certs = ureq::tls::parse_pem(pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("--ca-file: not PEM certificates: {e}"))?;
            if certs.is_empty() {
                return Err("--ca-file: no PEM certificate in it".into());
            }
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                    .build(),
            );
        }
        let agent: ureq::Agent = config.build().into();
        Ok(Http {
            agent,
            base: base.trim_end_matches('/').to_string(),
            headers,
            gzip,
        })
    }

    fn post(&mut self, path: &str, body: Vec<u8>) -> Result<Vec<u8>, SendError> {
        let url = format!("{}{path}", self.base);
        let body = if self.gzip {
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&body)
                .and_then(|()| z.finish())
                .map_err(|e| SendError {
                    retryable: false,
                    message: format!("gzip: {e}"),
                    retry_after: None,
                })?
        } else {
            body
        };
        let mut req = self
            .agent
            .post(&url)
            .header("Content-Type", "application/x-protobuf");
        if self.gzip {
            req = req.header("Content-Encoding", "gzip");
        }
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.send(&body[..]).map_err(|e| SendError {
            // Connection refused, DNS, TLS, timeouts: the endpoint may come back.
            retryable: true,
            message: format!("POST {url}: {e}"),
            retry_after: None,
        })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = resp.into_body().read_to_vec().unwrap_or_default();
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
        Err(SendError {
            retryable: http_retryable(status),
            message: format!("POST {url}: HTTP {status} {}", text.trim()),
            retry_after,
        })
    }
}

fn decode<M: Message + Default>(bytes: &[u8]) -> M {
    // An empty or unparsable 2xx body is a full success.
    M::decode(bytes).unwrap_or_default()
}

impl Exporter for Http {
    fn logs(&mut self, req: ExportLogsServiceRequest) -> Result<Accepted, SendError> {
        let r: ExportLogsServiceResponse = decode(&self.post("/v1/logs", req.encode_to_vec())?);
        Ok(r.partial_success
            .map_or_else(Accepted::default, |p| Accepted {
                rejected: p.rejected_log_records,
                message: p.error_message,
            }))
    }

    fn traces(&mut self, req: ExportTraceServiceRequest) -> Result<Accepted, SendError> {
        let r: ExportTraceServiceResponse = decode(&self.post("/v1/traces", req.encode_to_vec())?);
        Ok(r.partial_success
            .map_or_else(Accepted::default, |p| Accepted {
                rejected: p.rejected_spans,
                message: p.error_message,
            }))
    }

    fn metrics(&mut self, req: ExportMetricsServiceRequest) -> Result<Accepted, SendError> {
        let r: ExportMetricsServiceResponse =
            decode(&self.post("/v1/metrics", req.encode_to_vec())?);
        Ok(r.partial_success
            .map_or_else(Accepted::default, |p| Accepted {
                rejected: p.rejected_data_points,
                message: p.error_message,
            }))
    }
}
