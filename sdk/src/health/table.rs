//! The DynamoDB table behind the health store: what it must look like, the IAM actions the SDK
//! uses on it, a CloudFormation export, and the verdict of a table check.
//!
//! | property    | value |
//! |-------------|-------|
//! | keys        | `pk` (S, partition/HASH), `sk` (S, sort/RANGE); no other index |
//! | TTL         | enabled on the `ttl` attribute (epoch seconds) |
//! | billing     | on demand (`PAY_PER_REQUEST`) when the SDK creates it; provisioned works too |
//! | runtime IAM | [`RUNTIME_ACTIONS`]: `BatchWriteItem` (metrics), `Query` (health reads, shared cool-downs), `PutItem` (conditional: shared cool-downs) |
//! | setup IAM   | [`SETUP_ACTIONS`]: only for `table create` / `table check` (and `demo`, which creates a missing table) |
//!
//! [`DynamoStore::check_table`](super::DynamoStore::check_table) and
//! [`DynamoStore::ensure_table`](super::DynamoStore::ensure_table) (feature `dynamodb`) check
//! and create it; `cargo xtask table check | create | cloudformation` run them.

use std::fmt;

use serde::Serialize;
use serde_json::{Value, json};

/// The table name the tools suggest when none is given.
pub const DEFAULT_TABLE_NAME: &str = "media-sdk-health";

/// The IAM actions the SDK performs on the table while serving requests: grant these to the
/// service (e.g. the Lambda's role) on the table's ARN.
pub const RUNTIME_ACTIONS: [&str; 3] = [
    "dynamodb:BatchWriteItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
];

/// The IAM actions creating and checking the table need (`cargo xtask table create | check`),
/// besides [`RUNTIME_ACTIONS`] for the check's round trip. The service itself never needs them.
pub const SETUP_ACTIONS: [&str; 4] = [
    "dynamodb:CreateTable",
    "dynamodb:DescribeTable",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:UpdateTimeToLive",
];

/// An IAM policy document allowing [`RUNTIME_ACTIONS`] on `table_arn` (a string or a
/// CloudFormation expression).
pub fn runtime_policy(table_arn: Value) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "MediaSdkHealthTable",
            "Effect": "Allow",
            "Action": RUNTIME_ACTIONS,
            "Resource": table_arn,
        }]
    })
}

/// A CloudFormation template with the health table (parameter `TableName`, default `table`;
/// keys `pk`/`sk`, TTL on `ttl`, on-demand billing) and an IAM managed policy with
/// [`RUNTIME_ACTIONS`] on it, to attach to the service's role. Outputs: `TableName`,
/// `TableArn`, `PolicyArn`.
pub fn cloudformation(table: &str) -> Value {
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "media-sdk health table (metrics, rate-limit events, shared key cool-downs) \
                        and the IAM policy the SDK needs on it",
        "Parameters": {
            "TableName": {
                "Type": "String",
                "Default": table,
                "Description": "Name of the health table (the service's CONFIG_TABLE)."
            }
        },
        "Resources": {
            "HealthTable": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": {"Ref": "TableName"},
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"}
                    ],
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"}
                    ],
                    "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": true}
                }
            },
            "HealthTablePolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "Description": "media-sdk: record and read health metrics and shared key \
                                    cool-downs in the health table",
                    "PolicyDocument": runtime_policy(json!({"Fn::GetAtt": ["HealthTable", "Arn"]}))
                }
            }
        },
        "Outputs": {
            "TableName": {"Value": {"Ref": "HealthTable"}},
            "TableArn": {"Value": {"Fn::GetAtt": ["HealthTable", "Arn"]}},
            "PolicyArn": {"Value": {"Ref": "HealthTablePolicy"}}
        }
    })
}

/// What a table check looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TableAspect {
    /// The table exists and is active.
    Exists,
    /// `pk` (S, HASH) and `sk` (S, RANGE).
    KeySchema,
    /// TTL enabled on `ttl`.
    Ttl,
    /// A probe item written with `BatchWriteItem`, read back with `Query`, and a conditional
    /// `PutItem`: the runtime actions work with the caller's credentials.
    RoundTrip,
}

impl TableAspect {
    /// Lower-case label, e.g. `key schema`.
    pub fn as_str(self) -> &'static str {
        match self {
            TableAspect::Exists => "table",
            TableAspect::KeySchema => "key schema",
            TableAspect::Ttl => "ttl",
            TableAspect::RoundTrip => "round trip",
        }
    }
}

/// One line of a [`TableCheck`]: what was found, and how to fix it when it is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableFinding {
    /// What was checked.
    pub aspect: TableAspect,
    /// What was found, e.g. `pk (S, HASH), sk (S, RANGE)`.
    pub found: String,
    /// How to fix it; `None` when it is as the SDK needs it.
    pub fix: Option<String>,
}

impl TableFinding {
    /// As the SDK needs it.
    pub fn ok(aspect: TableAspect, found: impl Into<String>) -> Self {
        Self {
            aspect,
            found: found.into(),
            fix: None,
        }
    }

    /// Wrong, with the fix.
    pub fn wrong(aspect: TableAspect, found: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            aspect,
            found: found.into(),
            fix: Some(fix.into()),
        }
    }

    /// Whether it is as the SDK needs it.
    pub fn is_ok(&self) -> bool {
        self.fix.is_none()
    }
}

/// The verdict of [`DynamoStore::check_table`](super::DynamoStore::check_table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCheck {
    /// The table checked.
    pub table: String,
    /// One finding per aspect checked, in order; later aspects are skipped when an earlier one
    /// makes them moot (no round trip on a missing table or wrong keys).
    pub findings: Vec<TableFinding>,
}

