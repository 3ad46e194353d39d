//! CloudWatch alarms for the alert thresholds, as a CloudFormation template.
//!
//! The alarms read the metrics that [`EmfTelemetry`](super::EmfTelemetry) writes as Embedded
//! Metric Format log lines:
//!
//! | alarm (logical id)            | metric        | dimension  | statistic, period         | fires when                      |
//! |-------------------------------|---------------|------------|---------------------------|---------------------------------|
//! | `<HealthId>LatencyAlarm`      | `Latency`     | `HealthId` | Average over the window   | > `alerts.avg_latency_ms`       |
//! | `<HealthId>SuccessRateAlarm`  | `Success`     | `HealthId` | Average over the window   | < `alerts.success_rate`         |
//! | `<Provider>RateLimitAlarm`    | `RateLimited` | `Provider` | Sum over one hour         | > `alerts.rate_limits_per_hour` |
//!
//! Missing data does not breach. An optional `AlarmTopicArn` parameter (an SNS topic) becomes
//! every alarm's action when set.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::spec::ProviderSpec;

/// CloudWatch accepts periods that are multiples of 60 seconds (besides 10 and 30).
fn period_secs(window_secs: u64) -> u64 {
    window_secs.max(60).div_ceil(60) * 60
}

/// `openai-tts` -> `OpenaiTts`: alphanumeric CloudFormation logical-id part.
fn logical(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The template: one latency and one success-rate alarm per health id, one rate-limit alarm per
/// provider, in CloudWatch `namespace` (see the module docs).
pub fn cloudformation(providers: &[&ProviderSpec], namespace: &str) -> Value {
    let actions = json!({
        "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
    });
    let mut resources = Map::new();
    for provider in providers {
        let mut health_ids: BTreeMap<&str, ()> = BTreeMap::new();
        for endpoint in provider.endpoints {
            health_ids.insert(endpoint.health_id, ());
        }
        let period = period_secs(provider.health.window_secs);
        for health_id in health_ids.keys() {
            let dimensions = json!([{"Name": "HealthId", "Value": health_id}]);
            resources.insert(
                format!("{}LatencyAlarm", logical(health_id)),
                json!({
                    "Type": "AWS::CloudWatch::Alarm",
                    "Properties": {
                        "AlarmName": format!("{namespace}-{health_id}-latency"),
                        "AlarmDescription": format!(
                            "{health_id} ({}): average latency above {} ms over {period} s",
                            provider.id, provider.alerts.avg_latency_ms
                        ),
                        "Namespace": namespace,
                        "MetricName": "Latency",
                        "Dimensions": dimensions,
                        "Statistic": "Average",
                        "Unit": "Milliseconds",
                        "Period": period,
                        "EvaluationPeriods": 1,
                        "Threshold": provider.alerts.avg_latency_ms,
                        "ComparisonOperator": "GreaterThanThreshold",
                        "TreatMissingData": "notBreaching",
                        "AlarmActions": actions,
                    }
                }),
            );
            resources.insert(
                format!("{}SuccessRateAlarm", logical(health_id)),
                json!({
                    "Type": "AWS::CloudWatch::Alarm",
                    "Properties": {
                        "AlarmName": format!("{namespace}-{health_id}-success-rate"),
                        "AlarmDescription": format!(
                            "{health_id} ({}): success rate below {}% over {period} s",
                            provider.id, provider.alerts.success_rate * 100.0
                        ),
                        "Namespace": namespace,
                        "MetricName": "Success",
                        "Dimensions": dimensions,
                        "Statistic": "Average",
                        "Period": period,
                        "EvaluationPeriods": 1,
                        "Threshold": provider.alerts.success_rate,
                        "ComparisonOperator": "LessThanThreshold",
                        "TreatMissingData": "notBreaching",
                        "AlarmActions": actions,
                    }
                }),
            );
        }
        resources.insert(
            format!("{}RateLimitAlarm", logical(provider.id)),
            json!({
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": format!("{namespace}-{}-rate-limits", provider.id),
                    "AlarmDescription": format!(
                        "{}: more than {} rate limits per hour",
                        provider.id, provider.alerts.rate_limits_per_hour
                    ),
                    "Namespace": namespace,
                    "MetricName": "RateLimited",
                    "Dimensions": [{"Name": "Provider", "Value": provider.id}],
                    "Statistic": "Sum",
                    "Period": 3600,
                    "EvaluationPeriods": 1,
                    "Threshold": provider.alerts.rate_limits_per_hour,
                    "ComparisonOperator": "GreaterThanThreshold",
                    "TreatMissingData": "notBreaching",
                    "AlarmActions": actions,
                }
            }),
        );
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("media-sdk health alarms (namespace {namespace})"),
        "Parameters": {
            "AlarmTopicArn": {
                "Type": "String",
                "Default": "",
                "Description": "SNS topic notified when an alarm fires (empty: no action)."
            }
        },
        "Conditions": {
            "HasAlarmTopic": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}
        },
        "Resources": resources,
    })
}
