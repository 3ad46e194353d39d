//! The DynamoDB store: one table, `pk` (S) + `sk` (S) keys, TTL on `ttl`.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus, WriteRequest,
};

use super::clock::{Clock, SharedClock, SystemClock, epoch_millis, from_epoch_millis};
use super::store::{
    HealthItem, HealthStore, MAX_BATCH, METRIC_SK_PREFIX, MetricItem, MetricPage, PageCursor,
    RATE_LIMIT_SK_PREFIX, RateLimitItem, StoreError, StoreFuture, UniqueSuffix, cooldown_pk,
    iso_millis, metric_pk, metric_sk_floor, min_live_ttl, rate_limit_pk, rate_limit_sk_floor,
    ttl_after,
};
use super::table::{
    KeyElement, RUNTIME_ACTIONS, TableAspect, TableCheck, TableFinding, key_schema_finding,
    ttl_finding,
};

type Item = HashMap<String, AttributeValue>;

/// The environment variable bounding every DynamoDB call of a store built from the environment,
/// in milliseconds (see [`DynamoTimeouts::from_env`]).
pub const DYNAMO_TIMEOUT_ENV: &str = "MEDIA_SDK_DYNAMO_TIMEOUT_MS";

/// The longest error message kept from the AWS SDK (its errors can carry a whole response).
const MAX_MESSAGE_CHARS: usize = 300;

/// Time limits on every request a [`DynamoStore`] makes, applied to its client as the AWS SDK's
/// [`TimeoutConfig`]. A DynamoDB endpoint that accepts connections and never answers then costs
/// at most [`operation`](Self::operation) per store call and ends in
/// [`StoreError::Timeout`].
///
/// The defaults (connect 1 s, read 2 s, attempt 2 s, operation 5 s) suit a Lambda: a healthy
/// table answers in milliseconds, and the SDK's retries fit inside the operation limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DynamoTimeouts {
    /// Establishing a connection (TCP and TLS).
    pub connect: Duration,
    /// Waiting for the next bytes of a response once the request is sent.
    pub read: Duration,
    /// One HTTP attempt, from signing to the parsed response.
    pub attempt: Duration,
    /// The whole call, the SDK's own retries included.
    pub operation: Duration,
}

impl Default for DynamoTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(1),
            read: Duration::from_secs(2),
            attempt: Duration::from_secs(2),
            operation: Duration::from_secs(5),
        }
    }
}

impl DynamoTimeouts {
    /// The defaults with the whole call bounded by `operation`; the connect, read and attempt
    /// limits are cut to `operation` when longer.
    pub fn within(operation: Duration) -> Self {
        let default = Self::default();
        Self {
            connect: default.connect.min(operation),
            read: default.read.min(operation),
            attempt: default.attempt.min(operation),
            operation,
        }
    }

    /// [`within`](Self::within) the milliseconds in `MEDIA_SDK_DYNAMO_TIMEOUT_MS` when it is set
    /// and non-empty, else the defaults. Fails with [`StoreError::Config`] when it is not a
    /// positive whole number.
    pub fn from_env() -> Result<Self, StoreError> {
        match std::env::var(DYNAMO_TIMEOUT_ENV) {
            Ok(value) if !value.trim().is_empty() => Self::parse_millis(&value),
            _ => Ok(Self::default()),
        }
    }

    fn parse_millis(value: &str) -> Result<Self, StoreError> {
        match value.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Self::within(Duration::from_millis(ms))),
            _ => Err(StoreError::Config(format!(
                "{DYNAMO_TIMEOUT_ENV}={value:?}: expected a positive whole number of milliseconds"
            ))),
        }
    }

    /// The AWS SDK form.
    fn to_config(self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.read)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// How long the probe items of [`DynamoStore::check_table`] live (their `ttl`).
const PROBE_LIFETIME: Duration = Duration::from_secs(300);

/// What [`DynamoStore::ensure_table`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSetup {
    /// The table was missing and was created (on-demand billing, TTL on `ttl`).
    pub created: bool,
    /// The table existed with TTL off, and TTL was enabled on `ttl`.
    pub enabled_ttl: bool,
}

