//! What forwarding lost, repeated or retried, counted: printed at the end, sent as a log
//! record whenever a count changed, and as cumulative sum metrics.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Metric, NumberDataPoint, Sum,
};

use super::otlp::{kv_int, kv_str};

/// The counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Log records acknowledged.
    pub sent_records: u64,
    /// Spans acknowledged.
    pub sent_spans: u64,
    /// Log records dropped because the queue was full.
    pub dropped_records: u64,
    /// Spans dropped because the queue was full.
    pub dropped_spans: u64,
    /// Records the endpoint rejected (partial success or a non-retryable error).
    pub rejected_records: u64,
    /// Spans the endpoint rejected.
    pub rejected_spans: u64,
    /// Export attempts that failed and were retried.
    pub retries: u64,
}

impl Counts {
    /// The losses only (what a report record is sent for).
    pub fn losses(&self) -> (u64, u64, u64, u64, u64) {
        (
            self.dropped_records,
            self.dropped_spans,
            self.rejected_records,
            self.rejected_spans,
            self.retries,
        )
    }

    fn pairs(&self) -> [(&'static str, u64); 7] {
        [
            ("evtrace.forward.sent_records", self.sent_records),
            ("evtrace.forward.sent_spans", self.sent_spans),
            ("evtrace.forward.dropped_records", self.dropped_records),
            ("evtrace.forward.dropped_spans", self.dropped_spans),
            ("evtrace.forward.rejected_records", self.rejected_records),
            ("evtrace.forward.rejected_spans", self.rejected_spans),
            ("evtrace.forward.retries", self.retries),
        ]
    }

    /// One line for the terminal.
    pub fn line(&self) -> String {
        format!(
            "{} records and {} spans sent; dropped (queue full): {} records, {} spans; \
             rejected by the endpoint: {} records, {} spans; {} retries",
            self.sent_records,
            self.sent_spans,
            self.dropped_records,
            self.dropped_spans,
            self.rejected_records,
            self.rejected_spans,
            self.retries
        )
    }

    /// The counts as a log record (severity WARN when something was lost).
    pub fn log_record(&self, now: u64) -> LogRecord {
        let lost =
            self.dropped_records + self.dropped_spans + self.rejected_records + self.rejected_spans
                > 0;
        let mut attributes = vec![kv_str("evtrace.forward.report", "counts")];
        attributes.extend(self.pairs().iter().map(|(k, v)| kv_int(k, *v as i64)));
        LogRecord {
            time_unix_nano: now,
            observed_time_unix_nano: now,
            severity_number: if lost { 13 } else { 9 },
            severity_text: if lost { "WARN" } else { "INFO" }.into(),
            event_name: "evtrace.forward.report".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(format!(
                    "evtrace forward: {}",
                    self.line()
                ))),
            }),
            attributes,
            ..Default::default()
        }
    }

    /// The counts as cumulative monotonic sums since `start`.
    pub fn metrics(&self, start: u64, now: u64) -> Vec<Metric> {
        self.pairs()
            .iter()
            .map(|(name, v)| Metric {
                name: (*name).into(),
                unit: "1".into(),
                description: String::new(),
                metadata: Vec::<KeyValue>::new(),
                data: Some(metric::Data::Sum(Sum {
                    data_points: vec![NumberDataPoint {
                        start_time_unix_nano: start,
                        time_unix_nano: now,
                        value: Some(number_data_point::Value::AsInt(*v as i64)),
                        ..Default::default()
                    }],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                })),
            })
            .collect()
    }
}
