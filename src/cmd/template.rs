//! A small subset of Go templates, enough for `--format`: `{{.Field}}`, `{{.Field.Sub}}`,
//! `{{json .}}`, `{{json .Field}}`, a `table ` prefix (print a header row) and `\t`/`\n`
//! escapes. Values come from a JSON object.

use anyhow::{Result, bail};
use serde_json::Value;

pub struct Template {
    pub table: bool,
    parts: Vec<Part>,
}

enum Part {
    Text(String),
    Field { path: Vec<String>, json: bool },
}

impl Template {
    pub fn parse(format: &str) -> Result<Template> {
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => (true, rest.trim_start()),
            _ => (false, format),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut parts = Vec::new();
        let mut rest = body.as_str();
        while let Some(start) = rest.find("{{") {
            parts.push(Part::Text(rest[..start].to_owned()));
            let Some(end) = rest[start..].find("}}") else { bail!("invalid format {format:?}: unclosed '{{{{'") };
            let action = rest[start + 2..start + end].trim();
            let (json, expr) = match action.strip_prefix("json") {
                Some(e) => (true, e.trim()),
                None => (false, action),
            };
            if !expr.starts_with('.') {
                bail!("invalid format {format:?}: only {{{{.Field}}}} and {{{{json .Field}}}} are supported");
            }
            let path = expr[1..].split('.').filter(|s| !s.is_empty()).map(str::to_owned).collect();
            parts.push(Part::Field { path, json });
            rest = &rest[start + end + 2..];
        }
        parts.push(Part::Text(rest.to_owned()));
        Ok(Template { table, parts })
    }

    pub fn render(&self, value: &Value) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field { path, json } => {
                    let mut v = value;
                    for key in path {
                        v = v.get(key).unwrap_or(&Value::Null);
                    }
                    if *json {
                        out.push_str(&v.to_string());
                    } else {
                        out.push_str(&plain(v));
                    }
                }
            }
        }
        out
    }

    /// The header row for `table` formats: each field's name in upper case.
    pub fn header(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field { path, .. } => out.push_str(&path.last().map_or("", |s| s.as_str()).to_uppercase()),
            }
        }
        out
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(plain).collect::<Vec<_>>().join(" ")),
        Value::Object(_) => v.to_string(),
        other => other.to_string(),
    }
}

/// Prints rows as `--format` asks: `json` is one JSON object per line, anything else a template.
pub fn print_formatted(format: &str, rows: &[Value]) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if format == "json" {
        for row in rows {
            writeln!(out, "{row}")?;
        }
        return Ok(());
    }
    let template = Template::parse(format)?;
    if template.table {
        writeln!(out, "{}", template.header())?;
    }
    for row in rows {
        writeln!(out, "{}", template.render(row))?;
    }
    Ok(())
}

/// Prints aligned columns, Docker style (three spaces between columns).
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    use std::io::Write;
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == last { c.to_string() } else { format!("{c:<w$}   ", w = widths[i]) })
            .collect::<String>()
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line(header.to_vec()));
    for row in rows {
        let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
    }
}

/// "3 days ago", as Docker prints ages.
pub fn time_ago(rfc3339: Option<&str>) -> String {
    let Some(then) = rfc3339.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) else { return "N/A".into() };
    let secs = (chrono::Utc::now() - then.with_timezone(&chrono::Utc)).num_seconds().max(0);
    let (n, unit) = match secs {
        s if s < 60 => return if s < 2 { "Less than a second ago".into() } else { format!("{s} seconds ago") },
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86400 => (s / 3600, "hour"),
        s if s < 86400 * 14 => (s / 86400, "day"),
        s if s < 86400 * 60 => (s / (86400 * 7), "week"),
        s if s < 86400 * 365 * 2 => (s / (86400 * 30), "month"),
        s => (s / (86400 * 365), "year"),
    };
    if n == 1 { format!("{} {unit} ago", if unit == "hour" { "An" } else { "1" }) } else { format!("{n} {unit}s ago") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_fields_and_json() {
        let t = Template::parse("{{.ID}}\\t{{.Repo.Name}} {{json .Tags}}").unwrap();
        assert_eq!(t.render(&json!({"ID": "abc", "Repo": {"Name": "x"}, "Tags": ["a"]})), "abc\tx [\"a\"]");
    }

    #[test]
    fn table_prefix_gives_a_header() {
        let t = Template::parse("table {{.ID}}\\t{{.Size}}").unwrap();
        assert!(t.table);
        assert_eq!(t.header(), "ID\tSIZE");
    }

    #[test]
    fn unsupported_actions_are_refused() {
        assert!(Template::parse("{{range .X}}").is_err());
        assert!(Template::parse("{{.X").is_err());
    }
}
