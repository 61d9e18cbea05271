//! Outbound events: (a) what journaling costs under the ingest benchmark's
//! load — the same appeals posted to a daemon with the journal on and with
//! it off (`LEADGATE_BENCH_NO_JOURNAL=1`, a benchmark knob, no setting),
//! rounds alternating on the same database, end-to-end throughput compared
//! as a ratio; (b) how fast one webhook endpoint on this machine receives
//! the journal's events; (c) how fast one consumer reads the change feed,
//! paging `after=` with the largest limit. Each figure is the median of
//! its rounds.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args as ClapArgs;
use leadgate::storage::{now_ms, DatabaseSettings, Store};
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::db::BenchDb;
use crate::ingest::{
    appeal_body, leadgate_binary, post_all, processing, wait_processed, write_clients_csv, Daemon,
    TOKEN,
};
use crate::report::Report;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Database: `sqlite` (a fresh file in a temp dir) or a PostgreSQL server
    /// URL without a database name, e.g. postgres://postgres@127.0.0.1:5432.
    #[arg(long, alias = "db", default_value = "sqlite")]
    pub database: String,
    /// Clients imported before the run.
    #[arg(long, default_value_t = 200_000)]
    pub clients: u64,
    /// Appeals posted in each round of the journaling comparison.
    #[arg(long, default_value_t = 20_000)]
    pub appeals: u64,
    /// Rounds with the journal on, and as many with it off (order on, off,
    /// off, on, on, off…, so that a growing database weighs on both alike).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Requests in flight while appeals are posted.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// `pipeline.batch_size` of the daemon.
    #[arg(long, default_value_t = 64)]
    pub batch: u32,
    /// `pipeline.workers` of the daemon (PostgreSQL); default: the config's.
    #[arg(long)]
    pub workers: Option<u32>,
    /// Events delivered to the webhook endpoint per round (the journal's
    /// latest; fewer if it holds fewer).
    #[arg(long, default_value_t = 20_000)]
    pub webhook_events: i64,
    /// Events read from the change feed per round.
    #[arg(long, default_value_t = 200_000)]
    pub feed_events: i64,
    /// Configuration the daemon runs with (database, port, batch overridden).
    #[arg(long, default_value = "config/leadgate.toml")]
    pub config: PathBuf,
    /// Where the JSON figures go (default: bench-results/events-<backend>-<time>.json).
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The largest page `GET /api/v1/changes` gives.
const FEED_LIMIT: i64 = 1000;
const HOOK: &str = "bench";
const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn show(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Running {
    _daemon: Daemon,
    base: String,
}

/// A daemon on a free port, ready; with the journal off if `journal` is false.
async fn start_daemon(
    binary: &Path,
    config: &Path,
    db: &BenchDb,
    args: &Args,
    journal: bool,
    client: &reqwest::Client,
) -> anyhow::Result<Running> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut cmd = Command::new(binary);
    cmd.arg("--config")
        .arg(config)
        .arg("run")
        .env("LEADGATE__DATABASE__URL", &db.url)
        .env("LEADGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("LEADGATE__LOGGING__LEVEL", "warn")
        .env("LEADGATE__PIPELINE__BATCH_SIZE", args.batch.to_string())
        .stdout(Stdio::null());
    if let Some(w) = args.workers {
        cmd.env("LEADGATE__PIPELINE__WORKERS", w.to_string());
    }
    if !journal {
        cmd.env("LEADGATE_BENCH_NO_JOURNAL", "1");
    }
    let daemon = Daemon(cmd.spawn().context("starting leadgate run")?);
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return Ok(Running {
                    _daemon: daemon,
                    base,
                });
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("daemon at {base} did not become ready")
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let binary = leadgate_binary()?;
    let db = BenchDb::create(&args.database, "events")?;
    println!("database: {}", db.backend_name());
    let mut report = Report::new("events", db.backend_name());
    for (name, v) in [
        ("clients", args.clients as f64),
        ("appeals", args.appeals as f64),
        ("rounds", args.rounds as f64),
        ("concurrency", args.concurrency as f64),
        ("batch", f64::from(args.batch)),
        ("workers", f64::from(args.workers.unwrap_or(0))),
        ("webhook_events", args.webhook_events as f64),
        ("feed_events", args.feed_events as f64),
    ] {
        report.param(name, v);
    }
    let csv = db.dir.join("clients.csv");
    write_clients_csv(&csv, args.clients)?;
    let started = Instant::now();
    let import = Command::new(&binary)
        .arg("--config")
        .arg(&args.config)
        .args(["import", "clients"])
        .arg(&csv)
        .env("LEADGATE__DATABASE__URL", &db.url)
        .env("LEADGATE__LOGGING__LEVEL", "warn")
        .stdout(Stdio::piped())
        .output()
        .context("running leadgate import")?;
    if !import.status.success() {
        bail!("import failed: {}", String::from_utf8_lossy(&import.stderr));
    }
    println!(
        "import: {} clients in {:.1} s (each journaled as client.created)",
        args.clients,
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_file(&csv);
    let store = Store::connect(&DatabaseSettings {
        url: db.url.clone(),
        max_connections: 2,
        ..DatabaseSettings::default()
    })
    .await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;

    // (a) The same load with the journal on and off.
    let mut on = Vec::new();
    let mut off = Vec::new();
    for round in 0..args.rounds * 2 {
        let journal = matches!(round % 4, 0 | 3);
        // Each round leaves a processed appeal's old row versions behind;
        // every round starts without them, so none pays for the one before.
        store.vacuum_analyze().await?;
        let events_before = store.last_event_id().await?;
        let daemon = start_daemon(&binary, &args.config, &db, &args, journal, &client).await?;
        let phase = format!("events-{round}");
        let bodies: Vec<_> = (0..args.appeals)
            .map(|i| appeal_body(round as u64 * args.appeals + i, args.clients, &phase))
            .collect();
        let start_ms = now_ms();
        let started = Instant::now();
        let (_, failures) = post_all(
            &client,
            std::slice::from_ref(&daemon.base),
            bodies,
            Some(args.concurrency),
            None,
        )
        .await?;
        let accept_secs = started.elapsed().as_secs_f64();
        wait_processed(&store).await?;
        let (_, last_ms, processed) = processing(&store, &format!("bench-{phase}")).await?;
        drop(daemon);
        let secs = ((last_ms - start_ms) as f64 / 1e3).max(accept_secs);
        let per_s = processed as f64 / secs;
        let journaled = store.last_event_id().await? - events_before;
        println!(
            "round {}: journal {}: {processed} appeals processed end to end at {per_s:.0}/s \
             ({journaled} events journaled, {failures} posts failed)",
            round + 1,
            if journal { "on " } else { "off" },
        );
        if journal { &mut on } else { &mut off }.push(per_s);
    }
    let (on_med, off_med) = (median(&mut on.clone()), median(&mut off.clone()));
    let ratio = on_med / off_med;
    println!(
        "journaling: end to end {on_med:.0}/s with the journal, {off_med:.0}/s without \
         (medians of [{}] and [{}]); with / without = {ratio:.3}, cost {:.1} %",
        show(&on),
        show(&off),
        (1.0 - ratio) * 100.0
    );
    report.figure("e2e_journal_on_per_s", on_med);
    report.figure("e2e_journal_off_per_s", off_med);
    report.figure("journal_on_off_ratio", ratio);

    // (b) One webhook endpoint on this machine, and (c) one feed consumer,
    // against one daemon serving the journal the rounds above wrote.
    let last = store.last_event_id().await?;
    if last == 0 {
        bail!("the journal is empty: nothing to deliver or read");
    }
    let receiver = Receiver::start().await?;
    let config = db.dir.join("leadgate-events.toml");
    let base_config = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    std::fs::write(
        &config,
        format!(
            "{base_config}\n[[webhooks]]\nname = \"{HOOK}\"\nurl = \"{}\"\nevents = [\"*\"]\nsecret = \"{HOOK_SECRET}\"\n",
            receiver.url
        ),
    )?;
    let daemon = start_daemon(&binary, &config, &db, &args, true, &client).await?;
    let deliveries = args.webhook_events.clamp(1, last);
    let mut hook_rates = Vec::new();
    for round in 0..args.rounds.max(1) {
        receiver.reset();
        let r = client
            .post(format!("{}/api/v1/webhooks/{HOOK}/replay", daemon.base))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"from": last - deliveries + 1}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("replay refused: {}", r.text().await.unwrap_or_default());
        }
        let deadline = Instant::now() + Duration::from_secs(1800);
        while receiver.count() < deliveries as u64 {
            if Instant::now() > deadline {
                bail!(
                    "the endpoint got {} of {deliveries} deliveries in 30 minutes",
                    receiver.count()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let rate = receiver.rate();
        println!(
            "webhook round {}: {deliveries} deliveries at {rate:.0}/s",
            round + 1
        );
        hook_rates.push(rate);
    }
    let hook_med = median(&mut hook_rates.clone());
    println!(
        "webhooks: one endpoint receives {hook_med:.0} events/s (median of [{}]; target ≥ 2,000)",
        show(&hook_rates)
    );
    report.figure("webhook_events_per_s", hook_med);

    let from = (last - args.feed_events).max(0);
    let mut feed_rates = Vec::new();
    for round in 0..args.rounds.max(1) {
        let (read, secs) = read_feed(&client, &daemon.base, from, last).await?;
        let rate = read as f64 / secs;
        println!(
            "feed round {}: {read} events in {secs:.2} s at {rate:.0}/s",
            round + 1
        );
        feed_rates.push(rate);
    }
    let feed_med = median(&mut feed_rates.clone());
    println!(
        "change feed: one consumer reads {feed_med:.0} events/s, pages of {FEED_LIMIT} \
         (median of [{}]; target ≥ 20,000)",
        show(&feed_rates)
    );
    report.figure("feed_events_per_s", feed_med);
    drop(daemon);
    store.close().await;
    report.write(args.json.as_deref())?;
    Ok(())
}

#[derive(Deserialize)]
struct Page {
    events: Vec<IgnoredAny>,
    next: i64,
}

/// Pages from `after` up to `until` as a consumer would (each page's JSON
/// read to its end); the events read and the seconds it took.
async fn read_feed(
    client: &reqwest::Client,
    base: &str,
    mut after: i64,
    until: i64,
) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let mut read = 0u64;
    while after < until {
        let r = client
            .get(format!(
                "{base}/api/v1/changes?after={after}&limit={FEED_LIMIT}"
            ))
            .bearer_auth(TOKEN)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("the feed answered {}", r.status());
        }
        let page: Page = serde_json::from_slice(&r.bytes().await?)?;
        if page.events.is_empty() {
            break;
        }
        read += page.events.len() as u64;
        after = page.next;
    }
    Ok((read, started.elapsed().as_secs_f64()))
}

/// A webhook receiver that answers 204 at once and notes when the first and
/// the latest delivery came.
struct Receiver {
    url: String,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    count: AtomicU64,
    times: Mutex<Option<(Instant, Instant)>>,
}

impl Receiver {
    async fn start() -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { url, shared })
    }

    fn reset(&self) {
        self.shared.count.store(0, Ordering::SeqCst);
        *self.shared.times.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn count(&self) -> u64 {
        self.shared.count.load(Ordering::SeqCst)
    }

    /// Deliveries per second between the first and the latest.
    fn rate(&self) -> f64 {
        let times = *self.shared.times.lock().unwrap_or_else(|e| e.into_inner());
        match times {
            Some((first, latest)) if latest > first => {
                (self.count().saturating_sub(1)) as f64 / (latest - first).as_secs_f64()
            }
            _ => f64::NAN,
        }
    }
}

async fn receive(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    _body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let now = Instant::now();
    {
        let mut times = shared.times.lock().unwrap_or_else(|e| e.into_inner());
        *times = Some(match *times {
            Some((first, _)) => (first, now),
            None => (now, now),
        });
    }
    shared.count.fetch_add(1, Ordering::SeqCst);
    axum::http::StatusCode::NO_CONTENT
}
