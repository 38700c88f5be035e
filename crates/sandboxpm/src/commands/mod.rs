//! One module per command. Each returns the process exit code.

mod doctor;
mod exec;
mod policy;

use crate::cli::{Cli, Command, PolicyCommand};

pub use exec::hint;

/// Runs the command `cli` asks for.
pub fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Exec(args) => exec::exec(args),
        Command::Doctor { json } => doctor::doctor(json),
        Command::SandboxHelper { request } => exec::helper(&request),
        Command::Policy {
            command:
                PolicyCommand::Show {
                    json,
                    sandbox,
                    command,
                },
        } => policy::show(&sandbox, &command, json),
    }
}
