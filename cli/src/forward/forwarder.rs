//! The run loop: read records, batch them, send the oldest batch, save the cursor once it is
//! acknowledged, retry with backoff, count and report what was dropped or rejected.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::queue::{Batch, Builder, Queue};
use super::report::Counts;
use super::source::Source;
use super::transport::{Exporter, SendError};
use super::{now_nanos, otlp, ForwardArgs, OnFull};

/// The run loop's state.
pub(super) struct Forwarder {
    pub(super) queue: Queue,
    pub(super) builder: Builder,
    pub(super) mapper: otlp::Mapper,
    pub(super) exporter: Box<dyn Exporter>,
    pub(super) source: Source,
    pub(super) resource: Resource,
    pub(super) cursor_path: PathBuf,
    pub(super) counts: Counts,
    /// The losses last reported in a log record.
    pub(super) reported: (u64, u64, u64, u64, u64),
    /// Failed attempts in a row.
    pub(super) failing: u32,
    pub(super) next_try: Instant,
    pub(super) started: u64,
    pub(super) url: String,
    pub(super) args: ForwardArgs,
    pub(super) on_full: OnFull,
}

impl Forwarder {
    /// Reads, batches and sends until the source is done and everything sent (or a signal);
    /// false when the end came by a signal with batches unsent, or the cursor could not be
    /// saved.
    pub(super) fn run(&mut self, stop: &AtomicBool) -> bool {
        let poll = Duration::from_millis(self.args.poll_ms.max(1));
        let delay = Duration::from_millis(self.args.batch_delay_ms);
        loop {
            if stop.load(Ordering::Relaxed) {
                eprintln!(
                    "evtrace forward: stopped by a signal with {} batches unsent (the cursor \
                     is at the last acknowledged one)",
                    self.queue.len()
                );
                return self.queue.is_empty() && self.builder.is_empty();
            }
            // Read while there is room (or always, when full means dropping the oldest).
            let mut read = 0;
            while read < 4096 && (self.on_full == OnFull::Drop || !self.queue.full()) {
                let wait = if read == 0 && self.queue.is_empty() && self.builder.is_empty() {
                    poll
                } else {
                    Duration::ZERO
                };
                let Some(rec) = self.source.next(wait) else {
                    break;
                };
                read += 1;
                let m = self.mapper.map(&rec.item, &rec.id, now_nanos());
                self.builder.add(m.log, m.spans);
                if self.builder.len() as u64 >= self.args.batch_records
                    || self.builder.bytes() >= self.args.batch_bytes
                {
                    self.seal();
                }
            }
            let done = self.source.done();
            // In wait mode a full queue takes no batch: the records wait in the builder.
            let room = self.on_full == OnFull::Drop || !self.queue.full();
            if !self.builder.is_empty()
                && room
                && (done || self.builder.started().is_some_and(|t| t.elapsed() >= delay))
            {
                // Nothing more came for a while (or will): spans waiting for a parent go too.
                let waiting = self.mapper.drain();
                self.builder.add_spans(waiting);
                self.seal();
            } else if done && self.builder.is_empty() && room {
                let waiting = self.mapper.drain();
                if !waiting.is_empty() {
                    self.builder.add_spans(waiting);
                    self.seal();
                }
            }
            // Drops are counted as they happen and reported with the next request.
            self.queue.sync_drops(&mut self.counts);
            let sent = self.send_one();
            if done && self.queue.is_empty() && self.builder.is_empty() {
                return self.finish();
            }
            if read == 0 && !sent {
                let until_retry = self.next_try.saturating_duration_since(Instant::now());
                std::thread::sleep(if !self.queue.is_empty() {
                    until_retry.clamp(Duration::from_millis(1), poll)
                } else if !self.builder.is_empty() {
                    // A batch waiting for its delay.
                    poll.min(Duration::from_millis(50))
                } else if matches!(self.source, Source::RealTime(_)) {
                    // Its read already waited for events.
                    Duration::ZERO
                } else {
                    poll
                });
            }
        }
    }

    fn seal(&mut self) {
        let b = self.builder.seal(self.source.position());
        self.queue.push(b);
    }

