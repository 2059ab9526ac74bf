//! The functions a `--format` template may call: Go's builtins (and, or, not, len, index,
//! slice, eq, ne, lt, le, gt, ge, print, printf, println) and Docker's (json, split, join,
//! title, lower, upper, pad, truncate), with Docker's header variants for `table` headers.

use serde_json::Value;

use super::TemplateError;
use super::exec::Val;

/// Docker renders a table's header row with functions that leave the column name as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Functions {
    Basic,
    Header,
}

fn arity(name: &str, args: &[Val], n: usize) -> Result<(), TemplateError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(TemplateError::exec(format!("wrong number of args for {name}: want {n} got {}", args.len())))
    }
}

fn string_arg<'v>(name: &str, v: &'v Val) -> Result<&'v str, TemplateError> {
    match v {
        Val::Json(Value::String(s)) => Ok(s),
        other => Err(TemplateError::exec(format!(
            "wrong type for value in {name}; expected string; got {}",
            other.type_name()
        ))),
    }
}

fn int_arg(name: &str, v: &Val) -> Result<i64, TemplateError> {
    match v {
        Val::Json(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64().expect("checked")),
        Val::Json(Value::Number(n)) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
            Ok(n.as_f64().expect("checked") as i64)
        }
        other => {
            Err(TemplateError::exec(format!("wrong type for value in {name}; expected int; got {}", other.type_name())))
        }
    }
}

fn string(s: impl Into<String>) -> Val {
    Val::Json(Value::String(s.into()))
}

/// Whether a template may call `name` (Go refuses unknown functions when it parses).
pub fn is_function(name: &str) -> bool {
    matches!(
        name,
        "json"
            | "split"
            | "join"
            | "title"
            | "lower"
            | "upper"
            | "pad"
            | "truncate"
            | "and"
            | "or"
            | "not"
            | "len"
            | "index"
            | "slice"
            | "eq"
            | "ne"
            | "lt"
            | "le"
            | "gt"
            | "ge"
            | "print"
            | "println"
            | "printf"
    )
}

