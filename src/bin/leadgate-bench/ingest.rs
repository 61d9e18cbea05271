//! End-to-end intake benchmark against real daemon processes: import a
//! client base, post appeals over HTTP as fast as they are taken (saturation)
//! and then at a steady rate, and measure, from the database, when each
//! appeal was processed. Then, on the same database with the daemons
//! stopped, the storage ceiling: the rows processing writes, written the
//! fastest way the engine allows ([`Store::write_ceiling_batch`]), and the
//! ratio of end-to-end throughput to it.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args as ClapArgs;
use leadgate::appeal::{Channel, ContactCard, Intent, NewAppeal};
use leadgate::dedup::DecisionKind;
use leadgate::storage::{now_ms, DatabaseSettings, Store};
use leadgate_domain::decision::DecisionRecord;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::db::BenchDb;
use crate::report::{summary, Latency, Report};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Clients imported before the run.
    #[arg(long, default_value_t = 1_000_000)]
    pub clients: u64,
    /// Appeals posted in the throughput (saturation) phase.
    #[arg(long, default_value_t = 100_000)]
    pub appeals: u64,
    /// Requests in flight during the throughput phase.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Steady rate (appeals/s) of the latency phase.
    #[arg(long, default_value_t = 500)]
    pub rate: u64,
    /// Length of the latency phase in seconds.
    #[arg(long, default_value_t = 20)]
    pub steady_secs: u64,
    /// Database: `sqlite` (a fresh file in a temp dir) or a PostgreSQL server
    /// URL without a database name, e.g. postgres://postgres@127.0.0.1:5432.
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    /// Daemons sharing the database (PostgreSQL); posts go to them in turn.
    #[arg(long, default_value_t = 1)]
    pub instances: usize,
    /// `pipeline.workers` of each daemon (PostgreSQL); default: the config's.
    #[arg(long)]
    pub workers: Option<u32>,
    /// `pipeline.batch_size` of the daemons, and of the ceiling's transactions.
    #[arg(long, default_value_t = 64)]
    pub batch: u32,
    /// Appeals written by the storage ceiling; 0 skips it.
    #[arg(long, default_value_t = 20_000)]
    pub ceiling_appeals: u64,
    /// Configuration the daemon runs with (database, port, batch overridden).
    #[arg(long, default_value = "config/leadgate.toml")]
    pub config: PathBuf,
    /// Where the JSON figures go (default: bench-results/ingest-<backend>-<time>.json).
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub(crate) const TOKEN: &str = "demo-token-change-me";

