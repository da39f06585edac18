//! `eye`: the one binary. `eye serve` runs the service; the other commands administer it.

mod cli;
mod healthcheck;
mod keys;
mod logging;
mod migrate;
mod output;
mod remote;
mod serve;

use clap::Parser;

use cli::{Cli, Command, KeysCommand};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
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
            Command::Send(args) => remote::send(args).await,
            Command::Events(args) => remote::events(args).await,
            Command::Sessions(args) => remote::sessions(args).await,
            Command::Errors(args) => remote::errors(args).await,
            Command::Tail(args) => remote::tail(args).await,
        }
    })
}
