//! `COPY/ADD --chmod`: an octal mode (`0755`, at most `07777`) or chmod(1)'s symbolic form
//! (`u=rwX,go=rX`, `+x`, `g-w`, `u+s`, `o=u`). A clause without a who (`+x`) applies to all
//! (no umask: the build has none to honour).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Chmod {
    Octal(u32),
    Symbolic(Vec<Clause>),
}

/// `[ugoa]*` then one or more actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Clause {
    /// Bit mask of the classes: 0o700 user, 0o070 group, 0o007 other.
    who: u32,
    actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Action {
    op: char,
    perms: Perms,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
enum Perms {
    /// `r w x X s t` letters.
    Letters(String),
    /// `u`, `g` or `o`: the current bits of that class.
    CopyFrom(char),
}

const USER: u32 = 0o700;
const GROUP: u32 = 0o070;
const OTHER: u32 = 0o007;

fn invalid_octal(text: &str) -> String {
    format!("invalid chmod parameter: '{text}'. it should be octal string and between 0 and 07777")
}

impl Chmod {
    pub fn parse(text: &str) -> Result<Chmod, String> {
        if text.starts_with(|c: char| c.is_ascii_digit()) {
            return match u32::from_str_radix(text, 8) {
                Ok(mode) if mode <= 0o7777 => Ok(Chmod::Octal(mode)),
                _ => Err(invalid_octal(text)),
            };
        }
        let invalid =
            || format!("invalid chmod parameter: '{text}': not an octal mode nor a symbolic one like u=rwX,go=rX");
        let mut clauses = Vec::new();
        for part in text.split(',') {
            let mut chars = part.chars().peekable();
            let mut who = 0;
            while let Some(&c) = chars.peek() {
                who |= match c {
                    'u' => USER,
                    'g' => GROUP,
                    'o' => OTHER,
                    'a' => USER | GROUP | OTHER,
                    _ => break,
                };
                chars.next();
            }
            let mut actions = Vec::new();
            while let Some(op) = chars.next() {
                if !matches!(op, '+' | '-' | '=') {
                    return Err(invalid());
                }
                let perms = match chars.peek() {
                    Some(&c @ ('u' | 'g' | 'o')) => {
                        chars.next();
                        Perms::CopyFrom(c)
                    }
                    _ => {
                        let mut letters = String::new();
                        while let Some(&c) = chars.peek().filter(|c| "rwxXst".contains(**c)) {
                            letters.push(c);
                            chars.next();
                        }
                        Perms::Letters(letters)
                    }
                };
                actions.push(Action { op, perms });
            }
            if actions.is_empty() {
                return Err(invalid());
            }
            clauses.push(Clause { who: if who == 0 { USER | GROUP | OTHER } else { who }, actions });
        }
        Ok(Chmod::Symbolic(clauses))
    }

    /// The permission bits (`0o7777`) a file with `mode` gets.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let clauses = match self {
            Chmod::Octal(m) => return *m,
            Chmod::Symbolic(clauses) => clauses,
        };
        let mut mode = mode & 0o7777;
        for clause in clauses {
            for action in &clause.actions {
                let bits = match &action.perms {
                    Perms::CopyFrom(class) => {
                        let shift = match class {
                            'u' => 6,
                            'g' => 3,
                            _ => 0,
                        };
                        let rwx = (mode >> shift) & 0o7;
                        (rwx << 6 | rwx << 3 | rwx) & clause.who
                    }
                    Perms::Letters(letters) => letter_bits(letters, clause.who, mode, is_dir),
                };
                match action.op {
                    '+' => mode |= bits,
                    '-' => mode &= !bits,
                    _ => mode = (mode & !class_bits(clause.who)) | bits,
                }
            }
        }
        mode
    }
}

/// The bits `=` clears for `who`: its rwx and the special bit that belongs to it.
fn class_bits(who: u32) -> u32 {
    let mut bits = who;
    if who & USER != 0 {
        bits |= 0o4000;
    }
    if who & GROUP != 0 {
        bits |= 0o2000;
    }
    if who & OTHER != 0 {
        bits |= 0o1000;
    }
    bits
}

fn letter_bits(letters: &str, who: u32, mode: u32, is_dir: bool) -> u32 {
    let mut bits = 0;
    for letter in letters.chars() {
        bits |= match letter {
            'r' => 0o444 & who,
            'w' => 0o222 & who,
            'x' => 0o111 & who,
            'X' if is_dir || mode & 0o111 != 0 => 0o111 & who,
            's' => (if who & USER != 0 { 0o4000 } else { 0 }) | (if who & GROUP != 0 { 0o2000 } else { 0 }),
            't' if who & OTHER != 0 => 0o1000,
            _ => 0,
        };
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_modes() {
        assert_eq!(Chmod::parse("755").unwrap(), Chmod::Octal(0o755));
        assert_eq!(Chmod::parse("0644").unwrap().apply(0o777, false), 0o644);
        assert_eq!(Chmod::parse("4755").unwrap().apply(0, false), 0o4755);
        for bad in ["10000", "999", "8", "07778"] {
            assert!(Chmod::parse(bad).unwrap_err().contains("between 0 and 07777"), "{bad}");
        }
    }

    #[test]
    fn symbolic_modes() {
        let apply = |spec: &str, mode: u32, dir: bool| Chmod::parse(spec).unwrap().apply(mode, dir);
        assert_eq!(apply("u=rwX,go=rX", 0o600, false), 0o644);
        assert_eq!(apply("u=rwX,go=rX", 0o700, false), 0o755);
        assert_eq!(apply("u=rwX,go=rX", 0o600, true), 0o755);
        assert_eq!(apply("+x", 0o644, false), 0o755);
        assert_eq!(apply("a-w", 0o666, false), 0o444);
        assert_eq!(apply("g-w,o=", 0o777, false), 0o750);
        assert_eq!(apply("u+s,g+s", 0o755, false), 0o6755);
        assert_eq!(apply("+t", 0o777, true), 0o1777);
        assert_eq!(apply("go=u", 0o640, false), 0o666);
        assert_eq!(apply("u+x-w", 0o644, false), 0o544);
        assert_eq!(apply("=r", 0o4777, false), 0o444);
    }

    #[test]
    fn bad_symbolic_modes() {
        for bad in ["", "u", "rwx", "u=rw,", "z+x", "u*x", "u=rwq"] {
            assert!(Chmod::parse(bad).is_err(), "{bad}");
        }
    }
}
