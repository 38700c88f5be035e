//! One module per command. Each returns the process exit code.

mod doctor;
mod exec;
mod install;
mod policy;

use crate::cli::{Cli, Command, PolicyCommand};

pub use exec::hint;

/// Runs the command `cli` asks for.
pub fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Install(args) => {
            if let Some(other) = args.omit.iter().find(|o| o.as_str() != "dev") {
                anyhow::bail!("--omit={other}: only `dev` can be omitted");
            }
            install::install(&install::InstallOptions {
                frozen_lockfile: args.frozen_lockfile,
                offline: args.offline,
                prefer_offline: args.prefer_offline,
                production: args.prod || args.omit.iter().any(|o| o == "dev"),
                ignore_scripts: args.ignore_scripts,
                json: args.json,
                silent: args.silent,
            })
        }
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
