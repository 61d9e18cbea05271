//! Benchmarks as commands: each subcommand prints its figures.

mod claim;
mod db;
mod events;
mod import;
mod ingest;
mod mail;
mod quality;
mod report;
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
    /// The pipeline's claim (one batch) at a large backlog of pending appeals.
    Claim(claim::Args),
    /// Outbound events: journaling's cost under the ingest load (journal on
    /// against off), webhook deliveries/s to one endpoint, change-feed events/s.
    Events(events::Args),
    /// Two runs' JSON figures side by side, with the ratio B / A.
    Compare(report::CompareArgs),
    /// Write a client base file (CSV or .xlsx) to time `leadgate import clients` on.
    ClientsFile(import::Args),
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
        Command::Claim(args) => claim::run(args).await,
        Command::Events(args) => events::run(args).await,
        Command::Compare(args) => report::compare(args),
        Command::ClientsFile(args) => import::run(args),
        Command::Reports(args) => reports::run(args).await,
    }
}
