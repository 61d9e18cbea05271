//! Building and running the daemon.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use leadgate_core::health::Health;
use leadgate_core::intake::Intake;
use leadgate_core::metrics::Metrics;
use leadgate_core::outbox::{NoOutbox, Outbox};
use leadgate_core::pipeline::Pipeline;
use leadgate_core::settings::CoreSettings;
use leadgate_core::stage::{spawn_sweeper, Stage};
use leadgate_domain::routing::Router;
use leadgate_sources::mail::MailOutbox;
use leadgate_sources::{self as sources, SourceContext};
use leadgate_store::{StorageError, Store};
use leadgate_web::AppState;

use crate::settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("invalid scenarios: {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Scenarios(Vec<leadgate_domain::scenario::ConfigProblem>),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// The services assembled from the configuration: what `Application::build`
/// wires together, and what tests that drive a service by hand start from.
pub struct Services {
    pub core: Arc<CoreSettings>,
    pub router: Arc<Router>,
    pub outbox: Arc<dyn Outbox>,
}

impl Services {
    pub fn new(settings: &Settings) -> Result<Services, StartupError> {
        let core = Arc::new(settings.core());
        let router = Arc::new(
            Router::new(core.scenarios.clone(), core.calendar.clone(), core.heads())
                .map_err(StartupError::Scenarios)?,
        );
        let outbox: Arc<dyn Outbox> = if settings.mail.smtp.is_some() {
            Arc::new(MailOutbox {
                mail: settings.mail.clone(),
                core: core.clone(),
                acknowledged_forms: settings
                    .forms
                    .iter()
                    .filter(|(_, f)| f.may_acknowledge())
                    .map(|(name, f)| f.source_for(name))
                    .collect(),
            })
        } else {
            Arc::new(NoOutbox)
        };
        Ok(Services {
            core,
            router,
            outbox,
        })
    }

    pub fn pipeline(&self, store: Store, metrics: Arc<Metrics>, wake: Arc<Notify>) -> Pipeline {
        Pipeline::new(
            store,
            self.core.clone(),
            self.router.clone(),
            metrics,
            self.outbox.clone(),
            wake,
        )
    }

    pub fn stage(&self, store: Store) -> Stage {
        Stage::new(
            store,
            self.core.clone(),
            self.router.clone(),
            self.outbox.clone(),
        )
    }
}

/// A built daemon: the database is migrated and the listener is bound, so the
/// port is known (tests bind port 0) before anything runs.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    sources: Arc<sources::SourcesSettings>,
    store: Store,
    settings: Arc<Settings>,
    intake_writer: JoinHandle<()>,
    run_pipeline: bool,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let settings = Arc::new(settings);
        let services = Services::new(&settings)?;
        let store = Store::connect(&settings.database).await?;
        store.migrate().await?;
        // The report rollups count local days of the configured zone.
        store
            .sync_report_rollups(leadgate_domain::report::offset_ms(
                settings.calendar.tz(),
                chrono::Utc::now(),
            ))
            .await?;
        leadgate_core::users::sync_from_config(&store, &settings.departments, &settings.managers)
            .await?;
        // Before anything is accepted: a new endpoint starts after the
        // events journaled so far, and must not miss the first ones of this run.
        for hook in &settings.webhooks {
            store.ensure_webhook_endpoint(&hook.name).await?;
        }
        let source_settings = Arc::new(settings.sources());
        let listener = TcpListener::bind(&settings.server.listen)
            .await
            .map_err(|source| StartupError::Bind {
                addr: settings.server.listen.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.server.listen.clone(),
            source,
        })?;
        let metrics = Arc::new(Metrics::new());
        let health = Health::new(settings.health.clone(), metrics.clone());
        let wake = Arc::new(Notify::new());
        let (intake, intake_writer) =
            Intake::start(store.clone(), metrics.clone(), wake.clone(), &health);
        let pipeline = services.pipeline(store.clone(), metrics.clone(), wake);
        let stage = Arc::new(services.stage(store.clone()));
        let state = AppState {
            core: services.core,
            web: Arc::new(settings.web.clone()),
            operations: Arc::new(settings.operations.clone()),
            body_limit: settings.server.body_limit_bytes,
            api_tokens: Arc::new(settings.api.tokens.clone()),
            store: store.clone(),
            intake,
            metrics,
            stage,
            pipeline,
            webhooks: Arc::new(settings.webhooks.clone()),
            sales: leadgate_web::SalesServices::new(source_settings.clone()),
            limits: Arc::new(settings.limits.clone()),
            login_throttle: Arc::new(leadgate_web::pages::throttle::LoginThrottle::new(
                &settings.limits,
            )),
            health,
        };
        Ok(Application {
            listener,
            addr,
            state,
            sources: source_settings,
            store,
            settings,
            intake_writer,
            run_pipeline: true,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The heartbeat registry: the systemd watchdog asks it, and tests.
    pub fn health(&self) -> Health {
        self.state.health.clone()
    }

    /// Tests that drive the pipeline by hand switch the background worker off.
    pub fn without_pipeline(mut self) -> Self {
        self.run_pipeline = false;
        self
    }

    /// Serves until `shutdown` fires, then stops taking requests, lets
    /// in-flight ones finish, commits what intake holds and finishes the batch
    /// being processed.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let Application {
            listener,
            state,
            sources: source_settings,
            store,
            settings,
            intake_writer,
            run_pipeline,
            ..
        } = self;
        let sources = sources::build(&source_settings);
        let worker_stop = CancellationToken::new();
        let workers = match store.backend() {
            leadgate_store::Backend::Postgres if run_pipeline => settings.pipeline.workers,
            _ => u32::from(run_pipeline),
        };
        let health = state.health.clone();
        let workers: Vec<_> = (0..workers)
            .map(|n| {
                let (pipeline, stop) = (state.pipeline.clone(), worker_stop.clone());
                health.supervise(
                    format!("pipeline worker {n}"),
                    Duration::from_millis(settings.pipeline.poll_interval_ms),
                    worker_stop.clone(),
                    move |beat| pipeline.clone().run(stop.clone(), beat),
                )
            })
            .collect();
        let sweeper_stop = CancellationToken::new();
        let sweeper = spawn_sweeper(
            state.stage.clone(),
            Duration::from_millis(settings.tasks.overdue_sweep_interval_ms),
            sweeper_stop.clone(),
            &health,
        );
        let source_stop = CancellationToken::new();
        let mut source_tasks = Vec::new();
        let ctx = SourceContext {
            intake: state.intake.clone(),
            store: state.store.clone(),
            metrics: state.metrics.clone(),
            settings: source_settings,
            core: state.core.clone(),
            body_limit: state.body_limit,
            api_tokens: state.api_tokens.clone(),
            shutdown: source_stop.clone(),
            health: health.clone(),
        };
        for source in &sources {
            if let Some(task) = source.clone().spawn(ctx.clone()) {
                source_tasks.push(task);
            }
        }
        let app = crate::server::limited(
            leadgate_web::router(state, &sources, &ctx),
            &settings.server,
        );
        tracing::info!(addr = %listener.local_addr()?, "leadgate is listening");
        let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
        let served = crate::server::serve(listener, app, &settings.server, shutdown, grace).await;
        tracing::info!("HTTP server stopped; finishing work in hand");
        source_stop.cancel();
        for task in source_tasks {
            let _ = tokio::time::timeout(grace, task).await;
        }
        // Every Intake handle lived in the router and the sources; with them
        // gone the writer commits what is queued and ends.
        drop(sources);
        drop(ctx);
        let _ = tokio::time::timeout(grace, intake_writer).await;
        worker_stop.cancel();
        sweeper_stop.cancel();
        let _ = tokio::time::timeout(grace, sweeper).await;
        for worker in workers {
            let _ = tokio::time::timeout(grace, worker).await;
        }
        store.close().await;
        served
    }
}
