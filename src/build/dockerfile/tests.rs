//! Parser tests: the line rules, every instruction, the errors. Heredoc cases follow BuildKit's
//! `parser_heredoc_test.go` and `instructions/parse_heredoc_test.go`; error texts follow
//! `instructions/parse_test.go`.

use std::time::Duration;

use super::*;

fn parse_ok(text: &str) -> Dockerfile {
    parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn parse_err(text: &str) -> DockerfileError {
    match parse(text.as_bytes()) {
        Ok(df) => panic!("parsed: {df:?}"),
        Err(e) => e,
    }
}

/// The instructions of the only stage.
fn instructions(text: &str) -> Vec<Instruction> {
    parse_ok(&format!("FROM scratch\n{text}")).stages[0].instructions.iter().map(|l| l.instruction.clone()).collect()
}

fn one(text: &str) -> Instruction {
    let mut all = instructions(text);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

#[test]
fn directives_at_the_top_only() {
    let df = parse_ok("# syntax=docker/dockerfile:1\n# escape=`\n# check=skip=all\nFROM scratch\nRUN a `\n  b\n");
    assert_eq!(df.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(df.directives.escape, '`');
    assert_eq!(df.directives.check.as_deref(), Some("skip=all"));
    assert!(df.warnings[0].message.contains("syntax directive"));
    assert_eq!(df.stages[0].instructions[0].instruction, Instruction::Run(run_shell("a   b")));
    // After a blank line, a comment or an instruction, a directive is a comment.
    for text in [
        "\n# escape=`\nFROM x\nRUN a \\\n b",
        "# hello\n# escape=`\nFROM x\nRUN a \\\n b",
        "FROM x\n# escape=`\nRUN a \\\n b",
    ] {
        let df = parse_ok(text);
        assert_eq!(df.directives.escape, '\\', "{text}");
        assert_eq!(df.stages[0].instructions[0].instruction, Instruction::Run(run_shell("a  b")));
    }
    // Keys are case-insensitive, spaces around '=' allowed; unknown directives are comments.
    assert_eq!(parse_ok("#  ESCAPE = `\nFROM x").directives.escape, '`');
    assert_eq!(parse_ok("# foo=bar\n# escape=`\nFROM x").directives.escape, '\\');
    assert_eq!(
        parse_err("# escape=`\n# escape=\\\nFROM x").to_string(),
        "Dockerfile line 2: only one escape parser directive can be used"
    );
    assert!(parse_err("# escape=x\nFROM x").message.contains("invalid escape token 'x'"));
}

fn run_shell(command: &str) -> Run {
    Run {
        command: CommandLine::Shell(command.into()),
        heredocs: vec![],
        mounts: vec![],
        network: Network::Default,
        security: Security::Sandbox,
    }
}

#[test]
fn comments_continuations_and_empty_lines() {
    let df = parse_ok(
        "\u{feff}FROM busybox\n  # indented comment\nRUN echo a \\\n# comment inside\n    b \\\n\n   \n  c\nRUN x\\\\\nRUN y \\  \t\n",
    );
    let runs: Vec<_> = df.stages[0].instructions.iter().map(|l| (l.lines, l.instruction.clone())).collect();
    assert_eq!(runs[0], (Lines { start: 3, end: 8 }, Instruction::Run(run_shell("echo a     b   c"))));
    // An escaped escape at the end is no continuation.
    assert_eq!(runs[1].1, Instruction::Run(run_shell("x\\\\")));
    // A continuation at the end of the file ends the instruction.
    assert_eq!(runs[2].1, Instruction::Run(run_shell("y")));
    assert_eq!(df.warnings.len(), 1);
    assert!(df.warnings[0].message.contains("empty continuation line"));
    // CRLF line ends.
    assert_eq!(
        instructions("RUN a \\\r\n b\r\nUSER x\r\n"),
        [Instruction::Run(run_shell("a  b")), Instruction::User("x".into())]
    );
}

#[test]
fn heredocs_in_run() {
    let df = parse_ok(concat!(
        "FROM alpine\n",
        "RUN <<EMPTY\nEMPTY\n",
        "RUN 3<<EMPTY2\nEMPTY2\n",
        "RUN \"<<NOHEREDOC\"\n",
        "RUN <<INDENT\n\tfoo\n\tbar\nINDENT\n",
        "RUN <<-UNINDENT\n\tbaz\n\tquux\n\tUNINDENT\n",
        "RUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n",
        "RUN <<COMMENT\n# internal comment\necho foo # trailing\nCOMMENT\n",
        "RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n",
        "RUN <<COMPLEX python3\nprint('hello world')\nCOMPLEX\n",
        "RUN <<eo'f'\necho foo\neof\n",
        "RUN <<eo\\'f\necho foo\neo'f\n",
        "RUN <<'e'o\\'f\necho foo\neo'f\n",
        "RUN <<'one two'\necho bar\none two\n",
        "RUN <<$EOF\n$EOF\n",
        "RUN <<  EOF  > foo\nEOF\n",
        "RUN <<A cat >a && <<B cat >b\na\nA\nb\nB\n",
        "RUN [\"<<EOF\"]\n",
    ));
    type Doc = (String, u32, bool, bool, String);
    let docs: Vec<Vec<Doc>> = df.stages[0]
        .instructions
        .iter()
        .map(|l| match &l.instruction {
            Instruction::Run(run) => {
                run.heredocs.iter().map(|d| (d.name.clone(), d.fd, d.expand, d.chomp, d.content.clone())).collect()
            }
            _ => vec![],
        })
        .collect();
    let doc = |name: &str, fd: u32, expand: bool, chomp: bool, content: &str| {
        (name.to_string(), fd, expand, chomp, content.to_string())
    };
    assert_eq!(docs[0], [doc("EMPTY", 0, true, false, "")]);
    assert_eq!(docs[1], [doc("EMPTY2", 3, true, false, "")]);
    assert_eq!(docs[2], []);
    assert_eq!(docs[3], [doc("INDENT", 0, true, false, "\tfoo\n\tbar\n")]);
    assert_eq!(docs[4], [doc("UNINDENT", 0, true, true, "\tbaz\n\tquux\n")]);
    assert_eq!(docs[5], [doc("NOEXPAND", 0, false, true, "\tdon't expand $NAME\n")]);
    assert_eq!(docs[6], [doc("COMMENT", 0, true, false, "# internal comment\necho foo # trailing\n")]);
    assert_eq!(docs[7], [doc("MOUNT", 0, true, false, "echo hello\n")]);
    assert_eq!(docs[8], [doc("COMPLEX", 0, true, false, "print('hello world')\n")]);
    assert_eq!(docs[9], [doc("eof", 0, false, false, "echo foo\n")]);
    assert_eq!(docs[10], [doc("eo'f", 0, true, false, "echo foo\n")]);
    assert_eq!(docs[11], [doc("eo'f", 0, false, false, "echo foo\n")]);
    assert_eq!(docs[12], [doc("one two", 0, false, false, "echo bar\n")]);
    assert_eq!(docs[13], [doc("$EOF", 0, true, false, "")]);
    assert_eq!(docs[14], [doc("EOF", 0, true, false, "")]);
    assert_eq!(docs[15], [doc("A", 0, true, false, "a\n"), doc("B", 0, true, false, "b\n")]);
    assert_eq!(docs[16], []);
    // USER takes no heredoc: the next line is an instruction of its own (and unknown).
    assert!(parse_err("FROM x\nUSER <<INVALID\nINVALID\n").message.starts_with("unknown instruction: INVALID"));
    let heredoc =
        Heredoc { name: "X".into(), fd: 0, expand: true, chomp: true, content: "\thello\n\t\tworld\n".into() };
    assert_eq!(heredoc.body(), "hello\nworld\n");
}

#[test]
fn heredoc_lines_and_errors() {
    let df = parse_ok("FROM x\nRUN <<EOF\na\nb\nEOF\nUSER me\n");
    assert_eq!(df.stages[0].instructions[0].lines, Lines { start: 2, end: 5 });
    assert_eq!(df.stages[0].instructions[1].lines, Lines::one(6));
    let err = parse_err("FROM x\nRUN <<EOF\necho hi\n");
    assert_eq!(err.lines, Lines { start: 2, end: 3 });
    assert!(err.message.starts_with("unterminated heredoc \"EOF\""), "{err}");
    // A line the shell lexer cannot split has no heredocs (BuildKit ignores the lexer's error).
    assert!(
        matches!(&parse_ok("FROM x\nRUN <<'EOF\n").stages[0].instructions[0].instruction, Instruction::Run(r) if r.heredocs.is_empty())
    );
    assert!(lines::parse_heredoc_marker("<<'EOF").is_err());
    for word in ["<<EOF", "<<'EOF'", "<<\"EOF\"", "<<-EOF", "<<-'EOF'", "<<-\"EOF\"", "<<EO\"F\"", "<< EOF", "<<- EOF"]
    {
        assert_eq!(lines::parse_heredoc_marker(word).unwrap().unwrap().name, "EOF", "{word}");
    }
    for word in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"] {
        assert_eq!(lines::parse_heredoc_marker(word).unwrap(), None, "{word}");
    }
    for word in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
        assert!(lines::parse_heredoc_marker(word).is_err(), "{word}");
    }
}

#[test]
fn heredocs_in_copy_and_add() {
    let copy = |text: &str| match one(text) {
        Instruction::Copy(c) => c,
        other => panic!("{other:?}"),
    };
    let c = copy("COPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n");
    assert_eq!(c.dest, "/dest");
    assert!(c.sources.is_empty());
    assert_eq!(
        c.inline,
        [
            InlineSource { name: "FILE1".into(), content: "content 1\n".into(), expand: true },
            InlineSource { name: "FILE2".into(), content: "content 2\n".into(), expand: true }
        ]
    );
    let c = copy("COPY <<-EOF foo.txt /bar\n\tTESTING\nEOF\n");
    assert_eq!((c.sources, c.inline[0].content.as_str()), (vec!["foo.txt".to_owned()], "TESTING\n"));
    assert!(!copy("COPY <<'EOF' /bar\nx\nEOF\n").inline[0].expand);
    let c = copy("COPY <<X <<Y /dest\nY\nX\nX\nY\n");
    assert_eq!((c.inline[0].content.as_str(), c.inline[1].content.as_str()), ("Y\n", "X\n"));
    assert_eq!(parse_err("FROM x\nCOPY /foo <<EOF\nEOF").message, "COPY cannot accept a heredoc as a destination");
    match one("ADD <<EOF /x\nhi\nEOF\n") {
        Instruction::Add(a) => assert_eq!(a.inline[0].content, "hi\n"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn exec_and_shell_forms() {
    assert_eq!(one("CMD [\"a\", \"b c\"]"), Instruction::Cmd(CommandLine::Exec(vec!["a".into(), "b c".into()])));
    assert_eq!(one("CMD echo \"hi\""), Instruction::Cmd(CommandLine::Shell("echo \"hi\"".into())));
    // Invalid JSON is silently shell form (BuildKit's jeztah-invalid-json cases).
    for text in ["['single']", "[\"unterminated", "[\"a\" \"b\"]", "[\"json\"] \"extra\""] {
        assert_eq!(one(&format!("ENTRYPOINT {text}")), Instruction::Entrypoint(CommandLine::Shell(text.into())));
    }
    assert_eq!(one("CMD []"), Instruction::Cmd(CommandLine::Exec(vec![])));
    assert_eq!(one("CMD"), Instruction::Cmd(CommandLine::Shell(String::new())));
    let err = parse_err("FROM x\nRUN [\"a\", 1]");
    assert_eq!(
        err.to_string(),
        "Dockerfile line 2: when using JSON array syntax, arrays must be comprised of strings only"
    );
    assert_eq!(one("SHELL [\"/bin/bash\", \"-c\"]"), Instruction::Shell(vec!["/bin/bash".into(), "-c".into()]));
    assert_eq!(parse_err("FROM x\nSHELL /bin/bash -c").message, "SHELL requires the arguments to be in JSON form");
    assert_eq!(parse_err("FROM x\nSHELL []").message, "SHELL requires at least one argument");
    match one("COPY [\"a b\", \"/c d/\"]") {
        Instruction::Copy(c) => assert_eq!((c.sources, c.dest), (vec!["a b".to_owned()], "/c d/".to_owned())),
        other => panic!("{other:?}"),
    }
    assert_eq!(one("VOLUME [\"/a\", \"/b\"]"), Instruction::Volume(vec!["/a".into(), "/b".into()]));
    assert_eq!(one("VOLUME /a   /b"), Instruction::Volume(vec!["/a".into(), "/b".into()]));
}

#[test]
fn from_lines_and_stages() {
    let df = parse_ok(
        "ARG V=1\nARG BASE\nFROM --platform=$BUILDPLATFORM golang:${V} AS Build\nRUN x\nfrom scratch\nCOPY --from=build /a /b\nFROM busybox@sha256:0123 as final\n",
    );
    assert_eq!(df.global_args.len(), 2);
    assert_eq!(df.stages.len(), 3);
    let s = &df.stages[0];
    assert_eq!(
        (s.index, s.name.as_deref(), s.base.as_str(), s.platform.as_deref()),
        (0, Some("build"), "golang:${V}", Some("$BUILDPLATFORM"))
    );
    assert_eq!(s.instructions.len(), 1);
    assert_eq!(
        (df.stages[1].name.clone(), df.stages[1].base.as_str(), df.stages[1].display_name()),
        (None, "scratch", "stage-1".into())
    );
    assert_eq!(df.stages[2].base, "busybox@sha256:0123");
    let err = |text: &str| parse_err(text).message;
    assert_eq!(
        err("FROM a AS 1x"),
        "invalid name for build stage: \"1x\", name can't start with a number or contain symbols"
    );
    assert_eq!(err("FROM a b"), "FROM requires either one or three arguments");
    assert_eq!(err("FROM"), "FROM requires either one or three arguments");
    assert_eq!(err("FROM --platfrom=x a"), "unknown flag: --platfrom (did you mean --platform?)");
    assert!(err("FROM a AS x\nFROM b AS X").starts_with("duplicate stage name \"x\""));
    assert_eq!(err("RUN x\nFROM a"), "RUN before the first FROM: only ARG may come before FROM");
    assert_eq!(err("ARG x"), "the Dockerfile has no FROM: no stage to build");
    assert_eq!(err("# only a comment\n"), "file with no instructions");
    assert_eq!(err(""), "file with no instructions");
}

#[test]
fn env_label_arg() {
    let kv = |key: &str, value: &str, legacy: bool| KeyValue { key: key.into(), value: value.into(), legacy };
    assert_eq!(
        one("ENV A=1 B=\"two words\" C=a\\ b"),
        Instruction::Env(vec![kv("A", "1", false), kv("B", "\"two words\"", false), kv("C", "a\\ b", false)])
    );
    assert_eq!(one("ENV PATH /usr/bin:$PATH"), Instruction::Env(vec![kv("PATH", "/usr/bin:$PATH", true)]));
    assert_eq!(
        one("LABEL \"com.example\"=\"x y\" v=1"),
        Instruction::Label(vec![kv("\"com.example\"", "\"x y\"", false), kv("v", "1", false)])
    );
    assert_eq!(
        one("ARG A B=2 C="),
        Instruction::Arg(vec![
            ArgDecl { name: "A".into(), default: None },
            ArgDecl { name: "B".into(), default: Some("2".into()) },
            ArgDecl { name: "C".into(), default: Some(String::new()) },
        ])
    );
    let err = |text: &str| parse_err(&format!("FROM x\n{text}")).message;
    assert_eq!(err("ENV"), "ENV requires at least one argument");
    assert_eq!(err("LABEL"), "LABEL requires at least one argument");
    assert_eq!(err("ENV A"), "ENV must have two arguments");
    assert_eq!(err("ENV =x"), "ENV names can not be blank");
    assert_eq!(err("ARG =x"), "ARG names can not be blank");
    assert_eq!(err("ARG"), "ARG requires at least one argument");
    assert!(err("ENV A=1 B").contains("can't find = in \"B\""));
}

#[test]
fn copy_and_add_flags() {
    match one(
        "COPY --from=build --chown=1000:1000 --chmod=u=rwX,go=rX --link --parents --exclude=*.md --exclude=.git ./src/./a b/ /app/",
    ) {
        Instruction::Copy(c) => {
            assert_eq!(c.from.as_deref(), Some("build"));
            assert_eq!(c.chown.as_deref(), Some("1000:1000"));
            assert_eq!(c.chmod.as_deref(), Some("u=rwX,go=rX"));
            assert!(c.link && c.parents);
            assert_eq!(c.excludes, ["*.md", ".git"]);
            assert_eq!((c.sources, c.dest), (vec!["./src/./a".to_owned(), "b/".to_owned()], "/app/".to_owned()));
        }
        other => panic!("{other:?}"),
    }
    match one("ADD --checksum=sha256:abc --keep-git-dir=false --unpack=true https://example.com/x.tar.gz /x/") {
        Instruction::Add(a) => {
            assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
            assert_eq!((a.keep_git_dir, a.unpack), (Some(false), Some(true)));
        }
        other => panic!("{other:?}"),
    }
    let err = |text: &str| parse_err(&format!("FROM x\n{text}")).message;
    assert_eq!(
        err("COPY a"),
        "COPY requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    assert_eq!(
        err("ADD a"),
        "ADD requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    assert!(err("COPY\t\n\t\tquux \\\n      bar").starts_with("COPY requires at least two arguments"));
    assert_eq!(
        err("COPY --chmod=999 a b"),
        "invalid chmod parameter: '999'. it should be octal string and between 0 and 07777"
    );
    assert!(err("COPY --chmod=u=rwz a b").starts_with("invalid chmod parameter"));
    assert_eq!(err("COPY --checksum=x a b"), "unknown flag: --checksum");
    assert_eq!(
        err("COPY --from=$X a b"),
        "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround"
    );
    assert_eq!(err("ADD --checksum=sha256:x a b c/"), "checksum can't be specified for multiple sources");
    assert_eq!(err("COPY --link=maybe a b"), "expecting boolean value for flag --link, not: maybe");
    // A chmod with a variable is checked after expansion.
    assert!(matches!(one("COPY --chmod=$MODE a b"), Instruction::Copy(c) if c.chmod.as_deref() == Some("$MODE")));
}

#[test]
fn run_flags() {
    match one(
        "RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=npm --network=none --security=insecure make",
    ) {
        Instruction::Run(run) => {
            assert_eq!(run.mounts.len(), 2);
            assert_eq!(run.mounts[0].text, "type=cache,target=/root/.cache");
            let spec = run.mounts[1].spec(&mut |v| Ok(v.to_owned()), "/").unwrap();
            assert!(matches!(spec, MountSpec::Secret { ref id, .. } if id == "npm"));
            assert_eq!((run.network, run.security), (Network::None, Security::Insecure));
            assert_eq!(run.command, CommandLine::Shell("make".into()));
        }
        other => panic!("{other:?}"),
    }
    match one("RUN --mount=from=builder,source=/out,target=/in cp -r /in /x") {
        Instruction::Run(run) => assert_eq!(run.mounts[0].from.as_deref(), Some("builder")),
        other => panic!("{other:?}"),
    }
    let err = |text: &str| parse_err(&format!("FROM x\n{text}"));
    assert_eq!(err("RUN --network=bridge x").message, "invalid network mode \"bridge\"");
    assert_eq!(err("RUN --security=open x").message, "security \"open\" is not valid");
    assert_eq!(
        err("RUN --mount=type=bogus,target=/x x").to_string(),
        "Dockerfile line 2: unsupported mount type \"bogus\""
    );
    assert_eq!(err("RUN --mount=type=cache x").message, "mount type cache requires a target");
    assert_eq!(err("RUN --mnt=type=cache x").message, "unknown flag: --mnt (did you mean --mount?)");
    // Variables defer the checks to expansion time.
    assert!(matches!(one("RUN --mount=type=$T,target=/x true"), Instruction::Run(_)));
}

#[test]
fn healthcheck() {
    assert_eq!(one("HEALTHCHECK NONE"), Instruction::Healthcheck(Healthcheck::None));
    assert_eq!(
        one(
            "HEALTHCHECK --interval=5s --timeout=3s --start-period=1m --start-interval=2s --retries=4 CMD curl -f http://localhost/ || exit 1"
        ),
        Instruction::Healthcheck(Healthcheck::Check(HealthcheckConfig {
            test: vec!["CMD-SHELL".into(), "curl -f http://localhost/ || exit 1".into()],
            interval: Some(Duration::from_secs(5)),
            timeout: Some(Duration::from_secs(3)),
            start_period: Some(Duration::from_secs(60)),
            start_interval: Some(Duration::from_secs(2)),
            retries: Some(4),
        }))
    );
    match one("HEALTHCHECK CMD [\"/bin/check\", \"-q\"]") {
        Instruction::Healthcheck(Healthcheck::Check(c)) => assert_eq!(c.test, ["CMD", "/bin/check", "-q"]),
        other => panic!("{other:?}"),
    }
    let err = |text: &str| parse_err(&format!("FROM x\n{text}")).message;
    assert_eq!(err("HEALTHCHECK"), "HEALTHCHECK requires at least one argument");
    assert_eq!(err("HEALTHCHECK NONE x"), "HEALTHCHECK NONE takes no arguments");
    assert_eq!(err("HEALTHCHECK CMD"), "Missing command after HEALTHCHECK CMD");
    assert_eq!(err("HEALTHCHECK FOO x"), "Unknown type \"FOO\" in HEALTHCHECK (try CMD)");
    assert_eq!(err("HEALTHCHECK --interval=50ns CMD x"), "Interval \"interval\" cannot be less than 1ms");
    assert_eq!(err("HEALTHCHECK --retries=-1 CMD x"), "--retries cannot be negative (-1)");
    assert!(err("HEALTHCHECK --timeout=5 CMD x").contains("missing unit"));
}

#[test]
fn onbuild() {
    match one("ONBUILD RUN --mount=type=cache,target=/c make") {
        Instruction::OnBuild(ob) => {
            assert_eq!(ob.expression, "RUN --mount=type=cache,target=/c make");
            assert!(matches!(ob.trigger.instruction, Instruction::Run(ref r) if r.mounts.len() == 1));
        }
        other => panic!("{other:?}"),
    }
    match one("onbuild COPY <<EOF /x\nhello\nEOF\n") {
        Instruction::OnBuild(ob) => {
            assert_eq!(ob.expression, "COPY <<EOF /x\nhello\nEOF");
            assert!(matches!(ob.trigger.instruction, Instruction::Copy(ref c) if c.inline[0].content == "hello\n"));
            let again = parse_trigger(&ob.expression, '\\', Lines::one(9)).unwrap();
            assert_eq!(again.instruction, ob.trigger.instruction);
        }
        other => panic!("{other:?}"),
    }
    let err = |text: &str| parse_err(&format!("FROM x\n{text}")).message;
    assert_eq!(err("ONBUILD ONBUILD RUN touch foobar"), "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    assert_eq!(err("ONBUILD FROM scratch"), "FROM isn't allowed as an ONBUILD trigger");
    assert_eq!(err("ONBUILD MAINTAINER me"), "MAINTAINER isn't allowed as an ONBUILD trigger");
    assert_eq!(err("ONBUILD"), "ONBUILD requires at least one argument");
    assert!(parse_trigger("RUN a\nRUN b", '\\', Lines::one(1)).is_err());
}

#[test]
fn single_argument_instructions() {
    assert_eq!(
        instructions(
            "WORKDIR /app\nUSER 1000:1000\nSTOPSIGNAL SIGINT\nMAINTAINER Jane <j@example.com>\nEXPOSE 8080 443/tcp 53/udp"
        ),
        [
            Instruction::Workdir("/app".into()),
            Instruction::User("1000:1000".into()),
            Instruction::StopSignal("SIGINT".into()),
            Instruction::Maintainer("Jane <j@example.com>".into()),
            Instruction::Expose(vec!["443/tcp".into(), "53/udp".into(), "8080".into()]),
        ]
    );
    for keyword in ["WORKDIR", "USER", "STOPSIGNAL", "MAINTAINER"] {
        assert_eq!(
            parse_err(&format!("FROM x\n{keyword}")).message,
            format!("{keyword} requires exactly one argument")
        );
    }
    for keyword in ["EXPOSE", "VOLUME"] {
        assert_eq!(
            parse_err(&format!("FROM x\n{keyword}")).message,
            format!("{keyword} requires at least one argument")
        );
    }
    assert_eq!(parse_err("FROM x\nMAINTAINER --boo joe@example.com").message, "unknown flag: --boo");
    assert_eq!(parse_err("FROM x\nVOLUME [\"\"]").message, "VOLUME specified can not be an empty string");
}

#[test]
fn unknown_instructions_name_their_line() {
    let err = parse_err("FROM x\nRUN a\n\nFOO bar\n");
    assert_eq!(err.to_string(), "Dockerfile line 4: unknown instruction: FOO (did you mean FROM?)");
    assert_eq!(parse_err("FROM x\ncoppy a b").message, "unknown instruction: coppy (did you mean COPY?)");
    assert_eq!(parse_err("FROM x\nXYZZY a b").message, "unknown instruction: XYZZY");
    let err = parse(b"FROM x\nRUN \xff\n").unwrap_err();
    assert_eq!(err.to_string(), "Dockerfile line 2: the Dockerfile is not valid UTF-8");
}

#[test]
fn keywords_are_case_insensitive_and_original_text_is_kept() {
    let df = parse_ok("from alpine as Base\nrun   echo  hi   \n");
    assert_eq!(df.stages[0].name.as_deref(), Some("base"));
    let run = &df.stages[0].instructions[0];
    assert_eq!(run.source, "run   echo  hi");
    assert_eq!(run.instruction, Instruction::Run(run_shell("echo  hi")));
}
