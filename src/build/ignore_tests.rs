//! Cases from moby/patternmatcher's tests (`TestMatches`, its multi-pattern table, `TestMatch`
//! with Go's own filepath.Match rows, `TestCompile`'s match kinds) and the ignorefile reader.

use super::*;

fn matcher(patterns: &[&str]) -> Matcher {
    Matcher::new(patterns).unwrap_or_else(|e| panic!("{patterns:?}: {e}"))
}

#[test]
fn patternmatcher_single_pattern_table() {
    #[rustfmt::skip]
    let cases: &[(&str, &str, bool)] = &[
        ("**", "file", true), ("**", "file/", true), ("**/", "file", true), ("**/", "file/", true),
        ("**", "/", true), ("**/", "/", true), ("**", "dir/file", true), ("**/", "dir/file", true),
        ("**", "dir/file/", true), ("**/", "dir/file/", true), ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true), ("dir/**", "dir/file", true), ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true), ("dir/**", "dir/dir2/file/", true), ("**/dir", "dir", true),
        ("**/dir", "dir/file", true), ("**/dir2/*", "dir/dir2/file", true), ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true), ("**/dir2/**", "dir/dir2/dir3/file/", true),
        ("**file", "file", true), ("**file", "dir/file", true), ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true), ("**/file", "dir/dir/file", true), ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true), ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true), ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true), ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true), ("**/**/*.txt", "file.txt", true), ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true), ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false), ("a/*.txt", "a/file.txt", true), ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false), ("a[b-d]e", "ace", true), ("a[b-d]e", "aae", false), ("a[^b-d]e", "aze", true),
        (".*", ".foo", true), (".*", "foo", false), ("abc.def", "abcdef", false), ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false), ("abc?def", "abcZdef", true), ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true), ("**/foo/bar", "foo/bar", true), ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true), ("abc/**", "abc", false), ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true), ("**/.foo", ".foo", true), ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true), ("a(b)c/def", "a(b)c/xyz", false), ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true),
        ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true),
        ("a\\*b", "a*b", true),
    ];
    for (pattern, path, expected) in cases {
        assert_eq!(matcher(&[pattern]).matches(path), *expected, "pattern {pattern:?} path {path:?}");
    }
}