pub fn call(functions: Functions, name: &str, args: Vec<Val>) -> Result<Val, TemplateError> {
    if functions == Functions::Header {
        match name {
            "json" | "title" | "lower" | "upper" => {
                arity(name, &args, 1)?;
                return Ok(args.into_iter().next().expect("one argument"));
            }
            "split" | "join" | "truncate" => {
                arity(name, &args, 2)?;
                return Ok(args.into_iter().next().expect("two arguments"));
            }
            _ => {}
        }
    }
    match name {
        "json" => {
            arity(name, &args, 1)?;
            Ok(string(match &args[0] {
                Val::Missing => "null".to_owned(),
                Val::Json(v) => v.to_string(),
            }))
        }
        "split" => {
            arity(name, &args, 2)?;
            let (s, sep) = (string_arg(name, &args[0])?, string_arg(name, &args[1])?);
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                s.split(sep).map(|p| Value::String(p.to_owned())).collect()
            };
            Ok(Val::Json(Value::Array(parts)))
        }
        "join" => {
            arity(name, &args, 2)?;
            let sep = string_arg(name, &args[1])?;
            match &args[0] {
                Val::Json(Value::Array(items)) => {
                    let parts: Result<Vec<&str>, _> = items
                        .iter()
                        .map(|i| match i {
                            Value::String(s) => Ok(s.as_str()),
                            _ => Err(TemplateError::exec("wrong type for value in join; expected []string")),
                        })
                        .collect();
                    Ok(string(parts?.join(sep)))
                }
                Val::Missing | Val::Json(Value::Null) => Ok(string("")),
                other => Err(TemplateError::exec(format!(
                    "wrong type for value in join; expected []string; got {}",
                    other.type_name()
                ))),
            }
        }
        "title" => {
            arity(name, &args, 1)?;
            Ok(string(title(string_arg(name, &args[0])?)))
        }
        "lower" => {
            arity(name, &args, 1)?;
            Ok(string(string_arg(name, &args[0])?.to_lowercase()))
        }
        "upper" => {
            arity(name, &args, 1)?;
            Ok(string(string_arg(name, &args[0])?.to_uppercase()))
        }
        "pad" => {
            arity(name, &args, 3)?;
            let s = string_arg(name, &args[0])?;
            let (before, after) = (int_arg(name, &args[1])?.max(0) as usize, int_arg(name, &args[2])?.max(0) as usize);
            Ok(string(if s.is_empty() {
                String::new()
            } else {
                format!("{}{s}{}", " ".repeat(before), " ".repeat(after))
            }))
        }
        "truncate" => {
            arity(name, &args, 2)?;
            let s = string_arg(name, &args[0])?;
            let n = int_arg(name, &args[1])?.max(0) as usize;
            // Docker cuts bytes; never split a character.
            let mut end = n.min(s.len());
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            Ok(string(&s[..end]))
        }
        "and" | "or" => {
            if args.is_empty() {
                return Err(TemplateError::exec(format!("wrong number of args for {name}: want at least 1 got 0")));
            }
            let stop_when = name == "or";
            let last = args.len() - 1;
            for (i, arg) in args.into_iter().enumerate() {
                if arg.truthy() == stop_when || i == last {
                    return Ok(arg);
                }
            }
            unreachable!("the last argument returns")
        }
        "not" => {
            arity(name, &args, 1)?;
            Ok(Val::Json(Value::Bool(!args[0].truthy())))
        }
        "len" => {
            arity(name, &args, 1)?;
            let n = match &args[0] {
                Val::Json(Value::String(s)) => s.len(),
                Val::Json(Value::Array(a)) => a.len(),
                Val::Json(Value::Object(o)) => o.len(),
                other => return Err(TemplateError::exec(format!("len of type {}", other.type_name()))),
            };
            Ok(Val::Json(Value::from(n)))
        }
        "index" => index(args),
        "slice" => slice(args),
        "eq" => {
            if args.len() < 2 {
                return Err(TemplateError::exec("missing argument for comparison"));
            }
            let first = &args[0];
            let mut equal = false;
            for other in &args[1..] {
                equal |= compare(first, other)? == Some(std::cmp::Ordering::Equal);
            }
            Ok(Val::Json(Value::Bool(equal)))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(name, &args, 2)?;
            let ordering = compare(&args[0], &args[1])?;
            use std::cmp::Ordering::*;
            let result = match (name, ordering) {
                ("ne", o) => o != Some(Equal),
                (_, None) => return Err(TemplateError::exec("invalid type for comparison")),
                ("lt", Some(o)) => o == Less,
                ("le", Some(o)) => o != Greater,
                ("gt", Some(o)) => o == Greater,
                (_, Some(o)) => o != Less,
            };
            Ok(Val::Json(Value::Bool(result)))
        }
        "print" => Ok(string(sprint(&args))),
        "println" => {
            let parts: Vec<String> = args.iter().map(print_value).collect();
            Ok(string(format!("{}\n", parts.join(" "))))
        }
        "printf" => {
            let Some((format, rest)) = args.split_first() else {
                return Err(TemplateError::exec("wrong number of args for printf: want at least 1 got 0"));
            };
            Ok(string(printf(string_arg(name, format)?, rest)))
        }
        _ => Err(TemplateError::exec(format!("function {name:?} not defined"))),
    }
}

