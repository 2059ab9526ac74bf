//! Go templates for `--format`, as Docker's CLI has them: text/template's actions, pipelines,
//! variables, `if`/`range`/`with`/`else`/`break`/`continue`, Go's builtin functions and
//! Docker's (`json`, `split`, `join`, `title`, `lower`, `upper`, `pad`, `truncate`), a `table `
//! prefix (print a header row) and `\t`/`\n` escapes. Values come from a JSON object.

mod exec;
mod funcs;
mod lex;
mod parse;

use anyhow::Result;
use serde_json::Value;

use exec::Exec;
use funcs::Functions;
use parse::Node;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template parsing error: {0}")]
    Parse(String),
    #[error("template: executing: {0}")]
    Exec(String),
}

impl TemplateError {
    fn parse(message: impl Into<String>) -> Self {
        TemplateError::Parse(message.into())
    }

    fn exec(message: impl Into<String>) -> Self {
        TemplateError::Exec(message.into())
    }
}

pub struct Template {
    pub table: bool,
    nodes: Vec<Node>,
}

impl Template {
    pub fn parse(format: &str) -> Result<Template, TemplateError> {
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => (true, rest.trim_start()),
            _ => (false, format),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        Ok(Template { table, nodes: parse::parse(lex::pieces(&body)?)? })
    }

    pub fn render(&self, value: &Value) -> Result<String, TemplateError> {
        Exec::new(value, Functions::Basic, false).run(&self.nodes)
    }

    /// The header row of a `table` format: each field's column name from `names` (Docker's
    /// header context: field → name), or the field's own name in upper case, rendered with
    /// Docker's header functions, which leave names as they are.
    pub fn render_header(&self, names: &Value) -> Result<String, TemplateError> {
        Exec::new(names, Functions::Header, true).run(&self.nodes)
    }
}

