//! Signal names and numbers as Docker accepts them: "SIGTERM", "TERM", "term", "15", and the
//! real-time signals "34"…"64", "RTMIN", "SIGRTMIN+3", "RTMAX-2", "RTMAX".

use std::fmt;

/// A signal by number, real-time ones included (nix's `Signal` has only the standard ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalNumber(i32);

impl SignalNumber {
    pub const KILL: SignalNumber = SignalNumber(libc::SIGKILL);
    pub const TERM: SignalNumber = SignalNumber(libc::SIGTERM);

    pub fn raw(self) -> i32 {
        self.0
    }
}

impl fmt::Display for SignalNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid signal {0:?}")]
pub struct BadSignal(pub String);

fn rt_min() -> i32 {
    libc::SIGRTMIN()
}

fn rt_max() -> i32 {
    libc::SIGRTMAX()
}

pub fn parse_signal(text: &str) -> Result<SignalNumber, BadSignal> {
    let bad = || BadSignal(text.to_owned());
    if let Ok(n) = text.parse::<i32>() {
        // 32 and 33 exist in the kernel but the C library keeps them for itself.
        let standard = (1..32).contains(&n) && nix::sys::signal::Signal::try_from(n).is_ok();
        return if standard || (rt_min()..=rt_max()).contains(&n) { Ok(SignalNumber(n)) } else { Err(bad()) };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(n) = realtime(name) {
        return n.filter(|n| (rt_min()..=rt_max()).contains(n)).map(SignalNumber).ok_or_else(bad);
    }
    format!("SIG{name}").parse::<nix::sys::signal::Signal>().map(|s| SignalNumber(s as i32)).map_err(|_| bad())
}

/// `RTMIN`, `RTMIN+n`, `RTMAX`, `RTMAX-n`: Some(number, None when malformed); None for any other
/// name.
fn realtime(name: &str) -> Option<Option<i32>> {
    let (base, sign, rest) = if let Some(rest) = name.strip_prefix("RTMIN") {
        (rt_min(), '+', rest)
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        (rt_max(), '-', rest)
    } else {
        return None;
    };
    if rest.is_empty() {
        return Some(Some(base));
    }
    let offset = rest.strip_prefix(sign).and_then(|digits| digits.parse::<i32>().ok());
    Some(offset.map(|offset| if sign == '+' { base + offset } else { base - offset }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> i32 {
        parse_signal(text).unwrap_or_else(|e| panic!("{e}")).raw()
    }

    #[test]
    fn accepts_dockers_spellings() {
        for s in ["SIGTERM", "TERM", "term", "15"] {
            assert_eq!(parse_signal(s).unwrap(), SignalNumber::TERM);
        }
        assert_eq!(number("kill"), 9);
        assert_eq!(number("SIGUSR2"), 12);
        for bad in ["SIGNOPE", "99", "0", "-1", "65", "32", "33", "RTMIN-1", "RTMAX+1", "RTMIN+31", "RTMIN+x", "RTMINX"]
        {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accepts_every_real_time_signal() {
        assert_eq!(number("34"), 34);
        assert_eq!(number("63"), 63);
        assert_eq!(number("64"), 64);
        assert_eq!(number("RTMIN"), 34);
        assert_eq!(number("SIGRTMIN+3"), 37);
        assert_eq!(number("sigrtmax-2"), 62);
        assert_eq!(number("RTMAX"), 64);
        assert_eq!(number("RTMIN+30"), 64);
    }
}
