//! Video, submitted then polled: [`Media::video_submit`] returns a [`VideoTicket`] at once,
//! [`Media::video_status`] asks about it once per call.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::plan::{self, Inputs};
use super::{
    Attempts, Media, MediaError, MediaUrl, OptionValue, Result, call_options, media_urls, non_empty,
};
use crate::dynamic::{JobState, JobTicket};
use crate::error::Error;

/// A video request (the media API's JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoInput {
    /// What to film.
    pub prompt: String,
    /// The model; absent: each entry's first model.
    #[serde(default)]
    pub model: Option<String>,
    /// Length in seconds, as a string or a number (`5`, `"10"`).
    #[serde(default)]
    pub duration: Option<OptionValue>,
    /// Frame aspect ratio, e.g. `16:9`.
    #[serde(default)]
    pub aspect_ratio: Option<String>,
}

impl VideoInput {
    /// `prompt` with the default model, duration and aspect ratio.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            model: None,
            duration: None,
            aspect_ratio: None,
        }
    }
}

/// A submitted video: its [`JobTicket`] (provider, endpoint, provider job id, the key's
/// fingerprint, what polling needs; no secret), the model and the credits it will cost.
/// Serializable, to be handed back to [`Media::video_status`], possibly by another process.
///
/// Not tamper-proof: [`Media::video_status`] re-checks it (its endpoint is a video entry, its
/// model one of that entry's, its credits ones that model charges, and the job ticket as
/// [`ProviderClient::job_status`](crate::ProviderClient::job_status) does), but a service
/// handing tickets to its clients should sign or encrypt them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoTicket {
    job: JobTicket,
    model: String,
    credits: u32,
}

impl VideoTicket {
    /// The provider's job.
    pub fn job(&self) -> &JobTicket {
        &self.job
    }

    /// The provider id.
    pub fn provider(&self) -> &str {
        self.job.provider()
    }

    /// The canonical model name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The credits the video costs once done.
    pub fn credits(&self) -> u32 {
        self.credits
    }
}

/// A video submitted by [`Media::video_submit`], not finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoJob {
    /// What [`Media::video_status`] takes.
    pub ticket: VideoTicket,
    /// The canonical model name.
    pub model: String,
}

/// Where a video stands. Serialized with a `status` tag: `{"status":"pending"}`,
/// `{"status":"succeeded","videos":[...],"model":...,"credits_used":...}`,
/// `{"status":"failed","message":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum VideoStatus {
    /// Waiting to start.
    Pending,
    /// Being made.
    Running,
    /// Done.
    Succeeded(VideoResult),
    /// The provider reports the job failed.
    Failed {
        /// Why, as the provider says (redacted, shortened).
        message: String,
    },
}

/// A finished video: `{"videos":[{"url":...}],"model":...,"credits_used":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoResult {
    /// The videos.
    pub videos: Vec<MediaUrl>,
    /// The canonical model name.
    pub model: String,
    /// Credits charged.
    pub credits_used: u32,
    /// The provider that made it (not serialized).
    #[serde(skip)]
    pub provider: &'static str,
}

impl Media<'_> {
    /// Submits the video `input` describes to the first candidate that accepts it (candidates
    /// and options as for images) and returns at once; [`video_status`](Self::video_status)
    /// follows it.
    ///
    /// # Errors
    ///
    /// [`MediaError::Invalid`], [`MediaError::UnknownModel`],
    /// [`MediaError::UnsupportedOption`], [`MediaError::NoCandidates`] before any network call;
    /// [`MediaError::AllProvidersFailed`] when every candidate refused the submit.
    pub async fn video_submit(&self, input: &VideoInput) -> Result<VideoJob> {
        non_empty("prompt", &input.prompt)?;
        let inputs = Inputs::new()
            .with("prompt", Some(Value::String(input.prompt.clone())))
            .with(
                "duration",
                input.duration.as_ref().map(OptionValue::to_json),
            )
            .with(
                "aspect_ratio",
                input.aspect_ratio.clone().map(Value::String),
            );
        let until = self.until();
        let capability = &self.config.capabilities.video;
        let candidates = self.media_candidates(capability, input.model.as_deref(), &inputs)?;
        let candidates = self.order(capability, candidates).await;
        let mut attempts = Attempts::default();
        for c in candidates {
            // The submit records no credits: the status call that finds the video done does.
            match c
                .entry
                .endpoint
                .submit(c.client, c.request.clone(), &call_options(0, until))
                .await
            {
                Ok(job) => {
                    attempts.served(&c);
                    return Ok(VideoJob {
                        ticket: VideoTicket {
                            job,
                            model: c.model.to_owned(),
                            credits: c.credits,
                        },
                        model: c.model.to_owned(),
                    });
                }
                Err(error) => attempts.failed(&c, error),
            }
        }
        Err(attempts.into_error())
    }

    /// Asks once where the video of `ticket` stands: one status poll with the key that
    /// submitted it; once done, its URLs from the entry's `output` pointers, and its credits
    /// recorded in that call's metric.
    ///
    /// # Errors
    ///
    /// [`MediaError::Invalid`] for a ticket that does not fit the capability table;
    /// [`MediaError::Provider`] for a failed poll (an [`Error::Invalid`] for a malformed job
    /// ticket, [`Error::NotConfigured`] when the `Sdk` lacks the provider) or a result
    /// without any video URL.
    pub async fn video_status(&self, ticket: &VideoTicket) -> Result<VideoStatus> {
        let refuse = |message: &str| MediaError::Invalid {
            message: format!("video ticket: {message}"),
        };
        let job = &ticket.job;
        let entry = self
            .config
            .capabilities
            .video
            .entries
            .iter()
            .find(|e| {
                let spec = e.endpoint.spec();
                spec.provider == job.provider() && spec.id == job.endpoint()
            })
            .ok_or_else(|| refuse("it names no video endpoint"))?;
        let model = plan::find_model(entry, &ticket.model)
            .filter(|m| m.name == ticket.model)
            .ok_or_else(|| refuse("unknown model"))?;
        let charged = std::iter::once(model.credits)
            .chain(model.credits_by.iter().map(|(_, _, c)| *c))
            .map(|c| c.saturating_mul(super::ITEMS_PER_REQUEST));
        if !charged.into_iter().any(|c| c == ticket.credits) {
            return Err(refuse("credits the model does not charge"));
        }
        let spec = entry.endpoint.spec();
        let client = self
            .sdk
            .provider(spec.provider)
            .ok_or_else(|| Error::not_configured(spec.provider))?;
        let options = call_options(ticket.credits, self.until());
        Ok(match entry.endpoint.status(client, job, &options).await? {
            JobState::Queued => VideoStatus::Pending,
            JobState::Running => VideoStatus::Running,
            JobState::Failed { message } => VideoStatus::Failed { message },
            JobState::Done(output) => VideoStatus::Succeeded(VideoResult {
                videos: media_urls(entry, &output)?,
                model: model.name.to_owned(),
                credits_used: ticket.credits,
                provider: spec.provider,
            }),
        })
    }
}