    /// Tries the oldest batch if its retry time has come; true when one was acknowledged.
    fn send_one(&mut self) -> bool {
        if Instant::now() < self.next_try {
            return false;
        }
        let resource = self.resource.clone();
        let Some(b) = self.queue.front_mut() else {
            return false;
        };
        let result = send_batch(self.exporter.as_mut(), &resource, b);
        match result {
            Ok((rejected_logs, rejected_spans)) => {
                let b = self.queue.pop().expect("the batch just sent");
                self.counts.sent_records += b.logs.len() as u64 - rejected_logs;
                self.counts.sent_spans += b.spans.len() as u64 - rejected_spans;
                self.counts.rejected_records += rejected_logs;
                self.counts.rejected_spans += rejected_spans;
                self.acknowledged(&b);
                if self.counts.losses() != self.reported {
                    self.send_report();
                }
                true
            }
            Err(e) if e.retryable => {
                self.retry_later(&e);
                false
            }
            Err(e) => {
                // Refused for good (400, 401, 413...): the records are counted as rejected.
                let b = self.queue.pop().expect("the batch just sent");
                eprintln!(
                    "evtrace forward: the endpoint refused a batch for good ({}): {} records \
                     and {} spans counted as rejected",
                    e.message,
                    if b.logs_done { 0 } else { b.logs.len() },
                    b.spans.len()
                );
                if !b.logs_done {
                    self.counts.rejected_records += b.logs.len() as u64;
                }
                self.counts.rejected_spans += b.spans.len() as u64;
                self.acknowledged(&b);
                false
            }
        }
    }

    /// The batch is settled: the cursor moves past it, on disk.
    fn acknowledged(&mut self, b: &Batch) {
        if self.failing > 0 {
            eprintln!(
                "evtrace forward: {} accepts again after {} failed attempts",
                self.url, self.failing
            );
        }
        self.failing = 0;
        if let Err(e) = b.resume.save(&self.cursor_path) {
            eprintln!(
                "evtrace forward: cannot save the cursor {}: {e} (a restart would send again \
                 what was sent since the last save)",
                self.cursor_path.display()
            );
        }
    }

    fn retry_later(&mut self, e: &SendError) {
        self.failing += 1;
        self.counts.retries += 1;
        let backoff = Duration::from_millis(
            100u64
                .saturating_mul(1 << self.failing.min(16).saturating_sub(1))
                .min(self.args.max_backoff_ms.max(1)),
        );
        let wait = e.retry_after.map_or(backoff, |r| r.max(backoff));
        self.next_try = Instant::now() + wait;
        eprintln!(
            "evtrace forward: {}; retrying in {:.1} s (attempt {}, {} batches queued, {} records \
             dropped so far)",
            e.message,
            wait.as_secs_f64(),
            self.failing,
            self.queue.len(),
            self.counts.dropped_records
        );
    }

    fn send_metrics(&mut self) {
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(otlp::scope()),
                    metrics: self.counts.metrics(self.started, now_nanos()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        if let Err(e) = self.exporter.metrics(req) {
            eprintln!(
                "evtrace forward: the counts' metrics were not sent: {}",
                e.message
            );
        }
    }

    /// The counts as a log record of their own and as metrics: best effort, a failure is
    /// printed and the report goes again after the next acknowledged batch.
    fn send_report(&mut self) {
        let req = logs_request(&self.resource, vec![self.counts.log_record(now_nanos())]);
        match self.exporter.logs(req) {
            Ok(_) => {
                self.reported = self.counts.losses();
                self.send_metrics();
            }
            Err(e) => eprintln!(
                "evtrace forward: the counts' log record was not sent: {}",
                e.message
            ),
        }
    }

    /// The end: the final counts as a log record and metrics.
    fn finish(&mut self) -> bool {
        self.send_report();
        true
    }
}

impl Queue {
    /// Copies the queue's drop counters into `counts`.
    fn sync_drops(&self, counts: &mut Counts) {
        counts.dropped_records = self.dropped_records;
        counts.dropped_spans = self.dropped_spans;
    }
}

fn logs_request(resource: &Resource, logs: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource.clone()),
            scope_logs: vec![ScopeLogs {
                scope: Some(otlp::scope()),
                log_records: logs,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn traces_request(resource: &Resource, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![ScopeSpans {
                scope: Some(otlp::scope()),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Sends a batch's logs (once) and then its spans; the rejected counts of partial successes.
/// The counts' own log record goes in a request of its own, so that what the endpoint rejects
/// of a batch is the batch's records.
fn send_batch(
    ex: &mut dyn Exporter,
    resource: &Resource,
    b: &mut Batch,
) -> Result<(u64, u64), SendError> {
    let mut rejected_spans = 0;
    if !b.logs_done {
        let a = ex.logs(logs_request(resource, b.logs.clone()))?;
        if a.rejected > 0 || !a.message.is_empty() {
            eprintln!(
                "evtrace forward: partial success: the endpoint rejected {} log records ({}); \
                 OTLP says not to retry them: counted as rejected",
                a.rejected, a.message
            );
        }
        b.rejected_logs = a.rejected.max(0) as u64;
        b.logs_done = true;
    }
    if !b.spans.is_empty() {
        let a = ex.traces(traces_request(resource, b.spans.clone()))?;
        if a.rejected > 0 || !a.message.is_empty() {
            eprintln!(
                "evtrace forward: partial success: the endpoint rejected {} spans ({}); \
                 counted as rejected",
                a.rejected, a.message
            );
        }
        rejected_spans = a.rejected.max(0) as u64;
    }
    Ok((b.rejected_logs, rejected_spans))
}
