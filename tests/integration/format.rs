//! `--format` templates through the binary: Docker's template functions, control structures
//! and `table` headers, on verbs that need no image.

use crate::util::{TestEnv, assert_one_error_line};

#[test]
fn format_templates_have_dockers_functions() {
    let env = TestEnv::new();
    env.berth_ok(&["volume", "create", "--label", "tier=web", "Data-One"]);
    env.berth_ok(&["volume", "create", "data-two"]);
    let out = env.berth_ok(&["volume", "ls", "--format", "{{.Name | upper}} {{truncate .Name 4}} {{len .Name}}"]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["DATA-ONE Data 8", "DATA-TWO data 8"], "{out}");
    let out = env.berth_ok(&["volume", "ls", "--format", "{{if .Labels}}{{.Name | lower}}{{else}}-{{end}}"]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["data-one", "-"], "{out}");

    let info = env.berth_ok(&[
        "info",
        "--format",
        r#"{{index (split .StoreRoot "/") 1}}|{{json .Images}}|{{printf "%05d" .Images}}"#,
    ]);
    let first = env.root.display().to_string().split('/').nth(1).unwrap().to_owned();
    assert_eq!(info.trim(), format!("{first}|0|00000"));
}

#[test]
fn table_formats_print_dockers_column_names() {
    let env = TestEnv::new();
    env.berth_ok(&["volume", "create", "v1"]);
    let out = env.berth_ok(&["volume", "ls", "--format", "table {{.Name | upper}}\\t{{.Driver}}"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("VOLUME NAME") && lines[0].trim_end().ends_with("DRIVER"), "{out}");
    assert!(lines[1].starts_with("V1") && lines[1].trim_end().ends_with("local"), "{out}");
}

#[test]
fn bad_templates_fail_with_one_line() {
    let env = TestEnv::new();
    for bad in ["{{.Name", "{{nosuch .Name}}", "{{range .Name}}{{end}}{{end}}"] {
        let (code, stderr) = env.berth_err(&["volume", "ls", "--format", bad]);
        assert_ne!(code, 0, "{bad}");
        let line = assert_one_error_line(&stderr);
        assert!(line.contains("template"), "{bad}: {line}");
    }
}
