use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    leadgate::cli::run(leadgate::cli::Cli::parse()).await
}
