//! A netlink socket (NETLINK_ROUTE, or NETLINK_NETFILTER for nftables queries), synchronous:
//! send one request, read until its acknowledgement (or the end of a dump). A socket opened with [`Netlink::open_in`] belongs to another network
//! namespace, so the caller configures a container's interfaces without running there.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, sendto, socket,
};

use super::codec::{self, Message, NLM_F_ACK, NLM_F_DUMP, NLM_F_MULTI, NLMSG_DONE, NLMSG_ERROR, Request};
use crate::sandbox::process::errno_text;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {}", errno_text(*errno))]
pub struct NetlinkError {
    pub what: String,
    pub errno: Errno,
}

impl NetlinkError {
    pub fn new(what: impl Into<String>, errno: Errno) -> NetlinkError {
        NetlinkError { what: what.into(), errno }
    }
}

/// Replies are read into a buffer this big: a dump's datagram is at most a page or two, an
/// acknowledgement a few dozen bytes.
const RECV_BUFFER: usize = 32 * 1024;

pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    /// A NETLINK_ROUTE socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink, NetlinkError> {
        Netlink::open_protocol(SockProtocol::NetlinkRoute)
    }

    /// A NETLINK_NETFILTER socket in the calling thread's network namespace (nftables queries).
    pub fn open_netfilter() -> Result<Netlink, NetlinkError> {
        Netlink::open_protocol(SockProtocol::NetlinkNetFilter)
    }

    fn open_protocol(protocol: SockProtocol) -> Result<Netlink, NetlinkError> {
        let fail = |e| NetlinkError::new("opening a netlink socket", e);
        let fd = socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, protocol).map_err(fail)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(fail)?;
        Ok(Netlink { fd, seq: 0, buf: vec![0u8; RECV_BUFFER] })
    }

    /// A socket in the network namespace `netns` (see `sandbox::netns`).
    pub fn open_in(netns: BorrowedFd<'_>) -> Result<Netlink, NetlinkError> {
        crate::sandbox::netns::in_netns(netns, Netlink::open)
            .map_err(|e| NetlinkError::new("entering the container's network namespace", e))?
    }

    fn send(&mut self, request: Request) -> Result<u32, Errno> {
        self.seq = self.seq.wrapping_add(1);
        let bytes = request.finish(self.seq);
        let sent = sendto(self.fd.as_raw_fd(), &bytes, &NetlinkAddr::new(0, 0), MsgFlags::empty())?;
        if sent != bytes.len() { Err(Errno::EMSGSIZE) } else { Ok(self.seq) }
    }

    /// Reads datagrams until `on_message` says the reply to `seq` is complete (Some), then
    /// returns what it said.
    fn read_reply<T>(
        &mut self,
        seq: u32,
        mut on_message: impl FnMut(Message<'_>) -> Option<Result<T, Errno>>,
    ) -> Result<T, Errno> {
        loop {
            let n = match recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::empty()) {
                Err(Errno::EINTR) => continue,
                other => other?,
            };
            if n == 0 {
                return Err(Errno::EIO);
            }
            for message in codec::messages(&self.buf[..n]) {
                if message.seq != seq {
                    continue;
                }
                if let Some(result) = on_message(message) {
                    return result;
                }
            }
        }
    }

    /// Sends `request` with an acknowledgement requested and waits for it; a kernel error
    /// becomes `what: errno text`.
    pub fn execute(&mut self, request: Request, what: impl FnOnce() -> String) -> Result<(), NetlinkError> {
        let request = request.with_flags(NLM_F_ACK);
        let result = self.send(request).and_then(|seq| {
            self.read_reply(seq, |m| match m.kind {
                NLMSG_ERROR => Some(match codec::error_code(m.payload) {
                    Some(0) => Ok(()),
                    Some(code) => Err(Errno::from_raw(-code)),
                    None => Err(Errno::EIO),
                }),
                _ => None,
            })
        });
        result.map_err(|errno| NetlinkError { what: what(), errno })
    }

    /// Sends a dump request and returns the payload of every message of the reply.
    pub fn dump(&mut self, request: Request, what: impl FnOnce() -> String) -> Result<Vec<Vec<u8>>, NetlinkError> {
        let request = request.with_flags(NLM_F_DUMP);
        let mut out = Vec::new();
        let result = self.send(request).and_then(|seq| {
            self.read_reply(seq, |m| match m.kind {
                NLMSG_DONE => Some(Ok(())),
                NLMSG_ERROR => Some(match codec::error_code(m.payload) {
                    Some(0) => Ok(()),
                    Some(code) => Err(Errno::from_raw(-code)),
                    None => Err(Errno::EIO),
                }),
                _ => {
                    out.push(m.payload.to_vec());
                    (m.flags & NLM_F_MULTI == 0).then_some(Ok(()))
                }
            })
        });
        result.map(|()| out).map_err(|errno| NetlinkError { what: what(), errno })
    }
}
