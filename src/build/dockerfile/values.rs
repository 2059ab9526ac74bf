//! Small value syntaxes Dockerfiles borrow from Go and Docker: durations (`1m30s`), byte sizes
//! (`64m`), booleans (`true`, `1`, `F`), EXPOSE port specs (`80`, `8000-8010/udp`) and signal
//! names (`SIGTERM`, `term`, `15`, `SIGRTMIN+3`).

use std::time::Duration;

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units `ns us µs ms s m h`,
/// optionally signed; `0` alone needs no unit. Negative durations are refused (nothing in a
/// Dockerfile takes one).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("time: invalid duration {text:?}");
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return Err(format!("{}: negative durations are not allowed", bad()));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total_ns: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(bad());
        }
        let value: f64 = number.parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            unit => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        rest = &rest[unit_len..];
        total_ns += value * scale;
    }
    if total_ns > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(Duration::from_nanos(total_ns.round() as u64))
}

/// Docker's `units.RAMInBytes`: a number with an optional binary unit `b k m g t p`, optionally
/// followed by `b` or `ib`, any case (`64m`, `1.5GiB`, `1024`).
pub fn parse_ram_size(text: &str) -> Result<u64, String> {
    let bad = || format!("invalid size: '{text}'");
    let number_len = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(number_len);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let (multiplier, suffix) = match unit.chars().next() {
        Some('k') => (1u64 << 10, &unit[1..]),
        Some('m') => (1 << 20, &unit[1..]),
        Some('g') => (1 << 30, &unit[1..]),
        Some('t') => (1 << 40, &unit[1..]),
        Some('p') => (1 << 50, &unit[1..]),
        _ => (1, unit.as_str()),
    };
    if !matches!(suffix, "" | "b" | "ib" | "i") {
        return Err(bad());
    }
    let bytes = value * multiplier as f64;
    if bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// One EXPOSE word (`[ip:][hostport:]port[-end][/proto]`) as the `port/proto` keys it adds to the
/// image config; a range gives one key per port. The protocol defaults to tcp.
pub fn parse_expose(spec: &str) -> Result<Vec<String>, String> {
    let invalid = |why: String| format!("invalid port: {spec:?}: {why}");
    let (addr, port_proto) = match spec.rfind(':') {
        Some(at) => (&spec[..at], &spec[at + 1..]),
        None => ("", spec),
    };
    let (port, proto) = match port_proto.split_once('/') {
        Some((port, proto)) => (port, proto.to_ascii_lowercase()),
        None => (port_proto, "tcp".to_owned()),
    };
    if port.is_empty() {
        return Err(invalid("no port specified".into()));
    }
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(invalid(format!("invalid proto {proto:?}")));
    }
    let (start, end) = port_range(port).map_err(|e| format!("invalid containerPort: {port}: {e}"))?;
    // `ip:hostport:port` was accepted for compatibility; only the container side matters here.
    let host_port = addr.rsplit_once(':').map_or(addr, |(_, host)| host);
    if !host_port.is_empty() {
        let (host_start, host_end) =
            port_range(host_port).map_err(|e| format!("invalid hostPort: {host_port}: {e}"))?;
        if end - start != host_end - host_start && end != start {
            return Err(format!("invalid ranges specified for container and host Ports: {port} and {host_port}"));
        }
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

fn port_range(text: &str) -> Result<(u32, u32), String> {
    let number = |s: &str| -> Result<u32, String> {
        match s.parse::<u32>() {
            Ok(p) if p <= 65535 => Ok(p),
            Ok(_) => Err("value out of range (0–65535)".into()),
            Err(_) => Err(format!("invalid port number {s:?}")),
        }
    };
    match text.split_once('-') {
        None => number(text).map(|p| (p, p)),
        Some((start, end)) => {
            let (start, end) = (number(start)?, number(end)?);
            if end < start {
                return Err(format!("invalid port range: {text}"));
            }
            Ok((start, end))
        }
    }
}

const SIGNALS: &[(&str, i32)] = &[
    ("ABRT", 6),
    ("ALRM", 14),
    ("BUS", 7),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("FPE", 8),
    ("HUP", 1),
    ("ILL", 4),
    ("INT", 2),
    ("IO", 29),
    ("IOT", 6),
    ("KILL", 9),
    ("PIPE", 13),
    ("POLL", 29),
    ("PROF", 27),
    ("PWR", 30),
    ("QUIT", 3),
    ("SEGV", 11),
    ("STKFLT", 16),
    ("STOP", 19),
    ("SYS", 31),
    ("TERM", 15),
    ("TRAP", 5),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("USR1", 10),
    ("USR2", 12),
    ("VTALRM", 26),
    ("WINCH", 28),
    ("XCPU", 24),
    ("XFSZ", 25),
];

/// A STOPSIGNAL value: a number (1–64) or a name with or without `SIG`, any case, including
/// `RTMIN+n` and `RTMAX-n`. Returns the number.
pub fn parse_signal(text: &str) -> Result<i32, String> {
    let invalid = || format!("invalid signal: {text}");
    if let Ok(n) = text.parse::<i32>() {
        return if (1..=64).contains(&n) { Ok(n) } else { Err(invalid()) };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = SIGNALS.iter().find(|(s, _)| *s == name) {
        return Ok(n);
    }
    // SIGRTMIN is 34 and SIGRTMAX 64 on Linux (glibc and musl reserve 32 and 33).
    let (base, sign, rest) = if let Some(rest) = name.strip_prefix("RTMIN") {
        (34, '+', rest)
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        (64, '-', rest)
    } else {
        return Err(invalid());
    };
    let offset: i32 = match rest.strip_prefix(sign) {
        _ if rest.is_empty() => 0,
        Some(digits) => digits.parse().map_err(|_| invalid())?,
        None => return Err(invalid()),
    };
    let n = if sign == '+' { base + offset } else { base - offset };
    if (34..=64).contains(&n) { Ok(n) } else { Err(invalid()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_go() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse_duration("50ns").unwrap(), Duration::from_nanos(50));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "5", "5x", "s", "-1s", ".s", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_like_docker() {
        assert_eq!(parse_ram_size("1024").unwrap(), 1024);
        assert_eq!(parse_ram_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_ram_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_ram_size("2 kb").unwrap(), 2048);
        for bad in ["", "m", "1x", "1mbb", ".5m"] {
            assert!(parse_ram_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expose_specs() {
        assert_eq!(parse_expose("80").unwrap(), ["80/tcp"]);
        assert_eq!(parse_expose("53/UDP").unwrap(), ["53/udp"]);
        assert_eq!(parse_expose("8000-8002").unwrap(), ["8000/tcp", "8001/tcp", "8002/tcp"]);
        assert_eq!(parse_expose("127.0.0.1:8080:80").unwrap(), ["80/tcp"]);
        for bad in ["", "/tcp", "80/foo", "70000", "90-80", "a"] {
            assert!(parse_expose(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("kill").unwrap(), 9);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("SIGRTMIN+3").unwrap(), 37);
        assert_eq!(parse_signal("RTMAX").unwrap(), 64);
        for bad in ["", "0", "65", "SIGFOO", "RTMIN+40", "RTMINX"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
