//! Docker's flag syntax on top of clap's: a repeated single-value flag keeps its last value
//! (`--name a --name b`), and every boolean flag also takes a value after `=` in Go's
//! `strconv.ParseBool` spellings (`--rm=true`, `-i=false`, `--sig-proxy=0`), while a bare flag
//! still means true. Applied to the whole command tree at parse time, so the verbs declare
//! their flags the ordinary way.

use clap::ArgAction;
use clap::builder::{Arg, Command, PossibleValuesParser, TypedValueParser};

/// Go's `strconv.ParseBool`.
fn go_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid boolean value {value:?}: use true or false")),
    }
}

fn bool_with_optional_value(arg: Arg, default: Option<&'static str>) -> Arg {
    let parser =
        PossibleValuesParser::new(["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"])
            .map(|v| go_bool(&v).expect("only ParseBool's spellings pass the parser"));
    let arg = arg
        .action(ArgAction::Set)
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
        .value_parser(parser)
        .hide_possible_values(true);
    match default {
        Some(d) => arg.default_value(d),
        None => arg,
    }
}

fn docker_flag(arg: Arg) -> Arg {
    match arg.get_action() {
        ArgAction::SetTrue => bool_with_optional_value(arg, Some("false")),
        // Flags that default to true are declared as taking a BOOL value.
        ArgAction::Set if arg.get_value_names().is_some_and(|n| n.iter().any(|n| n == "BOOL")) => {
            bool_with_optional_value(arg, None)
        }
        _ => arg,
    }
}

/// The command tree with Docker's flag syntax.
pub fn docker_syntax(command: Command) -> Command {
    command.args_override_self(true).mut_args(docker_flag).mut_subcommands(docker_syntax)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;
    use crate::cmd::Cli;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let matches = docker_syntax(Cli::command()).try_get_matches_from(args)?;
        Cli::from_arg_matches(&matches)
    }

    #[test]
    fn go_spellings_of_booleans() {
        assert_eq!(go_bool("T"), Ok(true));
        assert_eq!(go_bool("0"), Ok(false));
        assert!(go_bool("yes").is_err());
    }

    #[test]
    fn the_definitions_stay_consistent() {
        docker_syntax(Cli::command()).debug_assert();
    }

    #[test]
    fn booleans_take_values_and_repeated_flags_keep_the_last() {
        for args in [
            &["berth", "run", "--rm=true", "--name", "a", "--name", "b", "-it", "img"][..],
            &["berth", "run", "--rm", "-i=true", "-t", "--name=b", "img"],
        ] {
            let cli = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let text = format!("{:?}", cli.command);
            assert!(
                text.contains("rm: true") && text.contains("interactive: true") && text.contains("tty: true"),
                "{text}"
            );
            assert!(text.contains("name: Some(\"b\")"), "{text}");
        }
        let cli = parse(&["berth", "run", "--rm=false", "--privileged=0", "-i=false", "img"]).unwrap();
        let text = format!("{:?}", cli.command);
        assert!(
            text.contains("rm: false") && text.contains("privileged: false") && text.contains("interactive: false"),
            "{text}"
        );
        assert!(parse(&["berth", "run", "--rm=maybe", "img"]).is_err());
        // A value needs `=`: a following word is not taken as the flag's value.
        let cli = parse(&["berth", "run", "--rm", "false"]).unwrap();
        assert!(format!("{:?}", cli.command).contains("rm: true"));
    }
}