/// How many times [`DynamoStore::create_table_if_missing`] checks for `ACTIVE`, and how long it
/// waits between checks.
const ACTIVE_CHECKS: u32 = 120;
const ACTIVE_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// A [`HealthStore`] on a DynamoDB table (`pk` S hash key, `sk` S range key, TTL on `ttl`).
///
/// Item schema:
///
/// | item       | `pk`                            | `sk`                                 | attributes |
/// |------------|---------------------------------|--------------------------------------|------------|
/// | metric     | `PROVIDER_HEALTH#<health id>`   | `METRIC#<13-digit millis>#<suffix>`  | `latency_ms` N, `success` BOOL, `timestamp` S, `ttl` N, `attempts` N, `health_id` S, `provider` S, `endpoint` S, optional `status` N, `error_class` S, `key` S (fingerprint), `ttfb_ms` N (streams: time to the first audio byte), `cancelled` BOOL (streams dropped by the caller; written only when true, absent reads as false), `credits` N (what the call cost, summed per key in health reports; written only when non-zero, absent reads as 0) |
/// | rate limit | `PROVIDER_RATE_LIMIT#<provider>`| `EVENT#<13-digit millis>#<suffix>`   | `provider` S, `health_id` S, `key` S, `cooldown_ms` N, `rotated` BOOL, `timestamp` S, `ttl` N |
/// | cool-down  | `KEY_COOLDOWN#<provider>`       | `<key fingerprint>`                  | `provider` S, `key` S, `until_ms` N, `until` S, `ttl` N |
///
/// Every request is bounded by the store's [`DynamoTimeouts`] (the defaults unless
/// [`with_timeouts`](Self::with_timeouts) says otherwise); a call that runs out of time fails
/// with [`StoreError::Timeout`].
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    clock: SharedClock,
    page_size: Option<i32>,
    timeouts: DynamoTimeouts,
}

