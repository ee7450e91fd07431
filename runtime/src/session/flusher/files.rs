//! The flusher's work on the log file itself: its figures, finishing it, switching to a new one
//! (UPDATE, NEWFILE's INCREMENT_FILE) and saving a memory ring into one.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use super::{stamp, Flusher};
use crate::error::{Error, ErrorCode, Result};
use crate::etl::BUFFER_HEADER_SIZE;
use crate::model::LogFileMode;
use crate::sink::{FileStats, LogFile};

impl Flusher {
    pub(super) fn file_stats(&self) -> FileStats {
        let c = &self.core.counters;
        FileStats {
            events_lost: self.core.events_lost().min(u32::MAX as u64) as u32,
            buffers_lost: c
                .log_buffers_lost
                .load(Ordering::Relaxed)
                .min(u32::MAX as u64) as u32,
            end_time: crate::clock::filetime_now(),
            // The TSC's rate measured over the whole session, finer than the start-up guess.
            perf_freq: Some(crate::clock::RatePoint::rate_since(
                self.core.rate_start,
                self.core.source,
            )),
        }
    }

    pub(super) fn finish_file(&mut self) {
        if let Some(mut out) = self.outbound.take() {
            out.finish(self.core.events_lost());
        }
        let stats = self.file_stats();
        if let Some(file) = self.file.take() {
            match file.finish(stats) {
                Ok(files) => self.outcome.files = files,
                Err(e) => {
                    self.outcome
                        .error
                        .get_or_insert_with(|| format!("finishing the log file: {e}"));
                }
            }
        }
    }

    pub(super) fn switch_file(&mut self, path: PathBuf) -> Result<()> {
        if self.core.mode.contains(LogFileMode::BUFFERING) {
            return self.snapshot(Some(path));
        }
        self.drain();
        let stats = self.file_stats();
        match self.file.as_mut() {
            Some(f) => f.switch(&path, self.core.kind, stats),
            None => Err(Error::new(
                ErrorCode::NotSupported,
                "this session has no log file to switch",
            )),
        }
    }

    /// INCREMENT_FILE: the buffers completed so far go to the current file, the next ones to
    /// the next file of the NEWFILE series.
    pub(super) fn increment_file(&mut self) -> Result<()> {
        crate::model::properties::may_increment_file(self.core.mode, &self.core.name)?;
        self.drain_for_flush()?;
        match self.file.as_mut() {
            Some(f) => f.increment(),
            None => Err(Error::new(
                ErrorCode::NotSupported,
                "this session has no log file to increment",
            )),
        }
    }

    /// BUFFERING: writes the ring (oldest first) to a file, leaving the ring as it was.
    pub(super) fn snapshot(&mut self, to: Option<PathBuf>) -> Result<()> {
        if let Some(p) = &to {
            self.snapshot_path = Some(p.clone());
        }
        let Some(path) = self.snapshot_path.clone() else {
            return Err(Error::new(
                ErrorCode::BadPathname,
                "a buffering session needs a log file name to save its buffers to: give one at start or in update",
            ));
        };
        // Take the ring out briefly, copy it, put it back in the same order.
        let mut taken = Vec::new();
        while let Some(i) = self.core.pool.full.pop() {
            taken.push(i);
        }
        let mut copies: Vec<(i64, Vec<u8>)> = Vec::with_capacity(taken.len());
        for &i in &taken {
            if self.core.pool.buffer(i).used() > BUFFER_HEADER_SIZE {
                let bytes = stamp(&self.core, i);
                let seq = self.core.pool.buffer(i).sequence.load(Ordering::Relaxed) as i64;
                copies.push((seq, bytes.to_vec()));
            }
        }
        for &i in &taken {
            let _ = self.core.pool.full.push(i);
        }
        copies.sort_by_key(|(seq, _)| *seq);
        let resolved = self
            .core
            .resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut header = self.header.clone();
        header.log_file_name = path.display().to_string();
        let mut file = LogFile::open(&resolved, self.core.kind, &path, header)?;
        for (_, bytes) in &mut copies {
            file.place(bytes)
                .map_err(|e| Error::io("cannot write", &path, e))?;
        }
        let stats = self.file_stats();
        file.finish(stats)
            .map_err(|e| Error::io("cannot finish", &path, e))?;
        Ok(())
    }
}
