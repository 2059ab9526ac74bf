//! Expansion and scoping: the cases of Docker's reference for ARG/ENV and the builder-expanded
//! words.

use super::*;
use crate::build::dockerfile::{Healthcheck, MountSpec, parse};
use crate::build::vars::Platforms;
use crate::image::spec::Platform;

fn platforms() -> Platforms {
    let p = Platform { architecture: "amd64".into(), os: "linux".into(), variant: None, os_version: None };
    Platforms { build: p.clone(), target: p }
}

/// Expands every instruction of the last stage (based on an image with `base`).
fn steps_with(text: &str, args: &[(&str, &str)], base: &BaseConfig) -> Result<Vec<Step>, DockerfileError> {
    let df = parse(text.as_bytes()).unwrap();
    let build_args = BuildArgs::new(args.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let scope = GlobalScope::new(&df, &build_args, &platforms(), "")?;
    let stage = df.stages.len() - 1;
    let mut state = StageState::new(&df, stage, &scope, &build_args, base);
    df.stages[stage].instructions.iter().map(|l| state.expand(l)).collect()
}

fn steps(text: &str, args: &[(&str, &str)]) -> Vec<Step> {
    steps_with(text, args, &BaseConfig::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn run(step: &Step) -> &RunStep {
    match &step.action {
        Action::Run(run) => run,
        other => panic!("{other:?}"),
    }
}

fn env_of(step: &Step, name: &str) -> Option<String> {
    run(step).env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn copy(step: &Step) -> &CopyStep {
    match &step.action {
        Action::Copy(copy) => copy,
        other => panic!("{other:?}"),
    }
}

fn config(step: &Step) -> &ConfigChange {
    match &step.action {
        Action::Config(change) => change,
        other => panic!("{other:?}"),
    }
}

#[test]
fn global_args_need_a_declaration_in_the_stage() {
    let s = steps("ARG V=1\nARG TARGETARCH\nFROM x:$V\nRUN a\nARG V\nARG TARGETARCH\nRUN b\n", &[]);
    assert_eq!(env_of(&s[0], "V"), None);
    assert_eq!(env_of(&s[3], "V").as_deref(), Some("1"));
    assert_eq!(env_of(&s[3], "TARGETARCH").as_deref(), Some("amd64"));
    let s = steps("ARG V=1\nFROM x\nARG V\nRUN b\n", &[("V", "2")]);
    assert_eq!(env_of(&s[1], "V").as_deref(), Some("2"));
}

#[test]
fn build_args_override_stage_defaults_and_env_overrides_args() {
    let text = "FROM x\nARG A=default\nARG B\nRUN one\nENV A=env\nRUN two\nARG A=again\nRUN three\n";
    let s = steps(text, &[("A", "given"), ("B", "b")]);
    assert_eq!(env_of(&s[2], "A").as_deref(), Some("given"));
    assert_eq!(env_of(&s[2], "B").as_deref(), Some("b"));
    assert_eq!(env_of(&s[4], "A").as_deref(), Some("env"));
    // A later ARG of the same name sets the build environment again (BuildKit's order).
    assert_eq!(env_of(&s[6], "A").as_deref(), Some("given"));
    let s = steps("FROM x\nARG C\nRUN a\n", &[]);
    assert_eq!(env_of(&s[1], "C"), None, "an ARG without value or default is not set");
}

#[test]
fn one_snapshot_per_instruction() {
    let s = steps("FROM x\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n", &[]);
    assert_eq!(config(&s[1]), &ConfigChange::Env(vec![("abc".into(), "bye".into()), ("def".into(), "hello".into())]));
    assert_eq!(config(&s[2]), &ConfigChange::Env(vec![("ghi".into(), "bye".into())]));
    assert_eq!(s[1].created_by, "ENV abc=bye def=hello");
}

#[test]
fn run_is_not_expanded_but_its_mounts_are() {
    let s = steps("FROM x\nARG ID=pip\nRUN --mount=type=cache,id=${ID},target=/c echo $ID \"${ID:-x}\"\n", &[]);
    let r = run(&s[1]);
    assert_eq!(r.argv, ["/bin/sh", "-c", "echo $ID \"${ID:-x}\""]);
    assert!(matches!(&r.mounts[0], MountSpec::Cache { id, .. } if id == "pip"));
    assert_eq!(s[1].created_by, "RUN |1 ID=pip /bin/sh -c echo $ID \"${ID:-x}\" # berth");
    let err =
        steps_with("FROM a AS one\nRUN --mount=from=two,target=/x true\nFROM b AS two\n", &[], &BaseConfig::default());
    assert!(err.is_ok(), "only the last stage is expanded here");
    let df = parse(b"FROM a AS one\nRUN --mount=from=two,target=/x true\nFROM b AS two\n").unwrap();
    let scope = GlobalScope::new(&df, &BuildArgs::default(), &platforms(), "").unwrap();
    let mut state = StageState::new(&df, 0, &scope, &BuildArgs::default(), &BaseConfig::default());
    let err = state.expand(&df.stages[0].instructions[0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Dockerfile line 2: cannot copy from stage \"two\", it needs to be defined before current stage \"one\""
    );
}

#[test]
fn shell_forms_use_the_stage_shell() {
    let base = BaseConfig { shell: Some(vec!["/bin/bash".into(), "-eu".into(), "-c".into()]), ..BaseConfig::default() };
    let s = steps_with("FROM x\nRUN a\nSHELL [\"/bin/ash\", \"-c\"]\nRUN b\nCMD c\nENTRYPOINT [\"e\"]\n", &[], &base)
        .unwrap();
    assert_eq!(run(&s[0]).argv, ["/bin/bash", "-eu", "-c", "a"]);
    assert_eq!(run(&s[2]).argv, ["/bin/ash", "-c", "b"]);
    assert_eq!(config(&s[3]), &ConfigChange::Cmd(vec!["/bin/ash".into(), "-c".into(), "c".into()]));
    assert_eq!(config(&s[4]), &ConfigChange::Entrypoint { argv: vec!["e".into()], reset_cmd: false });
    assert_eq!(s[3].created_by, "CMD [\"/bin/ash\",\"-c\",\"c\"]");
    let s = steps("FROM x\nENTRYPOINT top -b\nENTRYPOINT []\n", &[]);
    assert_eq!(
        config(&s[0]),
        &ConfigChange::Entrypoint { argv: vec!["/bin/sh".into(), "-c".into(), "top -b".into()], reset_cmd: true }
    );
    assert_eq!(config(&s[1]), &ConfigChange::Entrypoint { argv: vec![], reset_cmd: true });
}

#[test]
fn run_heredocs() {
    let s = steps(
        "FROM x\nRUN <<EOF\necho a\necho b\nEOF\nRUN <<-EOF\n\t#!/usr/bin/env python3\n\tprint(1)\nEOF\nRUN python3 <<EOF\nprint(2)\nEOF\nRUN <<A cat >a && <<-B cat >b\nx\nA\n\ty\nB\n",
        &[],
    );
    assert_eq!(run(&s[0]).argv, ["/bin/sh", "-c", "echo a\necho b\n"]);
    assert_eq!(run(&s[1]).argv, ["/bin/sh", "-c", "/dev/pipes/EOF"]);
    assert_eq!(
        run(&s[1]).inline_files,
        [InlineFile {
            path: "/dev/pipes/EOF".into(),
            content: "#!/usr/bin/env python3\nprint(1)\n".into(),
            mode: 0o755
        }]
    );
    assert_eq!(run(&s[2]).argv, ["/bin/sh", "-c", "python3 <<EOF\nprint(2)\nEOF"]);
    assert_eq!(run(&s[3]).argv, ["/bin/sh", "-c", "<<A cat >a && <<-B cat >b\nx\nA\n\ty\nB"]);
}

#[test]
fn copy_words_are_expanded_and_destinations_follow_workdir() {
    let s = steps(
        "FROM x\nARG SRC=app UID=1000 MODE=0640\nWORKDIR /srv\nWORKDIR web\nCOPY --chown=$UID:$UID --chmod=$MODE $SRC/ ./\nCOPY a b dir/\nCOPY a ${SRC}.txt\nCOPY <<EOF <<'RAW' conf/\nuid=$UID \\$HOME \"q\"\nEOF\n$UID\nRAW\n",
        &[],
    );
    assert_eq!(s[1].action, Action::Workdir { path: "/srv".into(), user: String::new() });
    assert_eq!(s[2].action, Action::Workdir { path: "/srv/web".into(), user: String::new() });
    let c = copy(&s[3]);
    assert_eq!((c.sources.as_slice(), c.dest.as_str()), (&["app/".to_owned()][..], "/srv/web/"));
    assert_eq!((c.chown.as_deref(), c.chmod.clone()), (Some("1000:1000"), Some(Chmod::Octal(0o640))));
    assert_eq!(s[3].created_by, "COPY --chown=1000:1000 --chmod=0640 $SRC/ ./ # berth");
    assert_eq!(copy(&s[4]).dest, "/srv/web/dir/");
    assert_eq!(copy(&s[5]).dest, "/srv/web/app.txt");
    let c = copy(&s[6]);
    assert_eq!(c.inline[0], InlineContent { name: "EOF".into(), content: "uid=1000 $HOME \"q\"\n".into() });
    assert_eq!(c.inline[1], InlineContent { name: "RAW".into(), content: "$UID\n".into() });
}

#[test]
fn copy_sources_and_destinations_are_checked() {
    let err = |text: &str| steps_with(text, &[], &BaseConfig::default()).unwrap_err().to_string();
    assert_eq!(
        err("FROM x\nCOPY ../secret /x"),
        "Dockerfile line 2: COPY failed: forbidden path outside the build context: ../secret"
    );
    assert_eq!(
        err("FROM x\nADD a/../../b /x"),
        "Dockerfile line 2: ADD failed: forbidden path outside the build context: a/../../b"
    );
    assert_eq!(
        err("FROM x\nCOPY a b /dir"),
        "Dockerfile line 2: When using COPY with more than one source file, the destination must be a directory and end with a /"
    );
    assert!(err("FROM x\nARG M=u=rwq\nCOPY --chmod=$M a /b").contains("invalid chmod parameter"));
    assert!(err("FROM x\nADD --checksum=sha256:0 a /b").contains("checksum requires HTTP(S) or Git sources"));
    // Inside a stage or an image, `..` stays at its root.
    assert_eq!(copy(&steps("FROM a AS b\nFROM x\nCOPY --from=b ../etc/x /y", &[])[0]).sources, ["../etc/x"]);
}

#[test]
fn copy_from_stages_images_and_indexes() {
    let s = steps(
        "FROM a AS Builder\nFROM b\nCOPY --from=builder /x /x\nCOPY --from=0 /y /y\nCOPY --from=alpine:3 /z /z\n",
        &[],
    );
    assert_eq!(copy(&s[0]).from, Source::Stage(0));
    assert_eq!(copy(&s[1]).from, Source::Stage(0));
    assert_eq!(copy(&s[2]).from, Source::Image("alpine:3".into()));
}

#[test]
fn add_sources_are_classified() {
    let s = steps(
        "FROM x\nADD --checksum=sha256:00 https://example.com/a.tgz /a/\nADD https://github.com/o/r.git#main:sub git@github.com:o/r.git local.tar /b/\n",
        &[],
    );
    match (&s[0].action, &s[1].action) {
        (Action::Add(a), Action::Add(b)) => {
            assert_eq!(a.sources, [AddSource::Http("https://example.com/a.tgz".into())]);
            assert_eq!(a.checksum.as_deref(), Some("sha256:00"));
            assert_eq!(
                b.sources,
                [
                    AddSource::Git("https://github.com/o/r.git#main:sub".into()),
                    AddSource::Git("git@github.com:o/r.git".into()),
                    AddSource::Local("local.tar".into())
                ]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn config_instructions() {
    let s = steps(
        "FROM x\nARG P=8080 U=app\nEXPOSE $P 53/udp\nARG PORTS=\"1 2\"\nEXPOSE $PORTS\nUSER $U\nVOLUME /data $P\nSTOPSIGNAL SIG${U:+TERM}\nLABEL a=$U \"b c\"=d\nHEALTHCHECK --interval=1m CMD true\nONBUILD RUN $U\nMAINTAINER me\n",
        &[],
    );
    // Sorted as written, before expansion (as BuildKit does).
    assert_eq!(config(&s[1]), &ConfigChange::Expose(vec!["8080/tcp".into(), "53/udp".into()]));
    assert_eq!(config(&s[3]), &ConfigChange::Expose(vec!["1/tcp".into(), "2/tcp".into()]));
    assert_eq!(config(&s[4]), &ConfigChange::User("app".into()));
    assert_eq!(config(&s[5]), &ConfigChange::Volumes(vec!["/data".into(), "8080".into()]));
    assert_eq!(config(&s[6]), &ConfigChange::StopSignal("SIGTERM".into()));
    assert_eq!(config(&s[7]), &ConfigChange::Label(vec![("a".into(), "app".into()), ("b c".into(), "d".into())]));
    assert!(matches!(config(&s[8]), ConfigChange::Healthcheck(Healthcheck::Check(_))));
    assert_eq!(s[8].created_by, "HEALTHCHECK --interval=1m0s [\"CMD-SHELL\",\"true\"]");
    assert_eq!(config(&s[9]), &ConfigChange::OnBuild("RUN $U".into()));
    assert_eq!(config(&s[10]), &ConfigChange::Maintainer("me".into()));
    let err = |text: &str| steps_with(text, &[], &BaseConfig::default()).unwrap_err().message;
    assert_eq!(err("FROM x\nSTOPSIGNAL SIGNOPE"), "invalid signal: SIGNOPE");
    assert!(err("FROM x\nEXPOSE 99999").contains("out of range"));
    assert_eq!(err("FROM x\nUSER ${U:?must be set}"), "failed to process \"${U:?must be set}\": U: must be set");
}

#[test]
fn base_config_and_parent_stages() {
    let base = BaseConfig {
        env: vec!["PATH=/custom".into(), "LANG=C".into()],
        working_dir: Some("/base".into()),
        user: Some("nobody".into()),
        shell: None,
    };
    let df = parse(b"FROM img AS one\nARG A=1\nENV E=$LANG\nWORKDIR sub\nFROM one\nRUN x\n").unwrap();
    let scope = GlobalScope::new(&df, &BuildArgs::default(), &platforms(), "").unwrap();
    let mut one = StageState::new(&df, 0, &scope, &BuildArgs::default(), &base);
    assert!(one.initial_changes().is_empty());
    for located in &df.stages[0].instructions {
        one.expand(located).unwrap();
    }
    assert_eq!(one.workdir(), "/base/sub");
    let mut two = StageState::from_parent(&one, 1);
    let step = two.expand(&df.stages[1].instructions[0]).unwrap();
    let r = run(&step);
    assert_eq!((r.workdir.as_str(), r.user.as_str()), ("/base/sub", "nobody"));
    assert_eq!(env_of(&step, "A").as_deref(), Some("1"));
    assert_eq!(env_of(&step, "E").as_deref(), Some("C"));
    assert_eq!(two.image_env().to_config(), ["PATH=/custom", "LANG=C", "E=C"]);
    // Scratch gets Docker's default PATH.
    let state = StageState::new(&df, 0, &scope, &BuildArgs::default(), &BaseConfig::default());
    assert_eq!(state.initial_changes(), [ConfigChange::Env(vec![("PATH".into(), DEFAULT_PATH.into())])]);
}

#[test]
fn proxy_args_reach_run_without_a_declaration() {
    let s = steps(
        "FROM x\nRUN a\nARG https_proxy\nRUN b\n",
        &[("HTTP_PROXY", "http://p:3128"), ("https_proxy", "http://q")],
    );
    let first = run(&s[0]);
    assert_eq!(first.proxy_env.len(), 2);
    assert!(first.env.iter().all(|(k, _)| k != "HTTP_PROXY"));
    let second = run(&s[2]);
    assert_eq!(env_of(&s[2], "https_proxy").as_deref(), Some("http://q"));
    assert_eq!(second.proxy_env, [("HTTP_PROXY".to_owned(), "http://p:3128".to_owned())]);
    // Proxies stay out of the serialized step (the cache key's input).
    let json = serde_json::to_string(&s[0].action).unwrap();
    assert!(!json.contains("p:3128"), "{json}");
}
