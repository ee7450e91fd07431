//! Batches waiting to be sent, bounded in batches and bytes: past the bound the oldest batch is
//! dropped and counted (never silently), or, for sources that can wait, reading pauses.

use std::collections::VecDeque;
use std::time::Instant;

use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use super::cursor::Cursor;

/// Records to send together, and where the source stands after them.
pub struct Batch {
    /// Log records, one per source record.
    pub logs: Vec<LogRecord>,
    /// Spans of the activities that ended in this batch.
    pub spans: Vec<Span>,
    /// Encoded size, about.
    pub bytes: usize,
    /// The cursor to save once this batch is acknowledged.
    pub resume: Cursor,
    /// The logs went through (the spans are what is left to send).
    pub logs_done: bool,
    /// Log records the endpoint rejected in its partial success.
    pub rejected_logs: u64,
}

/// A batch being filled.
#[derive(Default)]
pub struct Builder {
    logs: Vec<LogRecord>,
    spans: Vec<Span>,
    bytes: usize,
    started: Option<Instant>,
}

impl Builder {
    /// Adds a log record and the spans complete with it.
    pub fn add(&mut self, log: LogRecord, spans: Vec<Span>) {
        self.started.get_or_insert_with(Instant::now);
        self.bytes += log.encoded_len() + 4;
        self.logs.push(log);
        self.add_spans(spans);
    }

    /// Adds spans.
    pub fn add_spans(&mut self, spans: Vec<Span>) {
        if !spans.is_empty() {
            self.started.get_or_insert_with(Instant::now);
        }
        for s in spans {
            self.bytes += s.encoded_len() + 4;
            self.spans.push(s);
        }
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.logs.is_empty() && self.spans.is_empty()
    }

    /// Log records so far.
    pub fn len(&self) -> usize {
        self.logs.len()
    }

    /// Encoded bytes so far, about.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// When the first record came.
    pub fn started(&self) -> Option<Instant> {
        self.started
    }

    /// The batch, to be acknowledged with `resume`.
    pub fn seal(&mut self, resume: Cursor) -> Batch {
        let b = std::mem::take(self);
        Batch {
            logs: b.logs,
            spans: b.spans,
            bytes: b.bytes,
            resume,
            logs_done: false,
            rejected_logs: 0,
        }
    }
}

/// The bounded queue.
pub struct Queue {
    batches: VecDeque<Batch>,
    bytes: usize,
    max_batches: usize,
    max_bytes: usize,
    drop_oldest: bool,
    /// Log records dropped because the queue was full.
    pub dropped_records: u64,
    /// Spans dropped because the queue was full.
    pub dropped_spans: u64,
    /// Batches dropped.
    pub dropped_batches: u64,
}

impl Queue {
    /// A queue of at most `max_batches` batches and `max_bytes` bytes; past that the oldest
    /// batch is dropped when `drop_oldest`, else the reader is to wait ([`Queue::full`]) and
    /// the queue may go one batch past the bound.
    pub fn new(max_batches: usize, max_bytes: usize, drop_oldest: bool) -> Queue {
        Queue {
            batches: VecDeque::new(),
            bytes: 0,
            max_batches: max_batches.max(1),
            max_bytes,
            drop_oldest,
            dropped_records: 0,
            dropped_spans: 0,
            dropped_batches: 0,
        }
    }

    /// Whether another batch would go past the bound.
    pub fn full(&self) -> bool {
        self.batches.len() >= self.max_batches || self.bytes >= self.max_bytes
    }

    /// Adds `b`, dropping the oldest batches while past the bound (never `b` itself) when the
    /// queue drops.
    pub fn push(&mut self, b: Batch) {
        self.bytes += b.bytes;
        self.batches.push_back(b);
        while self.drop_oldest
            && self.batches.len() > 1
            && (self.batches.len() > self.max_batches || self.bytes > self.max_bytes)
        {
            if let Some(old) = self.batches.pop_front() {
                self.bytes -= old.bytes;
                self.dropped_batches += 1;
                if !old.logs_done {
                    self.dropped_records += old.logs.len() as u64;
                }
                self.dropped_spans += old.spans.len() as u64;
            }
        }
    }

    /// The oldest batch.
    pub fn front_mut(&mut self) -> Option<&mut Batch> {
        self.batches.front_mut()
    }

    /// Takes the oldest batch off (it was acknowledged or refused for good).
    pub fn pop(&mut self) -> Option<Batch> {
        let b = self.batches.pop_front()?;
        self.bytes -= b.bytes;
        Some(b)
    }

    /// Batches waiting.
    pub fn len(&self) -> usize {
        self.batches.len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}