/// Prints rows as `--format` asks: `json` is one JSON object per line, anything else a template;
/// a `table` template gets a header row (column names from `headers`, field → name) and its
/// tab-separated cells aligned, as Docker's tabwriter does.
pub fn print_formatted(format: &str, rows: &[Value], headers: &Value) -> Result<()> {
    use std::io::Write;
    if format == "json" {
        let mut out = std::io::stdout().lock();
        for row in rows {
            writeln!(out, "{row}")?;
        }
        return Ok(());
    }
    let template = Template::parse(format)?;
    if template.table {
        let split = |line: String| line.split('\t').map(str::to_owned).collect::<Vec<_>>();
        let header = split(template.render_header(headers)?);
        let table: Vec<Vec<String>> = rows.iter().map(|r| template.render(r).map(split)).collect::<Result<_, _>>()?;
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        print_table(&header, &table);
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    for row in rows {
        writeln!(out, "{}", template.render(row)?)?;
    }
    Ok(())
}

static NO_HEADING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--noheading` (Podman's): this command's tables are printed without their header row.
pub fn omit_headings(omit: bool) {
    NO_HEADING.store(omit, std::sync::atomic::Ordering::Relaxed);
}

/// Prints aligned columns, Docker style (three spaces between columns).
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    use std::io::Write;
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        // A template's cells may hold tabs of their own: a row can be wider than the header.
        widths.resize(widths.len().max(row.len()), 0);
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i == last { c.to_string() } else { format!("{c:<w$}   ", w = widths[i]) })
            .collect::<String>()
    };
    let mut out = std::io::stdout().lock();
    if !NO_HEADING.load(std::sync::atomic::Ordering::Relaxed) {
        let _ = writeln!(out, "{}", line(header.to_vec()));
    }
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

    fn render(format: &str, value: Value) -> String {
        Template::parse(format).unwrap().render(&value).unwrap()
    }

    #[test]
    fn renders_fields_and_json() {
        assert_eq!(
            render(
                "{{.ID}}\\t{{.Repo.Name}} {{json .Tags}}",
                json!({"ID": "abc", "Repo": {"Name": "x"}, "Tags": ["a"]})
            ),
            "abc\tx [\"a\"]"
        );
    }

    #[test]
    fn pipelines_through_docker_functions() {
        let v = json!({"ID": "abcdef", "Image": "busybox:1.36", "Args": ["a", "b"], "Empty": ""});
        assert_eq!(render("{{.ID | upper}}", v.clone()), "ABCDEF");
        assert_eq!(render("{{upper .ID | lower}}", v.clone()), "abcdef");
        assert_eq!(render("{{truncate .ID 3}}|{{pad .ID 1 1}}|{{pad .Empty 1 1}}|", v.clone()), "abc| abcdef ||");
        assert_eq!(render("{{index (split .Image \":\") 1}}", v.clone()), "1.36");
        assert_eq!(render("{{join .Args \",\"}} {{title \"big box\"}}", v.clone()), "a,b Big Box");
        assert_eq!(render("{{println .ID}}", v.clone()), "abcdef\n");
        assert_eq!(render("{{.ID | printf \"%.2s-%s\" \"xy\"}}", v), "xy-abcdef");
    }

    #[test]
    fn control_structures_and_variables() {
        let v = json!({"Env": ["A=1", "B=2"], "Labels": {"z": "1", "a": "2"}, "Code": 0, "Health": null});
        assert_eq!(render("{{range .Env}}[{{.}}]{{end}}", v.clone()), "[A=1][B=2]");
        assert_eq!(render("{{range $i, $e := .Env}}{{$i}}={{$e}} {{end}}", v.clone()), "0=A=1 1=B=2 ");
        assert_eq!(render("{{range $k, $v := .Labels}}{{$k}}:{{$v}};{{end}}", v.clone()), "a:2;z:1;");
        assert_eq!(render("{{if eq .Code 0}}ok{{else}}bad{{end}}", v.clone()), "ok");
        assert_eq!(render("{{if .Health}}h{{else if .Env}}e{{end}}", v.clone()), "e");
        assert_eq!(render("{{with .Labels.a}}<{{.}}>{{end}}{{with .Nope}}x{{else}}none{{end}}", v.clone()), "<2>none");
        assert_eq!(render("{{range .Nope}}x{{else}}empty{{end}}", v.clone()), "empty");
        assert_eq!(render("{{$n := len .Env}}{{$n}} {{$.Code}}", v.clone()), "2 0");
        assert_eq!(render("{{range .Env}}{{if eq . \"B=2\"}}{{break}}{{end}}{{.}}{{end}}", v.clone()), "A=1");
        assert_eq!(render("{{- range .Env -}} {{.}} {{- end}}", v.clone()), "A=1B=2");
        assert_eq!(render("{{.Missing}} {{.Health}} {{.Labels}}", v), "<no value> <nil> map[a:2 z:1]");
    }

    #[test]
    fn table_prefix_gives_a_header() {
        let t = Template::parse("table {{.ID}}\\t{{.Size | upper}}").unwrap();
        assert!(t.table);
        assert_eq!(t.render_header(&Value::Null).unwrap(), "ID\tSIZE");
        assert_eq!(t.render_header(&json!({"ID": "CONTAINER ID", "Size": "Size"})).unwrap(), "CONTAINER ID\tSize");
        assert_eq!(t.render_header(&json!({"ID": "CONTAINER ID"})).unwrap(), "CONTAINER ID\tSIZE");
    }

    #[test]
    fn bad_templates_are_refused() {
        for bad in ["{{.X", "{{nosuch .X}}", "{{if .X}}", "{{range .X}}{{end}}{{end}}"] {
            let parsed = Template::parse(bad);
            let failed = match parsed {
                Err(_) => true,
                Ok(t) => t.render(&json!({"X": [1]})).is_err(),
            };
            assert!(failed, "{bad}");
        }
        assert!(Template::parse("{{.X.Y}}").unwrap().render(&json!({"X": "s"})).is_err());
    }

    /// The docker CLI on PATH renders `docker context ls --format` without a daemon: the same
    /// templates over the same row must print the same.
    #[test]
    fn docker_cli_renders_the_same() {
        let docker = |format: &str| {
            let out = std::process::Command::new("docker").args(["context", "ls", "--format", format]).output();
            out.ok().filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).trim_end().to_owned())
        };
        let Some(row) = docker("{{json .}}") else {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "the docker CLI is needed as the oracle in CI");
            eprintln!("skipped: no docker CLI on PATH");
            return;
        };
        let row: Value = serde_json::from_str(row.lines().next().unwrap()).unwrap();
        for format in [
            "{{.Name | upper}}|{{pad .Name 2 1}}|{{truncate .DockerEndpoint 8}}|{{if .Current}}cur{{end}}",
            r#"{{printf "%-10s|%5.1f|%q|%d|%x" .Name 3.14159 .Name 42 255}}"#,
            r#"{{len .Name}}|{{split .DockerEndpoint "/"}}|{{join (split .DockerEndpoint "/") "+"}}"#,
            r#"{{title .Description}}|{{lower .Description}}|{{json .Current}}|{{json .Name}}"#,
            r#"{{with .Name}}[{{.}}]{{end}}{{if and .Current (not .Error)}}ok{{else}}no{{end}}"#,
            r#"{{range $i, $p := split .DockerEndpoint "/"}}{{$i}}:{{$p}};{{end}}{{println "x" 1 2}}"#,
            r#"{{print "a" 1 2 "b"}}|{{eq .Name "default" "x"}}|{{ne 1 2}}|{{lt 1.5 2.5}}|{{ge 3 2}}|{{index (split .Name "") 0}}|{{index .Name 1}}"#,
            r#"{{- .Name -}}  {{- slice .Name 1 3 -}}|{{or .Error "fallback"}}|{{and 1 0}}"#,
        ] {
            let expected = docker(format).unwrap_or_else(|| panic!("docker refused {format}"));
            let ours = Template::parse(format).unwrap().render(&row).unwrap();
            assert_eq!(ours.trim_end(), expected, "{format}");
        }
        for refused in ["{{lt 1.5 2}}", "{{index .Name 1 2}}", "{{index .Name 99}}", "{{nosuch .Name}}"] {
            assert!(docker(refused).is_none(), "docker accepted {refused}");
            let ours = Template::parse(refused).map(|t| t.render(&row));
            assert!(!matches!(ours, Ok(Ok(_))), "{refused}");
        }
    }
}
