//! DNS messages (RFC 1035), as much as the embedded responder needs: the header and question
//! of a query, and answers of type A, AAAA and PTR. Hand-written rather than hickory-proto
//! (53 crates): the responder reads one question and writes a few records, every offset is
//! bounds-checked where it is read, compression pointers may only point backwards and are
//! followed a bounded number of times, so no input can make it panic or loop (see the tests,
//! which feed it every truncation and random bytes). Forwarded queries and replies are relayed
//! as bytes, only their id rewritten.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const HEADER_LEN: usize = 12;
pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_ANY: u16 = 255;
pub const CLASS_IN: u16 = 1;

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_FORMERR: u8 = 1;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_NOTIMP: u8 = 4;
pub const RCODE_REFUSED: u8 = 5;

const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;
const OPCODE_MASK: u16 = 0x7800;

const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;
/// More compression jumps than a name can have labels means a loop.
const MAX_JUMPS: usize = 127;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("message too short")]
    Short,
    #[error("not a query")]
    NotQuery,
    #[error("not exactly one question")]
    QuestionCount,
    #[error("malformed name")]
    BadName,
}

/// A parsed query: what the responder answers from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    pub flags: u16,
    /// Lower case, no trailing dot, labels joined by '.' ("" for the root).
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// Where the question ends in the message (so a response can copy it).
    pub question_end: usize,
}

impl Query {
    pub fn opcode(&self) -> u16 {
        (self.flags & OPCODE_MASK) >> 11
    }
}

fn u16_at(msg: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]))
}

/// The name at `start`, and where the name's bytes end at `start` (after the first pointer,
/// if any).
pub fn read_name(msg: &[u8], start: usize) -> Result<(String, usize), MessageError> {
    let mut name = String::new();
    let mut at = start;
    let mut end = None;
    let mut jumps = 0;
    let mut len = 0usize;
    loop {
        let byte = *msg.get(at).ok_or(MessageError::BadName)?;
        match byte & 0xc0 {
            0x00 => {
                let label = usize::from(byte);
                if label == 0 {
                    return Ok((name, end.unwrap_or(at + 1)));
                }
                if label > MAX_LABEL {
                    return Err(MessageError::BadName);
                }
                let bytes = msg.get(at + 1..at + 1 + label).ok_or(MessageError::BadName)?;
                len += label + 1;
                if len > MAX_NAME {
                    return Err(MessageError::BadName);
                }
                if !name.is_empty() {
                    name.push('.');
                }
                name.extend(bytes.iter().map(|b| char::from(b.to_ascii_lowercase())));
                at += 1 + label;
            }
            0xc0 => {
                let target = usize::from(u16_at(msg, at).ok_or(MessageError::BadName)? & 0x3fff);
                // Only backwards: a pointer to itself or ahead could loop.
                if target >= at || jumps >= MAX_JUMPS {
                    return Err(MessageError::BadName);
                }
                jumps += 1;
                end.get_or_insert(at + 2);
                at = target;
            }
            _ => return Err(MessageError::BadName),
        }
    }
}

/// Parses a query with one question.
pub fn parse_query(msg: &[u8]) -> Result<Query, MessageError> {
    if msg.len() < HEADER_LEN {
        return Err(MessageError::Short);
    }
    let id = u16_at(msg, 0).ok_or(MessageError::Short)?;
    let flags = u16_at(msg, 2).ok_or(MessageError::Short)?;
    if flags & FLAG_QR != 0 {
        return Err(MessageError::NotQuery);
    }
    if u16_at(msg, 4) != Some(1) {
        return Err(MessageError::QuestionCount);
    }
    let (name, after) = read_name(msg, HEADER_LEN)?;
    let qtype = u16_at(msg, after).ok_or(MessageError::Short)?;
    let qclass = u16_at(msg, after + 2).ok_or(MessageError::Short)?;
    Ok(Query { id, flags, name, qtype, qclass, question_end: after + 4 })
}

/// An answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Ptr(String),
}

fn encode_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let bytes = &label.as_bytes()[..label.len().min(MAX_LABEL)];
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    out.push(0);
}

