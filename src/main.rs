use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `leadgate-bench events` runs the same load with the journal on and off.
    if std::env::var_os("LEADGATE_BENCH_NO_JOURNAL").is_some_and(|v| v == "1") {
        leadgate_domain::event::switch_journal_off_for_benchmarks();
    }
    leadgate::cli::run(leadgate::cli::Cli::parse()).await
}
