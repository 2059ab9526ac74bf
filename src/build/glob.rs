//! Go's `path/filepath.Match` on Unix: the wildcard rules of COPY and ADD sources (and the syntax
//! check of .dockerignore patterns). `*` matches any run of characters but `/`, `?` one character
//! but `/`, `[…]` a class (`[^…]` negated, `a-z` ranges, `\` escapes), `\x` the character x. A
//! malformed pattern (unclosed class, bad range, trailing `\`) is an error even when the name
//! does not reach it.
//!
//! Backtracking is bounded: each star tries each position once per chunk, so matching is
//! O(pattern × name) per star at worst, never exponential.

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

/// Whether `name` matches `pattern`.
pub fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let mut pattern = pattern;
    let mut name = name;
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing star matches the rest of the name unless it has a slash.
            return Ok(!name.contains('/'));
        }
        let (matched, err) = match_chunk(chunk, name);
        if let Some(t) = matched
            && (t.is_empty() || !pattern.is_empty())
        {
            name = t;
            continue;
        }
        if err {
            return Err(BadPattern);
        }
        if star {
            // Try skipping one more character each time, never a slash.
            for (i, c) in name.char_indices() {
                if c == '/' {
                    break;
                }
                let skip = i + c.len_utf8();
                let (matched, err) = match_chunk(chunk, &name[skip..]);
                if let Some(t) = matched {
                    if pattern.is_empty() && !t.is_empty() {
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                if err {
                    return Err(BadPattern);
                }
            }
        }
        // No match; the rest of the pattern must still be well formed.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            if match_chunk(chunk, "").1 {
                return Err(BadPattern);
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Checks the syntax only.
pub fn validate(pattern: &str) -> Result<(), BadPattern> {
    matches(pattern, ".").map(|_| ())
}

/// Whether `name` has wildcard characters (an escaped one does not count).
pub fn has_wildcards(name: &str) -> bool {
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Splits off leading stars and the chunk up to the next star outside a class.
fn scan_chunk(pattern: &str) -> (bool, &str, &str) {
    let trimmed = pattern.trim_start_matches('*');
    let star = trimmed.len() != pattern.len();
    let bytes = trimmed.as_bytes();
    let mut in_range = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &trimmed[..i], &trimmed[i..])
}

/// Matches `chunk` (no stars outside classes) against the start of `s`: the rest of `s` on a
/// match, and whether the chunk is malformed. Once the match fails the chunk is still read to
/// its end, for the syntax check.
fn match_chunk<'a>(chunk: &str, s: &'a str) -> (Option<&'a str>, bool) {
    let mut chunk = chunk;
    let mut s = s;
    let mut failed = false;
    while let Some(first) = chunk.chars().next() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match first {
            '[' => {
                let mut r = '\0';
                if !failed {
                    r = s.chars().next().expect("not empty");
                    s = &s[r.len_utf8()..];
                }
                chunk = &chunk[1..];
                let negated = chunk.starts_with('^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if chunk.starts_with(']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let Some((lo, rest)) = class_char(chunk) else { return (None, true) };
                    chunk = rest;
                    let mut hi = lo;
                    if let Some(rest) = chunk.strip_prefix('-') {
                        let Some((h, rest)) = class_char(rest) else { return (None, true) };
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            '?' => {
                if !failed {
                    let c = s.chars().next().expect("not empty");
                    if c == '/' {
                        failed = true;
                    }
                    s = &s[c.len_utf8()..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if first == '\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return (None, true);
                    }
                }
                let c = chunk.chars().next().expect("not empty");
                if !failed {
                    if s.starts_with(c) {
                        s = &s[c.len_utf8()..];
                    } else {
                        failed = true;
                    }
                }
                chunk = &chunk[c.len_utf8()..];
            }
        }
    }
    if failed { (None, false) } else { (Some(s), false) }
}

/// One character of a class (an escape allowed); `None` when malformed: empty, a bare `-` or
/// `]`, or the class ends right after it.
fn class_char(chunk: &str) -> Option<(char, &str)> {
    let mut chunk = chunk;
    match chunk.chars().next()? {
        '-' | ']' => return None,
        '\\' => chunk = &chunk[1..],
        _ => {}
    }
    let c = chunk.chars().next()?;
    let rest = &chunk[c.len_utf8()..];
    if rest.is_empty() {
        return None;
    }
    Some((c, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's own `filepath.Match` table (as patternmatcher's tests carry it), Unix rows.
    #[test]
    fn go_match_table() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, Result<bool, BadPattern>)] = &[
            ("abc", "abc", Ok(true)), ("*", "abc", Ok(true)), ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)), ("a*", "abc", Ok(true)), ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)), ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)), ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)), ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)), ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)), ("ab[b-d]", "abc", Ok(true)), ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)), ("ab[^b-d]", "abc", Ok(false)), ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)), ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)), ("a[^a]b", "a☺b", Ok(true)), ("a???b", "a☺b", Ok(false)),
            ("a[^a][^a][^a]b", "a☺b", Ok(false)), ("[a-ζ]*", "α", Ok(true)), ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)), ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)), ("[\\-]", "-", Ok(true)), ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "-", Ok(true)), ("[x\\-]", "z", Ok(false)), ("[\\-x]", "x", Ok(true)),
            ("[\\-x]", "-", Ok(true)), ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", Err(BadPattern)), ("[-]", "-", Err(BadPattern)), ("[x-]", "x", Err(BadPattern)),
            ("[x-]", "-", Err(BadPattern)), ("[x-]", "z", Err(BadPattern)), ("[-x]", "x", Err(BadPattern)),
            ("[-x]", "-", Err(BadPattern)), ("[-x]", "a", Err(BadPattern)), ("\\", "a", Err(BadPattern)),
            ("[a-b-c]", "a", Err(BadPattern)), ("[", "a", Err(BadPattern)), ("[^", "a", Err(BadPattern)),
            ("[^bc", "a", Err(BadPattern)), ("a[", "a", Err(BadPattern)), ("a[", "ab", Err(BadPattern)),
            ("a[", "x", Err(BadPattern)), ("a/b[", "x", Err(BadPattern)), ("*x", "xxx", Ok(true)),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(matches(pattern, name), *expected, "Match({pattern:?}, {name:?})");
        }
    }

    #[test]
    fn wildcard_detection() {
        assert!(has_wildcards("*.go") && has_wildcards("a/b?") && has_wildcards("x[0]"));
        assert!(!has_wildcards("plain/path") && !has_wildcards("a\\*b"));
    }

    #[test]
    fn hostile_patterns_stay_fast() {
        let pattern = "a*".repeat(50) + "b";
        let name = "a".repeat(200);
        assert_eq!(matches(&pattern, &name), Ok(false));
    }
}