/// A response to `query` (whose bytes are `msg`): the question copied, then `records`, all
/// named by a pointer to the question's name.
pub fn response(query: &Query, msg: &[u8], rcode: u8, records: &[Record], ttl: u32) -> Vec<u8> {
    let question = msg.get(HEADER_LEN..query.question_end).unwrap_or(&[]);
    let mut out = Vec::with_capacity(HEADER_LEN + question.len() + records.len() * 28);
    let flags = FLAG_QR | FLAG_AA | FLAG_RA | (query.flags & (OPCODE_MASK | FLAG_RD)) | u16::from(rcode & 0x0f);
    out.extend_from_slice(&query.id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&u16::try_from(records.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for record in records {
        out.extend_from_slice(&0xc00cu16.to_be_bytes());
        let (kind, data) = match record {
            Record::A(a) => (TYPE_A, a.octets().to_vec()),
            Record::Aaaa(a) => (TYPE_AAAA, a.octets().to_vec()),
            Record::Ptr(name) => {
                let mut data = Vec::new();
                encode_name(&mut data, name);
                (TYPE_PTR, data)
            }
        };
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&u16::try_from(data.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&data);
    }
    out
}

/// A bare error response for a message that could not be parsed as a query (no question):
/// FORMERR with the message's id, or None when it is too short to have an id, or is itself a
/// response (never answer those: two responders could play ping-pong).
pub fn error_without_question(msg: &[u8], rcode: u8) -> Option<Vec<u8>> {
    let id = u16_at(msg, 0)?;
    let flags = u16_at(msg, 2).unwrap_or(0);
    if flags & FLAG_QR != 0 {
        return None;
    }
    let flags = FLAG_QR | FLAG_RA | (flags & (OPCODE_MASK | FLAG_RD)) | u16::from(rcode);
    let mut out = id.to_be_bytes().to_vec();
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    Some(out)
}

/// The id of a message.
pub fn id(msg: &[u8]) -> Option<u16> {
    u16_at(msg, 0)
}

/// Replaces a message's id.
pub fn set_id(msg: &mut [u8], id: u16) {
    if let Some(bytes) = msg.get_mut(0..2) {
        bytes.copy_from_slice(&id.to_be_bytes());
    }
}

/// The rcode of a response (None for a query or a short message).
pub fn response_rcode(msg: &[u8]) -> Option<u8> {
    let flags = u16_at(msg, 2)?;
    (flags & FLAG_QR != 0 && msg.len() >= HEADER_LEN).then_some((flags & 0x0f) as u8)
}

/// True for a response with the truncated bit.
pub fn is_truncated(msg: &[u8]) -> bool {
    u16_at(msg, 2).is_some_and(|f| f & FLAG_TC != 0)
}

/// The reverse-lookup name of `addr` ("2.0.77.10.in-addr.arpa", nibbles for IPv6).
pub fn reverse_name(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(a) => {
            let mut name = String::with_capacity(72);
            for byte in a.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0x0f, byte >> 4));
            }
            name.push_str("ip6.arpa");
            name
        }
    }
}

/// The address a reverse-lookup name asks about, if it is one.
pub fn parse_reverse_name(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let parts: Vec<u8> = rest.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
        let [d, c, b, a] = parts.as_slice() else { return None };
        return Some(IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d)));
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u8> = rest
        .split('.')
        .map(|p| if p.len() == 1 { u8::from_str_radix(p, 16).ok() } else { None })
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let value = nibbles.iter().rev().fold(0u128, |acc, n| (acc << 4) | u128::from(*n));
    Some(IpAddr::V6(Ipv6Addr::from(value)))
}

