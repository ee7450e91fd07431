//! The netlink process connector: fork, exec and exit of every task, with exit codes, as the
//! kernel reports them (root only).

use std::io;
use std::os::fd::OwnedFd;

use rustix::net::netlink::{SocketAddrNetlink, CONNECTOR};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_CN_MCAST_IGNORE: u32 = 2;
const NLMSG_HDR: usize = 16;
const CN_MSG: usize = 20;
const NLMSG_DONE: u16 = 3;
/// `what` of an acknowledgement, which is numbered apart from the events.
const PROC_EVENT_NONE: u32 = 0;

/// One process event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProcEvent {
    /// A task was created: a process when `child_pid == child_tgid`, else a thread.
    Fork {
        parent_pid: u32,
        parent_tgid: u32,
        child_pid: u32,
        child_tgid: u32,
    },
    /// A task called exec.
    Exec { pid: u32, tgid: u32 },
    /// A task ended with wait status `code` (exit code << 8 | signal).
    Exit {
        pid: u32,
        tgid: u32,
        code: u32,
        parent_tgid: u32,
    },
}

/// An event with when and where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamped {
    pub(crate) cpu: u32,
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub(crate) time: u64,
    pub(crate) event: ProcEvent,
}

/// A subscription to the process connector.
pub(crate) struct ProcEvents {
    fd: OwnedFd,
    /// The next sequence number expected from each processor: gaps are lost events.
    next_seq: Vec<Option<u32>>,
    buf: Vec<u8>,
}

/// A LISTEN or IGNORE request; the kernel's acknowledgement carries `ack + 1`, which tells ours
/// from other subscribers' (acknowledgements go to every listener).
fn control(op: u32, ack: u32) -> Vec<u8> {
    let len = (NLMSG_HDR + CN_MSG + 4) as u32;
    let mut m = Vec::with_capacity(len as usize);
    m.extend_from_slice(&len.to_le_bytes());
    m.extend_from_slice(&NLMSG_DONE.to_le_bytes());
    m.extend_from_slice(&0u16.to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes());
    m.extend_from_slice(&std::process::id().to_le_bytes());
    m.extend_from_slice(&CN_IDX_PROC.to_le_bytes());
    m.extend_from_slice(&CN_VAL_PROC.to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes()); // seq
    m.extend_from_slice(&ack.to_le_bytes());
    m.extend_from_slice(&4u16.to_le_bytes()); // len
    m.extend_from_slice(&0u16.to_le_bytes()); // flags
    m.extend_from_slice(&op.to_le_bytes());
    m
}

impl ProcEvents {
    /// Subscribes; fails where the process connector is missing or not allowed (it needs
    /// CAP_NET_ADMIN).
    pub(crate) fn open() -> io::Result<ProcEvents> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            rustix::net::SocketFlags::CLOEXEC | rustix::net::SocketFlags::NONBLOCK,
            Some(CONNECTOR),
        )?;
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, CN_IDX_PROC))?;
        // Bursts of forks must not overflow the socket: ask for 8 MB (root may exceed rmem_max).
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size_force(&fd, 8 << 20)
            .or_else(|_| rustix::net::sockopt::set_socket_recv_buffer_size(&fd, 8 << 20));
        // A nonce of our own, so that another subscriber's acknowledgement is not taken for ours.
        let nonce = std::process::id().wrapping_mul(2_654_435_761) ^ 0x6576_7472;
        rustix::net::send(
            &fd,
            &control(PROC_CN_MCAST_LISTEN, nonce),
            SendFlags::empty(),
        )?;
        let mut p = ProcEvents {
            fd,
            next_seq: Vec::new(),
            buf: vec![0u8; 64 * 1024],
        };
        p.wait_for_ack(nonce.wrapping_add(1))?;
        Ok(p)
    }

    /// The kernel answers LISTEN with an acknowledgement that carries its verdict: an
    /// unprivileged listener may bind but is refused (EPERM), and would otherwise hear nothing.
    fn wait_for_ack(&mut self, ack: u32) -> io::Result<()> {
        use rustix::event::{poll, PollFd, PollFlags};
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                // Kernels that refuse an unprivileged listener may not answer at all.
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the process connector did not acknowledge the subscription within 2 s (it needs CAP_NET_ADMIN, i.e. root, on many kernels)",
                ));
            }
            let timeout = rustix::time::Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: left.subsec_nanos() as i64,
            };
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            poll(&mut fds, Some(&timeout))?;
            let n = match rustix::net::recv(&self.fd, &mut self.buf[..], RecvFlags::empty()) {
                Ok((n, _)) => n,
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            };
            if let Some((_, raw)) = parse(&self.buf[..n]) {
                if raw.what == PROC_EVENT_NONE && raw.ack == ack {
                    return match raw.data[0] {
                        0 => Ok(()),
                        err => Err(io::Error::from_raw_os_error(err as i32)),
                    };
                }
            }
        }
    }

    /// The descriptor to poll.
    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Reads every event waiting; returns how many the kernel dropped (sequence gaps).
    pub(crate) fn drain(&mut self, out: &mut Vec<Stamped>) -> u64 {
        let mut lost = 0;
        loop {
            match rustix::net::recv(&self.fd, &mut self.buf[..], RecvFlags::empty()) {
                Ok((n, _)) => {
                    let mut at = 0;
                    while at + NLMSG_HDR <= n {
                        let len =
                            u32::from_le_bytes(self.buf[at..at + 4].try_into().unwrap()) as usize;
                        if len < NLMSG_HDR || at + len > n {
                            break;
                        }
                        if let Some((seq, ev)) = parse(&self.buf[at..at + len]) {
                            // Every message, acknowledgements included, takes the next number
                            // of its processor; kernels before 6.6 sent acknowledgements with
                            // cpu -1 and a number of their own.
                            if ev.cpu != u32::MAX {
                                lost += self.sequence(ev.cpu, seq);
                            }
                            if let Some(ev) = ev.into_event() {
                                out.push(ev);
                            }
                        }
                        at += (len + 3) & !3;
                    }
                }
                // ENOBUFS: the socket overflowed; the sequence gap counts what was lost.
                Err(rustix::io::Errno::NOBUFS) => continue,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return lost,
            }
        }
    }

    fn sequence(&mut self, cpu: u32, seq: u32) -> u64 {
        let cpu = cpu as usize;
        if self.next_seq.len() <= cpu {
            self.next_seq.resize(cpu + 1, None);
        }
        let lost = match self.next_seq[cpu] {
            // A number behind the expected one is not a loss (a restarted count): start over.
            Some(expected) => match seq.wrapping_sub(expected) {
                gap if gap < 1 << 31 => gap as u64,
                _ => 0,
            },
            None => 0,
        };
        self.next_seq[cpu] = Some(seq.wrapping_add(1));
        lost
    }
}

