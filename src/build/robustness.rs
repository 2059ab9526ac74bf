//! The parser, the expansion, the ignore matcher and the pattern matchers take untrusted text
//! (a Dockerfile, a .dockerignore, flag values): none may panic or hang on any input. These tests
//! feed them a few thousand random, hostile and mutated inputs from a fixed seed, so a failure
//! reproduces; a panic fails the test, and the inputs are small enough that a blow-up in time
//! would show as a hung test.

use super::dockerfile::{self, Chmod, Lines};
use super::expand::{BaseConfig, StageState};
use super::glob;
use super::ignore::{Matcher, read_ignore_file};
use super::shell::{Lexer, NoEnv};
use super::stages::StageGraph;
use super::vars::{BuildArgs, GlobalScope, Platforms};
use crate::image::spec::Platform;

/// splitmix64: small, deterministic, good enough to spread inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Pieces of Dockerfile syntax, to build inputs that reach deep into the parser.
const DOCKERFILE_TOKENS: &[&str] = &[
    "FROM ",
    "scratch",
    " AS ",
    "stage",
    "RUN ",
    "CMD ",
    "ENTRYPOINT ",
    "COPY ",
    "ADD ",
    "ENV ",
    "ARG ",
    "LABEL ",
    "EXPOSE ",
    "VOLUME ",
    "USER ",
    "WORKDIR ",
    "ONBUILD ",
    "STOPSIGNAL ",
    "HEALTHCHECK ",
    "SHELL ",
    "MAINTAINER ",
    "NONE",
    " CMD ",
    "\n",
    "\n",
    "\n",
    " ",
    "\t",
    "\\\n",
    "`\n",
    "\\",
    "`",
    "#",
    "# escape=`\n",
    "# escape=\\\n",
    "# syntax=x\n",
    "# check=skip=all\n",
    "<<EOF",
    "<<-EOF",
    "<<'EOF'",
    "<<\"E\"OF",
    "3<<EOF",
    "EOF\n",
    "\tEOF\n",
    "[",
    "]",
    "\"",
    "'",
    ",",
    "[\"a\"]",
    "[\"a\", 1]",
    "[]",
    "$",
    "${",
    "}",
    "${a:-b}",
    "${a:?}",
    "${a/b/c}",
    "${a#*}",
    "${",
    "--mount=",
    "type=cache",
    "type=secret",
    "type=bind",
    "type=tmpfs",
    "type=ssh",
    ",target=/x",
    ",from=stage",
    ",id=",
    ",mode=0755",
    ",uid=1",
    ",size=1m",
    ",ro",
    ",required",
    "--from=",
    "--from=0",
    "--chmod=",
    "u+x",
    "0755",
    "--chown=",
    "--link",
    "--parents",
    "--exclude=",
    "--platform=",
    "$BUILDPLATFORM",
    "--network=none",
    "--security=insecure",
    "--interval=1s",
    "--retries=",
    "-1",
    "--",
    "=",
    "a=b",
    "a",
    "/",
    "../",
    "./",
    "*",
    "?",
    "**",
    "!",
    "é",
    "\u{feff}",
    "\r\n",
    "\0",
];

const PATTERN_TOKENS: &[&str] = &[
    "*", "**", "?", "[", "]", "[^", "^", "-", "\\", "/", "./", "../", "!", "a", "b", ".", "z", "é", "#", " ", "\n",
    "a-z", "[a-z]", "[!a]", "**/", "/**", "\\*", "\\", "{", "}", "(", ")", "$", "+", "|",
];

fn assemble(rng: &mut Rng, tokens: &[&str], max: usize) -> String {
    (0..rng.below(max) + 1).map(|_| rng.pick(tokens)).collect()
}

fn random_bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    (0..rng.below(max)).map(|_| rng.next() as u8).collect()
}

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..rng.below(6) + 1 {
        let at = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 if at < chars.len() => {
                chars.remove(at);
            }
            1 => chars.insert(at, rng.pick(&["\\", "\n", "$", "{", "\"", "'", "<<", "[", "`"]).chars().next().unwrap()),
            _ => {
                if let Some(&c) = chars.get(at) {
                    chars.insert(at, c);
                }
            }
        }
    }
    chars.into_iter().collect()
}

const SAMPLE: &str = "# syntax=docker/dockerfile:1\nARG BASE=alpine\nFROM ${BASE} AS build\nENV A=1 B=\"two\"\nWORKDIR /src\nCOPY --chown=1:1 --chmod=0644 . .\nRUN --mount=type=cache,target=/root/.cache <<EOF\nmake ${A}\nEOF\nFROM scratch\nCOPY --from=build /src/out /out\nHEALTHCHECK --interval=5s CMD [\"/out\", \"-h\"]\nONBUILD RUN echo hi\nCMD [\"/out\"]\n";

