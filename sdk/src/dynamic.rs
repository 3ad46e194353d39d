//! Calling an endpoint by data: a JSON request in, an [`Output`] out.
//!
//! Every endpoint of the spec has one [`DynEndpoint`] in [`ENDPOINTS`](crate::ENDPOINTS)
//! (generated): its descriptor, its example request from `providers.yaml`, and the typed call
//! behind it. The media facade and the demo use it to reach endpoints they do not name in Rust;
//! the request still goes through the endpoint's generated type, so it is checked exactly like
//! a typed call (shape, then limits) before any network call.
//!
//! A job endpoint can also be submitted and asked about later, one poll at a time
//! ([`DynEndpoint::submit`], [`DynEndpoint::status`]), for callers that cannot wait for the job
//! in one request.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::{CallOptions, ProviderClient};
use crate::endpoint::{Audio, Endpoint, Job, ValidationError};
use crate::error::{Error, Result};
use crate::spec::EndpointSpec;
use crate::stream::AudioStream;

pub use crate::client::{JobState, JobTicket};

/// A boxed call future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an endpoint answered, whatever its generated output type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Output {
    /// An audio endpoint's bytes.
    Audio(Audio),
    /// A JSON endpoint's document.
    Json(serde_json::Value),
    /// A finished job: the provider's job id and its result document.
    Job {
        /// The provider's id for the job.
        id: String,
        /// The result document.
        output: serde_json::Value,
    },
}

type CallFn = for<'a> fn(
    &'a ProviderClient,
    serde_json::Value,
    &'a CallOptions,
) -> BoxFuture<'a, Result<Output>>;

type StreamFn = for<'a> fn(
    &'a ProviderClient,
    serde_json::Value,
    &'a CallOptions,
) -> BoxFuture<'a, Result<AudioStream>>;

type SubmitFn = for<'a> fn(
    &'a ProviderClient,
    serde_json::Value,
    &'a CallOptions,
) -> BoxFuture<'a, Result<JobTicket>>;

type StatusFn = for<'a> fn(
    &'a ProviderClient,
    &'static EndpointSpec,
    &'a JobTicket,
    &'a CallOptions,
) -> BoxFuture<'a, Result<JobState<Output>>>;

/// The submit-and-poll calls of a job endpoint.
#[derive(Clone, Copy)]
struct JobFns {
    submit: SubmitFn,
    status: StatusFn,
}

/// One endpoint, callable with a JSON request.
#[derive(Clone, Copy)]
pub struct DynEndpoint {
    spec: &'static EndpointSpec,
    example_request: &'static str,
    call: CallFn,
    stream: Option<StreamFn>,
    job: Option<JobFns>,
}

impl std::fmt::Debug for DynEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynEndpoint")
            .field("provider", &self.spec.provider)
            .field("endpoint", &self.spec.id)
            .field("streams", &self.stream.is_some())
            .field("job", &self.job.is_some())
            .finish_non_exhaustive()
    }
}