pub(crate) fn leadgate_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me.with_file_name("leadgate");
    if !path.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release`",
            path.display()
        );
    }
    Ok(path)
}

/// A phone number of imported client `i` (ten digits after +7, never junk;
/// distinct for i below 800,000,000).
fn client_phone(i: u64) -> String {
    format!("+79{:09}", 100_000_000 + i)
}

const SURNAMES: [&str; 8] = [
    "Иванов",
    "Петров",
    "Сидоров",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Соколов",
];
const NAMES: [&str; 8] = [
    "Александр",
    "Сергей",
    "Дмитрий",
    "Андрей",
    "Алексей",
    "Максим",
    "Иван",
    "Михаил",
];

/// The stored name of imported client `i` ("Фамилия Имя").
fn client_name(i: u64) -> String {
    format!(
        "{} {}",
        SURNAMES[(i % 8) as usize],
        NAMES[((i / 8) % 8) as usize]
    )
}

pub(crate) fn write_clients_csv(path: &std::path::Path, n: u64) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(
        out,
        "client_id,client_name,client_kind,person_name,phones,emails,telegram,vk,responsible"
    )?;
    for i in 0..n {
        let name = client_name(i);
        let responsible = if i % 2 == 0 { "ivanova" } else { "petrov" };
        writeln!(
            out,
            "c{i},{name},person,,{},client{i}@example.ru,,,{responsible}",
            client_phone(i)
        )?;
    }
    out.flush()?;
    Ok(())
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// User + system CPU of a process so far, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: state is the
    // first, utime the 12th, stime the 13th.
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks_per_s() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The PostgreSQL server processes serving this database.
fn backend_pids(db_url: &str) -> Vec<u32> {
    Command::new("psql")
        .args([
            "-d",
            db_url,
            "-Atc",
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid()",
        ])
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// CPU ticks of a set of processes, by pid.
struct CpuSnapshot(HashMap<u32, u64>);

impl CpuSnapshot {
    fn take(pids: &[u32]) -> CpuSnapshot {
        CpuSnapshot(
            pids.iter()
                .filter_map(|p| cpu_ticks(*p).map(|t| (*p, t)))
                .collect(),
        )
    }

    /// Ticks used since `before` (a process new since then counts whole).
    fn since(&self, before: &CpuSnapshot) -> u64 {
        self.0
            .iter()
            .map(|(pid, t)| t.saturating_sub(before.0.get(pid).copied().unwrap_or(0)))
            .sum()
    }
}

pub(crate) struct Daemon(pub(crate) Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

pub(crate) fn appeal_body(i: u64, clients: u64, phase: &str) -> serde_json::Value {
    // Half the appeals come from known clients (name as people sign, "Имя
    // Фамилия"), half from new people.
    let (name, phone) = if i % 2 == 0 && clients > 0 {
        let known = (i * 7919) % clients;
        let stored = client_name(known);
        let (surname, given) = stored.split_once(' ').unwrap_or((&stored, ""));
        (format!("{given} {surname}"), client_phone(known))
    } else {
        (
            format!("Новый Клиент{}", i % 1000),
            format!("+79{:09}", 900_000_000 + i),
        )
    };
    json!({
        "source": format!("bench-{phase}"),
        "external_id": i.to_string(),
        "contact": {"name": name, "phones": [phone]},
        "text": "Прошу перезвонить по поводу заказа",
    })
}

/// Accept latencies of the posts that succeeded, and how many failed.
pub(crate) async fn post_all(
    client: &reqwest::Client,
    bases: &[String],
    bodies: Vec<serde_json::Value>,
    concurrency: Option<usize>,
    rate: Option<u64>,
) -> anyhow::Result<(Vec<Duration>, u64)> {
    let gate = Arc::new(Semaphore::new(
        concurrency.unwrap_or(Semaphore::MAX_PERMITS),
    ));
    let mut tick = rate.map(|r| {
        let mut t = tokio::time::interval(Duration::from_nanos(1_000_000_000 / r.max(1)));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        t
    });
    let mut handles = Vec::with_capacity(bodies.len());
    for (i, body) in bodies.into_iter().enumerate() {
        if let Some(t) = &mut tick {
            t.tick().await;
        }
        let permit = gate.clone().acquire_owned().await?;
        let client = client.clone();
        let url = format!("{}/api/v1/appeals", bases[i % bases.len()]);
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            let ok = client
                .post(url)
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            drop(permit);
            (ok, t.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(handles.len());
    let mut failures = 0;
    for h in handles {
        let (ok, d) = h.await?;
        if ok {
            latencies.push(d);
        } else {
            failures += 1;
        }
    }
    Ok((latencies, failures))
}

pub(crate) async fn wait_processed(store: &Store) -> anyhow::Result<()> {
    while store.any_pending().await? {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Processing latencies of a phase's appeals and the time the last was done.
pub(crate) async fn processing(
    store: &Store,
    source: &str,
) -> anyhow::Result<(Latency, i64, usize)> {
    // The API stores a caller's source as `api:<source>` (migration 0013).
    let times = store.processing_times(&format!("api:{source}")).await?;
    let last = times.iter().map(|(_, p)| *p).max().unwrap_or(0);
    let mut lat: Vec<Duration> = times
        .iter()
        .map(|(a, p)| Duration::from_millis(u64::try_from(p - a).unwrap_or(0)))
        .collect();
    Ok((summary(&mut lat), last, times.len()))
}

fn print_latency(what: &str, l: &Latency) {
    println!(
        "  {what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} appeals)",
        l.p50_ms, l.p99_ms, l.max_ms, l.n
    );
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let binary = leadgate_binary()?;
    let db = BenchDb::create(&args.db, "ingest")?;
    if args.instances > 1 && !db.is_postgres() {
        bail!("several instances need PostgreSQL (SQLite is for one instance)");
    }
    println!("database: {}", db.backend_name());
    let mut report = Report::new("ingest", db.backend_name());
    for (name, v) in [
        ("clients", args.clients as f64),
        ("appeals", args.appeals as f64),
        ("concurrency", args.concurrency as f64),
        ("rate", args.rate as f64),
        ("steady_secs", args.steady_secs as f64),
        ("instances", args.instances as f64),
        ("batch", f64::from(args.batch)),
        ("workers", f64::from(args.workers.unwrap_or(0))),
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
    let import_secs = started.elapsed().as_secs_f64();
    println!(
        "import: {} clients in {:.1} s ({:.0} rows/s)",
        args.clients,
        import_secs,
        args.clients as f64 / import_secs
    );
    report.figure("import_s", import_secs);
    let _ = std::fs::remove_file(&csv);

    let mut daemons = Vec::new();
    let mut bases = Vec::new();
    for _ in 0..args.instances.max(1) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut cmd = Command::new(&binary);
        cmd.arg("--config")
            .arg(&args.config)
            .arg("run")
            .env("LEADGATE__DATABASE__URL", &db.url)
            .env("LEADGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("LEADGATE__LOGGING__LEVEL", "warn")
            .env("LEADGATE__PIPELINE__BATCH_SIZE", args.batch.to_string())
            .stdout(Stdio::null());
        if let Some(w) = args.workers {
            cmd.env("LEADGATE__PIPELINE__WORKERS", w.to_string());
        }
        daemons.push(Daemon(cmd.spawn().context("starting leadgate run")?));
        bases.push(format!("http://127.0.0.1:{port}"));
    }
    let pids: Vec<u32> = daemons.iter().map(|d| d.0.id()).collect();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    for base in &bases {
        let mut ready = false;
        for _ in 0..600 {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
                if r.status().is_success() {
                    ready = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !ready {
            bail!("daemon at {base} did not become ready");
        }
    }
    let store = Store::connect(&DatabaseSettings {
        url: db.url.clone(),
        max_connections: 2,
        ..DatabaseSettings::default()
    })
    .await?;
    let ticks = clock_ticks_per_s();

    // Saturation: a closed loop of `concurrency` posters.
    let bodies: Vec<_> = (0..args.appeals)
        .map(|i| appeal_body(i, args.clients, "throughput"))
        .collect();
    let cpu_before = CpuSnapshot::take(&pids);
    let pg_before = CpuSnapshot::take(&backend_pids(&db.url));
    let start_ms = now_ms();
    let started = Instant::now();
    let (mut accepted, failures) =
        post_all(&client, &bases, bodies, Some(args.concurrency), None).await?;
    let accept_secs = started.elapsed().as_secs_f64();
    wait_processed(&store).await?;
    let cpu_after = CpuSnapshot::take(&pids);
    let pg_after = CpuSnapshot::take(&backend_pids(&db.url));
    let (sat_processing, last_ms, processed) = processing(&store, "bench-throughput").await?;
    let e2e_secs = ((last_ms - start_ms) as f64 / 1e3).max(accept_secs);
    let sat_accept = summary(&mut accepted);
    let accepted_per_s = args.appeals as f64 / accept_secs;
    let e2e_per_s = processed as f64 / e2e_secs;
    let cpu_ms = |t: u64| t as f64 / ticks * 1e3 / (processed.max(1) as f64);
    let daemon_cpu = cpu_ms(cpu_after.since(&cpu_before));
    let pg_cpu = cpu_ms(pg_after.since(&pg_before));
    println!(
        "throughput: {} appeals, concurrency {}, {} instance(s): accepted {:.0}/s ({:.1} s), \
         processed end to end {:.0}/s ({:.1} s), {} failed",
        args.appeals,
        args.concurrency,
        bases.len(),
        accepted_per_s,
        accept_secs,
        e2e_per_s,
        e2e_secs,
        failures
    );
    println!("at saturation:");
    print_latency("accept latency", &sat_accept);
    print_latency("processing latency (accepted → processed)", &sat_processing);
    println!(
        "daemon CPU per appeal: {daemon_cpu:.3} ms{}",
        if db.is_postgres() {
            format!(" (PostgreSQL server processes: {pg_cpu:.3} ms)")
        } else {
            String::new()
        }
    );
    report.figure("accepted_per_s", accepted_per_s);
    report.figure("e2e_per_s", e2e_per_s);
    report.figure("failed", failures as f64);
    report.figure("daemon_cpu_ms_per_appeal", daemon_cpu);
    if db.is_postgres() {
        report.figure("postgres_cpu_ms_per_appeal", pg_cpu);
    }
    report.latency("saturation.accept", &sat_accept);
    report.latency("saturation.processing", &sat_processing);

    // Latency at a steady, open-loop rate.
    let total = args.rate * args.steady_secs;
    let bodies: Vec<_> = (0..total)
        .map(|i| appeal_body(args.appeals + i, args.clients, "steady"))
        .collect();
    let (mut steady, steady_failures) =
        post_all(&client, &bases, bodies, None, Some(args.rate)).await?;
    wait_processed(&store).await?;
    let steady_accept = summary(&mut steady);
    let (steady_processing, _, _) = processing(&store, "bench-steady").await?;
    println!(
        "steady {} appeals/s for {} s ({} failed):",
        args.rate, args.steady_secs, steady_failures
    );
    print_latency("accept latency", &steady_accept);
    print_latency(
        "processing latency (accepted → processed)",
        &steady_processing,
    );
    report.latency("steady.accept", &steady_accept);
    report.latency("steady.processing", &steady_processing);
    let mut peak = 0u64;
    for pid in &pids {
        peak = peak.max(proc_status_kib(*pid, "VmHWM:").unwrap_or(0));
    }
    println!("daemon peak RSS: {:.0} MB", peak as f64 / 1024.0);
    report.figure("daemon_peak_rss_mb", peak as f64 / 1024.0);
    drop(daemons);

    if args.ceiling_appeals > 0 {
        let limit = ceiling(&store, args.ceiling_appeals, args.batch).await?;
        let ratio = e2e_per_s / limit;
        println!(
            "limit: {limit:.0} appeals/s (the rows processing writes, {} per transaction, \
             generated by the engine, no matching, no HTTP); end to end / limit = {ratio:.2}",
            args.batch
        );
        report.figure("limit_per_s", limit);
        report.figure("ratio_to_limit", ratio);
    }
    store.close().await;
    report.write(args.json.as_deref())?;
    Ok(())
}

/// Appeals per second the storage takes when nothing else is done: `n`
/// appeals are accepted (untimed), then processed by
/// [`Store::write_ceiling_batch`] in transactions of `batch`.
async fn ceiling(store: &Store, n: u64, batch: u32) -> anyhow::Result<f64> {
    let mut ids = Vec::with_capacity(n as usize);
    let mut i = 0;
    while i < n {
        let chunk: Vec<NewAppeal> = (i..(i + 1000).min(n))
            .map(|k| NewAppeal {
                channel: Channel::Api,
                source: "bench-ceiling".into(),
                external_id: k.to_string(),
                received_at: leadgate::storage::from_ms(now_ms()),
                contact: ContactCard {
                    name: Some(format!("Клиент {k}")),
                    phones: vec![format!("+7998{:07}", k)],
                    ..ContactCard::default()
                },
                subject: None,
                text: Some("Прошу перезвонить по поводу заказа".into()),
                attachments: Vec::new(),
                attributes: Default::default(),
                raw_payload: "{}".into(),
                intent: Intent::Lead,
            })
            .collect();
        ids.extend(
            store
                .insert_appeals(&chunk)
                .await?
                .into_iter()
                .map(|a| a.id),
        );
        i += 1000;
    }
    ids.sort_unstable();
    let (Some(first), Some(last)) = (ids.first().copied(), ids.last().copied()) else {
        return Ok(0.0);
    };
    if last - first + 1 != ids.len() as i64 {
        bail!("the ceiling's appeals did not get consecutive ids");
    }
    let decision = DecisionRecord::without_matcher(DecisionKind::NewClient, &[], "ceiling").into();
    let started = Instant::now();
    let mut rows = 0;
    let mut at = first;
    while at <= last {
        let take = (last - at + 1).min(i64::from(batch.max(1)));
        rows += store
            .write_ceiling_batch(at, take as usize, &decision)
            .await?;
        at += take;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "ceiling: {} appeals, {rows} rows ({:.1} per appeal) in {secs:.1} s",
        ids.len(),
        rows as f64 / ids.len() as f64
    );
    Ok(ids.len() as f64 / secs)
}
