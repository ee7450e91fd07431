//! The daemon's socket: a Unix `SOCK_SEQPACKET` socket carrying one JSON message per packet,
//! with a file descriptor attached where one is passed (`SCM_RIGHTS`). Packets keep message
//! boundaries, so a descriptor always arrives with the message it belongs to.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::net::{
    accept_with, bind, connect, listen, recvmsg, sendmsg, socket_with, sockopt, AddressFamily,
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketAddrUnix, SocketFlags, SocketType, UCred,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The largest message (a list of every session's figures fits many times over).
pub const MAX_MESSAGE: usize = 256 * 1024;

fn seqpacket() -> io::Result<OwnedFd> {
    Ok(socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// One end of a connection.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    /// Connects to the socket at `path`.
    pub fn connect(path: &Path) -> io::Result<Channel> {
        let fd = seqpacket()?;
        connect(&fd, &SocketAddrUnix::new(path)?)?;
        Ok(Channel { fd })
    }

    /// Another handle on the same connection (one thread reads while others send).
    pub fn try_clone(&self) -> io::Result<Channel> {
        Ok(Channel {
            fd: self.fd.try_clone()?,
        })
    }

    /// Sends `msg`, with `fd` attached if given.
    pub fn send<T: Serialize>(&self, msg: &T, fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
        let bytes = serde_json::to_vec(msg).map_err(io::Error::other)?;
        if bytes.len() > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("message of {} bytes, at most {MAX_MESSAGE}", bytes.len()),
            ));
        }
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        let fds;
        if let Some(fd) = fd {
            fds = [fd];
            control.push(SendAncillaryMessage::ScmRights(&fds));
        }
        let n = sendmsg(
            &self.fd,
            &[io::IoSlice::new(&bytes)],
            &mut control,
            SendFlags::NOSIGNAL,
        )?;
        if n != bytes.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "message sent in part",
            ));
        }
        Ok(())
    }

    /// Receives one message and the descriptor that came with it; `None` when the other end has
    /// closed the connection.
    /// A packet over [`MAX_MESSAGE`] or one that is not a message is an `InvalidData` error
    /// (saying which), and is gone from the connection.
    pub fn recv<T: DeserializeOwned>(&self) -> io::Result<Option<(T, Option<OwnedFd>)>> {
        let len = self.next_len()?;
        if len > MAX_MESSAGE {
            // Read (and so drop) it into a small buffer: packets are atomic, the rest is cut.
            let mut skip = [0u8; 1];
            let _ = rustix::net::recv(&self.fd, &mut skip, RecvFlags::empty());
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a packet of {len} bytes, over the {MAX_MESSAGE} bytes a message may have"),
            ));
        }
        let mut buf = vec![0u8; len.max(1)];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = loop {
            match recvmsg(
                &self.fd,
                &mut [io::IoSliceMut::new(&mut buf)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            ) {
                Err(rustix::io::Errno::INTR) => continue,
                other => break other?,
            }
        };
        let mut passed = None;
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = m {
                // Keep the first; any further descriptor is closed as it is dropped.
                for fd in fds {
                    passed.get_or_insert(fd);
                }
            }
        }
        if got.bytes == 0 {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf[..got.bytes])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad message: {e}")))?;
        Ok(Some((msg, passed)))
    }

    /// Sends one binary packet made of `parts`; with `dontwait`, fails with `WouldBlock` rather
    /// than wait for room (the packet is then not sent at all: packets are atomic).
    pub fn send_packet(&self, parts: &[&[u8]], dontwait: bool) -> io::Result<()> {
        let iov: Vec<io::IoSlice<'_>> = parts.iter().map(|p| io::IoSlice::new(p)).collect();
        let mut flags = SendFlags::NOSIGNAL;
        if dontwait {
            flags |= SendFlags::DONTWAIT;
        }
        let mut control = SendAncillaryBuffer::default();
        sendmsg(&self.fd, &iov, &mut control, flags)?;
        Ok(())
    }

    /// Receives one binary packet of at most `max` bytes; `None` when the other end closed.
    pub fn recv_packet(&self, max: usize) -> io::Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; self.next_len()?.clamp(1, max)];
        loop {
            match rustix::net::recv(&self.fd, &mut buf, RecvFlags::empty()) {
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
                Ok((0, _)) => return Ok(None),
                Ok((n, _)) => {
                    buf.truncate(n);
                    return Ok(Some(buf));
                }
            }
        }
    }

    /// Makes blocking sends give up after `t` (a consumer that stopped reading).
    pub fn set_send_timeout(&self, t: std::time::Duration) {
        let _ = sockopt::set_socket_timeout(&self.fd, sockopt::Timeout::Send, Some(t));
    }

    /// The length of the next packet, waiting for one (0 at the end of the stream): buffers are
    /// sized to the packet rather than to the largest one possible.
    fn next_len(&self) -> io::Result<usize> {
        loop {
            let empty: &mut [u8] = &mut [];
            match rustix::net::recv(&self.fd, empty, RecvFlags::PEEK | RecvFlags::TRUNC) {
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
                Ok((_, len)) => return Ok(len),
            }
        }
    }

    /// Asks the kernel for a send buffer of `bytes`: beyond `net.core.wmem_max` only with
    /// CAP_NET_ADMIN (SO_SNDBUFFORCE); otherwise capped there.
    pub fn set_send_buffer(&self, bytes: usize) {
        if sockopt::set_socket_send_buffer_size_force(&self.fd, bytes).is_err() {
            let _ = sockopt::set_socket_send_buffer_size(&self.fd, bytes);
        }
    }

    /// The user and process at the other end, as the kernel saw them at connect time.
    pub fn peer(&self) -> io::Result<UCred> {
        Ok(sockopt::socket_peercred(&self.fd)?)
    }

    /// Shuts the connection down both ways, waking a thread blocked in `recv`.
    pub fn shutdown(&self) {
        let _ = rustix::net::shutdown(&self.fd, rustix::net::Shutdown::Both);
    }

    /// Sends no more: the other end reads what was sent, then the end of the stream.
    pub fn shutdown_write(&self) {
        let _ = rustix::net::shutdown(&self.fd, rustix::net::Shutdown::Write);
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The daemon's listening socket.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    /// Binds `path` (replacing a stale socket file) and listens.
    pub fn bind(path: &Path) -> io::Result<Listener> {
        let fd = seqpacket()?;
        let _ = std::fs::remove_file(path);
        bind(&fd, &SocketAddrUnix::new(path)?)?;
        listen(&fd, 64)?;
        Ok(Listener { fd })
    }

    /// Waits for the next connection.
    pub fn accept(&self) -> io::Result<Channel> {
        loop {
            match accept_with(&self.fd, SocketFlags::CLOEXEC) {
                Err(rustix::io::Errno::INTR) => continue,
                other => return Ok(Channel { fd: other? }),
            }
        }
    }
}