impl DynEndpoint {
    /// An audio endpoint (`E::Output` is [`Audio`]); `streams` when it declares a stream.
    pub const fn audio<E>(example_request: &'static str, streams: bool) -> Self
    where
        E: Endpoint<Output = Audio> + DeserializeOwned + 'static,
    {
        Self {
            spec: &E::SPEC,
            example_request,
            call: call_audio::<E>,
            stream: if streams {
                Some(stream_audio::<E>)
            } else {
                None
            },
            job: None,
        }
    }

    /// A JSON endpoint whose output type is `E::Output`.
    pub const fn json<E>(example_request: &'static str) -> Self
    where
        E: Endpoint + DeserializeOwned + 'static,
        E::Output: Serialize,
    {
        Self {
            spec: &E::SPEC,
            example_request,
            call: call_json::<E>,
            stream: None,
            job: None,
        }
    }

    /// A job endpoint whose output is `Job<T>`.
    pub const fn job<E, T>(example_request: &'static str) -> Self
    where
        E: Endpoint<Output = Job<T>> + DeserializeOwned + 'static,
        T: Serialize + Send + 'static,
    {
        Self {
            spec: &E::SPEC,
            example_request,
            call: call_job::<E, T>,
            stream: None,
            job: Some(JobFns {
                submit: submit_job::<E>,
                status: job_status::<E, T>,
            }),
        }
    }

    /// The endpoint's descriptor.
    pub fn spec(&self) -> &'static EndpointSpec {
        self.spec
    }

    /// The endpoint's example request (`example_request` in `providers.yaml`), as JSON.
    pub fn example_request(&self) -> serde_json::Value {
        serde_json::from_str(self.example_request)
            .expect("codegen writes every example request as valid JSON")
    }

    /// Whether [`stream`](Self::stream) is available.
    pub fn streams(&self) -> bool {
        self.stream.is_some()
    }

    /// Calls the endpoint on `client` (the endpoint's provider) with `request`, shaped like the
    /// endpoint's request type (wire names, path and query fields included).
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when `request` does not fit the request type or its limits (nothing
    /// is sent); [`Error::Config`] when `client` is another provider's; else as
    /// [`ProviderClient::call`].
    pub async fn call(
        &self,
        client: &ProviderClient,
        request: serde_json::Value,
        options: &CallOptions,
    ) -> Result<Output> {
        self.check_client(client)?;
        (self.call)(client, request, options).await
    }

    /// Streams the endpoint's audio (see [`ProviderClient::stream`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the endpoint does not stream or `client` is another provider's;
    /// else as [`call`](Self::call).
    pub async fn stream(
        &self,
        client: &ProviderClient,
        request: serde_json::Value,
        options: &CallOptions,
    ) -> Result<AudioStream> {
        self.check_client(client)?;
        let Some(stream) = self.stream else {
            return Err(Error::Config(format!(
                "{}/{} does not stream",
                self.spec.provider, self.spec.id
            )));
        };
        stream(client, request, options).await
    }

    /// Whether the endpoint is a job ([`submit`](Self::submit) and [`status`](Self::status)
    /// are available).
    pub fn is_job(&self) -> bool {
        self.job.is_some()
    }

    /// Submits `request` to this job endpoint and returns at once with a [`JobTicket`] (see
    /// [`ProviderClient::submit_job`]); [`status`](Self::status) asks about the job later.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the endpoint is not a job or `client` is another provider's;
    /// else as [`call`](Self::call) and [`ProviderClient::submit_job`].
    pub async fn submit(
        &self,
        client: &ProviderClient,
        request: serde_json::Value,
        options: &CallOptions,
    ) -> Result<JobTicket> {
        self.check_client(client)?;
        (self.job_fns()?.submit)(client, request, options).await
    }

    /// One status poll of the job `ticket` names (see [`ProviderClient::job_status`]); a
    /// finished job's result is decoded through the endpoint's output type, as
    /// [`Output::Job`].
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the endpoint is not a job or `client` is another provider's;
    /// [`Error::Decode`] when the result does not fit the output type; else as
    /// [`ProviderClient::job_status`].
    pub async fn status(
        &self,
        client: &ProviderClient,
        ticket: &JobTicket,
        options: &CallOptions,
    ) -> Result<JobState<Output>> {
        self.check_client(client)?;
        (self.job_fns()?.status)(client, self.spec, ticket, options).await
    }

    fn job_fns(&self) -> Result<JobFns> {
        self.job.ok_or_else(|| {
            Error::Config(format!(
                "{}/{} is not a job endpoint",
                self.spec.provider, self.spec.id
            ))
        })
    }

    fn check_client(&self, client: &ProviderClient) -> Result<()> {
        if client.spec().id == self.spec.provider {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "{}/{} called on the {} client",
                self.spec.provider,
                self.spec.id,
                client.spec().id
            )))
        }
    }
}

