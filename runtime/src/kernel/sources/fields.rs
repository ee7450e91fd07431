//! The tracepoint layouts the decoder reads, found in tracefs when the sources are planned.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::super::events::{KernelEvent, TcpKind};
use super::super::tracefs::{Field, Tracepoint};

/// `sched_process_exec`'s fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExecFields {
    pub(super) filename: Field,
    pub(super) pid: Field,
}

impl ExecFields {
    pub(super) fn of(t: &Tracepoint) -> Result<Self, String> {
        Ok(ExecFields {
            filename: t.field("filename")?,
            pid: t.field("pid")?,
        })
    }
}

/// The socket fields `inet_sock_set_state` and `tcp_retransmit_skb` share.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SockFields {
    pub(super) skaddr: Field,
    /// `oldstate`/`newstate`, or `state` twice for a retransmit.
    pub(super) old: Field,
    pub(super) new: Field,
    pub(super) sport: Field,
    pub(super) dport: Field,
    pub(super) family: Field,
    pub(super) protocol: Option<Field>,
    pub(super) saddr: Field,
    pub(super) daddr: Field,
    pub(super) saddr_v6: Field,
    pub(super) daddr_v6: Field,
}

impl SockFields {
    pub(super) fn of(t: &Tracepoint) -> Result<Self, String> {
        let (old, new) = match t.field("oldstate") {
            Ok(o) => (o, t.field("newstate")?),
            Err(_) => (t.field("state")?, t.field("state")?),
        };
        Ok(SockFields {
            skaddr: t.field("skaddr")?,
            old,
            new,
            sport: t.field("sport")?,
            dport: t.field("dport")?,
            family: t.field("family")?,
            protocol: t.field("protocol").ok(),
            saddr: t.field("saddr")?,
            daddr: t.field("daddr")?,
            saddr_v6: t.field("saddr_v6")?,
            daddr_v6: t.field("daddr_v6")?,
        })
    }

    /// The TCP event of `kind` this record describes, between `addrs` (from
    /// [`addrs`](Self::addrs)), belonging to process `owner`.
    pub(super) fn tcp(
        &self,
        raw: &[u8],
        (saddr, daddr): (IpAddr, IpAddr),
        kind: TcpKind,
        owner: u32,
    ) -> KernelEvent {
        KernelEvent::Tcp {
            kind,
            pid: owner,
            saddr,
            daddr,
            sport: self.sport.u64(raw) as u16,
            dport: self.dport.u64(raw) as u16,
            old_state: self.old.i64(raw) as u8,
            new_state: self.new.i64(raw) as u8,
        }
    }

    pub(super) fn addrs(&self, raw: &[u8]) -> Option<(IpAddr, IpAddr)> {
        let v4 = |f: &Field| -> Option<IpAddr> {
            let b: [u8; 4] = f.bytes(raw).try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        };
        let v6 = |f: &Field| -> Option<IpAddr> {
            let b: [u8; 16] = f.bytes(raw).try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        };
        match self.family.u64(raw) {
            2 => Some((v4(&self.saddr)?, v4(&self.daddr)?)),
            10 => Some((v6(&self.saddr_v6)?, v6(&self.daddr_v6)?)),
            _ => None,
        }
    }
}

/// The fields of a block request tracepoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestFields {
    pub(super) dev: Field,
    pub(super) sector: Field,
    pub(super) nr_sector: Field,
    pub(super) rwbs: Field,
}

impl RequestFields {
    pub(super) fn of(t: &Tracepoint) -> Result<Self, String> {
        Ok(RequestFields {
            dev: t.field("dev")?,
            sector: t.field("sector")?,
            nr_sector: t.field("nr_sector")?,
            rwbs: t.field("rwbs")?,
        })
    }

    /// The DiskIo event of this request record: at issue (`init`) or completion, issued by
    /// `issuer` (pid, tid).
    pub(super) fn event(
        &self,
        raw: &[u8],
        init: bool,
        issuer: (u32, u32),
        response_ns: u64,
        error: i32,
    ) -> KernelEvent {
        let sector = self.sector.u64(raw);
        KernelEvent::DiskIo {
            init,
            op: self.op(raw),
            disk: self.dev.u64(raw) as u32,
            byte_offset: sector.wrapping_mul(512),
            size: (self.nr_sector.u64(raw) * 512) as u32,
            issuing_pid: issuer.0,
            issuing_tid: issuer.1,
            response_ns,
            error,
        }
    }

    /// 'R', 'W', 'F' or 'D' from rwbs ("WS", "FWS", "RM"...): a flush first, as "FWS" is a
    /// flush that carries a write.
    pub(super) fn op(&self, raw: &[u8]) -> u8 {
        let rwbs = self.rwbs.string(raw);
        ['F', 'D', 'W', 'R']
            .into_iter()
            .find(|c| rwbs.contains(*c))
            .map_or(b'W', |c| c as u8)
    }
}

/// `block_rq_issue` and, for completions, `block_rq_complete` fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DiskFields {
    pub(super) issue: RequestFields,
    pub(super) complete: Option<(RequestFields, Field)>,
}

impl DiskFields {
    pub(super) fn of(issue: &Tracepoint, complete: Option<&Tracepoint>) -> Result<Self, String> {
        Ok(DiskFields {
            issue: RequestFields::of(issue)?,
            complete: match complete {
                Some(c) => Some((RequestFields::of(c)?, c.field("error")?)),
                None => None,
            },
        })
    }
}

/// `sched_switch` fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SwitchFields {
    pub(super) prev_pid: Field,
    pub(super) prev_prio: Field,
    pub(super) prev_state: Field,
    pub(super) next_pid: Field,
    pub(super) next_prio: Field,
}

impl SwitchFields {
    pub(super) fn of(t: &Tracepoint) -> Result<Self, String> {
        Ok(SwitchFields {
            prev_pid: t.field("prev_pid")?,
            prev_prio: t.field("prev_prio")?,
            prev_state: t.field("prev_state")?,
            next_pid: t.field("next_pid")?,
            next_prio: t.field("next_prio")?,
        })
    }
}

/// The tracepoint layouts the decoder reads.
#[derive(Debug, Default, Clone)]
pub(crate) struct Fields {
    pub(super) exec: Option<ExecFields>,
    pub(super) sock: Option<SockFields>,
    pub(super) retransmit: Option<SockFields>,
    pub(super) disk: Option<DiskFields>,
    pub(super) switch: Option<SwitchFields>,
    pub(super) sys: Option<(Field, Field, Field)>,
}
