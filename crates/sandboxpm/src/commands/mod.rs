//! One module per command. Each returns the process exit code.

mod add;
mod doctor;
mod events;
mod exec;
mod install;
mod install_state;
mod policy;
mod presets;
mod scripts;
mod store;

use sandboxpm_npm::DependencySection;

use crate::cli::{Cli, Command, PolicyCommand, StoreCommand};

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
        Command::Add(args) => add::add(&add::AddOptions {
            specs: args.specs,
            section: if args.save_dev {
                DependencySection::DevDependencies
            } else if args.save_optional {
                DependencySection::OptionalDependencies
            } else {
                DependencySection::Dependencies
            },
            exact: args.save_exact,
        }),
        Command::Remove(args) => add::remove(&args.names),
        Command::Store { command } => match command {
            StoreCommand::Path => store::path(),
            StoreCommand::Status => store::status(),
            StoreCommand::Verify { repair } => store::verify(repair),
            StoreCommand::Prune { keep_project } => store::prune(&keep_project),
        },
        Command::Exec(args) => exec::exec(args),
        Command::Doctor { json } => doctor::doctor(json),
        Command::SandboxHelper { request, serve } => match request {
            Some(request) => exec::helper(&request),
            None if serve => exec::serve(),
            None => anyhow::bail!("sandbox-helper needs --request FILE or --serve"),
        },
        Command::Scripts { command } => scripts::command(command),
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