impl DynamoStore {
    /// A store on `table` through `client`, with the default [`DynamoTimeouts`] (they replace
    /// any timeouts `client` was configured with; [`with_timeouts`](Self::with_timeouts) sets
    /// others).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self::bounded(&client, table.into(), DynamoTimeouts::default())
    }

    /// A store on `table` with the standard AWS configuration chain (environment, profile,
    /// container and instance credentials; region; `AWS_ENDPOINT_URL_DYNAMODB`, then
    /// `AWS_ENDPOINT_URL`, for a local endpoint) and [`DynamoTimeouts::from_env`] (an invalid
    /// `MEDIA_SDK_DYNAMO_TIMEOUT_MS` is logged and the defaults are used).
    pub async fn from_env(table: impl Into<String>) -> Self {
        let timeouts = DynamoTimeouts::from_env().unwrap_or_else(|error| {
            tracing::warn!(%error, "using the default DynamoDB timeouts");
            DynamoTimeouts::default()
        });
        Self::from_env_with(table.into(), timeouts).await
    }

    /// [`from_env`](Self::from_env) with `timeouts` already chosen.
    pub async fn from_env_with(table: String, timeouts: DynamoTimeouts) -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(timeouts.to_config())
            .load()
            .await;
        Self::bounded(&Client::new(&config), table, timeouts)
    }

    fn bounded(client: &Client, table: String, timeouts: DynamoTimeouts) -> Self {
        let config = client
            .config()
            .to_builder()
            .timeout_config(timeouts.to_config())
            .build();
        Self {
            client: Client::from_conf(config),
            table,
            clock: Arc::new(SystemClock),
            page_size: None,
            timeouts,
        }
    }

    /// Bounds every request by `timeouts` instead of the current ones.
    pub fn with_timeouts(self, timeouts: DynamoTimeouts) -> Self {
        Self {
            clock: self.clock,
            page_size: self.page_size,
            ..Self::bounded(&self.client, self.table, timeouts)
        }
    }

    /// The time limits on every request.
    pub fn timeouts(&self) -> DynamoTimeouts {
        self.timeouts
    }

    /// Uses `clock` to decide which items have expired.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Caps items evaluated per `Query` request (DynamoDB's `Limit`); the default is DynamoDB's
    /// 1 MB page.
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = Some(i32::try_from(page_size.max(1)).unwrap_or(i32::MAX));
        self
    }

    /// The DynamoDB client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (`pk` S hash key, `sk` S range key, on-demand billing), waits until it
    /// is `ACTIVE` and enables TTL on `ttl`. Returns `false` when the table already existed
    /// (it is then left as it is).
    pub async fn create_table_if_missing(&self) -> Result<bool, StoreError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => return Ok(false),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(e) => return Err(self.error("DescribeTable", e)),
        }
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| self.config_error(e))
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| self.config_error(e))
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Created concurrently by another process: fine.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(e) => return Err(self.error("CreateTable", e)),
        }
        self.wait_active().await?;
        self.enable_ttl().await?;
        tracing::info!(table = %self.table, "created health table");
        Ok(true)
    }

    /// `table create`: creates the table when it is missing
    /// ([`create_table_if_missing`](Self::create_table_if_missing)), enables TTL on `ttl` when
    /// an existing table has TTL off, and changes nothing else. Idempotent; follow it with
    /// [`check_table`](Self::check_table) to see whether the table is usable.
    pub async fn ensure_table(&self) -> Result<TableSetup, StoreError> {
        let created = self.create_table_if_missing().await?;
        let enabled_ttl = !created && self.enable_ttl().await?;
        Ok(TableSetup {
            created,
            enabled_ttl,
        })
    }

    /// The table's TTL settings.
    async fn describe_ttl(
        &self,
    ) -> Result<
        aws_sdk_dynamodb::operation::describe_time_to_live::DescribeTimeToLiveOutput,
        StoreError,
    > {
        self.client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| self.error("DescribeTimeToLive", e))
    }

    /// Enables TTL on `ttl` unless TTL is already on (for any attribute: a table has one, and
    /// [`check_table`](Self::check_table) reports the wrong one). Returns whether it enabled it.
    async fn enable_ttl(&self) -> Result<bool, StoreError> {
        let described = self.describe_ttl().await?;
        let status = described
            .time_to_live_description()
            .and_then(|d| d.time_to_live_status());
        if matches!(
            status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ) {
            return Ok(false);
        }
        let ttl = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name("ttl")
            .build()
            .map_err(|e| self.config_error(e))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| self.error("UpdateTimeToLive", e))?;
        tracing::info!(table = %self.table, "enabled TTL on `ttl`");
        Ok(true)
    }

    /// `table check`: whether the table exists and is active, has the keys `pk` (S, HASH) and
    /// `sk` (S, RANGE), TTL enabled on `ttl`, and whether the runtime actions work with these
    /// credentials: a probe item (partition `MEDIA_SDK_TABLE_CHECK#<unique>`, expiring within
    /// five minutes) written with `BatchWriteItem`, read back with `Query`, and a conditional
    /// `PutItem`. Each wrong finding carries its fix.
    ///
    /// Fails only when the table cannot be described at all (e.g. no `DescribeTable`
    /// permission, no answer); a missing table is a finding.
    pub async fn check_table(&self) -> Result<TableCheck, StoreError> {
        let mut check = TableCheck {
            table: self.table.clone(),
            findings: Vec::new(),
        };
        let described = match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(described) => described,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                check.findings.push(TableFinding::wrong(
                    TableAspect::Exists,
                    "does not exist",
                    format!("run `cargo xtask table create --table {}`", self.table),
                ));
                return Ok(check);
            }
            Err(e) => return Err(self.error("DescribeTable", e)),
        };
        let description = described.table();
        let status = description
            .and_then(|t| t.table_status())
            .map_or("unknown", |s| s.as_str());
        let billing = description
            .and_then(|t| t.billing_mode_summary())
            .and_then(|b| b.billing_mode())
            .map_or("PROVISIONED", |b| b.as_str());
        if status == TableStatus::Active.as_str() || status == TableStatus::Updating.as_str() {
            check.findings.push(TableFinding::ok(
                TableAspect::Exists,
                format!("{} ({billing})", status.to_ascii_lowercase()),
            ));
        } else {
            check.findings.push(TableFinding::wrong(
                TableAspect::Exists,
                status.to_ascii_lowercase(),
                "wait until the table is ACTIVE, then check again",
            ));
        }
        let keys: Vec<KeyElement> = description
            .map(|t| {
                t.key_schema()
                    .iter()
                    .map(|k| KeyElement {
                        name: k.attribute_name().to_owned(),
                        key_type: k.key_type().as_str().to_owned(),
                        attribute_type: t
                            .attribute_definitions()
                            .iter()
                            .find(|d| d.attribute_name() == k.attribute_name())
                            .map_or("?", |d| d.attribute_type().as_str())
                            .to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let key_finding = key_schema_finding(&self.table, &keys);
        let keys_ok = key_finding.is_ok();
        check.findings.push(key_finding);
        let ttl = self.describe_ttl().await?;
        let ttl = ttl.time_to_live_description();
        check.findings.push(ttl_finding(
            &self.table,
            ttl.and_then(|d| d.time_to_live_status())
                .map_or("DISABLED", |s| s.as_str()),
            ttl.and_then(|d| d.attribute_name()),
        ));
        if keys_ok && check.findings[0].is_ok() {
            check.findings.push(self.round_trip().await);
        }
        Ok(check)
    }

    /// The probe of [`check_table`](Self::check_table): `BatchWriteItem`, `Query`, then a
    /// conditional `PutItem`, as the SDK does them.
    async fn round_trip(&self) -> TableFinding {
        let wrong = |error: StoreError| {
            let fix = match &error {
                StoreError::AccessDenied { action, .. } => format!(
                    "allow {action} (the SDK needs {}) on the table: see the README's                      \"Deploying\" section",
                    RUNTIME_ACTIONS.join(", ")
                ),
                _ => "see the error; `RUST_LOG=debug` shows each request".to_owned(),
            };
            TableFinding::wrong(TableAspect::RoundTrip, error.to_string(), fix)
        };
        let pk = format!("MEDIA_SDK_TABLE_CHECK#{}", UniqueSuffix::new().next());
        let expires = n(ttl_after(epoch_millis(self.clock.now()), PROBE_LIFETIME));
        let probe = HashMap::from([
            ("pk".to_owned(), s(&pk)),
            ("sk".to_owned(), s("BATCH")),
            ("ttl".to_owned(), expires.clone()),
        ]);
        let put = match PutRequest::builder().set_item(Some(probe)).build() {
            Ok(put) => put,
            Err(e) => return wrong(self.config_error(e)),
        };
        let written = self
            .client
            .batch_write_item()
            .request_items(
                &self.table,
                vec![WriteRequest::builder().put_request(put).build()],
            )
            .send()
            .await;
        if let Err(e) = written {
            return wrong(self.error("BatchWriteItem", e));
        }
        let read = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(&pk))
            .send()
            .await;
        match read {
            Ok(out) if out.items().len() == 1 => {}
            Ok(out) => {
                return TableFinding::wrong(
                    TableAspect::RoundTrip,
                    format!("wrote 1 probe item, read back {}", out.items().len()),
                    "the table does not return what was written: check that CONFIG_TABLE and                      the region name the table you mean",
                );
            }
            Err(e) => return wrong(self.error("Query", e)),
        }
        let conditional = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("sk", s("PUT"))
            .item("ttl", expires)
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        if let Err(e) = conditional {
            return wrong(self.error("PutItem", e));
        }
        TableFinding::ok(
            TableAspect::RoundTrip,
            "BatchWriteItem, Query and a conditional PutItem work with these credentials",
        )
    }

    async fn wait_active(&self) -> Result<(), StoreError> {
        for _ in 0..ACTIVE_CHECKS {
            let described = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| self.error("DescribeTable", e))?;
            if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(ACTIVE_CHECK_INTERVAL).await;
        }
        Err(StoreError::Config(format!(
            "table {} did not become ACTIVE within {:?}",
            self.table,
            ACTIVE_CHECK_INTERVAL * ACTIVE_CHECKS
        )))
    }

    /// The store's error for a failed request: [`StoreError::Timeout`] when a time limit ran
    /// out, [`StoreError::TableMissing`] or [`StoreError::AccessDenied`] for what an operator
    /// must fix, else [`StoreError::Dynamo`] with the AWS SDK's error chain on one line.
    fn error<E, R>(&self, operation: &'static str, err: SdkError<E, R>) -> StoreError
    where
        E: StdError + ProvideErrorMetadata + 'static,
        R: fmt::Debug,
    {
        if let Some(service) = err.as_service_error()
            && let Some(error) = operator_error(
                operation,
                &self.table,
                service.code(),
                service.message().unwrap_or_default(),
            )
        {
            return error;
        }
        let timed_out = match &err {
            SdkError::TimeoutError(_) => true,
            SdkError::DispatchFailure(failure) => failure.is_timeout(),
            _ => false,
        };
        if timed_out {
            return StoreError::Timeout {
                operation,
                limit: self.timeouts.operation,
            };
        }
        StoreError::Dynamo {
            operation,
            table: self.table.clone(),
            message: one_line(&err),
        }
    }

    fn config_error(&self, err: impl std::error::Error) -> StoreError {
        StoreError::Config(format!("table {}: {err}", self.table))
    }

    fn corrupt(&self, item: &Item, attribute: &'static str, problem: &'static str) -> StoreError {
        StoreError::Corrupt {
            table: self.table.clone(),
            pk: string_attr(item, "pk").unwrap_or_default(),
            sk: string_attr(item, "sk").unwrap_or_default(),
            attribute,
            problem,
        }
    }

    fn parse_metric(&self, item: &Item) -> Result<MetricItem, StoreError> {
        let sk = self.req_s(item, "sk")?;
        let (at_ms, unique) = split_sk(&sk, METRIC_SK_PREFIX)
            .ok_or_else(|| self.corrupt(item, "sk", "not METRIC#<millis>#<suffix>"))?;
        Ok(MetricItem {
            health_id: self.req_s(item, "health_id")?,
            provider: self.req_s(item, "provider")?,
            endpoint: self.req_s(item, "endpoint")?,
            at_ms,
            unique,
            latency_ms: self.req_n(item, "latency_ms")?,
            ttfb_ms: self.opt_n(item, "ttfb_ms")?,
            success: self.req_bool(item, "success")?,
            cancelled: self.opt_bool(item, "cancelled")?.unwrap_or(false),
            status: self.opt_n(item, "status")?,
            error_class: string_attr(item, "error_class"),
            attempts: self.req_n(item, "attempts")?,
            key_fingerprint: string_attr(item, "key"),
            credits: self.opt_n(item, "credits")?.unwrap_or(0),
            ttl: self.req_n(item, "ttl")?,
        })
    }

    fn parse_rate_limit(&self, item: &Item) -> Result<RateLimitItem, StoreError> {
        let sk = self.req_s(item, "sk")?;
        let (at_ms, unique) = split_sk(&sk, RATE_LIMIT_SK_PREFIX)
            .ok_or_else(|| self.corrupt(item, "sk", "not EVENT#<millis>#<suffix>"))?;
        Ok(RateLimitItem {
            provider: self.req_s(item, "provider")?,
            health_id: self.req_s(item, "health_id")?,
            key_fingerprint: self.req_s(item, "key")?,
            cooldown_ms: self.req_n(item, "cooldown_ms")?,
            rotated: self.req_bool(item, "rotated")?,
            at_ms,
            unique,
            ttl: self.req_n(item, "ttl")?,
        })
    }

    fn req_s(&self, item: &Item, name: &'static str) -> Result<String, StoreError> {
        string_attr(item, name).ok_or_else(|| self.corrupt(item, name, "missing or not a string"))
    }

    fn req_n<T: std::str::FromStr>(
        &self,
        item: &Item,
        name: &'static str,
    ) -> Result<T, StoreError> {
        self.opt_n(item, name)?
            .ok_or_else(|| self.corrupt(item, name, "missing"))
    }

    fn opt_n<T: std::str::FromStr>(
        &self,
        item: &Item,
        name: &'static str,
    ) -> Result<Option<T>, StoreError> {
        match item.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_n()
                .ok()
                .and_then(|n| n.parse().ok())
                .map(Some)
                .ok_or_else(|| self.corrupt(item, name, "not a number in range")),
        }
    }

    fn req_bool(&self, item: &Item, name: &'static str) -> Result<bool, StoreError> {
        item.get(name)
            .and_then(|v| v.as_bool().ok().copied())
            .ok_or_else(|| self.corrupt(item, name, "missing or not a boolean"))
    }

    fn opt_bool(&self, item: &Item, name: &'static str) -> Result<Option<bool>, StoreError> {
        match item.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .ok()
                .copied()
                .map(Some)
                .ok_or_else(|| self.corrupt(item, name, "not a boolean")),
        }
    }
}