/// strings.Title: the first letter of each space-separated word in upper case.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_word_start = true;
    for c in s.chars() {
        if at_word_start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_word_start = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

fn index(args: Vec<Val>) -> Result<Val, TemplateError> {
    let mut args = args.into_iter();
    let mut value =
        args.next().ok_or_else(|| TemplateError::exec("wrong number of args for index: want at least 1 got 0"))?;
    for key in args {
        value = match (value, &key) {
            (Val::Json(Value::Object(mut map)), Val::Json(Value::String(k))) => {
                map.remove(k).map_or(Val::Missing, Val::Json)
            }
            (Val::Json(Value::Array(mut items)), Val::Json(Value::Number(_))) => {
                let i = int_arg("index", &key)?;
                if i < 0 || i as usize >= items.len() {
                    return Err(TemplateError::exec(format!("error calling index: index out of range: {i}")));
                }
                Val::Json(items.swap_remove(i as usize))
            }
            (Val::Json(Value::String(s)), Val::Json(Value::Number(_))) => {
                let i = int_arg("index", &key)?;
                match usize::try_from(i).ok().and_then(|i| s.as_bytes().get(i)) {
                    Some(byte) => Val::Json(Value::from(*byte)),
                    None => return Err(TemplateError::exec(format!("error calling index: index out of range: {i}"))),
                }
            }
            (Val::Missing | Val::Json(Value::Null), _) => {
                return Err(TemplateError::exec("error calling index: index of untyped nil"));
            }
            (other, _) => {
                return Err(TemplateError::exec(format!(
                    "error calling index: cannot index {} with {}",
                    other.type_name(),
                    key.type_name()
                )));
            }
        };
    }
    Ok(value)
}

fn slice(args: Vec<Val>) -> Result<Val, TemplateError> {
    let Some((item, bounds)) = args.split_first() else {
        return Err(TemplateError::exec("wrong number of args for slice: want at least 1 got 0"));
    };
    let bounds: Vec<i64> = bounds.iter().map(|b| int_arg("slice", b)).collect::<Result<_, _>>()?;
    let len = match item {
        Val::Json(Value::String(s)) => s.len(),
        Val::Json(Value::Array(a)) => a.len(),
        other => {
            return Err(TemplateError::exec(format!(
                "error calling slice: can't slice item of type {}",
                other.type_name()
            )));
        }
    };
    let (from, to) = match bounds.as_slice() {
        [] => (0, len as i64),
        [from] => (*from, len as i64),
        [from, to] => (*from, *to),
        _ => return Err(TemplateError::exec("error calling slice: too many slice indexes")),
    };
    if from < 0 || to < from || to as usize > len {
        return Err(TemplateError::exec(format!("error calling slice: index out of range: {from}:{to}")));
    }
    let (from, to) = (from as usize, to as usize);
    Ok(match item {
        Val::Json(Value::String(s)) => string(
            s.get(from..to).ok_or_else(|| TemplateError::exec("error calling slice: not at a character boundary"))?,
        ),
        Val::Json(Value::Array(a)) => Val::Json(Value::Array(a[from..to].to_vec())),
        _ => unreachable!("checked above"),
    })
}

/// Go's basic-kind comparison: integers with integers, floats with floats, strings with
/// strings, booleans and nil for equality only.
fn compare(a: &Val, b: &Val) -> Result<Option<std::cmp::Ordering>, TemplateError> {
    match (a, b) {
        // Go ignores the size and sign of integers, but an integer is not comparable to a float.
        (Val::Json(Value::Number(x)), Val::Json(Value::Number(y))) if x.is_f64() == y.is_f64() => {
            Ok(x.as_f64().partial_cmp(&y.as_f64()))
        }
        (Val::Json(Value::String(x)), Val::Json(Value::String(y))) => Ok(Some(x.cmp(y))),
        (Val::Json(Value::Bool(x)), Val::Json(Value::Bool(y))) => Ok((x == y).then_some(std::cmp::Ordering::Equal)),
        (Val::Missing | Val::Json(Value::Null), Val::Missing | Val::Json(Value::Null)) => {
            Ok(Some(std::cmp::Ordering::Equal))
        }
        (Val::Missing | Val::Json(Value::Null), _) | (_, Val::Missing | Val::Json(Value::Null)) => Ok(None),
        _ if a.type_name() != b.type_name() => Err(TemplateError::exec("incompatible types for comparison")),
        _ => Err(TemplateError::exec(format!("invalid type for comparison: {}", a.type_name()))),
    }
}

/// fmt.Sprint: a space between two operands when neither is a string.
fn sprint(args: &[Val]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        let is_string = |v: &Val| matches!(v, Val::Json(Value::String(_)));
        if i > 0 && !is_string(arg) && !is_string(&args[i - 1]) {
            out.push(' ');
        }
        out.push_str(&print_value(arg));
    }
    out
}

/// How Go prints a value with `{{.}}` or `%v`.
pub fn print_value(v: &Val) -> String {
    match v {
        Val::Missing => "<no value>".into(),
        Val::Json(value) => go_format(value),
    }
}

fn go_format(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => go_float(f),
            _ => n.to_string(),
        },
        Value::Array(items) => format!("[{}]", items.iter().map(go_format).collect::<Vec<_>>().join(" ")),
        Value::Object(map) => {
            let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}:{}", go_format(v))).collect();
            format!("map[{}]", pairs.join(" "))
        }
    }
}

