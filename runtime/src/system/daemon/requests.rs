//! A connection's requests: decoding each one, handing it to the room that does the work, and
//! answering it (or closing the connection, said once, on the first bad message).

use std::os::fd::AsFd;
use std::sync::Arc;

use super::producers::{Outbox, Producer, Taken};
use super::table::stats;
use super::Shared;
use crate::client::protocol::{Reply, Request};
use crate::client::wire::Channel;
use crate::error::{Error, ErrorCode, Result};
use crate::session::SessionUpdate;
use crate::Guid;

/// Says once, on stderr, why connection `conn` is being closed: the first bad message ends it,
/// so a client sending garbage costs one line, not one per packet.
fn refuse(conn: u64, ch: &Channel, why: &str) {
    let who = ch.peer().map_or_else(
        |_| "an unknown process".to_string(),
        |c| {
            format!(
                "process {} (uid {})",
                c.pid.as_raw_nonzero(),
                c.uid.as_raw()
            )
        },
    );
    eprintln!("evtrace daemon: connection {conn} from {who}: {why}; closing it");
}

pub(super) fn serve(shared: Arc<Shared>, conn: u64, ch: Channel) {
    loop {
        let msg = match ch.recv::<Request>() {
            Ok(Some((m, _))) => m,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                refuse(conn, &ch, &e.to_string());
                break;
            }
            Ok(None) | Err(_) => break,
        };
        let reply = match msg {
            Request::Producer { .. } => {
                let (Ok(channel), Ok(cred)) = (ch.try_clone(), ch.peer()) else {
                    break;
                };
                // The kernel's view of the peer, not the pid it says (in another pid namespace
                // the two differ legitimately).
                let pid = cred.pid.as_raw_nonzero().get() as u32;
                let Ok(outbox) = Outbox::start(channel, conn) else {
                    break;
                };
                if ch
                    .send(&Reply::Counters, Some(shared.counters_fd.as_fd()))
                    .is_err()
                {
                    break;
                }
                shared.lock().producers.insert(
                    conn,
                    Producer {
                        outbox,
                        pid,
                        uid: cred.uid.as_raw(),
                        providers: Vec::new(),
                    },
                );
                continue;
            }
            Request::Register { guid } => {
                let Ok(g) = guid.parse::<Guid>() else {
                    refuse(
                        conn,
                        &ch,
                        &format!("it registered {guid:?}, which is not a provider GUID"),
                    );
                    break;
                };
                shared.register(conn, g);
                continue;
            }
            Request::Sync { token } => {
                // Through the outbox, behind the Attach and Enable messages queued before it.
                if let Some(p) = shared.lock().producers.get(&conn) {
                    let _ = p.outbox.send(Reply::Synced { token }, None);
                }
                continue;
            }
            Request::Ready {
                session,
                buffers,
                events_lost,
            } => {
                let taken = shared.take_buffers(conn, session, &buffers, events_lost);
                let reply = match taken {
                    Taken::Yes => Reply::Taken { session },
                    Taken::No | Taken::Outside(_) => Reply::Refused { session },
                };
                let _ = ch.send(&reply, None);
                if let Taken::Outside(why) = taken {
                    // Not a producer's mistake one can recover from: its share is ended, what
                    // it held counted lost.
                    refuse(conn, &ch, &why);
                    break;
                }
                continue;
            }
            Request::Flushed { session } => {
                shared.flushed(conn, session);
                continue;
            }
            Request::Finished {
                session,
                events_lost,
            } => {
                shared.finished(conn, session, events_lost);
                continue;
            }
            Request::Start { props, allow_users } => {
                let Ok(starter) = ch.peer().map(|c| (c.uid.as_raw(), c.gid.as_raw())) else {
                    break;
                };
                shared
                    .start(&props, starter, allow_users)
                    .unwrap_or_else(|e| Reply::failed(&e))
            }
            Request::Consume { name } => match ch
                .peer()
                .map_err(|e| Error::new(ErrorCode::Io, format!("socket: {e}")))
                .and_then(|c| shared.consume(conn, &name, c.uid.as_raw(), &ch))
            {
                // Answered, and from now on this connection receives packets.
                Ok(()) => continue,
                Err(e) => Reply::failed(&e),
            },
            other => {
                let Ok(uid) = ch.peer().map(|c| c.uid.as_raw()) else {
                    break;
                };
                shared.control(other, uid)
            }
        };
        if ch.send(&reply, None).is_err() {
            break;
        }
    }
    shared.gone(conn);
}

impl Shared {
    /// A controller request.
    fn control(&self, req: Request, uid: u32) -> Reply {
        // Only root and the user who started a session may change or query it; the list shows
        // other users only their own sessions.
        let name = match &req {
            Request::Stop { name }
            | Request::Query { name }
            | Request::Flush { name }
            | Request::IncrementFile { name }
            | Request::Update { name, .. }
            | Request::Enable { name, .. }
            | Request::Disable { name, .. } => Some(name.clone()),
            _ => None,
        };
        if let Some(name) = name {
            if let Err(e) = self.with(&name, |h, _| h.may_control(uid)) {
                return Reply::failed(&e);
            }
        }
        let r = match req {
            Request::Stop { name } => self.stop(&name),
            Request::Query { name } => self.query(&name),
            Request::List => Ok(Reply::Sessions {
                sessions: {
                    let st = self.lock();
                    st.sessions
                        .iter()
                        .filter(|h| h.may_control(uid).is_ok())
                        .map(stats)
                        .collect()
                },
            }),
            Request::Flush { name } => self.flush(&name),
            Request::IncrementFile { name } => self.increment_file(&name),
            Request::Update {
                name,
                log_file,
                flush_timer_s,
                maximum_buffers,
                real_time,
                enable_flags,
            } => {
                let u = SessionUpdate {
                    log_file,
                    flush_timer_s,
                    maximum_buffers,
                    real_time,
                    enable_flags,
                };
                self.update(&name, uid, u)
            }
            Request::Enable {
                name,
                guid,
                settings,
            } => self.enable(&name, &guid, Some(settings)),
            Request::Disable { name, guid } => self.enable(&name, &guid, None),
            _ => Err(Error::invalid("not a controller request")),
        };
        r.unwrap_or_else(|e| Reply::failed(&e))
    }

    /// Attaches connection `conn` as the real-time consumer of session `name`. The reply goes
    /// out here, before the header and backlog packets.
    fn consume(&self, conn: u64, name: &str, uid: u32, ch: &Channel) -> Result<()> {
        let consumer = ch
            .try_clone()
            .map_err(|e| Error::new(ErrorCode::Io, format!("socket: {e}")))?;
        self.with(name, |h, _| {
            // Its events are the owner's to read (as its file is).
            h.may_control(uid)?;
            let kept = h.kept();
            let Some(rt) = h.rt.as_mut() else {
                return Err(Error::invalid(format!(
                    "session {name} is not a real-time session (start it with EVENT_TRACE_REAL_TIME_MODE, `--rt`)"
                )));
            };
            if rt.has_consumer() {
                return Err(Error::new(
                    ErrorCode::AlreadyExists,
                    format!("session {name} already has a real-time consumer"),
                ));
            }
            if ch.send(&Reply::Ok, None).is_ok() {
                rt.attach(conn, consumer, &h.session, kept);
            }
            Ok(())
        })
    }
}
