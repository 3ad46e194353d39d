//! Keys in an AWS Secrets Manager secret (feature `secrets-manager`).

use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use tokio::sync::OnceCell;

use crate::spec::SecretsManagerSource;

use super::source::{KeyLoader, KeySourceError, LoadFuture, keys_from_secret};

/// Time limits of one `GetSecretValue` (a reload that cannot reach Secrets Manager keeps the
/// current pool; it must not hang the reload task).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads a provider's keys from one secret with `secretsmanager:GetSecretValue` (the
/// `AWSCURRENT` version). The client comes from the standard AWS configuration chain
/// (credentials, region, `AWS_ENDPOINT_URL_SECRETS_MANAGER` then `AWS_ENDPOINT_URL`), created
/// on first use.
#[derive(Debug)]
pub struct SecretsManagerLoader {
    secret_id: String,
    field: Option<String>,
    client: OnceCell<Client>,
}

impl SecretsManagerLoader {
    /// The loader of `source`, resolving the secret's name from the environment (the override
    /// variable, or `{stage}` from the stage variable).
    pub fn from_env(source: &SecretsManagerSource) -> Result<Self, KeySourceError> {
        let secret_id = source
            .secret_id(|name| std::env::var(name).ok())
            .map_err(KeySourceError::Config)?;
        Ok(Self::new(secret_id, source.field.map(str::to_owned)))
    }

    /// The loader of secret `secret_id` (name or ARN), reading `field` of its JSON (`None`: the
    /// whole string).
    pub fn new(secret_id: impl Into<String>, field: Option<String>) -> Self {
        Self {
            secret_id: secret_id.into(),
            field,
            client: OnceCell::new(),
        }
    }

    /// Uses `client` instead of one from the environment.
    pub fn with_client(self, client: Client) -> Self {
        Self {
            client: OnceCell::new_with(Some(client)),
            ..self
        }
    }

    /// The secret's name or ARN.
    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let timeouts = TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build();
                let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .timeout_config(timeouts)
                    .load()
                    .await;
                Client::new(&config)
            })
            .await
    }

    async fn read(&self) -> Result<Vec<String>, KeySourceError> {
        let name = self.describe();
        let answer = self
            .client()
            .await
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| read_error(&name, &e))?;
        let Some(secret) = answer.secret_string() else {
            return Err(KeySourceError::Malformed {
                source_name: name,
                reason: "a binary secret; expected a secret string".into(),
            });
        };
        keys_from_secret(&name, secret, self.field.as_deref())
    }
}

fn read_error(name: &str, error: &SdkError<GetSecretValueError>) -> KeySourceError {
    if let Some(service) = error.as_service_error()
        && service.is_resource_not_found_exception()
    {
        return KeySourceError::Missing {
            source_name: name.to_owned(),
        };
    }
    // The service's messages name the secret and the caller's identity, never its value.
    KeySourceError::Unreachable {
        source_name: name.to_owned(),
        message: crate::classify::shorten(&DisplayErrorContext(error).to_string(), 300),
    }
}

impl KeyLoader for SecretsManagerLoader {
    fn describe(&self) -> String {
        format!("secret {}", self.secret_id)
    }

    fn load(&self) -> LoadFuture<'_> {
        Box::pin(self.read())
    }
}
