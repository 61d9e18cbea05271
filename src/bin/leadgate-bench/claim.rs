//! The pipeline's claim at a large backlog: how long taking one batch of
//! pending appeals takes with `--pending` appeals waiting and `--processed`
//! appeals processed just before (their index entries not vacuumed yet,
//! the worst case for an index on pending appeals). Each claim runs in a
//! processing transaction that is rolled back, so every round sees the same
//! backlog. Also times the backlog count that `/metrics` makes at most once
//! a second.

use std::time::Instant;

use clap::Args as ClapArgs;
use leadgate::appeal::{AppealStatus, Channel, ContactCard, Intent, NewAppeal};
use leadgate::dedup::DecisionKind;
use leadgate::storage::{DatabaseSettings, FinishedRow, Store};
use leadgate_domain::decision::DecisionRecord;

use crate::db::BenchDb;
use crate::report::{summary, Report};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Appeals waiting when the claims are timed.
    #[arg(long, default_value_t = 100_000)]
    pub pending: u64,
    /// Appeals processed (status changed from pending) just before.
    #[arg(long, default_value_t = 100_000)]
    pub processed: u64,
    /// Appeals per claim (the pipeline's batch_size).
    #[arg(long, default_value_t = 64)]
    pub batch: u32,
    /// Claims timed.
    #[arg(long, default_value_t = 200)]
    pub rounds: u32,
    /// `sqlite` or a PostgreSQL server URL without a database name.
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    /// Where the JSON figures go (default: bench-results/claim-<backend>-<time>.json).
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Leave the database in place at the end.
    #[arg(long)]
    pub keep: bool,
}

fn appeal(i: u64) -> NewAppeal {
    NewAppeal {
        channel: Channel::Api,
        source: "bench-claim".into(),
        external_id: i.to_string(),
        received_at: leadgate::storage::from_ms(leadgate::storage::now_ms()),
        contact: ContactCard {
            name: Some(format!("Клиент {i}")),
            phones: vec![format!("+79{:09}", 100_000_000 + i)],
            ..ContactCard::default()
        },
        subject: None,
        text: Some("Прошу перезвонить по поводу заказа".into()),
        attachments: Vec::new(),
        attributes: Default::default(),
        raw_payload: "{}".into(),
        intent: Intent::Lead,
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut db = BenchDb::create(&args.db, "claim")?;
    db.keep = args.keep;
    let settings = DatabaseSettings {
        url: db.url.clone(),
        ..DatabaseSettings::default()
    };
    let store = Store::connect(&settings).await?;
    store.migrate().await?;
    let total = args.pending + args.processed;
    let started = Instant::now();
    let mut i = 0;
    while i < total {
        let n = (total - i).min(5_000);
        let batch: Vec<NewAppeal> = (i..i + n).map(appeal).collect();
        store.insert_appeals(&batch).await?;
        i += n;
    }
    // The oldest `processed` appeals leave the backlog as the pipeline would.
    let record: leadgate_domain::decision::AppealDecision =
        DecisionRecord::without_matcher(DecisionKind::NewClient, &[], "bench").into();
    let mut id = 1i64;
    let last = i64::try_from(args.processed).unwrap_or(i64::MAX);
    while id <= last {
        let mut tx = store.begin_write().await?;
        let rows: Vec<FinishedRow> = (id..(id + 5_000).min(last + 1))
            .map(|appeal_id| FinishedRow {
                appeal_id,
                status: AppealStatus::Linked,
                client_id: None,
                interest_id: None,
                decision: record.clone(),
                processed_at_ms: 0,
            })
            .collect();
        store.finish_appeals(tx.conn(), &rows).await?;
        tx.commit().await?;
        id += 5_000;
    }
    println!(
        "database: {}; {} pending after {} processed (set up in {:.1} s)",
        db.backend_name(),
        args.pending,
        args.processed,
        started.elapsed().as_secs_f64()
    );

    let mut claims = Vec::with_capacity(args.rounds as usize);
    let mut taken = 0;
    for _ in 0..args.rounds {
        let mut tx = store.begin_processing().await?;
        let t = Instant::now();
        let claimed = store.claim_pending(tx.conn(), args.batch).await?;
        claims.push(t.elapsed());
        taken = claimed.len();
        tx.rollback().await?;
    }
    let mut counts = Vec::with_capacity(20);
    for _ in 0..20 {
        let t = Instant::now();
        let c = store.appeal_counts().await?;
        counts.push(t.elapsed());
        anyhow::ensure!(c.pending == args.pending as i64, "backlog miscounted");
    }
    anyhow::ensure!(taken == args.batch as usize, "claim took {taken}");
    let claim = summary(&mut claims);
    let count = summary(&mut counts);
    println!(
        "claim of {} at {} pending: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} rounds)",
        args.batch, args.pending, claim.p50_ms, claim.p99_ms, claim.max_ms, args.rounds
    );
    println!(
        "backlog count (COUNT(*), /metrics at most once a second): p50 {:.2} ms, max {:.2} ms",
        count.p50_ms, count.max_ms
    );
    let mut report = Report::new("claim", db.backend_name());
    report.param("pending", args.pending as f64);
    report.param("processed", args.processed as f64);
    report.param("batch", f64::from(args.batch));
    report.latency("claim", &claim);
    report.latency("backlog_count", &count);
    report.write(args.json.as_deref())?;
    store.close().await;
    Ok(())
}