/// A query for `name` of type `qtype` with id `id` (tests; and the shape clients send).
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = id.to_be_bytes().to_vec();
    out.extend_from_slice(&FLAG_RD.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    encode_name(&mut out, name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// The answers of a response, as records (tests, and the responder's own checks).
pub fn answers(msg: &[u8]) -> Result<Vec<Record>, MessageError> {
    let count = u16_at(msg, 6).ok_or(MessageError::Short)?;
    let questions = u16_at(msg, 4).ok_or(MessageError::Short)?;
    let mut at = HEADER_LEN;
    for _ in 0..questions {
        at = read_name(msg, at)?.1 + 4;
    }
    let mut out = Vec::new();
    for _ in 0..count {
        let (_, after) = read_name(msg, at)?;
        let kind = u16_at(msg, after).ok_or(MessageError::Short)?;
        let len = usize::from(u16_at(msg, after + 8).ok_or(MessageError::Short)?);
        let data_at = after + 10;
        let data = msg.get(data_at..data_at + len).ok_or(MessageError::Short)?;
        out.push(match kind {
            TYPE_A => Record::A(Ipv4Addr::from(<[u8; 4]>::try_from(data).map_err(|_| MessageError::Short)?)),
            TYPE_AAAA => Record::Aaaa(Ipv6Addr::from(<[u8; 16]>::try_from(data).map_err(|_| MessageError::Short)?)),
            TYPE_PTR => Record::Ptr(read_name(msg, data_at)?.0),
            _ => return Err(MessageError::BadName),
        });
        at = data_at + len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_and_answers_encode() {
        let msg = query(0x1234, "Web.Example", TYPE_A);
        let q = parse_query(&msg).unwrap();
        assert_eq!(
            (q.id, q.name.as_str(), q.qtype, q.qclass, q.question_end),
            (0x1234, "web.example", TYPE_A, 1, msg.len())
        );
        let records = [Record::A(Ipv4Addr::new(10, 77, 0, 2)), Record::A(Ipv4Addr::new(10, 77, 0, 3))];
        let resp = response(&q, &msg, RCODE_NOERROR, &records, 0);
        assert_eq!(id(&resp), Some(0x1234));
        assert_eq!(response_rcode(&resp), Some(RCODE_NOERROR));
        assert_eq!(answers(&resp).unwrap(), records);
        let ptr = response(&q, &msg, RCODE_NOERROR, &[Record::Ptr("web".into())], 600);
        assert_eq!(answers(&ptr).unwrap(), vec![Record::Ptr("web".into())]);
        let nx = response(&q, &msg, RCODE_NXDOMAIN, &[], 0);
        assert_eq!(response_rcode(&nx), Some(RCODE_NXDOMAIN));
        assert!(answers(&nx).unwrap().is_empty());
        assert!(!is_truncated(&nx));
        assert_eq!(response_rcode(&msg), None, "a query has no rcode");
    }

    #[test]
    fn compression_pointers_are_followed_backwards_only() {
        // A question whose name is "a" + pointer to "example" placed in the header area is
        // not possible; build: header, "example" at 12, then a second name "www" + ptr(12).
        let mut msg = query(1, "example", TYPE_A);
        let second = msg.len();
        msg.extend_from_slice(&[3, b'w', b'w', b'w', 0xc0, 12]);
        assert_eq!(read_name(&msg, second).unwrap(), ("www.example".into(), second + 6));
        // A pointer to itself, and one forward, are refused.
        let mut looped = msg.clone();
        let at = looped.len();
        looped.extend_from_slice(&[0xc0, at as u8]);
        assert_eq!(read_name(&looped, at), Err(MessageError::BadName));
        let mut forward = query(1, "x", TYPE_A);
        forward[12] = 0xc0;
        forward[13] = 200;
        assert!(parse_query(&forward).is_err());
        // Reserved label types are refused.
        let mut odd = query(1, "x", TYPE_A);
        odd[12] = 0x41;
        assert_eq!(parse_query(&odd), Err(MessageError::BadName));
    }

    #[test]
    fn hostile_messages_never_panic() {
        let good = query(7, "some.container.name", TYPE_AAAA);
        for cut in 0..good.len() {
            assert!(parse_query(&good[..cut]).is_err(), "a query cut at {cut} parses");
            let _ = error_without_question(&good[..cut], RCODE_FORMERR);
            let _ = answers(&good[..cut]);
        }
        // Random bytes: deterministic xorshift, a few thousand messages.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..4000 {
            let len = (round % 300) + 1;
            let mut msg = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                msg.push(x as u8);
            }
            if round % 2 == 0 && msg.len() > 5 {
                msg[4] = 0;
                msg[5] = 1; // one question, so the name parser runs
                msg[2] &= 0x7f;
            }
            if let Ok(q) = parse_query(&msg) {
                let _ = response(&q, &msg, RCODE_NOERROR, &[Record::Ptr(q.name.clone())], 0);
            }
            let _ = answers(&msg);
            let _ = error_without_question(&msg, RCODE_FORMERR);
        }
        // Names longer than 255 bytes are refused.
        let mut long = query(1, "x", TYPE_A)[..HEADER_LEN].to_vec();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(parse_query(&long), Err(MessageError::BadName));
    }

    #[test]
    fn responses_are_not_queries_and_get_no_error_reply() {
        let q = query(9, "x", TYPE_A);
        let parsed = parse_query(&q).unwrap();
        let resp = response(&parsed, &q, RCODE_NOERROR, &[], 0);
        assert_eq!(parse_query(&resp), Err(MessageError::NotQuery));
        assert_eq!(error_without_question(&resp, RCODE_FORMERR), None);
        let err = error_without_question(&q[..6], RCODE_FORMERR).unwrap();
        assert_eq!((id(&err), response_rcode(&err)), (Some(9), Some(RCODE_FORMERR)));
    }

    #[test]
    fn reverse_names_both_ways() {
        let v4: IpAddr = "10.77.0.2".parse().unwrap();
        assert_eq!(reverse_name(v4), "2.0.77.10.in-addr.arpa");
        assert_eq!(parse_reverse_name("2.0.77.10.in-addr.arpa"), Some(v4));
        let v6: IpAddr = "fd00:77::2".parse().unwrap();
        let name = reverse_name(v6);
        assert!(name.starts_with("2.0.0.0.") && name.ends_with(".0.0.d.f.ip6.arpa"), "{name}");
        assert_eq!(parse_reverse_name(&name), Some(v6));
        for bad in ["1.2.3.in-addr.arpa", "256.1.1.1.in-addr.arpa", "x.ip6.arpa", "example.com", "1.2.ip6.arpa"] {
            assert_eq!(parse_reverse_name(bad), None, "{bad}");
        }
    }
}
