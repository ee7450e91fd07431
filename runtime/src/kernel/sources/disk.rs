//! Disk I/O: a request's issue, and its completion paired with the issue by device and sector
//! (who issued it, how long it took).

use super::super::events::Occurrence;
use super::super::perf::Context;
use super::{bound, Decoder};

impl Decoder {
    /// `block_rq_issue`; remembered until its completion when completions are traced.
    pub(super) fn request_issued(&mut self, at: Context, raw: &[u8], out: &mut Vec<Occurrence>) {
        let Some(f) = self.fields.disk else { return };
        let r = f.issue;
        let (dev, sector) = (r.dev.u64(raw), r.sector.u64(raw));
        if f.complete.is_some() {
            bound(&mut self.in_flight);
            self.in_flight
                .insert((dev, sector), (at.time, at.pid, at.tid));
        }
        let ev = r.event(raw, true, (at.pid, at.tid), 0, 0);
        out.push(Occurrence {
            time: at.time,
            cpu: at.cpu,
            pid: at.pid,
            tid: at.tid,
            event: ev,
        });
    }

    /// `block_rq_complete`: given to the thread that issued the request, with its response time.
    pub(super) fn request_completed(&mut self, at: Context, raw: &[u8], out: &mut Vec<Occurrence>) {
        let Some((r, error)) = self.fields.disk.and_then(|f| f.complete) else {
            return;
        };
        let (dev, sector) = (r.dev.u64(raw), r.sector.u64(raw));
        let (issued, ipid, itid) = self
            .in_flight
            .remove(&(dev, sector))
            .unwrap_or((at.time, 0, 0));
        let response = at.time.saturating_sub(issued);
        let error = error.i64(raw) as i32;
        let ev = r.event(raw, false, (ipid, itid), response, error);
        out.push(Occurrence {
            time: at.time,
            cpu: at.cpu,
            pid: ipid,
            tid: itid,
            event: ev,
        });
    }
}
