//! Matching one appeal against a base of 1,000,000 clients (SQLite).
//!
//! The base is built once into `<target dir>/bench-matching/base-1m.db` and
//! reused by later runs (delete the file to rebuild it; it takes minutes).
//! `LEADGATE_BENCH_CLIENTS` changes the size (another file name).
//!
//! `cargo bench --bench matching`

use std::path::PathBuf;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};

use leadgate::appeal::ContactCard;
use leadgate::client::ClientKind;
use leadgate::contact::Region;
use leadgate::dedup::Probe;
use leadgate::settings::{DatabaseSettings, MatchingSettings, SqliteSync};
use leadgate::storage::{ImportedClient, ImportedPerson, Store};

const GIVEN: &[&str] = &[
    "Александр",
    "Сергей",
    "Дмитрий",
    "Андрей",
    "Алексей",
    "Михаил",
    "Иван",
    "Николай",
    "Владимир",
    "Евгений",
    "Павел",
    "Олег",
    "Юрий",
    "Максим",
    "Анна",
    "Елена",
    "Ольга",
    "Наталья",
    "Татьяна",
    "Мария",
    "Екатерина",
    "Ирина",
    "Светлана",
    "Юлия",
];
const SURNAMES: &[&str] = &[
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
    "Орлов",
    "Андреев",
    "Макаров",
    "Никитин",
    "Захаров",
    "Зайцев",
    "Соловьёв",
    "Борисов",
    "Яковлев",
    "Григорьев",
    "Романов",
    "Воробьёв",
];
const ROOTS: &[&str] = &[
    "Бел",
    "Черн",
    "Крас",
    "Мороз",
    "Кузьм",
    "Добр",
    "Сух",
    "Глад",
    "Лыс",
    "Рыж",
    "Бор",
    "Лес",
    "Руд",
    "Пол",
    "Гор",
    "Ветл",
    "Сосн",
    "Кедр",
    "Дуб",
    "Лип",
    "Калин",
    "Малин",
    "Рябин",
];
const ENDINGS: &[&str] = &["ов", "ин", "ев", "анов", "ицын", "ихин", "енко", "ников"];

/// Deterministic pseudo-random numbers (SplitMix64), so the base is the
/// same on every machine.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn female(given: &str) -> bool {
    given.ends_with('а') || given.ends_with('я')
}

/// Name of client `i`'s person `k`: «Имя Фамилия», surnames from a common
/// list and a long generated tail.
fn name(i: u64, k: u64) -> String {
    let r = mix(i * 7 + k);
    let given = GIVEN[(r % GIVEN.len() as u64) as usize];
    let s = (r >> 16) % 4;
    let surname = if s == 0 {
        SURNAMES[((r >> 24) % SURNAMES.len() as u64) as usize].to_string()
    } else {
        let root = ROOTS[((r >> 24) % ROOTS.len() as u64) as usize];
        let end = ENDINGS[((r >> 32) % ENDINGS.len() as u64) as usize];
        format!("{root}{end}")
    };
    let surname = if female(given) && !surname.ends_with("енко") {
        format!("{surname}а")
    } else {
        surname
    };
    format!("{given} {surname}")
}

fn phone(i: u64, k: u64) -> String {
    format!("+79{:09}", i * 3 + k)
}

fn client(i: u64) -> ImportedClient {
    let company = mix(i) % 100 < 15;
    let persons = if company { 1 + mix(i ^ 1) % 3 } else { 1 };
    let persons = (0..persons)
        .map(|k| {
            let mut card = ContactCard {
                phones: vec![phone(i, k)],
                ..ContactCard::default()
            };
            if company {
                card.emails.push(format!("p{k}.{i}@company{i}.ru"));
            } else if mix(i ^ 2) % 10 < 6 {
                card.emails.push(format!("user.{i}@gmail.com"));
            }
            ImportedPerson {
                name: name(i, k),
                keys: card.normalize(Region::Ru).keys,
                dropped: Vec::new(),
            }
        })
        .collect();
    ImportedClient {
        external_id: format!("b-{i}"),
        kind: if company {
            ClientKind::Company
        } else {
            ClientKind::Person
        },
        name: if company {
            format!("ООО «Компания {i}»")
        } else {
            name(i, 0)
        },
        responsible: None,
        imported_responsible: None,
        inn: None,
        persons,
    }
}