/// Parses, and when that works plans and expands everything, as a build would.
fn exercise_dockerfile(bytes: &[u8]) {
    let Ok(df) = dockerfile::parse(bytes) else { return };
    let platform = Platform { architecture: "amd64".into(), os: "linux".into(), variant: None, os_version: None };
    let platforms = Platforms { build: platform.clone(), target: platform };
    let args = BuildArgs::new([("A".to_owned(), "x y".to_owned())]);
    let Ok(scope) = GlobalScope::new(&df, &args, &platforms, "") else { return };
    if let Ok(graph) = StageGraph::new(&df, &scope, None) {
        let _ = graph.levels();
        let _ = graph.declared_args(&df);
    }
    for stage in &df.stages {
        let mut state = StageState::new(&df, stage.index, &scope, &args, &BaseConfig::default());
        for located in &stage.instructions {
            let _ = state.expand(located);
            if let dockerfile::Instruction::OnBuild(onbuild) = &located.instruction {
                let _ = dockerfile::parse_trigger(&onbuild.expression, df.directives.escape, Lines::one(1));
            }
        }
    }
}

#[test]
fn the_dockerfile_parser_never_panics() {
    let mut rng = Rng(0x5eed_0001);
    for _ in 0..1500 {
        exercise_dockerfile(assemble(&mut rng, DOCKERFILE_TOKENS, 40).as_bytes());
    }
    for _ in 0..500 {
        exercise_dockerfile(&random_bytes(&mut rng, 200));
    }
    for _ in 0..1000 {
        exercise_dockerfile(mutate(&mut rng, SAMPLE).as_bytes());
    }
    // Sizes and nesting no real Dockerfile has.
    exercise_dockerfile(format!("FROM x\nRUN {}\n", "a \\\n".repeat(20_000)).as_bytes());
    exercise_dockerfile(format!("FROM x\nENV A={}\n", "${A:-".repeat(5_000)).as_bytes());
    exercise_dockerfile(format!("FROM x\nRUN {}\n", "<<EOF ".repeat(2_000)).as_bytes());
    exercise_dockerfile("FROM x\n".repeat(3_000).as_bytes());
}

#[test]
fn the_shell_lexer_never_panics() {
    let mut rng = Rng(0x5eed_0002);
    let lexers = [
        Lexer::new('\\'),
        Lexer::new('`'),
        Lexer { raw_quotes: true, raw_escapes: true, skip_unset: true, ..Lexer::new('\\') },
        Lexer { skip_quotes: true, ..Lexer::new('\\') },
    ];
    let env = vec![("a".to_owned(), "x*y".to_owned()), ("b".to_owned(), String::new())];
    for _ in 0..3000 {
        let word = assemble(&mut rng, DOCKERFILE_TOKENS, 12);
        let lexer = lexers[rng.below(lexers.len())];
        let _ = lexer.expand(&word, &env);
        let _ = lexer.expand(&word, &NoEnv);
    }
}

#[test]
fn the_ignore_matcher_never_panics() {
    let mut rng = Rng(0x5eed_0003);
    for _ in 0..3000 {
        let patterns: Vec<String> = (0..rng.below(4) + 1).map(|_| assemble(&mut rng, PATTERN_TOKENS, 8)).collect();
        let path = assemble(&mut rng, &["a", "b", "/", ".", "z", "é", "*", "[", "ab/c", "-"], 10);
        if let Ok(matcher) = Matcher::new(&patterns) {
            let _ = matcher.matches(&path);
            let _ = matcher.may_include_below(&path);
        }
        let _ = read_ignore_file(&patterns.join("\n"));
        let _ = glob::matches(&patterns[0], &path);
        let _ = glob::has_wildcards(&patterns[0]);
    }
    for _ in 0..500 {
        let _ = read_ignore_file(&String::from_utf8_lossy(&random_bytes(&mut rng, 100)));
    }
    // Many stars against a long path: linear, not exponential.
    let many = "*a".repeat(40) + "**/b" + &"/**".repeat(40);
    let path = "a".repeat(300) + "/c";
    let _ = Matcher::new(&[many.as_str()]).map(|m| m.matches(&path));
    let _ = glob::matches(&"*a".repeat(60), &"a".repeat(400));
}

#[test]
fn flag_value_parsers_never_panic() {
    let mut rng = Rng(0x5eed_0004);
    for _ in 0..3000 {
        let text = assemble(&mut rng, DOCKERFILE_TOKENS, 6);
        let _ = Chmod::parse(&text).map(|c| c.apply(0o777, true));
        let mut expand = |v: &str| Ok::<_, String>(v.to_owned());
        let _ = dockerfile::mount::parse_mount(&text, &mut expand, "/w");
        let _ = dockerfile::parse_expose(&text);
        let _ = dockerfile::parse_signal(&text);
        let _ = super::paths::clean(&text);
        let _ = dockerfile::heredoc_marker(&text);
    }
}
