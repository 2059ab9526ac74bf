//! Cases from BuildKit's own lexer tests (`shell/envVarTest`, `shell/wordsTest`, and the
//! table of `TestProcessWithMatches`), transcribed: the expected results are Docker's behaviour.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// `shell/envVarTest`, the Unix rows: (word, expected value or None for an error), with
/// PWD=/home SHELL=bash KOREAN=한국어 NULL="".
#[rustfmt::skip]
const ENV_VAR_CASES: &[(&str, Option<&str>)] = &[
    (r#"hello"#, Some(r#"hello"#)),
    (r#"he'll'o"#, Some(r#"hello"#)),
    (r#"he'llo"#, None),
    (r#"he\'llo"#, Some(r#"he'llo"#)),
    (r#"he\\'llo"#, None),
    (r#"abc\tdef"#, Some(r#"abctdef"#)),
    (r#""abc\tdef""#, Some(r#"abc\tdef"#)),
    (r#""abc\\tdef""#, Some(r#"abc\tdef"#)),
    (r#"'abc\tdef'"#, Some(r#"abc\tdef"#)),
    (r#"hello\"#, Some(r#"hello"#)),
    (r#"hello\\"#, Some(r#"hello\"#)),
    (r#""hello"#, None),
    (r#""hello\""#, None),
    (r#""hel'lo""#, Some(r#"hel'lo"#)),
    (r#"'hello"#, None),
    (r#"'hello\'"#, Some(r#"hello\"#)),
    (r#"'hello\there'"#, Some(r#"hello\there"#)),
    (r#"'hello\\there'"#, Some(r#"hello\\there"#)),
    (r#""''""#, Some(r#"''"#)),
    (r#"$."#, Some(r#"$."#)),
    (r#"he$1x"#, Some(r#"hex"#)),
    (r#"he$.x"#, Some(r#"he$.x"#)),
    (r#"he$pwd."#, Some(r#"he."#)),
    (r#"he$PWD"#, Some(r#"he/home"#)),
    (r#"he\$PWD"#, Some(r#"he$PWD"#)),
    (r#"he\\$PWD"#, Some(r#"he\/home"#)),
    (r#""he\$PWD""#, Some(r#"he$PWD"#)),
    (r#""he\\$PWD""#, Some(r#"he\/home"#)),
    (r#"\${}"#, Some(r#"${}"#)),
    (r#"\${}aaa"#, Some(r#"${}aaa"#)),
    (r#"he\${}"#, Some(r#"he${}"#)),
    (r#"he\${}xx"#, Some(r#"he${}xx"#)),
    (r#"${}"#, None),
    (r#"${}aaa"#, None),
    (r#"he${}"#, None),
    (r#"he${}xx"#, None),
    (r#"he${hi}"#, Some(r#"he"#)),
    (r#"he${hi}xx"#, Some(r#"hexx"#)),
    (r#"he${PWD}"#, Some(r#"he/home"#)),
    (r#"he${.}"#, None),
    (r#"he${XXX:-000}xx"#, Some(r#"he000xx"#)),
    (r#"he${PWD:-000}xx"#, Some(r#"he/homexx"#)),
    (r#"he${XXX:-$PWD}xx"#, Some(r#"he/homexx"#)),
    (r#"he${XXX:-${PWD:-yyy}}xx"#, Some(r#"he/homexx"#)),
    (r#"he${XXX:-${YYY:-yyy}}xx"#, Some(r#"heyyyxx"#)),
    (r#"he${XXX:YYY}"#, None),
    (r#"he${XXX?}"#, None),
    (r#"he${XXX:?}"#, None),
    (r#"he${PWD?}"#, Some(r#"he/home"#)),
    (r#"he${PWD:?}"#, Some(r#"he/home"#)),
    (r#"he${NULL?}"#, Some(r#"he"#)),
    (r#"he${NULL:?}"#, None),
    (r#"he${XXX:+${PWD}}xx"#, Some(r#"hexx"#)),
    (r#"he${PWD:+${XXX}}xx"#, Some(r#"hexx"#)),
    (r#"he${PWD:+${SHELL}}xx"#, Some(r#"hebashxx"#)),
    (r#"he${XXX:+000}xx"#, Some(r#"hexx"#)),
    (r#"he${PWD:+000}xx"#, Some(r#"he000xx"#)),
    (r#"'he${XX}'"#, Some(r#"he${XX}"#)),
    (r#""he${PWD}""#, Some(r#"he/home"#)),
    (r#""he'$PWD'""#, Some(r#"he'/home'"#)),
    (r#""$PWD""#, Some(r#"/home"#)),
    (r#"'$PWD'"#, Some(r#"$PWD"#)),
    (r#"'\$PWD'"#, Some(r#"\$PWD"#)),
    (r#"'"hello"'"#, Some(r#""hello""#)),
    (r#"he\$PWD"#, Some(r#"he$PWD"#)),
    (r#""he\$PWD""#, Some(r#"he$PWD"#)),
    (r#"'he\$PWD'"#, Some(r#"he\$PWD"#)),
    (r#"he${PWD"#, None),
    (r#"he${PWD:=000}xx"#, None),
    (r#"he${PWD:+${PWD}:}xx"#, Some(r#"he/home:xx"#)),
    (r#"he${XXX:-\$PWD:}xx"#, Some(r#"he$PWD:xx"#)),
    (r#"he${XXX:-\${PWD}z}xx"#, Some(r#"he${PWDz}xx"#)),
    (r#"안녕하세요"#, Some(r#"안녕하세요"#)),
    (r#"안'녕'하세요"#, Some(r#"안녕하세요"#)),
    (r#"안'녕하세요"#, None),
    (r#"안녕\'하세요"#, Some(r#"안녕'하세요"#)),
    (r#"안\\'녕하세요"#, None),
    (r#"안녕\t하세요"#, Some(r#"안녕t하세요"#)),
    (r#""안녕\t하세요""#, Some(r#"안녕\t하세요"#)),
    (r#"'안녕\t하세요"#, None),
    (r#"안녕하세요\"#, Some(r#"안녕하세요"#)),
    (r#"안녕하세요\\"#, Some(r#"안녕하세요\"#)),
    (r#""안녕하세요"#, None),
    (r#""안녕하세요\""#, None),
    (r#""안녕'하세요""#, Some(r#"안녕'하세요"#)),
    (r#"'안녕하세요"#, None),
    (r#"'안녕하세요\'"#, Some(r#"안녕하세요\"#)),
    (r#"안녕$1x"#, Some(r#"안녕x"#)),
    (r#"안녕$.x"#, Some(r#"안녕$.x"#)),
    (r#"안녕$pwd."#, Some(r#"안녕."#)),
    (r#"안녕$PWD"#, Some(r#"안녕/home"#)),
    (r#"안녕\$PWD"#, Some(r#"안녕$PWD"#)),
    (r#"안녕\\$PWD"#, Some(r#"안녕\/home"#)),
    (r#"안녕\${}"#, Some(r#"안녕${}"#)),
    (r#"안녕\${}xx"#, Some(r#"안녕${}xx"#)),
    (r#"안녕${}"#, None),
    (r#"안녕${}xx"#, None),
    (r#"안녕${hi}"#, Some(r#"안녕"#)),
    (r#"안녕${hi}xx"#, Some(r#"안녕xx"#)),
    (r#"안녕${PWD}"#, Some(r#"안녕/home"#)),
    (r#"안녕${.}"#, None),
    (r#"안녕${XXX:-000}xx"#, Some(r#"안녕000xx"#)),
    (r#"안녕${PWD:-000}xx"#, Some(r#"안녕/homexx"#)),
    (r#"안녕${XXX:-$PWD}xx"#, Some(r#"안녕/homexx"#)),
    (r#"안녕${XXX:-${PWD:-yyy}}xx"#, Some(r#"안녕/homexx"#)),
    (r#"안녕${XXX:-${YYY:-yyy}}xx"#, Some(r#"안녕yyyxx"#)),
    (r#"안녕${XXX:YYY}"#, None),
    (r#"안녕${XXX:+${PWD}}xx"#, Some(r#"안녕xx"#)),
    (r#"안녕${PWD:+${XXX}}xx"#, Some(r#"안녕xx"#)),
    (r#"안녕${PWD:+${SHELL}}xx"#, Some(r#"안녕bashxx"#)),
    (r#"안녕${XXX:+000}xx"#, Some(r#"안녕xx"#)),
    (r#"안녕${PWD:+000}xx"#, Some(r#"안녕000xx"#)),
    (r#"'안녕${XX}'"#, Some(r#"안녕${XX}"#)),
    (r#""안녕${PWD}""#, Some(r#"안녕/home"#)),
    (r#""안녕'$PWD'""#, Some(r#"안녕'/home'"#)),
    (r#"'"안녕"'"#, Some(r#""안녕""#)),
    (r#"안녕\$PWD"#, Some(r#"안녕$PWD"#)),
    (r#""안녕\$PWD""#, Some(r#"안녕$PWD"#)),
    (r#"'안녕\$PWD'"#, Some(r#"안녕\$PWD"#)),
    (r#"안녕${PWD"#, None),
    (r#"안녕${PWD:=000}xx"#, None),
    (r#"안녕${PWD:+${PWD}:}xx"#, Some(r#"안녕/home:xx"#)),
    (r#"안녕${XXX:-\$PWD:}xx"#, Some(r#"안녕$PWD:xx"#)),
    (r#"안녕${XXX:-\${PWD}z}xx"#, Some(r#"안녕${PWDz}xx"#)),
    (r#"$KOREAN"#, Some(r#"한국어"#)),
    (r#"안녕$KOREAN"#, Some(r#"안녕한국어"#)),
    (r#"${{aaa}"#, None),
    (r#"${aaa}}"#, Some(r#"}"#)),
    (r#"${aaa"#, None),
    (r#"${{aaa:-bbb}"#, None),
    (r#"${aaa:-bbb}}"#, Some(r#"bbb}"#)),
    (r#"${aaa:-bbb"#, None),
    (r#"${aaa:-bbb}"#, Some(r#"bbb"#)),
    (r#"${aaa:-${bbb:-ccc}}"#, Some(r#"ccc"#)),
    (r#"${aaa:-bbb ${foo}"#, None),
    (r#"${aaa:-bbb {foo}"#, Some(r#"bbb {foo"#)),
    (r#"${:}"#, None),
    (r#"${:-bbb}"#, None),
    (r#"${:+bbb}"#, None),
    (r#"$1"#, Some(r#""#)),
    (r#"${1}"#, Some(r#""#)),
    (r#"${1:+bbb}"#, Some(r#""#)),
    (r#"${1:-bbb}"#, Some(r#"bbb"#)),
    (r#"$2"#, Some(r#""#)),
    (r#"${2}"#, Some(r#""#)),
    (r#"${2:+bbb}"#, Some(r#""#)),
    (r#"${2:-bbb}"#, Some(r#"bbb"#)),
    (r#"$3"#, Some(r#""#)),
    (r#"${3}"#, Some(r#""#)),
    (r#"${3:+bbb}"#, Some(r#""#)),
    (r#"${3:-bbb}"#, Some(r#"bbb"#)),
    (r#"$4"#, Some(r#""#)),
    (r#"${4}"#, Some(r#""#)),
    (r#"${4:+bbb}"#, Some(r#""#)),
    (r#"${4:-bbb}"#, Some(r#"bbb"#)),
    (r#"$5"#, Some(r#""#)),
    (r#"${5}"#, Some(r#""#)),
    (r#"${5:+bbb}"#, Some(r#""#)),
    (r#"${5:-bbb}"#, Some(r#"bbb"#)),
    (r#"$6"#, Some(r#""#)),
    (r#"${6}"#, Some(r#""#)),
    (r#"${6:+bbb}"#, Some(r#""#)),
    (r#"${6:-bbb}"#, Some(r#"bbb"#)),
    (r#"$7"#, Some(r#""#)),
    (r#"${7}"#, Some(r#""#)),
    (r#"${7:+bbb}"#, Some(r#""#)),
    (r#"${7:-bbb}"#, Some(r#"bbb"#)),
    (r#"$8"#, Some(r#""#)),
    (r#"${8}"#, Some(r#""#)),
    (r#"${8:+bbb}"#, Some(r#""#)),
    (r#"${8:-bbb}"#, Some(r#"bbb"#)),
    (r#"$9"#, Some(r#""#)),
    (r#"${9}"#, Some(r#""#)),
    (r#"${9:+bbb}"#, Some(r#""#)),
    (r#"${9:-bbb}"#, Some(r#"bbb"#)),
    (r#"$999"#, Some(r#""#)),
    (r#"${999}"#, Some(r#""#)),
    (r#"${999:+bbb}"#, Some(r#""#)),
    (r#"${999:-bbb}"#, Some(r#"bbb"#)),
    (r#"$999aaa"#, Some(r#"aaa"#)),
    (r#"${999}aaa"#, Some(r#"aaa"#)),
    (r#"${999:+bbb}aaa"#, Some(r#"aaa"#)),
    (r#"${999:-bbb}aaa"#, Some(r#"bbbaaa"#)),
    (r#"$001"#, Some(r#""#)),
    (r#"${001}"#, Some(r#""#)),
    (r#"${001:+bbb}"#, Some(r#""#)),
    (r#"${001:-bbb}"#, Some(r#"bbb"#)),
    (r#"$001aaa"#, Some(r#"aaa"#)),
    (r#"${001}aaa"#, Some(r#"aaa"#)),
    (r#"${001:+bbb}aaa"#, Some(r#"aaa"#)),
    (r#"${001:-bbb}aaa"#, Some(r#"bbbaaa"#)),
    (r#"$@"#, Some(r#""#)),
    (r#"${@}"#, Some(r#""#)),
    (r#"${@:+bbb}"#, Some(r#""#)),
    (r#"${@:-bbb}"#, Some(r#"bbb"#)),
    (r#"$@@@"#, Some(r#"@@"#)),
    (r#"$@aaa"#, Some(r#"aaa"#)),
    (r#"${@}aaa"#, Some(r#"aaa"#)),
    (r#"${@:+bbb}aaa"#, Some(r#"aaa"#)),
    (r#"${@:-bbb}aaa"#, Some(r#"bbbaaa"#)),
    (r#"$*"#, Some(r#""#)),
    (r#"${*}"#, Some(r#""#)),
    (r#"${*:+bbb}"#, Some(r#""#)),
    (r#"${*:-bbb}"#, Some(r#"bbb"#)),
    (r#"$#"#, Some(r#""#)),
    (r#"${#}"#, Some(r#""#)),
    (r#"${#:+bbb}"#, Some(r#""#)),
    (r#"${#:-bbb}"#, Some(r#"bbb"#)),
    (r#"$?"#, Some(r#""#)),
    (r#"${?}"#, Some(r#""#)),
    (r#"${?:+bbb}"#, Some(r#""#)),
    (r#"${?:-bbb}"#, Some(r#"bbb"#)),
    (r#"$-"#, Some(r#""#)),
    (r#"${-}"#, Some(r#""#)),
    (r#"${-:+bbb}"#, Some(r#""#)),
    (r#"${-:-bbb}"#, Some(r#"bbb"#)),
    (r#"$$"#, Some(r#""#)),
    (r#"${$}"#, Some(r#""#)),
    (r#"${$:+bbb}"#, Some(r#""#)),
    (r#"${$:-bbb}"#, Some(r#"bbb"#)),
    (r#"$!"#, Some(r#""#)),
    (r#"${!}"#, Some(r#""#)),
    (r#"${!:+bbb}"#, Some(r#""#)),
    (r#"${!:-bbb}"#, Some(r#"bbb"#)),
    (r#"$0"#, Some(r#""#)),
    (r#"${0}"#, Some(r#""#)),
    (r#"${0:+bbb}"#, Some(r#""#)),
    (r#"${0:-bbb}"#, Some(r#"bbb"#)),
];

#[test]
fn buildkit_env_var_table() {
    let env = env(&[("PWD", "/home"), ("SHELL", "bash"), ("KOREAN", "한국어"), ("NULL", "")]);
    let lexer = Lexer::new('\\');
    for (word, expected) in ENV_VAR_CASES {
        let got = lexer.expand_word(word, &env);
        match expected {
            Some(value) => assert_eq!(got.as_deref(), Ok(*value), "word {word:?}"),
            None => assert!(got.is_err(), "word {word:?} should fail, got {got:?}"),
        }
    }
}

/// `shell/wordsTest`: word splitting after expansion. Each ENV line adds to the environment the
/// later cases see; `None` means an error.
#[test]
fn buildkit_words_table() {
    let lexer = Lexer::new('\\');
    let mut env: Vec<(String, String)> = Vec::new();
    let check = |env: &Vec<(String, String)>, word: &str, expected: Option<&[&str]>| {
        let got = lexer.expand_words(word, env);
        match expected {
            Some(words) => assert_eq!(got.unwrap(), words, "word {word:?}"),
            None => assert!(got.is_err(), "word {word:?}"),
        }
    };
    check(&env, "hello", Some(&["hello"]));
    check(&env, "hello${hi}bye", Some(&["hellobye"]));
    env.push(("hi".into(), "hi".into()));
    check(&env, "hello${hi}bye", Some(&["hellohibye"]));
    env.push(("space".into(), "abc  def".into()));
    check(&env, "hello${space}bye", Some(&["helloabc", "defbye"]));
    check(&env, "hello\"${space}\"bye", Some(&["helloabc  defbye"]));
    check(&env, "hello \"${space}\"bye", Some(&["hello", "abc  defbye"]));
    env.push(("leading".into(), "  ab c".into()));
    check(&env, "hello${leading}def", Some(&["hello", "ab", "cdef"]));
    check(&env, "hello\"${leading}\" def", Some(&["hello  ab c", "def"]));
    check(&env, "hello\"${leading}\"", Some(&["hello  ab c"]));
    check(&env, "hello${leading}", Some(&["hello", "ab", "c"]));
    env.push(("trailing".into(), "ab c   ".into()));
    check(&env, "hello${trailing}", Some(&["helloab", "c"]));
    check(&env, "hello${trailing}d", Some(&["helloab", "c", "d"]));
    check(&env, "hello\"${trailing}\"d", Some(&["helloab c   d"]));
    check(&env, "hel\"lo${trailing}\"", Some(&["helloab c   "]));
    check(&env, "hello\" there  \"", Some(&["hello there  "]));
    check(&env, "hello there", Some(&["hello", "there"]));
    check(&env, "hello\\ there", Some(&["hello there"]));
    check(&env, "hello\" there", None);
    check(&env, "hello\\\" there", Some(&["hello\"", "there"]));
    check(&env, "hello\"\\\\there\"", Some(&["hello\\there"]));
    check(&env, "hello\"\\there\"", Some(&["hello\\there"]));
    check(&env, "hello'\\\\there'", Some(&["hello\\\\there"]));
    check(&env, "hello'\\there'", Some(&["hello\\there"]));
    check(&env, "hello'$there'", Some(&["hello$there"]));
}

#[test]
fn required_variables_with_messages() {
    let lexer = Lexer::new('\\');
    let set = env(&[("VAR", "plain"), ("ARG", "x")]);
    let empty = env(&[("VAR", ""), ("ARG", "x")]);
    let unset = env(&[("ARG", "x")]);
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";
    assert_eq!(lexer.expand_word(no_empty, &set).unwrap(), "plain");
    assert!(lexer.expand_word(no_empty, &empty).unwrap_err().message.contains("message herex"));
    assert!(lexer.expand_word(no_empty, &unset).unwrap_err().message.contains("message herex"));
    assert_eq!(lexer.expand_word(no_unset, &set).unwrap(), "plain");
    assert_eq!(lexer.expand_word(no_unset, &empty).unwrap(), "");
    let err = lexer.expand_word(no_unset, &unset).unwrap_err();
    assert_eq!(err.to_string(), "failed to process \"${VAR?message here$ARG}\": VAR: message herex");
}

/// `TestProcessWithMatches`: values and which variables were found or missing.
#[test]
fn matches_and_unmatched_variables() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>, &'a [&'a str], &'a [&'a str]);
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("x", &[("DUMMY", "dummy")], Some("x"), &[], &[]),
        ("x ${UNUSED}", &[("DUMMY", "dummy")], Some("x "), &[], &["UNUSED"]),
        ("x ${FOO}", &[("FOO", "y")], Some("x y"), &["FOO"], &[]),
        ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", &[("FOO", "xxx"), ("BAR", "")], Some("xxx  ccc"), &["BAR", "FOO"], &["BAZ"]),
        ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", &[("FOO", "xxx"), ("BAR", "")], Some("xxx bbb ccc"), &["BAR", "FOO"], &["BAZ"]),
        ("${FOO:-}", &[("FOO", "xxx"), ("BAR", "")], Some("xxx"), &["FOO"], &[]),
        ("${FOO:-}", &[], Some(""), &[], &["FOO"]),
        ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", &[("FOO", "xxx"), ("BAR", "")], Some("aaa bbb "), &["BAR", "FOO"], &["BAZ"]),
        ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", &[("FOO", "xxx"), ("BAR", "")], Some("aaa  "), &["BAR", "FOO"], &["BAZ"]),
        ("${FOO?aaa}", &[("FOO", "xxx"), ("BAR", "")], Some("xxx"), &["FOO"], &[]),
        ("${BAR?bbb}", &[("FOO", "xxx"), ("BAR", "")], Some(""), &["BAR"], &[]),
        ("${BAZ?ccc}", &[("FOO", "xxx"), ("BAR", "")], None, &[], &[]),
        ("${FOO:?aaa}", &[("FOO", "xxx"), ("BAR", "")], Some("xxx"), &["FOO"], &[]),
        ("${BAR:?bbb}", &[("FOO", "xxx"), ("BAR", "")], None, &[], &[]),
        ("${BAZ:?ccc}", &[("FOO", "xxx"), ("BAR", "")], None, &[], &[]),
        ("${BAZ:?}", &[("FOO", "xxx"), ("BAR", "")], None, &[], &[]),
        ("${FOO=aaa}", &[("FOO", "xxx"), ("BAR", "")], None, &[], &[]),
        ("${FOO=:aaa}", &[("FOO", "xxx"), ("BAR", "")], None, &[], &[]),
        ("${FOO=}", &[], None, &[], &[]),
        ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", &[("FOO", "()[]{}^$.*?|\\x")], Some("x"), &["FOO"], &[]),
        ("${FOO%%\\**}", &[("FOO", "xx**")], Some("xx"), &["FOO"], &[]),
        ("${FOO#*x*y}", &[("FOO", "xxyy")], Some("y"), &["FOO"], &[]),
        ("${FOO#*}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "x")], Some("xyy"), &["BAR", "FOO"], &[]),
        ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "")], Some("xxyy"), &["BAR", "FOO"], &[]),
        ("${FOO#}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        ("${FOO##*x}", &[("FOO", "xxyy")], Some("yy"), &["FOO"], &[]),
        ("${FOO##}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        ("${FOO#?\\?}", &[("FOO", "???y")], Some("?y"), &["FOO"], &[]),
        ("${ABC:-.}${FOO%x}${ABC:-.}", &[("FOO", "xxyy")], Some(".xxyy."), &["FOO"], &["ABC"]),
        ("${FOO%%\\**\\*}", &[("FOO", "a***yy*")], Some("a"), &["FOO"], &[]),
        ("${FOO%}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        ("${FOO%%$BAR}", &[("FOO", "xxyy"), ("BAR", "")], Some("xxyy"), &["BAR", "FOO"], &[]),
        ("${FOO:#}", &[], None, &[], &[]),
        ("${FOO:##}", &[], None, &[], &[]),
        ("${FOO:%}", &[], None, &[], &[]),
        ("${FOO:%%}", &[], None, &[], &[]),
        ("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")], Some("/foo.*/*.txt - /foo..*.txt"), &["FOO", "NEEDLE"], &[]),
        ("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")], Some("/tmp/bar.txt - /bar.txt"), &["FOO", "NEEDLE"], &[]),
        ("${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}", &[("FOO", "/a/foo/b/c.txt"), ("NEEDLE", "/?/"), ("REPLACEMENT", "/")], Some("/foo/b/c.txt - /foo/c.txt"), &["FOO", "NEEDLE", "REPLACEMENT"], &[]),
        ("${FOO/$NEEDLE/$REPLACEMENT}", &[("FOO", "http://google.de"), ("NEEDLE", "http://"), ("REPLACEMENT", "https://")], Some("https://google.de"), &["FOO", "NEEDLE", "REPLACEMENT"], &[]),
        ("${FOO//\\//\\/}", &[("FOO", "/tmp/foo.txt")], Some("\\/tmp\\/foo.txt"), &["FOO"], &[]),
        ("${FOO/$BAR/ww}", &[("FOO", "xxyy"), ("BAR", "")], Some("wwxxyy"), &["BAR", "FOO"], &[]),
        ("${FOO//ww}", &[("FOO", "xxyy")], None, &[], &[]),
        ("${FOO//}", &[("FOO", "xxyy")], None, &[], &[]),
        ("${FOO///}", &[("FOO", "xxyy")], Some("xxyy"), &["FOO"], &[]),
        ("${FOO///}", &[], Some(""), &[], &["FOO"]),
    ];
    let lexer = Lexer::new('\\');
    for (word, pairs, expected, matched, unmatched) in cases {
        let env = env(pairs);
        let got = lexer.expand(word, &env);
        match expected {
            None => assert!(got.is_err(), "word {word:?} should fail: {got:?}"),
            Some(value) => {
                let got = got.unwrap_or_else(|e| panic!("word {word:?}: {e}"));
                assert_eq!(got.value, *value, "word {word:?}");
                assert_eq!(got.matched.iter().map(String::as_str).collect::<Vec<_>>(), *matched, "matched of {word:?}");
                assert_eq!(
                    got.unmatched.iter().map(String::as_str).collect::<Vec<_>>(),
                    *unmatched,
                    "unmatched of {word:?}"
                );
            }
        }
    }
}

#[test]
fn platform_release_name() {
    let lexer = Lexer::new('\\');
    let release = "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    let base = [("VERSION", "v1.2.3"), ("TARGETOS", "linux")];
    let with = |extra: &[(&str, &str)]| env(&[&base[..], extra].concat());
    assert_eq!(
        lexer.expand_word(release, &with(&[("TARGETARCH", "arm"), ("TARGETVARIANT", "v7")])).unwrap(),
        "something-v1.2.3.linux-arm-v7.tar.gz"
    );
    assert_eq!(
        lexer.expand_word(release, &with(&[("TARGETARCH", "arm64"), ("TARGETVARIANT", "")])).unwrap(),
        "something-v1.2.3.linux-arm64.tar.gz"
    );
    assert_eq!(
        lexer.expand_word(release, &with(&[("TARGETARCH", "arm64")])).unwrap(),
        "something-v1.2.3.linux-arm64.tar.gz"
    );
}

#[test]
fn backtick_escape_and_raw_modes() {
    let env = env(&[("A", "1")]);
    let lexer = Lexer::new('`');
    assert_eq!(lexer.expand_word("a`$A\\b", &env).unwrap(), "a$A\\b");
    let raw = Lexer { raw_quotes: true, skip_unset: true, ..Lexer::new('\\') };
    assert_eq!(raw.expand_word("'x' \"$A\" $B ${C:-d}", &env).unwrap(), "'x' \"1\" $B ${C:-d}");
    let heredoc = Lexer { skip_quotes: true, ..Lexer::new('\\') };
    assert_eq!(heredoc.expand_word("'$A' \"\\$A\"", &env).unwrap(), "'1' \"$A\"");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let word = "${a:-".repeat(10_000) + &"}".repeat(10_000);
    assert!(Lexer::new('\\').expand_word(&word, &NoEnv).is_err());
}
