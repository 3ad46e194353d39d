//! Starts a real DynamoDB- and Secrets Manager-compatible server (moto) on a free loopback port
//! for the health and key-source tests.
//!
//! `moto_server` is found through `MOTO_SERVER`, else `<workspace root>/.venv/bin/moto_server`
//! (create it with `python3 -m venv .venv && .venv/bin/pip install 'moto[dynamodb,secretsmanager]' flask
//! flask-cors`). A missing server fails the test; it is never skipped.
//!
//! The server runs under a small `sh` wrapper that holds the read end of a pipe from the test
//! process: when the test process exits for any reason (even without running destructors, as
//! with statics), the pipe closes, the wrapper kills moto and waits for it. No orphans.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::AttributeValue;
use media_sdk::health::DynamoStore;

const STARTUP_LIMIT: Duration = Duration::from_secs(60);
const STARTUP_POLL: Duration = Duration::from_millis(50);

/// A running moto server.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    /// Closing this makes the wrapper kill moto.
    lifeline: Option<ChildStdin>,
    port: u16,
    log: PathBuf,
}

fn moto_path() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server")
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free loopback port");
    listener.local_addr().expect("local address").port()
}

impl MotoServer {
    /// Starts moto and waits (bounded) until its port accepts connections.
    pub fn start() -> Self {
        let moto = moto_path();
        assert!(
            moto.is_file(),
            "moto_server not found at {}: create the venv at the workspace root with \
             `python3 -m venv .venv && .venv/bin/pip install 'moto[dynamodb,secretsmanager]' flask flask-cors` \
             (or `cargo xtask test`), or point MOTO_SERVER at a moto_server binary",
            moto.display()
        );
        let port = free_port();
        let log = std::env::temp_dir().join(format!("media-sdk-moto-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("create moto log file");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" -H 127.0.0.1 -p "$1" >"$2" 2>&1 & pid=$!; read _line; kill $pid; wait $pid"#)
            .arg(&moto)
            .arg(port.to_string())
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn moto_server wrapper");
        let lifeline = child.stdin.take();
        let mut server = Self {
            child,
            lifeline,
            port,
            log,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let started = Instant::now();
        while started.elapsed() < STARTUP_LIMIT {
            if TcpStream::connect_timeout(&addr, STARTUP_POLL).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "moto_server exited during startup ({status}); log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(STARTUP_POLL);
        }
        panic!(
            "moto_server did not listen on {addr} within {STARTUP_LIMIT:?}; log:\n{}",
            self.log_text()
        );
    }

    fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops moto and waits until it has exited.
    pub fn stop(&mut self) {
        if self.lifeline.take().is_some() {
            let _ = self.child.wait();
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server shared by every test of this test binary (stopped when the binary exits).
pub fn shared() -> &'static MotoServer {
    static SERVER: OnceLock<MotoServer> = OnceLock::new();
    SERVER.get_or_init(MotoServer::start)
}

/// A table name unique within this process.
pub fn unique_table(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Client settings for moto: dummy credentials and region, built explicitly (no global env).
pub fn config_builder(endpoint: &str) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "moto-test"))
}

/// A client for moto at `endpoint`.
pub fn client(endpoint: &str) -> Client {
    Client::from_conf(config_builder(endpoint).build())
}

/// A client without SDK retries (outage tests count every request).
pub fn client_without_retries(endpoint: &str) -> Client {
    Client::from_conf(
        config_builder(endpoint)
            .retry_config(RetryConfig::disabled())
            .build(),
    )
}

/// Counts requests by operation (`X-Amz-Target`) and records the item count of every
/// `BatchWriteItem` request, as sent on the wire.
#[derive(Debug, Default, Clone)]
pub struct RequestLog {
    inner: Arc<Mutex<RequestLogInner>>,
}

#[derive(Debug, Default)]
struct RequestLogInner {
    by_operation: HashMap<String, u64>,
    batch_sizes: Vec<usize>,
}

impl RequestLog {
    /// Requests of `operation`, e.g. `"BatchWriteItem"`.
    pub fn count(&self, operation: &str) -> u64 {
        let inner = self.inner.lock().unwrap();
        inner.by_operation.get(operation).copied().unwrap_or(0)
    }

    /// Items in each `BatchWriteItem` request, in order.
    pub fn batch_sizes(&self) -> Vec<usize> {
        self.inner.lock().unwrap().batch_sizes.clone()
    }

    /// A client for moto at `endpoint` reporting to this log.
    pub fn client(&self, endpoint: &str) -> Client {
        Client::from_conf(config_builder(endpoint).interceptor(self.clone()).build())
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        let mut inner = self.inner.lock().unwrap();
        if operation == "BatchWriteItem" {
            let body: serde_json::Value = request
                .body()
                .bytes()
                .and_then(|b| serde_json::from_slice(b).ok())
                .expect("BatchWriteItem body is JSON");
            let items = body["RequestItems"]
                .as_object()
                .expect("RequestItems")
                .values()
                .map(|requests| requests.as_array().map_or(0, Vec::len))
                .sum();
            inner.batch_sizes.push(items);
        }
        *inner.by_operation.entry(operation).or_default() += 1;
        Ok(())
    }
}

/// A DynamoDB item as the SDK returns it.
pub type Item = HashMap<String, AttributeValue>;

/// The seed query: `pk = :pk AND begins_with(sk, :sk)`, newest first; every page, in order.
pub async fn seed_query_pages(store: &DynamoStore, health_id: &str) -> Vec<Vec<Item>> {
    let mut pages = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client()
            .query()
            .table_name(store.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :sk)")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(format!("PROVIDER_HEALTH#{health_id}")),
            )
            .expression_attribute_values(":sk", AttributeValue::S("METRIC#".into()))
            .scan_index_forward(false)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("seed query");
        pages.push(out.items().to_vec());
        match out.last_evaluated_key() {
            Some(key) => start = Some(key.clone()),
            None => break,
        }
    }
    pages
}

/// The string attribute `name` of `item`; panics when missing or not `S`.
pub fn s<'a>(item: &'a Item, name: &str) -> &'a str {
    item.get(name)
        .unwrap_or_else(|| panic!("missing {name} in {item:?}"))
        .as_s()
        .unwrap_or_else(|_| panic!("{name} is not S in {item:?}"))
}

/// The integer attribute `name` of `item`; panics when missing, not `N` or not an integer.
pub fn n(item: &Item, name: &str) -> u64 {
    item.get(name)
        .unwrap_or_else(|| panic!("missing {name} in {item:?}"))
        .as_n()
        .unwrap_or_else(|_| panic!("{name} is not N in {item:?}"))
        .parse()
        .expect("integer")
}