/// `request` as `E`, or [`Error::Invalid`] naming what does not fit.
fn decode<E: Endpoint + DeserializeOwned>(request: serde_json::Value) -> Result<E> {
    serde_json::from_value(request).map_err(|e| Error::Invalid {
        provider: E::SPEC.provider,
        endpoint: E::SPEC.id,
        source: ValidationError::new("request", e.to_string()),
    })
}

fn call_audio<'a, E>(
    client: &'a ProviderClient,
    request: serde_json::Value,
    options: &'a CallOptions,
) -> BoxFuture<'a, Result<Output>>
where
    E: Endpoint<Output = Audio> + DeserializeOwned + 'static,
{
    Box::pin(async move {
        let request = decode::<E>(request)?;
        client.call_with(request, options).await.map(Output::Audio)
    })
}

fn stream_audio<'a, E>(
    client: &'a ProviderClient,
    request: serde_json::Value,
    options: &'a CallOptions,
) -> BoxFuture<'a, Result<AudioStream>>
where
    E: Endpoint<Output = Audio> + DeserializeOwned + 'static,
{
    Box::pin(async move {
        let request = decode::<E>(request)?;
        client.stream_with(request, options).await
    })
}

fn call_json<'a, E>(
    client: &'a ProviderClient,
    request: serde_json::Value,
    options: &'a CallOptions,
) -> BoxFuture<'a, Result<Output>>
where
    E: Endpoint + DeserializeOwned + 'static,
    E::Output: Serialize,
{
    Box::pin(async move {
        let request = decode::<E>(request)?;
        let output = client.call_with(request, options).await?;
        Ok(Output::Json(to_value::<E, _>(&output)?))
    })
}

fn call_job<'a, E, T>(
    client: &'a ProviderClient,
    request: serde_json::Value,
    options: &'a CallOptions,
) -> BoxFuture<'a, Result<Output>>
where
    E: Endpoint<Output = Job<T>> + DeserializeOwned + 'static,
    T: Serialize + Send + 'static,
{
    Box::pin(async move {
        let request = decode::<E>(request)?;
        let job = client.call_with(request, options).await?;
        Ok(Output::Job {
            output: to_value::<E, _>(&job.output)?,
            id: job.id,
        })
    })
}

fn submit_job<'a, E>(
    client: &'a ProviderClient,
    request: serde_json::Value,
    options: &'a CallOptions,
) -> BoxFuture<'a, Result<JobTicket>>
where
    E: Endpoint + DeserializeOwned + 'static,
{
    Box::pin(async move {
        let request = decode::<E>(request)?;
        client.submit_job_with(request, options).await
    })
}

fn job_status<'a, E, T>(
    client: &'a ProviderClient,
    spec: &'static EndpointSpec,
    ticket: &'a JobTicket,
    options: &'a CallOptions,
) -> BoxFuture<'a, Result<JobState<Output>>>
where
    E: Endpoint<Output = Job<T>> + DeserializeOwned + 'static,
    T: Serialize + Send + 'static,
{
    Box::pin(async move {
        Ok(match client.job_status_with(spec, ticket, options).await? {
            JobState::Queued => JobState::Queued,
            JobState::Running => JobState::Running,
            JobState::Failed { message } => JobState::Failed { message },
            JobState::Done(body) => {
                let job = E::decode(body).map_err(|source| Error::Decode {
                    provider: spec.provider,
                    endpoint: spec.id,
                    source,
                })?;
                JobState::Done(Output::Job {
                    output: to_value::<E, _>(&job.output)?,
                    id: job.id,
                })
            }
        })
    })
}

/// A typed output back to JSON (cannot fail for generated types; reported, never panics).
fn to_value<E: Endpoint, T: Serialize>(output: &T) -> Result<serde_json::Value> {
    serde_json::to_value(output).map_err(|e| Error::Decode {
        provider: E::SPEC.provider,
        endpoint: E::SPEC.id,
        source: crate::endpoint::DecodeError(e.to_string()),
    })
}