fn base_path(clients: u64) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").to_string());
    PathBuf::from(target)
        .join("bench-matching")
        .join(format!("base-{clients}.db"))
}

async fn open_base(clients: u64) -> Store {
    let path = base_path(clients);
    let store = Store::connect(&DatabaseSettings {
        url: format!("sqlite://{}", path.display()),
        max_connections: 2,
        sqlite_synchronous: SqliteSync::Normal,
        ..DatabaseSettings::default()
    })
    .await
    .expect("open the bench database");
    store.migrate().await.expect("migrate");
    let built: Option<(i64,)> =
        sqlx::query_as("SELECT value FROM counters WHERE name = 'bench_base_clients'")
            .fetch_optional(store.pool())
            .await
            .expect("read marker");
    if built.map(|(n,)| n) == Some(clients as i64) {
        return store;
    }
    eprintln!(
        "building a base of {clients} clients in {} ...",
        path.display()
    );
    let started = Instant::now();
    let mut batch = Vec::with_capacity(5000);
    for i in 0..clients {
        batch.push(client(i));
        if batch.len() == 5000 {
            store.import_batch(&batch).await.expect("import");
            batch.clear();
            if i % 100_000 == 99_999 {
                eprintln!(
                    "  {} clients, {:.0}s",
                    i + 1,
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    store.import_batch(&batch).await.expect("import");
    sqlx::query("INSERT INTO counters (name, value) VALUES ('bench_base_clients', $1)")
        .bind(clients as i64)
        .execute(store.pool())
        .await
        .expect("write marker");
    sqlx::query("ANALYZE")
        .execute(store.pool())
        .await
        .expect("analyze");
    eprintln!("built in {:.0}s", started.elapsed().as_secs_f64());
    store
}

fn probes(clients: u64, kind: &str) -> Vec<Probe> {
    (0..1000u64)
        .map(|j| {
            let i = mix(j ^ 0xABCD) % clients;
            let card = match kind {
                // A known client: a known phone in another format, its name.
                "known" => ContactCard {
                    name: Some(name(i, 0)),
                    phones: vec![format!("8{}", &phone(i, 0)[2..])],
                    ..ContactCard::default()
                },
                // Somebody new with a common name and a free-mail box.
                "new" => ContactCard {
                    name: Some(name(i, 5)),
                    phones: vec![format!("+78{:09}", j)],
                    emails: vec![format!("new.{j}@mail.ru")],
                    ..ContactCard::default()
                },
                // A colleague writing from a known company's domain.
                _ => ContactCard {
                    name: Some(name(i, 9)),
                    emails: vec![format!("colleague@company{i}.ru")],
                    company: Some(format!("Компания {i}")),
                    ..ContactCard::default()
                },
            };
            Probe::new(
                &card,
                &card.normalize(Region::Ru),
                &leadgate::dedup::JunkPatterns::default(),
            )
        })
        .collect()
}

fn matching(c: &mut Criterion) {
    let clients: u64 = std::env::var("LEADGATE_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The pool's connections are returned on drop, which needs the runtime.
    let _guard = rt.enter();
    let store = rt.block_on(open_base(clients));
    let settings = MatchingSettings::default();
    let mut conn = rt.block_on(store.pool().acquire()).expect("connection");
    let mut group = c.benchmark_group(format!("match_one_appeal_{clients}_clients"));
    for kind in ["known", "new", "colleague"] {
        let probes = probes(clients, kind);
        let mut n = 0usize;
        group.bench_function(kind, |b| {
            b.iter(|| {
                let probe = &probes[n % probes.len()];
                n += 1;
                rt.block_on(leadgate::storage::match_appeal(
                    &store, &mut conn, probe, &settings,
                ))
                .expect("match")
            })
        });
    }
    // Where the time goes: the key lookup alone, for the `new` appeals.
    let probes = probes(clients, "new");
    let mut n = 0usize;
    group.bench_function("new_lookup_only", |b| {
        b.iter(|| {
            let probe = &probes[n % probes.len()];
            n += 1;
            rt.block_on(store.lookup_keys(
                &mut conn,
                &probe.blocking_keys(),
                settings.max_candidates_per_key,
            ))
            .expect("lookup")
        })
    });
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