/// The error an operator must act on, from DynamoDB's error `code`: the table is missing, or
/// the IAM identity lacks `dynamodb:<operation>`. `None` for every other code.
fn operator_error(
    operation: &'static str,
    table: &str,
    code: Option<&str>,
    message: &str,
) -> Option<StoreError> {
    match code? {
        "ResourceNotFoundException" => Some(StoreError::TableMissing {
            operation,
            table: table.to_owned(),
        }),
        "AccessDeniedException" => Some(StoreError::AccessDenied {
            action: format!("dynamodb:{operation}"),
            table: table.to_owned(),
            message: shorten(message),
        }),
        _ => None,
    }
}

/// `err` and its sources, `": "`-separated (a cause repeating the text before it is skipped),
/// on one line and at most [`MAX_MESSAGE_CHARS`] long: without the debug dump the AWS SDK's
/// `DisplayErrorContext` appends, which can run to kilobytes.
fn one_line(err: &dyn StdError) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !chain.ends_with(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        source = cause.source();
    }
    shorten(&chain)
}

/// `text` on one line (whitespace runs become one space), at most [`MAX_MESSAGE_CHARS`] long.
fn shorten(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

fn string_attr(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// `<prefix><13-digit millis>#<suffix>` -> `(millis, suffix)`.
fn split_sk(sk: &str, prefix: &str) -> Option<(u64, String)> {
    let (millis, unique) = sk.strip_prefix(prefix)?.split_once('#')?;
    Some((millis.parse().ok()?, unique.to_owned()))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The DynamoDB item of `item`. Never contains a key, only its fingerprint.
fn to_item(item: &HealthItem) -> Item {
    let mut out = Item::new();
    match item {
        HealthItem::Metric(m) => {
            out.insert("pk".into(), s(m.pk()));
            out.insert("sk".into(), s(m.sk()));
            out.insert("health_id".into(), s(&m.health_id));
            out.insert("provider".into(), s(&m.provider));
            out.insert("endpoint".into(), s(&m.endpoint));
            out.insert("latency_ms".into(), n(m.latency_ms));
            out.insert("success".into(), AttributeValue::Bool(m.success));
            out.insert("timestamp".into(), s(m.timestamp()));
            out.insert("ttl".into(), n(m.ttl));
            out.insert("attempts".into(), n(m.attempts));
            if let Some(status) = m.status {
                out.insert("status".into(), n(status));
            }
            if let Some(ttfb) = m.ttfb_ms {
                out.insert("ttfb_ms".into(), n(ttfb));
            }
            if m.cancelled {
                out.insert("cancelled".into(), AttributeValue::Bool(true));
            }
            if m.credits > 0 {
                out.insert("credits".into(), n(m.credits));
            }
            if let Some(class) = &m.error_class {
                out.insert("error_class".into(), s(class));
            }
            if let Some(fp) = &m.key_fingerprint {
                out.insert("key".into(), s(fp));
            }
        }
        HealthItem::RateLimit(r) => {
            out.insert("pk".into(), s(r.pk()));
            out.insert("sk".into(), s(r.sk()));
            out.insert("provider".into(), s(&r.provider));
            out.insert("health_id".into(), s(&r.health_id));
            out.insert("key".into(), s(&r.key_fingerprint));
            out.insert("cooldown_ms".into(), n(r.cooldown_ms));
            out.insert("rotated".into(), AttributeValue::Bool(r.rotated));
            out.insert("timestamp".into(), s(r.timestamp()));
            out.insert("ttl".into(), n(r.ttl));
        }
    }
    out
}

impl HealthStore for DynamoStore {
    fn write_batch<'a>(&'a self, items: &'a [HealthItem]) -> StoreFuture<'a, Vec<HealthItem>> {
        Box::pin(async move {
            if items.len() > MAX_BATCH {
                return Err(StoreError::BatchTooLarge { len: items.len() });
            }
            if items.is_empty() {
                return Ok(Vec::new());
            }
            let mut requests = Vec::with_capacity(items.len());
            for item in items {
                let put = PutRequest::builder()
                    .set_item(Some(to_item(item)))
                    .build()
                    .map_err(|e| self.config_error(e))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| self.error("BatchWriteItem", e))?;
            let unprocessed: Vec<HealthItem> = output
                .unprocessed_items()
                .and_then(|by_table| by_table.get(&self.table))
                .map(|requests| {
                    requests
                        .iter()
                        .filter_map(|r| r.put_request())
                        .filter_map(|put| {
                            let sk = string_attr(put.item(), "sk")?;
                            let pk = string_attr(put.item(), "pk")?;
                            items.iter().find(|i| i.sk() == sk && i.pk() == pk).cloned()
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(unprocessed)
        })
    }

    fn query_metrics<'a>(
        &'a self,
        health_id: &'a str,
        since: SystemTime,
        cursor: Option<PageCursor>,
    ) -> StoreFuture<'a, MetricPage> {
        Box::pin(async move {
            let now = self.clock.now();
            let since_ms = epoch_millis(since);
            let pk = metric_pk(health_id);
            let start = cursor.map(|PageCursor(sk)| {
                HashMap::from([("pk".to_owned(), s(&pk)), ("sk".to_owned(), s(sk))])
            });
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :sk)")
                .filter_expression("#ttl >= :live AND #ts >= :since")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_names("#ts", "timestamp")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":sk", s(METRIC_SK_PREFIX))
                .expression_attribute_values(":live", n(min_live_ttl(now)))
                .expression_attribute_values(":since", s(iso_millis(since_ms)))
                .scan_index_forward(false)
                .set_limit(self.page_size)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.error("Query", e))?;
            let mut items = Vec::with_capacity(output.items().len());
            for raw in output.items() {
                let item = self.parse_metric(raw)?;
                if item.at_ms >= since_ms && !item.is_expired(now) {
                    items.push(item);
                }
            }
            // Newest first: once the last key read is older than `since`, nothing in the window
            // remains.
            let floor = metric_sk_floor(since_ms);
            let next = output
                .last_evaluated_key()
                .and_then(|key| string_attr(key, "sk"))
                .filter(|sk| *sk >= floor)
                .map(PageCursor);
            Ok(MetricPage { items, next })
        })
    }

    fn query_rate_limits<'a>(
        &'a self,
        provider: &'a str,
        since: SystemTime,
    ) -> StoreFuture<'a, Vec<RateLimitItem>> {
        Box::pin(async move {
            let now = self.clock.now();
            let since_ms = epoch_millis(since);
            let pk = rate_limit_pk(provider);
            let floor = rate_limit_sk_floor(since_ms);
            let mut start: Option<Item> = None;
            let mut events = Vec::new();
            loop {
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk AND sk >= :floor")
                    .filter_expression("#ttl >= :live")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":pk", s(&pk))
                    .expression_attribute_values(":floor", s(&floor))
                    .expression_attribute_values(":live", n(min_live_ttl(now)))
                    .scan_index_forward(false)
                    .set_limit(self.page_size)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| self.error("Query", e))?;
                for raw in output.items() {
                    let event = self.parse_rate_limit(raw)?;
                    if !event.is_expired(now) {
                        events.push(event);
                    }
                }
                match output.last_evaluated_key() {
                    Some(key) => start = Some(key.clone()),
                    None => break,
                }
            }
            Ok(events)
        })
    }

    fn publish_cooldown<'a>(
        &'a self,
        provider: &'a str,
        key_fingerprint: &'a str,
        until: SystemTime,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let until_ms = epoch_millis(until);
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(cooldown_pk(provider)))
                .item("sk", s(key_fingerprint))
                .item("provider", s(provider))
                .item("key", s(key_fingerprint))
                .item("until_ms", n(until_ms))
                .item("until", s(iso_millis(until_ms)))
                .item("ttl", n(ttl_after(until_ms, Duration::ZERO)))
                .condition_expression("attribute_not_exists(pk) OR until_ms < :until")
                .expression_attribute_values(":until", n(until_ms))
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    Ok(false)
                }
                Err(e) => Err(self.error("PutItem", e)),
            }
        })
    }

    fn active_cooldowns<'a>(
        &'a self,
        provider: &'a str,
    ) -> StoreFuture<'a, Vec<(String, SystemTime)>> {
        Box::pin(async move {
            let now_ms = epoch_millis(self.clock.now());
            let pk = cooldown_pk(provider);
            let mut start: Option<Item> = None;
            let mut active = Vec::new();
            loop {
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk")
                    .filter_expression("until_ms > :now")
                    .expression_attribute_values(":pk", s(&pk))
                    .expression_attribute_values(":now", n(now_ms))
                    .set_limit(self.page_size)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| self.error("Query", e))?;
                for raw in output.items() {
                    let fingerprint = self.req_s(raw, "sk")?;
                    let until_ms: u64 = self.req_n(raw, "until_ms")?;
                    if until_ms > now_ms {
                        active.push((fingerprint, from_epoch_millis(until_ms)));
                    }
                }
                match output.last_evaluated_key() {
                    Some(key) => start = Some(key.clone()),
                    None => break,
                }
            }
            active.sort();
            Ok(active)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offline_store() -> DynamoStore {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build();
        DynamoStore::new(Client::from_conf(config), "media-health")
    }

    fn metric_item(ttfb_ms: Option<u64>, cancelled: bool) -> MetricItem {
        MetricItem {
            health_id: "openai-tts".into(),
            provider: "openai".into(),
            endpoint: "speech".into(),
            at_ms: 1_700_000_000_123,
            unique: "a1".into(),
            latency_ms: 2_000,
            ttfb_ms,
            success: false,
            cancelled,
            status: Some(200),
            error_class: None,
            attempts: 1,
            key_fingerprint: Some("k_0123abcd".into()),
            credits: 0,
            ttl: 1_700_086_400,
        }
    }

    #[test]
    fn stream_attributes_round_trip_and_old_items_still_read() {
        let store = offline_store();
        for item in [
            metric_item(Some(120), true),
            metric_item(Some(120), false),
            metric_item(None, false),
        ] {
            let raw = to_item(&HealthItem::Metric(item.clone()));
            assert_eq!(raw.contains_key("ttfb_ms"), item.ttfb_ms.is_some());
            assert_eq!(raw.contains_key("cancelled"), item.cancelled);
            assert_eq!(store.parse_metric(&raw).unwrap(), item);
        }
        // An item written before streams existed has neither attribute.
        let mut old = to_item(&HealthItem::Metric(metric_item(Some(5), true)));
        old.remove("ttfb_ms");
        old.remove("cancelled");
        assert_eq!(store.parse_metric(&old).unwrap(), metric_item(None, false));
        old.insert("cancelled".into(), AttributeValue::S("yes".into()));
        assert!(matches!(
            store.parse_metric(&old),
            Err(StoreError::Corrupt {
                attribute: "cancelled",
                ..
            })
        ));
    }

    #[test]
    fn credits_round_trip_and_items_without_them_read_as_zero() {
        let store = offline_store();
        let item = MetricItem {
            credits: 20,
            ..metric_item(None, false)
        };
        let raw = to_item(&HealthItem::Metric(item.clone()));
        assert_eq!(
            raw.get("credits")
                .and_then(|v| v.as_n().ok())
                .map(String::as_str),
            Some("20")
        );
        assert_eq!(store.parse_metric(&raw).unwrap(), item);
        let free = to_item(&HealthItem::Metric(metric_item(None, false)));
        assert!(!free.contains_key("credits"), "zero is not written");
        assert_eq!(store.parse_metric(&free).unwrap().credits, 0);
    }

    #[test]
    fn timeout_variable_is_positive_milliseconds_capping_every_limit() {
        let cases: [(&str, Option<DynamoTimeouts>); 6] = [
            // Shorter than every default: every limit is cut to it.
            (
                "300",
                Some(DynamoTimeouts::within(Duration::from_millis(300))),
            ),
            (
                " 300 ",
                Some(DynamoTimeouts::within(Duration::from_millis(300))),
            ),
            // Longer: only the operation limit grows.
            (
                "30000",
                Some(DynamoTimeouts {
                    operation: Duration::from_secs(30),
                    ..DynamoTimeouts::default()
                }),
            ),
            ("0", None),
            ("-5", None),
            ("2s", None),
        ];
        for (value, expected) in cases {
            let parsed = DynamoTimeouts::parse_millis(value);
            match (parsed, expected) {
                (Ok(got), Some(want)) => assert_eq!(got, want, "{value:?}"),
                (Err(StoreError::Config(message)), None) => {
                    assert!(message.starts_with(DYNAMO_TIMEOUT_ENV), "{message}");
                }
                (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
            }
        }
        let short = DynamoTimeouts::within(Duration::from_millis(300));
        assert_eq!(
            [short.connect, short.read, short.attempt],
            [Duration::from_millis(300); 3]
        );
    }

    #[test]
    fn missing_tables_and_denied_actions_say_what_to_fix() {
        let missing = operator_error(
            "BatchWriteItem",
            "media-health",
            Some("ResourceNotFoundException"),
            "Requested resource not found",
        )
        .expect("an operator error");
        assert!(missing.needs_operator());
        assert_eq!(
            missing.to_string(),
            "health table `media-health` does not exist (BatchWriteItem): run `cargo xtask \
             table create --table media-health` or see the README's \"Deploying\" section"
        );
        let denied = operator_error(
            "Query",
            "media-health",
            Some("AccessDeniedException"),
            "User: arn:aws:iam::1:user/x is not authorized to perform:\n dynamodb:Query",
        )
        .expect("an operator error");
        assert!(matches!(
            &denied,
            StoreError::AccessDenied { action, .. } if action == "dynamodb:Query"
        ));
        let text = denied.to_string();
        assert!(text.contains("allow `dynamodb:Query`"), "{text}");
        assert!(!text.contains('\n'), "{text}");
        for code in [
            None,
            Some("ThrottlingException"),
            Some("ValidationException"),
        ] {
            assert!(
                operator_error("Query", "t", code, "m").is_none(),
                "{code:?}"
            );
        }
    }

    #[test]
    fn sdk_errors_become_one_short_line() {
        #[derive(Debug)]
        struct Layer(&'static str, Option<Box<Layer>>);
        impl fmt::Display for Layer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
        impl StdError for Layer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                self.1.as_deref().map(|l| l as &(dyn StdError + 'static))
            }
        }
        let repeated = Layer(
            "service error",
            Some(Box::new(Layer(
                "Gone: not\nhere",
                Some(Box::new(Layer("Gone: not\nhere", None))),
            ))),
        );
        assert_eq!(one_line(&repeated), "service error: Gone: not here");
        let long: &'static str = Box::leak("x".repeat(1000).into_boxed_str());
        let text = one_line(&Layer(long, None));
        assert_eq!(text.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(text.ends_with('…'));
    }
}
