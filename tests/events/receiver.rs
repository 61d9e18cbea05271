//! A webhook receiver for the tests: records every delivery, answers with a
//! status the test sets (optionally after a delay), and checks signatures
//! with its own HMAC-SHA256 (built from SHA-256 by hand, so it shares no
//! code with leadgate's signer).

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    pub answered: u16,
}

impl Delivery {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("delivery body is JSON")
    }
}

#[derive(Default)]
pub struct Shared {
    deliveries: Mutex<Vec<Delivery>>,
    status: AtomicU16,
    delay_ms: AtomicU64,
}

pub struct Receiver {
    pub port: u16,
    pub shared: Arc<Shared>,
    _task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Receiver::start_on(0).await
    }

    pub async fn start_on(port: u16) -> Receiver {
        Receiver::start_with(port, Arc::new(Shared::default())).await
    }

    async fn start_with(port: u16, shared: Arc<Shared>) -> Receiver {
        if shared.status.load(Ordering::SeqCst) == 0 {
            shared.status.store(200, Ordering::SeqCst);
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind receiver");
        let port = listener.local_addr().expect("addr").port();
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            port,
            shared,
            _task: task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn answer(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    pub fn delay(&self, delay: Duration) {
        self.shared
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn all(&self) -> Vec<Delivery> {
        self.shared.deliveries.lock().expect("lock").clone()
    }

    /// The deliveries answered 2xx, in the order they came.
    pub fn accepted(&self) -> Vec<Delivery> {
        self.all()
            .into_iter()
            .filter(|d| (200..300).contains(&d.answered))
            .collect()
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = shared.status.load(Ordering::SeqCst);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    shared.deliveries.lock().expect("lock").push(Delivery {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: body.to_vec(),
        answered: status,
    });
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}

/// HMAC-SHA256 (RFC 2104) over SHA-256.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// Whether the delivery carries a valid `v1` signature for every secret.
pub fn signed_with_all(d: &Delivery, secrets: &[&str]) -> bool {
    let mut signed = d.id.as_bytes().to_vec();
    signed.push(b'.');
    signed.extend_from_slice(d.timestamp.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(&d.body);
    let given: Vec<&str> = d.signature.split(' ').collect();
    secrets.iter().all(|secret| {
        let key = STANDARD
            .decode(secret.trim_start_matches("whsec_"))
            .expect("test secret is base64");
        let expected = format!("v1,{}", STANDARD.encode(hmac_sha256(&key, &signed)));
        given.contains(&expected.as_str())
    })
}

/// The same check in Python's standard library, when python3 is there.
pub fn python_verifies(d: &Delivery, secret: &str) -> Option<bool> {
    let dir = tempfile::tempdir().ok()?;
    let body = dir.path().join("body");
    std::fs::write(&body, &d.body).ok()?;
    let script = r#"
import base64, hashlib, hmac, sys
secret, msg_id, ts, sigs, path = sys.argv[1:6]
key = base64.b64decode(secret[len("whsec_"):])
body = open(path, "rb").read()
expected = base64.b64encode(hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256).digest()).decode()
ok = any(s.split(",", 1)[1] == expected for s in sigs.split(" ") if s.startswith("v1,"))
sys.exit(0 if ok else 1)
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(secret)
        .arg(&d.id)
        .arg(&d.timestamp)
        .arg(&d.signature)
        .arg(&body)
        .status()
        .ok()?;
    Some(out.success())
}
