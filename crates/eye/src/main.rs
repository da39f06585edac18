//! `eye`: the one binary. `eye serve` runs the service; the other commands administer it.

mod admin_store;
mod backup;
mod cli;
mod erase;
mod export;
mod healthcheck;
mod keys;
mod logging;
mod migrate;
mod output;
mod remote;
mod send;
mod serve;
mod session_list;
mod stats;
mod time_bound;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, KeysCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The message and its causes only: returning the error from `main` would print
            // its Debug form, a stack trace whenever RUST_BACKTRACE is set.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Healthcheck(args) = cli.command {
        return healthcheck::run(args);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Keys { command } => match command {
                KeysCommand::Create(args) => keys::create(args).await,
                KeysCommand::List(args) => keys::list(args).await,
                KeysCommand::Revoke(args) => keys::revoke(args).await,
            },
            Command::Migrate(args) => migrate::migrate(args).await,
            Command::MigrateData(args) => migrate::migrate_data(args).await,
            Command::Healthcheck(_) => Ok(()),
            Command::Send(args) => send::send(args).await,
            Command::Events(args) => remote::events(args).await,
            Command::Sessions(args) => remote::sessions(args).await,
            Command::Stats(args) => stats::stats(args).await,
            Command::Errors(args) => remote::errors(args).await,
            Command::Tail(args) => remote::tail(args).await,
            Command::Export(args) => export::export(args).await,
            Command::Erase(args) => erase::erase(args).await,
            Command::Erasures(args) => erase::erasures(args).await,
            Command::Usage(args) => erase::usage(args).await,
            Command::Backup(args) => backup::backup(args).await,
            Command::Restore(args) => backup::restore(args).await,
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every flag and argument of every command says what it is for in `--help`.
    #[test]
    fn every_flag_has_help_text() {
        let mut missing = Vec::new();
        let mut commands = vec![(String::from("eye"), Cli::command())];
        while let Some((path, command)) = commands.pop() {
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && !arg.is_hide_set() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                commands.push((format!("{path} {}", sub.get_name()), sub.clone()));
            }
        }
        assert!(missing.is_empty(), "without help text: {missing:?}");
    }
}
