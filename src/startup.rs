//! Building and running the daemon.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::http::{self, AppState};
use crate::intake::Intake;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::routing::Router;
use crate::settings::Settings;
use crate::sources::{self, SourceContext};
use crate::stage::{spawn_sweeper, Stage};
use crate::storage::{StorageError, Store};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("invalid scenarios: {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Scenarios(Vec<crate::scenario::ConfigProblem>),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// A built daemon: the database is migrated and the listener is bound, so the
/// port is known (tests bind port 0) before anything runs.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    store: Store,
    settings: Arc<Settings>,
    intake_writer: JoinHandle<()>,
    run_pipeline: bool,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let settings = Arc::new(settings);
        let router = Arc::new(Router::new(&settings).map_err(StartupError::Scenarios)?);
        let store = Store::connect(&settings.database).await?;
        store.migrate().await?;
        crate::users::sync_from_config(&store, &settings).await?;
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
        let wake = Arc::new(Notify::new());
        let (intake, intake_writer) = Intake::start(store.clone(), metrics.clone(), wake.clone());
        let pipeline = Pipeline::new(
            store.clone(),
            settings.clone(),
            router.clone(),
            metrics.clone(),
            wake,
        );
        let stage = Arc::new(Stage::new(store.clone(), settings.clone(), router.clone()));
        let state = AppState {
            settings: settings.clone(),
            store: store.clone(),
            intake,
            metrics,
            stage,
            pipeline,
        };
        Ok(Application {
            listener,
            addr,
            state,
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
            store,
            settings,
            intake_writer,
            run_pipeline,
            ..
        } = self;
        let sources = sources::build(&settings);
        let worker_stop = CancellationToken::new();
        let worker =
            run_pipeline.then(|| tokio::spawn(state.pipeline.clone().run(worker_stop.clone())));
        let sweeper_stop = CancellationToken::new();
        let sweeper = spawn_sweeper(
            state.stage.clone(),
            Duration::from_millis(settings.tasks.overdue_sweep_interval_ms),
            sweeper_stop.clone(),
        );
        let source_stop = CancellationToken::new();
        let mut source_tasks = Vec::new();
        for source in &sources {
            let ctx = SourceContext {
                state: state.clone(),
                shutdown: source_stop.clone(),
            };
            if let Some(task) = source.clone().spawn(ctx) {
                source_tasks.push(task);
            }
        }
        let app = http::router(state, &sources);
        let server_stop = shutdown.clone();
        tracing::info!(addr = %listener.local_addr()?, "leadgate is listening");
        let served = axum::serve(listener, app.into_make_service())
            .with_graceful_shutdown(async move { server_stop.cancelled().await })
            .await;
        tracing::info!("HTTP server stopped; finishing work in hand");
        source_stop.cancel();
        let grace = Duration::from_secs(settings.server.shutdown_grace_secs);
        for task in source_tasks {
            let _ = tokio::time::timeout(grace, task).await;
        }
        // Every Intake handle lived in the router and the sources; with them
        // gone the writer commits what is queued and ends.
        drop(sources);
        let _ = tokio::time::timeout(grace, intake_writer).await;
        worker_stop.cancel();
        sweeper_stop.cancel();
        let _ = tokio::time::timeout(grace, sweeper).await;
        if let Some(worker) = worker {
            let _ = tokio::time::timeout(grace, worker).await;
        }
        store.close().await;
        served
    }
}
