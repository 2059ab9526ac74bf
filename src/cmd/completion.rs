use anyhow::Result;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// Shell: bash, zsh, fish, elvish or powershell
    pub shell: Shell,
}

pub fn run(args: CompletionArgs) -> Result<u8> {
    let mut command = super::Cli::command();
    clap_complete::generate(args.shell, &mut command, "berth", &mut std::io::stdout());
    Ok(0)
}