/// strconv.FormatFloat(f, 'g', -1, 64): the shortest form, with an exponent below 1e-4 and
/// from 1e21 up.
fn go_float(f: f64) -> String {
    if f == 0.0 || (f.abs() >= 1e-4 && f.abs() < 1e21) {
        return format!("{f}");
    }
    let s = format!("{f:e}");
    let (mantissa, exponent) = s.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is a number");
    format!("{mantissa}e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs())
}

/// fmt.Sprintf for the verbs templates use: %v %s %d %q %x %X %o %b %e %f %g %t %c %%, with
/// flags, width and precision.
fn printf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek().filter(|f| "-+# 0".contains(**f)) {
            flags.push(f);
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse::<usize>().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let body = format_verb(verb, arg, precision, &flags);
        let width: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len >= width {
            out.push_str(&body);
        } else if flags.contains('-') {
            out.push_str(&body);
            out.push_str(&" ".repeat(width - len));
        } else if flags.contains('0') && matches!(verb, 'd' | 'f' | 'e' | 'g' | 'x' | 'X' | 'o' | 'b') {
            let (sign, digits) = match body.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(width - len));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(width - len));
            out.push_str(&body);
        }
    }
    let extra: Vec<String> = args.map(|a| format!("{}={}", a.type_name(), print_value(a))).collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn format_verb(verb: char, arg: &Val, precision: Option<usize>, flags: &str) -> String {
    let number = match arg {
        Val::Json(Value::Number(n)) => n.as_f64(),
        _ => None,
    };
    let integer = match arg {
        Val::Json(Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    let plus = |s: String| if flags.contains('+') && !s.starts_with('-') { format!("+{s}") } else { s };
    let bad = || format!("%!{verb}({}={})", arg.type_name(), print_value(arg));
    match verb {
        'v' => print_value(arg),
        's' => {
            let s = print_value(arg);
            match precision {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            }
        }
        'q' => match arg {
            Val::Json(Value::String(s)) => serde_json::to_string(s).unwrap_or_default(),
            _ => bad(),
        },
        't' => match arg {
            Val::Json(Value::Bool(b)) => b.to_string(),
            _ => bad(),
        },
        'd' => integer.map_or_else(bad, |i| plus(i.to_string())),
        'c' => integer.and_then(|i| char::from_u32(i as u32)).map_or_else(bad, String::from),
        'x' | 'X' | 'o' | 'b' => match (integer, arg) {
            (Some(i), _) => {
                let magnitude = i.unsigned_abs();
                let digits = match verb {
                    'x' => format!("{magnitude:x}"),
                    'X' => format!("{magnitude:X}"),
                    'o' => format!("{magnitude:o}"),
                    _ => format!("{magnitude:b}"),
                };
                format!("{}{digits}", if i < 0 { "-" } else { "" })
            }
            (None, Val::Json(Value::String(s))) if matches!(verb, 'x' | 'X') => {
                let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
                if verb == 'X' { hex.to_uppercase() } else { hex }
            }
            _ => bad(),
        },
        'f' | 'F' => number.map_or_else(bad, |f| plus(format!("{f:.*}", precision.unwrap_or(6)))),
        'e' => number.map_or_else(bad, |f| {
            let s = format!("{f:.*e}", precision.unwrap_or(6));
            let (mantissa, exponent) = s.split_once('e').expect("{:e} has an exponent");
            let exponent: i32 = exponent.parse().expect("{:e} exponent is a number");
            plus(format!("{mantissa}e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs()))
        }),
        'g' => number.map_or_else(bad, |f| plus(go_float(f))),
        _ => format!("%!{verb}({}={})", arg.type_name(), print_value(arg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: &str) -> Val {
        string(v)
    }

    #[test]
    fn docker_functions() {
        assert_eq!(call(Functions::Basic, "upper", vec![s("abc")]).unwrap(), s("ABC"));
        assert_eq!(call(Functions::Basic, "title", vec![s("hello big world")]).unwrap(), s("Hello Big World"));
        assert_eq!(
            call(Functions::Basic, "pad", vec![s("x"), Val::Json(json!(2)), Val::Json(json!(1))]).unwrap(),
            s("  x ")
        );
        assert_eq!(
            call(Functions::Basic, "pad", vec![s(""), Val::Json(json!(2)), Val::Json(json!(1))]).unwrap(),
            s("")
        );
        assert_eq!(call(Functions::Basic, "truncate", vec![s("abcdef"), Val::Json(json!(3))]).unwrap(), s("abc"));
        assert_eq!(call(Functions::Basic, "truncate", vec![s("ab"), Val::Json(json!(3))]).unwrap(), s("ab"));
        assert_eq!(call(Functions::Basic, "split", vec![s("a:b"), s(":")]).unwrap(), Val::Json(json!(["a", "b"])));
        assert_eq!(call(Functions::Basic, "join", vec![Val::Json(json!(["a", "b"])), s(", ")]).unwrap(), s("a, b"));
        assert_eq!(call(Functions::Basic, "json", vec![Val::Json(json!({"a": "<b>"}))]).unwrap(), s(r#"{"a":"<b>"}"#));
    }

    #[test]
    fn header_functions_keep_the_column_name() {
        assert_eq!(call(Functions::Header, "lower", vec![s("NAME")]).unwrap(), s("NAME"));
        assert_eq!(call(Functions::Header, "truncate", vec![s("NAME"), Val::Json(json!(2))]).unwrap(), s("NAME"));
        assert_eq!(
            call(Functions::Header, "pad", vec![s("NAME"), Val::Json(json!(1)), Val::Json(json!(0))]).unwrap(),
            s(" NAME")
        );
    }

    #[test]
    fn printf_verbs() {
        let args = [s("ab"), Val::Json(json!(42)), Val::Json(json!(1.5)), Val::Json(json!(true))];
        assert_eq!(printf("%s|%5s|%-4s|%q", &[s("x"), s("y"), s("z"), s("w")]), "x|    y|z   |\"w\"");
        assert_eq!(printf("%s %d %.2f %t %%", &args), "ab 42 1.50 true %");
        assert_eq!(
            printf(
                "%05d %x %X %o",
                &[Val::Json(json!(-42)), Val::Json(json!(255)), Val::Json(json!(255)), Val::Json(json!(8))]
            ),
            "-0042 ff FF 10"
        );
        assert_eq!(printf("%d", &[s("x")]), "%!d(string=x)");
        assert_eq!(printf("%s %s", &[s("x")]), "x %!s(MISSING)");
    }

    #[test]
    fn go_printing() {
        assert_eq!(print_value(&Val::Json(json!({"b": 1, "a": [1, "x"]}))), "map[a:[1 x] b:1]");
        assert_eq!(print_value(&Val::Json(json!(null))), "<nil>");
        assert_eq!(print_value(&Val::Missing), "<no value>");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(2.5), "2.5");
    }

    #[test]
    fn comparisons_and_logic() {
        let n = |x: f64| Val::Json(json!(x));
        assert!(call(Functions::Basic, "eq", vec![Val::Json(json!(0)), n(0.0)]).is_err());
        assert_eq!(
            call(Functions::Basic, "eq", vec![Val::Json(json!(0)), Val::Json(json!(0u64))]).unwrap(),
            Val::Json(json!(true))
        );
        assert_eq!(call(Functions::Basic, "eq", vec![s("a"), s("b"), s("a")]).unwrap(), Val::Json(json!(true)));
        assert_eq!(call(Functions::Basic, "lt", vec![n(1.0), n(2.0)]).unwrap(), Val::Json(json!(true)));
        assert!(call(Functions::Basic, "lt", vec![n(1.0), s("a")]).is_err());
        assert_eq!(call(Functions::Basic, "or", vec![s(""), s("b")]).unwrap(), s("b"));
        assert_eq!(call(Functions::Basic, "and", vec![s("a"), s("")]).unwrap(), s(""));
        assert_eq!(call(Functions::Basic, "len", vec![Val::Json(json!([1, 2]))]).unwrap(), Val::Json(json!(2)));
        assert!(call(Functions::Basic, "nosuch", vec![]).is_err());
    }

    #[test]
    fn index_and_slice() {
        let m = Val::Json(json!({"a": {"b": [10, 20]}}));
        assert_eq!(index(vec![m.clone(), s("a"), s("b"), Val::Json(json!(1))]).unwrap(), Val::Json(json!(20)));
        assert_eq!(index(vec![m.clone(), s("zz")]).unwrap(), Val::Missing);
        assert!(index(vec![Val::Json(json!([1])), Val::Json(json!(5))]).is_err());
        assert_eq!(slice(vec![s("abcdef"), Val::Json(json!(1)), Val::Json(json!(3))]).unwrap(), s("bc"));
    }
}
