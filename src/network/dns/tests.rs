//! The responder against real sockets, in network namespaces the tests make: a throwaway
//! "host" (where the fake upstream servers listen on loopback) and a "container".

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use super::message::{
    self, RCODE_FORMERR, RCODE_NOERROR, RCODE_REFUSED, RCODE_SERVFAIL, Record, TYPE_A, TYPE_AAAA, TYPE_PTR,
};
use super::names::NameTable;
use super::server::{Responder, ResponderConfig};
use crate::network::state::NetworkState;
use crate::network::test_support::{netns_with_lo, require_root, require_root_and_nft, turn};
use crate::sandbox::netns::in_netns;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn table() -> NameTable {
    let db = crate::network::dns::names::tests::endpoint(
        "d".repeat(64).as_str(),
        "db",
        &["database"],
        &["10.78.0.3", "fd00:78::3"],
    );
    let web = crate::network::dns::names::tests::endpoint("e".repeat(64).as_str(), "web", &[], &["10.78.0.2"]);
    let state: NetworkState = crate::network::dns::names::tests::state(vec![db, web]);
    NameTable::from_states([&state])
}

/// Sends `query` from a UDP socket in the container to `to`, turning the loop until a reply.
fn ask_udp(responder: &mut Responder<NameTable>, client: &UdpSocket, to: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    client.send_to(query, to).unwrap();
    let mut buf = [0u8; 4096];
    for _ in 0..200 {
        turn(responder);
        if let Ok(n) = client.recv(&mut buf) {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

/// A fake upstream on the host's loopback: answers every A query with 192.0.2.1, or with
/// `rcode` and nothing; also over TCP. Serves from its own thread until the test ends.
fn fake_upstream(host: &OwnedFd, rcode: u8) -> SocketAddr {
    let (udp, tcp) =
        in_netns(host.as_fd(), || (UdpSocket::bind("127.0.0.1:0").unwrap(), TcpListener::bind("127.0.0.1:0").unwrap()))
            .unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = in_netns(host.as_fd(), move || {
        drop(tcp);
        TcpListener::bind(addr).unwrap()
    })
    .unwrap();
    let answer = move |msg: &[u8]| {
        let q = message::parse_query(msg).unwrap();
        let records = if rcode == RCODE_NOERROR { vec![Record::A("192.0.2.1".parse().unwrap())] } else { vec![] };
        message::response(&q, msg, rcode, &records, 60)
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            let _ = udp.send_to(&answer(&buf[..n]), from);
        }
    });
    std::thread::spawn(move || {
        for mut conn in tcp.incoming().flatten() {
            let mut len = [0u8; 2];
            if conn.read_exact(&mut len).is_err() {
                continue;
            }
            let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if conn.read_exact(&mut msg).is_ok() {
                let reply = answer(&msg);
                let _ = conn.write_all(&(reply.len() as u16).to_be_bytes());
                let _ = conn.write_all(&reply);
            }
        }
    });
    addr
}

struct World {
    host: OwnedFd,
    container: OwnedFd,
}

fn world() -> World {
    World { host: netns_with_lo(), container: netns_with_lo() }
}

fn responder(w: &World, upstreams: Vec<SocketAddr>) -> Responder<NameTable> {
    let ctr = w.container.try_clone().unwrap();
    let config = ResponderConfig { upstreams, upstreams_in_container: false };
    // Bound from the "host": that is where its upstream sockets live.
    in_netns(w.host.as_fd(), move || Responder::bind(ctr, config, table()).unwrap()).unwrap()
}

fn client(w: &World) -> UdpSocket {
    let socket = in_netns(w.container.as_fd(), || UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
    socket.set_nonblocking(true).unwrap();
    socket
}

#[test]
fn containers_names_are_answered_and_others_forwarded() {
    if !require_root("network namespaces for the DNS responder") {
        return;
    }
    let w = world();
    let upstream = fake_upstream(&w.host, RCODE_NOERROR);
    let mut r = responder(&w, vec![upstream]);
    let (udp_port, _) = r.ports();
    let at: SocketAddr = SocketAddr::new(ip("127.0.0.11"), udp_port);
    let c = client(&w);

    let reply = ask_udp(&mut r, &c, at, &message::query(1, "DB", TYPE_A)).unwrap();
    assert_eq!(message::id(&reply), Some(1));
    assert_eq!(message::answers(&reply).unwrap(), vec![Record::A("10.78.0.3".parse().unwrap())]);
    let reply = ask_udp(&mut r, &c, at, &message::query(2, "database", TYPE_AAAA)).unwrap();
    assert_eq!(message::answers(&reply).unwrap(), vec![Record::Aaaa("fd00:78::3".parse().unwrap())]);
    let short_id = "e".repeat(12);
    let reply = ask_udp(&mut r, &c, at, &message::query(3, &short_id, TYPE_A)).unwrap();
    assert_eq!(message::answers(&reply).unwrap(), vec![Record::A("10.78.0.2".parse().unwrap())]);
    // A name with no address of that family: NOERROR and no answer, not NXDOMAIN.
    let reply = ask_udp(&mut r, &c, at, &message::query(4, "web", TYPE_AAAA)).unwrap();
    assert_eq!((message::response_rcode(&reply), message::answers(&reply).unwrap().len()), (Some(RCODE_NOERROR), 0));
    let reply = ask_udp(&mut r, &c, at, &message::query(5, "3.0.78.10.in-addr.arpa", TYPE_PTR)).unwrap();
    assert_eq!(message::answers(&reply).unwrap(), vec![Record::Ptr("db".into())]);

    // Anything else goes to the upstream, which the responder reaches on the host's loopback.
    let reply = ask_udp(&mut r, &c, at, &message::query(6, "example.test", TYPE_A)).unwrap();
    assert_eq!(message::id(&reply), Some(6), "the client's id is restored");
    assert_eq!(message::answers(&reply).unwrap(), vec![Record::A("192.0.2.1".parse().unwrap())]);
    assert!(r.deadline().is_none(), "nothing is pending once answered");

    // Garbage: FORMERR for a query-shaped message, silence for a response or a crumb.
    let mut bad = message::query(7, "x", TYPE_A);
    bad.truncate(14);
    let reply = ask_udp(&mut r, &c, at, &bad).unwrap();
    assert_eq!(message::response_rcode(&reply), Some(RCODE_FORMERR));
    c.send_to(&[1], at).unwrap();
    let q = message::query(8, "x", TYPE_A);
    let parsed = message::parse_query(&q).unwrap();
    c.send_to(&message::response(&parsed, &q, RCODE_NOERROR, &[], 0), at).unwrap();
    for _ in 0..5 {
        turn(&mut r);
    }
    let mut buf = [0u8; 512];
    assert!(c.recv(&mut buf).is_err(), "no reply to a crumb or to a response");
}

#[test]
fn failing_upstreams_are_followed_by_the_next_and_then_servfail() {
    if !require_root("network namespaces for the DNS responder") {
        return;
    }
    let w = world();
    let refusing = fake_upstream(&w.host, RCODE_REFUSED);
    let silent = in_netns(w.host.as_fd(), || UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
    let good = fake_upstream(&w.host, RCODE_NOERROR);
    let mut r = responder(&w, vec![refusing, silent.local_addr().unwrap(), good]);
    let at = SocketAddr::new(ip("127.0.0.11"), r.ports().0);
    let c = client(&w);
    c.send_to(&message::query(9, "example.test", TYPE_A), at).unwrap();
    // Refused by the first, sent to the second, which never answers...
    let mut buf = [0u8; 4096];
    let mut got = None;
    for round in 0..100 {
        turn(&mut r);
        if round == 20 {
            assert!(r.deadline().is_some(), "waiting for the silent upstream");
            r.expire(Instant::now() + Duration::from_secs(5)); // ...until its time is up
        }
        if let Ok(n) = c.recv(&mut buf) {
            got = Some(buf[..n].to_vec());
            break;
        }
    }
    let reply = got.expect("the third upstream answered");
    assert_eq!(message::answers(&reply).unwrap(), vec![Record::A("192.0.2.1".parse().unwrap())]);

    let mut r = responder(&w, vec![silent.local_addr().unwrap()]);
    let at = SocketAddr::new(ip("127.0.0.11"), r.ports().0);
    c.send_to(&message::query(10, "example.test", TYPE_A), at).unwrap();
    for _ in 0..5 {
        turn(&mut r);
    }
    r.expire(Instant::now() + Duration::from_secs(5));
    let n = c.recv(&mut buf).expect("SERVFAIL once every upstream has failed");
    assert_eq!(message::response_rcode(&buf[..n]), Some(RCODE_SERVFAIL));
    assert_eq!(message::id(&buf[..n]), Some(10));

    // No upstreams (an internal network): REFUSED at once.
    let mut r = responder(&w, Vec::new());
    let at = SocketAddr::new(ip("127.0.0.11"), r.ports().0);
    let reply = ask_udp(&mut r, &c, at, &message::query(11, "example.test", TYPE_A)).unwrap();
    assert_eq!(message::response_rcode(&reply), Some(RCODE_REFUSED));
}

#[test]
fn tcp_queries_are_answered_and_forwarded_over_tcp() {
    if !require_root("network namespaces for the DNS responder") {
        return;
    }
    let w = world();
    let upstream = fake_upstream(&w.host, RCODE_NOERROR);
    let mut r = responder(&w, vec![upstream]);
    let at = SocketAddr::new(ip("127.0.0.11"), r.ports().1);
    let mut conn = in_netns(w.container.as_fd(), || TcpStream::connect(at).unwrap()).unwrap();
    conn.set_nonblocking(true).unwrap();
    let read_reply = |conn: &mut TcpStream, r: &mut Responder<NameTable>| -> Vec<u8> {
        let mut got = Vec::new();
        for _ in 0..300 {
            turn(r);
            let mut chunk = [0u8; 1024];
            if let Ok(n) = conn.read(&mut chunk) {
                got.extend_from_slice(&chunk[..n]);
            }
            if got.len() >= 2 && got.len() >= 2 + usize::from(u16::from_be_bytes([got[0], got[1]])) {
                return got[2..].to_vec();
            }
        }
        panic!("no TCP reply")
    };
    for (id, name, want) in [(21, "web", "10.78.0.2"), (22, "example.test", "192.0.2.1")] {
        let q = message::query(id, name, TYPE_A);
        conn.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
        conn.write_all(&q).unwrap();
        let reply = read_reply(&mut conn, &mut r);
        assert_eq!(message::id(&reply), Some(id));
        assert_eq!(message::answers(&reply).unwrap(), vec![Record::A(want.parse().unwrap())], "{name}");
    }
    // A client that sends a length and then garbage of that length gets FORMERR and the
    // connection stays usable.
    conn.write_all(&[0, 3, 0, 1, 2]).unwrap();
    let reply = read_reply(&mut conn, &mut r);
    assert_eq!(message::response_rcode(&reply), Some(RCODE_FORMERR));
}

#[test]
fn port_53_reaches_the_responder_through_the_nat_rules() {
    if !require_root_and_nft("network namespaces for the DNS responder, nftables rules in one") {
        return;
    }
    let w = world();
    let mut r = responder(&w, Vec::new());
    let (udp, tcp) = r.ports();
    let script = crate::network::firewall::dns::dns_nat_script(udp, tcp);
    crate::network::firewall::nft::apply_in(w.container.as_fd(), &script, "dns redirect").unwrap();
    // The container's own program may still bind port 53 (on another address of lo).
    let own = in_netns(w.container.as_fd(), || UdpSocket::bind("127.0.0.1:53")).unwrap();
    assert!(own.is_ok(), "{own:?}");
    let c = client(&w);
    let reply = ask_udp(&mut r, &c, "127.0.0.11:53".parse().unwrap(), &message::query(31, "db", TYPE_A)).unwrap();
    assert_eq!(message::answers(&reply).unwrap(), vec![Record::A("10.78.0.3".parse().unwrap())]);
    let mut conn = in_netns(w.container.as_fd(), || TcpStream::connect("127.0.0.11:53").unwrap()).unwrap();
    conn.set_nonblocking(true).unwrap();
    let q = message::query(32, "web", TYPE_A);
    conn.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
    conn.write_all(&q).unwrap();
    let mut got = Vec::new();
    for _ in 0..300 {
        turn(&mut r);
        let mut chunk = [0u8; 512];
        if let Ok(n) = conn.read(&mut chunk) {
            got.extend_from_slice(&chunk[..n]);
        }
        if got.len() > 2 {
            break;
        }
    }
    assert!(got.len() > 14, "a TCP reply through the redirect");
    assert_eq!(message::id(&got[2..]), Some(32));
}

/// What the responder costs in memory: the resident set before and after binding it and
/// answering a thousand queries (printed; run with --nocapture). Code pages of the DNS module
/// that the test binary had not touched yet count too.
#[test]
fn resident_memory_of_a_responder() {
    if !require_root("network namespaces for the DNS responder") {
        return;
    }
    fn rss_kb() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
    let w = world();
    let c = client(&w);
    // A first responder warms up what every test of this binary shares (threads, poll).
    drop(responder(&w, Vec::new()));
    let before = rss_kb();
    let mut r = responder(&w, Vec::new());
    let bound = rss_kb();
    let at = SocketAddr::new(ip("127.0.0.11"), r.ports().0);
    for i in 0..1000u16 {
        let name = if i % 2 == 0 { "web" } else { "nobody.example" };
        ask_udp(&mut r, &c, at, &message::query(i, name, TYPE_A)).unwrap();
    }
    let after = rss_kb();
    eprintln!("DNS responder: resident set {before} kB, {bound} kB once bound, {after} kB after 1000 queries");
}
