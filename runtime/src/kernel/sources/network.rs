//! TCP: connects, accepts, disconnects and retransmits from the socket state changes, each given
//! to the process the socket belongs to (TCP's work in interrupts and timers runs in whatever
//! process is current), with the listeners and owners that takes.

use super::super::events::{Occurrence, TcpKind};
use super::super::perf::Context;
use super::{owned, Decoder, MAP_LIMIT};

pub(super) const TCP_ESTABLISHED: u8 = 1;
pub(super) const TCP_SYN_SENT: u8 = 2;
pub(super) const TCP_SYN_RECV: u8 = 3;
pub(super) const TCP_CLOSE: u8 = 7;
pub(super) const TCP_LISTEN: u8 = 10;
pub(super) const IPPROTO_TCP: u64 = 6;

impl Decoder {
    /// A TCP retransmit: it runs from a timer, in whatever process is current, so it goes to the
    /// socket's owner.
    pub(super) fn retransmit(&mut self, at: Context, raw: &[u8], out: &mut Vec<Occurrence>) {
        let Some(f) = self.fields.retransmit else {
            return;
        };
        let sk = f.skaddr.u64(raw);
        let owner = self.owners.get(&sk).copied().unwrap_or(at.pid);
        if let Some(addrs) = f.addrs(raw) {
            let ev = f.tcp(raw, addrs, TcpKind::Retransmit, owner);
            out.push(owned(owner, at.pid, at.tid, at.time, at.cpu, ev));
        }
    }

    pub(super) fn sock_state(
        &mut self,
        pid: u32,
        tid: u32,
        time: u64,
        cpu: u32,
        raw: &[u8],
        out: &mut Vec<Occurrence>,
    ) {
        let Some(f) = self.fields.sock else {
            return;
        };
        if f.protocol.is_some_and(|p| p.u64(raw) != IPPROTO_TCP) {
            return;
        }
        // Parsed once for every event this record gives.
        let Some(addrs) = f.addrs(raw) else {
            return;
        };
        let sk = f.skaddr.u64(raw);
        let old = f.old.i64(raw) as u8;
        let new = f.new.i64(raw) as u8;
        // An IPv4 and an IPv6 listener may share a port.
        let port = (f.family.u64(raw), f.sport.u64(raw) as u16);
        if self.listeners.len() >= MAP_LIMIT || self.owners.len() >= MAP_LIMIT {
            self.listeners.clear();
            self.owners.clear();
        }
        let mut emit = |kind, owner: u32| {
            out.push(owned(
                owner,
                pid,
                tid,
                time,
                cpu,
                f.tcp(raw, addrs, kind, owner),
            ));
        };
        match (old, new) {
            (_, TCP_LISTEN) => {
                self.listeners.insert(port, pid);
            }
            (TCP_LISTEN, TCP_CLOSE) => {
                self.listeners.remove(&port);
            }
            // A connection being accepted: the kernel clones the listening socket (so the
            // clone goes from LISTEN to SYN_RECV), in whatever process the packet came in.
            (TCP_LISTEN, TCP_SYN_RECV) => {
                let owner = self.listeners.get(&port).copied().unwrap_or(pid);
                self.owners.insert(sk, owner);
            }
            (_, TCP_SYN_SENT) => {
                self.owners.insert(sk, pid);
            }
            (TCP_SYN_RECV, TCP_ESTABLISHED) if !self.owners.contains_key(&sk) => {
                let owner = self.listeners.get(&port).copied().unwrap_or(pid);
                self.owners.insert(sk, owner);
            }
            _ => {}
        }
        let owner = self.owners.get(&sk).copied().unwrap_or(pid);
        emit(TcpKind::StateChange, owner);
        match (old, new) {
            (TCP_SYN_SENT, TCP_ESTABLISHED) => emit(TcpKind::Connect, owner),
            (TCP_SYN_RECV, TCP_ESTABLISHED) => emit(TcpKind::Accept, owner),
            (TCP_ESTABLISHED, _) => emit(TcpKind::Disconnect, owner),
            _ => {}
        }
        if new == TCP_CLOSE {
            self.owners.remove(&sk);
        }
    }
}