impl Drop for ProcEvents {
    fn drop(&mut self) {
        let _ = rustix::net::send(
            &self.fd,
            &control(PROC_CN_MCAST_IGNORE, 0),
            SendFlags::empty(),
        );
    }
}

/// A decoded message before it is known whether it is an event evtrace records.
struct Raw {
    /// The connector message's `ack`: an acknowledgement's is the request's `ack + 1`.
    ack: u32,
    cpu: u32,
    time: u64,
    what: u32,
    data: [u32; 6],
}

impl Raw {
    fn into_event(self) -> Option<Stamped> {
        let d = self.data;
        let event = match self.what {
            0x0000_0001 => ProcEvent::Fork {
                parent_pid: d[0],
                parent_tgid: d[1],
                child_pid: d[2],
                child_tgid: d[3],
            },
            0x0000_0002 => ProcEvent::Exec {
                pid: d[0],
                tgid: d[1],
            },
            0x8000_0000 => ProcEvent::Exit {
                pid: d[0],
                tgid: d[1],
                code: d[2],
                parent_tgid: d[5],
            },
            _ => return None,
        };
        Some(Stamped {
            cpu: self.cpu,
            time: self.time,
            event,
        })
    }
}

/// One netlink message: the connector's sequence number and the event.
fn parse(msg: &[u8]) -> Option<(u32, Raw)> {
    let cn = msg.get(NLMSG_HDR..NLMSG_HDR + CN_MSG)?;
    let u = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    if u(cn, 0) != CN_IDX_PROC || u(cn, 4) != CN_VAL_PROC {
        return None;
    }
    let seq = u(cn, 8);
    let ev = msg.get(NLMSG_HDR + CN_MSG..)?;
    if ev.len() < 16 + 24 {
        return None;
    }
    let mut data = [0u32; 6];
    for (i, d) in data.iter_mut().enumerate() {
        *d = u(ev, 16 + 4 * i);
    }
    Some((
        seq,
        Raw {
            ack: u(cn, 12),
            what: u(ev, 0),
            cpu: u(ev, 4),
            time: u64::from_le_bytes(ev[8..16].try_into().unwrap()),
            data,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u32, what: u32, cpu: u32, data: [u32; 6]) -> Vec<u8> {
        let mut m = control(0, 0);
        m.truncate(NLMSG_HDR + CN_MSG);
        m[NLMSG_HDR + 8..NLMSG_HDR + 12].copy_from_slice(&seq.to_le_bytes());
        m.extend_from_slice(&what.to_le_bytes());
        m.extend_from_slice(&cpu.to_le_bytes());
        m.extend_from_slice(&42u64.to_le_bytes());
        for d in data {
            m.extend_from_slice(&d.to_le_bytes());
        }
        m
    }

    #[test]
    fn exit_messages_carry_the_wait_status_and_gaps_count_losses() {
        let m = message(7, 0x8000_0000, 1, [10, 10, 3 << 8, 0, 9, 9]);
        let (seq, raw) = parse(&m).unwrap();
        assert_eq!(seq, 7);
        let ev = raw.into_event().unwrap();
        assert_eq!(ev.time, 42);
        assert_eq!(
            ev.event,
            ProcEvent::Exit {
                pid: 10,
                tgid: 10,
                code: 3 << 8,
                parent_tgid: 9
            }
        );
        let mut p = ProcEvents {
            fd: rustix::io::dup(std::io::stdin()).unwrap(),
            next_seq: Vec::new(),
            buf: Vec::new(),
        };
        assert_eq!(p.sequence(1, 7), 0);
        assert_eq!(p.sequence(1, 8), 0);
        assert_eq!(p.sequence(0, 100), 0, "each processor counts on its own");
        assert_eq!(p.sequence(1, 12), 3);
        assert_eq!(p.sequence(1, 5), 0, "a number going back is no loss");
        assert_eq!(p.sequence(1, 6), 0);
        std::mem::forget(p); // no IGNORE message to stdin
    }
}
