use clap::Args as ClapArgs;

#[derive(ClapArgs, Debug)]
pub struct Args {
    #[arg(long, default_value_t = 100_000)]
    pub clients: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::bail!("ingest benchmark not written yet ({args:?})")
}
