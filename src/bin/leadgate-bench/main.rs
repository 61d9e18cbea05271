//! Benchmarks as commands: each subcommand prints its figures.

mod ingest;
mod mail;
mod quality;
mod reports;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "leadgate-bench",
    about = "leadgate benchmarks (speed, memory, quality)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// End-to-end intake: import clients, post appeals over HTTP, wait until processed.
    Ingest(ingest::Args),
    /// Matching quality on a labelled set of generated Russian clients and appeals.
    Match(quality::Args),
    /// Mail intake: messages per second taken from a real Dovecot folder.
    Mail(mail::Args),
    /// Report speed: every report over 30 days and 12 months on a generated
    /// database (1,000,000 clients and interests, 5,000,000 feed entries).
    Reports(reports::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Ingest(args) => ingest::run(args).await,
        Command::Match(args) => quality::run(args).await,
        Command::Mail(args) => mail::run(args).await,
        Command::Reports(args) => reports::run(args).await,
    }
}