#[test]
fn patternmatcher_multi_pattern_table() {
    let whl = "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl";
    let bang_whl = format!("!{whl}");
    let cases: &[(&[&str], &str, bool)] = &[
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (&["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", true),
        (&["**", &bang_whl], whl, false),
        (&["**", "!dist/*.whl"], whl, false),
        // The simple cases of patternmatcher's own tests.
        (&["*"], "fileutils.go", true),
        (&["*.go"], "fileutils.go", true),
        (&["!fileutils.go", "*.go"], "fileutils.go", true),
        (&["docs", "!docs/README.md"], "docs/README.md", false),
        (&["docs/", "!docs/README.md"], "docs/README.md", false),
        (&["docs/*", "!docs/README.md"], "docs/README.md", false),
        (&["*.go", "!fileutils.go"], "fileutils.go", false),
        (&["*.go"], ".", false),
        (&[], "/any/path/there", false),
    ];
    for (patterns, path, expected) in cases {
        assert_eq!(matcher(patterns).matches(path), *expected, "patterns {patterns:?} path {path:?}");
    }
}

/// `TestMatch`: Go's filepath.Match rows through the matcher (a pattern matching a parent
/// directory matches too, hence `a*` matching `ab/c`).
#[test]
fn patternmatcher_go_match_table() {
    #[rustfmt::skip]
    let cases: &[(&str, &str, Option<bool>)] = &[
        ("abc", "abc", Some(true)), ("*", "abc", Some(true)), ("*c", "abc", Some(true)), ("a*", "a", Some(true)),
        ("a*", "abc", Some(true)), ("a*", "ab/c", Some(true)), ("a*/b", "abc/b", Some(true)), ("a*/b", "a/c/b", Some(false)),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)), ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)), ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
        ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)), ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
        ("ab[c]", "abc", Some(true)), ("ab[b-d]", "abc", Some(true)), ("ab[e-g]", "abc", Some(false)),
        ("ab[^c]", "abc", Some(false)), ("ab[^b-d]", "abc", Some(false)), ("ab[^e-g]", "abc", Some(true)),
        ("a\\*b", "a*b", Some(true)), ("a\\*b", "ab", Some(false)), ("a?b", "a☺b", Some(true)),
        ("a[^a]b", "a☺b", Some(true)), ("a???b", "a☺b", Some(false)), ("a[^a][^a][^a]b", "a☺b", Some(false)),
        ("[a-ζ]*", "α", Some(true)), ("*[a-ζ]", "A", Some(false)), ("a?b", "a/b", Some(false)), ("a*b", "a/b", Some(false)),
        ("[\\]a]", "]", Some(true)), ("[\\-]", "-", Some(true)), ("[x\\-]", "x", Some(true)), ("[x\\-]", "-", Some(true)),
        ("[x\\-]", "z", Some(false)), ("[\\-x]", "x", Some(true)), ("[\\-x]", "-", Some(true)), ("[\\-x]", "a", Some(false)),
        ("[]a]", "]", None), ("[-]", "-", None), ("[x-]", "x", None), ("[x-]", "-", None), ("[x-]", "z", None),
        ("[-x]", "x", None), ("[-x]", "-", None), ("[-x]", "a", None), ("\\", "a", None), ("[a-b-c]", "a", None),
        ("[", "a", None), ("[^", "a", None), ("[^bc", "a", None), ("a[", "a", None), ("a[", "ab", None),
        ("*x", "xxx", Some(true)),
    ];
    for (pattern, path, expected) in cases {
        match (Matcher::new(&[pattern]), expected) {
            (Ok(m), Some(expected)) => assert_eq!(m.matches(path), *expected, "pattern {pattern:?} path {path:?}"),
            (Err(_), None) => {}
            (result, _) => panic!("pattern {pattern:?}: {result:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn match_kinds_like_patternmatcher_compile() {
    let kind = |p: &str| match compile(&crate::build::paths::clean(p)).unwrap() {
        Kind::Exact => "exact",
        Kind::Prefix => "prefix",
        Kind::Suffix => "suffix",
        Kind::General(_) => "general",
    };
    for (pattern, expected) in [
        ("*", "general"),
        ("file*", "general"),
        ("a*/b", "general"),
        ("**", "suffix"),
        ("**/**", "general"),
        ("dir/**", "prefix"),
        ("**/dir", "suffix"),
        ("**/dir2/*", "general"),
        ("**file", "suffix"),
        ("**/**/*.txt", "general"),
        ("a[b-d]e", "general"),
        ("abc.def", "exact"),
        ("abc?def", "general"),
        ("**/foo/bar", "suffix"),
        ("a(b)c/def", "exact"),
        ("a.|)$(}+{bc", "exact"),
    ] {
        assert_eq!(kind(pattern), expected, "{pattern}");
    }
}

#[test]
fn bad_patterns() {
    assert_eq!(Matcher::new(&["!"]).unwrap_err().reason, "illegal exclusion pattern: \"!\"");
    assert!(Matcher::new(&["["]).is_err());
    // patternmatcher accepts this one and fails on the first match (moby#52203); refused at once.
    assert!(Matcher::new(&["[Local-Only]/"]).is_err());
    let m = matcher(&["docs", "  !docs/README.md  ", ""]);
    assert!(m.has_exclusions());
    assert_eq!(m.patterns(), ["docs", "!docs/README.md"]);
}

#[test]
fn exceptions_reach_into_excluded_directories_by_prefix_only() {
    let m = matcher(&["vendor", "!vendor/keep", "build/**", "!**/important.txt"]);
    assert!(m.matches("vendor/lib/x.go"));
    assert!(!m.matches("vendor/keep/a.go"));
    assert!(m.may_include_below("vendor"));
    assert!(!m.may_include_below("build"));
    // The matcher alone would keep build/important.txt; a walk never looks inside build/.
    assert!(!m.matches("build/important.txt"));
}

#[test]
fn ignore_file_reading() {
    let text = "\u{feff}# comment\n  # not a comment at column 1? it is a pattern\n/abs/path/\n./rel//x\n!  /keep/../kept\n\n*.log\n";
    let m = read_ignore_file(text).unwrap();
    assert_eq!(m.patterns(), ["# not a comment at column 1? it is a pattern", "abs/path", "rel/x", "!kept", "*.log"]);
    assert!(m.matches("abs/path/inner"));
    assert!(m.matches("a.log") && !m.matches("dir/a.log"));
    let err = read_ignore_file("ok\n\n[bad\n").unwrap_err();
    assert_eq!(err.to_string(), "line 3: invalid pattern \"[bad\": syntax error in pattern");
}
