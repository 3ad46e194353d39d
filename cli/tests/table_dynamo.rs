//! The DynamoDB health table against moto: `table check` finds a wrong key schema, missing TTL
//! and a missing table and says how to fix each; `table create` is idempotent; `health` on a
//! missing table fails in one line and says where it looked. The commands run as the
//! `media-sdk` binary.

#[path = "../../sdk/tests/support/moto.rs"]
mod moto;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use media_sdk::health::table::TableAspect;
use media_sdk::health::{DynamoStore, TableSetup};
use serde_json::Value;

/// Creates `table` with `keys` (name, HASH/RANGE, S/N) and no TTL, straight through the client.
async fn create_raw(table: &str, keys: &[(&str, KeyType, ScalarAttributeType)]) {
    let client = moto::client(&moto::shared().endpoint());
    let mut create = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest);
    for (name, key_type, attribute_type) in keys {
        create = create
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(*name)
                    .key_type(key_type.clone())
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(*name)
                    .attribute_type(attribute_type.clone())
                    .build()
                    .unwrap(),
            );
    }
    create.send().await.expect("create table");
}

fn store(table: &str) -> DynamoStore {
    DynamoStore::new(moto::client(&moto::shared().endpoint()), table)
}

#[tokio::test]
async fn check_reports_a_wrong_key_schema_with_its_fix() {
    let table = moto::unique_table("wrong-keys");
    create_raw(
        &table,
        &[
            ("id", KeyType::Hash, ScalarAttributeType::S),
            ("sk", KeyType::Range, ScalarAttributeType::N),
        ],
    )
    .await;
    let check = store(&table)
        .check_table()
        .await
        .expect("the table answers");
    assert!(!check.is_ok());
    let keys = check.finding(TableAspect::KeySchema).unwrap();
    assert_eq!(keys.found, "id (S, HASH), sk (N, RANGE)");
    let fix = keys.fix.as_deref().unwrap();
    assert!(
        fix.contains("pk (S, HASH) and sk (S, RANGE)") && fix.contains("table create"),
        "{fix}"
    );
    assert!(
        check.finding(TableAspect::RoundTrip).is_none(),
        "no round trip on keys the SDK cannot write"
    );
}

#[tokio::test]
async fn check_reports_missing_ttl_and_create_enables_it() {
    let table = moto::unique_table("no-ttl");
    create_raw(
        &table,
        &[
            ("pk", KeyType::Hash, ScalarAttributeType::S),
            ("sk", KeyType::Range, ScalarAttributeType::S),
        ],
    )
    .await;
    let store = store(&table);
    let check = store.check_table().await.unwrap();
    let ttl = check.finding(TableAspect::Ttl).unwrap();
    assert_eq!(ttl.found, "disabled");
    assert!(
        ttl.fix
            .as_deref()
            .unwrap()
            .contains(&format!("cargo xtask table create --table {table}")),
        "{ttl:?}"
    );
    assert!(check.finding(TableAspect::KeySchema).unwrap().is_ok());
    assert!(check.finding(TableAspect::RoundTrip).unwrap().is_ok());
    assert!(!check.is_ok());

    assert_eq!(
        store.ensure_table().await.unwrap(),
        TableSetup {
            created: false,
            enabled_ttl: true
        }
    );
    let check = store.check_table().await.unwrap();
    assert!(check.is_ok(), "{check}");
    assert_eq!(
        store.ensure_table().await.unwrap(),
        TableSetup {
            created: false,
            enabled_ttl: false
        },
        "idempotent"
    );
}

/// Runs `media-sdk args` against moto with dummy credentials.
fn media_sdk(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let endpoint = moto::shared().endpoint();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_media-sdk"))
        .args(args)
        .env_remove("CONFIG_TABLE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("RUST_LOG")
        .env("AWS_ENDPOINT_URL_DYNAMODB", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .output()
        .expect("run media-sdk");
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn table_check_then_create_then_check_through_the_binary() {
    let table = moto::unique_table("cli");
    let endpoint = moto::shared().endpoint();

    let (code, out, err) = media_sdk(&["table", "check", "--table", &table], &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert_eq!(
        out,
        format!(
            "DynamoDB table {table} at {endpoint} (region us-east-1)\n\
             FAIL  table: does not exist\n      \
             fix: run `cargo xtask table create --table {table}`\n\
             1 problem(s): see the fixes above\n"
        )
    );

    let (code, out, err) = media_sdk(&["table", "create"], &[("CONFIG_TABLE", &table)]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(&format!(
            "created table {table} (on-demand billing, TTL on `ttl`)\n"
        )),
        "{out}"
    );
    for line in [
        "ok    table: active (PAY_PER_REQUEST)\n",
        "ok    key schema: pk (S, HASH), sk (S, RANGE)\n",
        "ok    ttl: enabled on `ttl`\n",
        "ok    round trip: BatchWriteItem, Query and a conditional PutItem work",
    ] {
        assert!(out.contains(line), "{line:?} missing from\n{out}");
    }

    let (code, out, _) = media_sdk(&["table", "create", "--table", &table], &[]);
    assert_eq!(code, Some(0));
    assert!(out.contains("exists; nothing to change"), "{out}");
    let (code, out, _) = media_sdk(&["table", "check", "--table", &table], &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.ends_with("the table is ready: set CONFIG_TABLE to it\n"),
        "{out}"
    );

    let (code, _, err) = media_sdk(&["table", "check"], &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("pass --table NAME or set CONFIG_TABLE"),
        "{err}"
    );
}

#[test]
fn health_on_a_missing_table_fails_in_one_line_naming_table_and_fix() {
    let table = moto::unique_table("absent");
    let (code, out, err) = media_sdk(&["health", "--json"], &[("CONFIG_TABLE", &table)]);
    assert_eq!(code, Some(2), "{out}{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["verdict"], "store_error");
    assert_eq!(json["ok"], false);
    assert_eq!(json["store"]["table"], table.as_str());
    assert_eq!(
        json["store"]["endpoint"],
        moto::shared().endpoint().as_str()
    );
    let error = json["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "health table `{table}` does not exist (Query): run `cargo xtask table create \
             --table {table}`"
        )),
        "{error}"
    );
    let stderr_lines: Vec<&str> = err.lines().collect();
    assert_eq!(stderr_lines.len(), 1, "{err}");
    assert!(err.len() < 400, "{err}");
}

#[test]
fn the_cloudformation_template_has_the_table_and_the_runtime_policy() {
    let (code, out, _) = media_sdk(&["table", "cloudformation", "--table", "media-health"], &[]);
    assert_eq!(code, Some(0));
    let template: Value = serde_json::from_str(&out).unwrap();
    let table = &template["Resources"]["HealthTable"]["Properties"];
    assert_eq!(
        table["KeySchema"],
        serde_json::json!([
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"}
        ])
    );
    assert_eq!(
        template["Parameters"]["TableName"]["Default"],
        "media-health"
    );
    let actions = &template["Resources"]["HealthTablePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        [0]["Action"];
    assert_eq!(
        actions,
        &serde_json::json!([
            "dynamodb:BatchWriteItem",
            "dynamodb:PutItem",
            "dynamodb:Query"
        ])
    );
}