impl TableCheck {
    /// Whether every finding is as the SDK needs it.
    pub fn is_ok(&self) -> bool {
        self.findings.iter().all(TableFinding::is_ok)
    }

    /// The finding about `aspect`, if it was checked.
    pub fn finding(&self, aspect: TableAspect) -> Option<&TableFinding> {
        self.findings.iter().find(|f| f.aspect == aspect)
    }
}

impl fmt::Display for TableCheck {
    /// ```text
    /// ok    key schema: pk (S, HASH), sk (S, RANGE)
    /// FAIL  ttl: disabled
    ///       fix: run `cargo xtask table create --table media-health` (enables TTL on `ttl`)
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            let mark = if finding.is_ok() { "ok  " } else { "FAIL" };
            writeln!(f, "{mark}  {}: {}", finding.aspect.as_str(), finding.found)?;
            if let Some(fix) = &finding.fix {
                writeln!(f, "      fix: {fix}")?;
            }
        }
        Ok(())
    }
}

/// One key of a table as described: attribute name, `HASH`/`RANGE`, and its attribute type
/// (`S`, `N`, `B`; `?` when not among the attribute definitions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyElement {
    pub(crate) name: String,
    pub(crate) key_type: String,
    pub(crate) attribute_type: String,
}

impl fmt::Display for KeyElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, {})",
            self.name, self.attribute_type, self.key_type
        )
    }
}

/// The key-schema finding for `keys` of `table`.
pub(crate) fn key_schema_finding(table: &str, keys: &[KeyElement]) -> TableFinding {
    let found = keys
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let wanted = |name: &str, key_type: &str| KeyElement {
        name: name.to_owned(),
        key_type: key_type.to_owned(),
        attribute_type: "S".to_owned(),
    };
    if keys == [wanted("pk", "HASH"), wanted("sk", "RANGE")] {
        return TableFinding::ok(TableAspect::KeySchema, found);
    }
    TableFinding::wrong(
        TableAspect::KeySchema,
        found,
        format!(
            "the SDK needs pk (S, HASH) and sk (S, RANGE), and DynamoDB cannot change the keys \
             of a table: create another with `cargo xtask table create --table <new name>` and \
             set CONFIG_TABLE to it (or delete `{table}` and create it again)"
        ),
    )
}

/// The TTL finding for DynamoDB's TTL `status` (`ENABLED`, `ENABLING`, `DISABLED`,
/// `DISABLING`) on `attribute` of `table`.
pub(crate) fn ttl_finding(table: &str, status: &str, attribute: Option<&str>) -> TableFinding {
    let found = match attribute {
        Some(attribute) => format!("{} on `{attribute}`", status.to_ascii_lowercase()),
        None => status.to_ascii_lowercase(),
    };
    let enabled = matches!(status, "ENABLED" | "ENABLING");
    match (enabled, attribute) {
        (true, Some("ttl")) => TableFinding::ok(TableAspect::Ttl, found),
        (true, _) => TableFinding::wrong(
            TableAspect::Ttl,
            found,
            format!(
                "items expire by their `ttl` attribute and a table has one TTL attribute: \
                 disable TTL on `{table}`, then run `cargo xtask table create --table {table}` \
                 (it enables TTL on `ttl`)"
            ),
        ),
        (false, _) => TableFinding::wrong(
            TableAspect::Ttl,
            found,
            format!(
                "run `cargo xtask table create --table {table}` (it enables TTL on `ttl` of an \
                 existing table), or `aws dynamodb update-time-to-live --table-name {table} \
                 --time-to-live-specification Enabled=true,AttributeName=ttl`; without it \
                 metrics are never deleted"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, key_type: &str, attribute_type: &str) -> KeyElement {
        KeyElement {
            name: name.into(),
            key_type: key_type.into(),
            attribute_type: attribute_type.into(),
        }
    }

    #[test]
    fn only_pk_and_sk_strings_pass_the_key_schema() {
        let right = [key("pk", "HASH", "S"), key("sk", "RANGE", "S")];
        assert!(key_schema_finding("t", &right).is_ok());
        for wrong in [
            vec![key("pk", "HASH", "S")],
            vec![key("id", "HASH", "S"), key("sk", "RANGE", "S")],
            vec![key("pk", "HASH", "S"), key("sk", "RANGE", "N")],
            vec![key("sk", "HASH", "S"), key("pk", "RANGE", "S")],
        ] {
            let finding = key_schema_finding("t", &wrong);
            assert!(!finding.is_ok(), "{wrong:?}");
        }
    }

    #[test]
    fn ttl_must_be_enabled_on_ttl() {
        assert!(ttl_finding("t", "ENABLED", Some("ttl")).is_ok());
        assert!(ttl_finding("t", "ENABLING", Some("ttl")).is_ok());
        assert!(!ttl_finding("t", "ENABLED", Some("expires")).is_ok());
        let off = ttl_finding("t", "DISABLED", None);
        assert_eq!(off.found, "disabled");
        assert!(
            off.fix
                .unwrap()
                .contains("cargo xtask table create --table t")
        );
    }

    #[test]
    fn the_policy_names_exactly_the_runtime_actions() {
        let template = cloudformation("media-health");
        let policy = &template["Resources"]["HealthTablePolicy"]["Properties"]["PolicyDocument"];
        assert_eq!(policy["Statement"][0]["Action"], json!(RUNTIME_ACTIONS));
        let table = &template["Resources"]["HealthTable"]["Properties"];
        assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
        assert_eq!(table["TimeToLiveSpecification"]["AttributeName"], "ttl");
        assert_eq!(
            template["Parameters"]["TableName"]["Default"],
            "media-health"
        );
    }
}
