//! End-to-end intake benchmark against a real daemon process:
//! import a client base, post appeals over HTTP, wait until every one is
//! processed, then measure accept latency at a steady rate and the daemon's
//! peak memory.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args as ClapArgs;
use serde_json::json;
use tokio::sync::Semaphore;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Clients imported before the run.
    #[arg(long, default_value_t = 1_000_000)]
    pub clients: u64,
    /// Appeals posted in the throughput phase.
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
    /// Configuration the daemon runs with (database and port are overridden).
    #[arg(long, default_value = "config/leadgate.toml")]
    pub config: PathBuf,
}

const TOKEN: &str = "demo-token-change-me";

fn leadgate_binary() -> anyhow::Result<PathBuf> {
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

/// A phone number of imported client `i` (ten digits after +7, never junk).
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

fn write_clients_csv(path: &std::path::Path, n: u64) -> anyhow::Result<()> {
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

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

async fn pending(client: &reqwest::Client, base: &str) -> anyhow::Result<i64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|l| l.strip_prefix("leadgate_pending_appeals "))
        .and_then(|v| v.trim().parse().ok())
        .context("no leadgate_pending_appeals in /metrics")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn appeal_body(i: u64, clients: u64, phase: &str) -> serde_json::Value {
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

pub async fn run(args: Args) -> anyhow::Result<()> {
    let binary = leadgate_binary()?;
    let dir = tempfile_dir()?;
    let db_url = if args.db == "sqlite" {
        format!("sqlite://{}", dir.join("bench.db").display())
    } else {
        let name = format!("lg_bench_{}", std::process::id());
        let status = Command::new("psql")
            .args([
                "-d",
                &format!("{}/postgres", args.db),
                "-qc",
                &format!("CREATE DATABASE {name}"),
            ])
            .status()
            .context("psql")?;
        if !status.success() {
            bail!("could not create database {name}");
        }
        format!("{}/{name}", args.db)
    };
    println!(
        "database: {}",
        if args.db == "sqlite" {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );

    let csv = dir.join("clients.csv");
    write_clients_csv(&csv, args.clients)?;
    let started = Instant::now();
    let import = Command::new(&binary)
        .arg("--config")
        .arg(&args.config)
        .args(["import", "clients"])
        .arg(&csv)
        .env("LEADGATE__DATABASE__URL", &db_url)
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
    let _ = std::fs::remove_file(&csv);

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(&binary)
        .arg("--config")
        .arg(&args.config)
        .arg("run")
        .env("LEADGATE__DATABASE__URL", &db_url)
        .env("LEADGATE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("LEADGATE__LOGGING__LEVEL", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("starting leadgate run")?;
    let daemon = Daemon(child);
    let pid = daemon.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
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
        bail!("daemon did not become ready");
    }

    // Throughput: a closed loop of `concurrency` posters.
    let gate = Arc::new(Semaphore::new(args.concurrency));
    let started = Instant::now();
    let mut handles = Vec::with_capacity(args.appeals as usize);
    for i in 0..args.appeals {
        let permit = gate.clone().acquire_owned().await?;
        let client = client.clone();
        let url = format!("{base}/api/v1/appeals");
        let body = appeal_body(i, args.clients, "throughput");
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
    let mut failures = 0u64;
    for h in handles {
        let (ok, _) = h.await?;
        if !ok {
            failures += 1;
        }
    }
    let accept_secs = started.elapsed().as_secs_f64();
    loop {
        if pending(&client, &base).await? == 0 {
            break;
        }
        // Counting a large backlog is not free: poll gently.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let processed_secs = started.elapsed().as_secs_f64();
    println!(
        "throughput: {} appeals, concurrency {}: accepted {:.0}/s ({:.1} s), accepted and processed {:.0}/s ({:.1} s), {} failed",
        args.appeals,
        args.concurrency,
        args.appeals as f64 / accept_secs,
        accept_secs,
        args.appeals as f64 / processed_secs,
        processed_secs,
        failures
    );

    // Latency at a steady, open-loop rate.
    let total = args.rate * args.steady_secs;
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / args.rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut handles = Vec::with_capacity(total as usize);
    for i in 0..total {
        tick.tick().await;
        let client = client.clone();
        let url = format!("{base}/api/v1/appeals");
        let body = appeal_body(args.appeals + i, args.clients, "steady");
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
            (ok, t.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(total as usize);
    for h in handles {
        let (ok, d) = h.await?;
        if ok {
            latencies.push(d);
        }
    }
    latencies.sort_unstable();
    loop {
        if pending(&client, &base).await? == 0 {
            break;
        }
        // Counting a large backlog is not free: poll gently.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "steady {} appeals/s for {} s: accept latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} ok of {})",
        args.rate,
        args.steady_secs,
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        latencies.len(),
        total
    );
    match peak_rss_kib(pid) {
        Some(kib) => println!("daemon peak RSS: {:.0} MB", kib as f64 / 1024.0),
        None => println!("daemon peak RSS: unavailable"),
    }
    drop(daemon);
    if args.db != "sqlite" {
        let name = format!("lg_bench_{}", std::process::id());
        let _ = Command::new("psql")
            .args([
                "-d",
                &format!("{}/postgres", args.db),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ])
            .status();
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("leadgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
