//! Streaming audio: chunks as the provider produces them.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;

use crate::error::Result;

/// Audio arriving chunk by chunk from a streaming endpoint (`*_stream` methods of the
/// generated clients). Dropping it cancels the request and releases the key.
pub struct AudioStream {
    content_type: Option<String>,
    inner: Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>,
}

impl AudioStream {
    /// Audio of `content_type` from `chunks`.
    pub(crate) fn new(
        content_type: Option<String>,
        chunks: impl Stream<Item = Result<Bytes>> + Send + 'static,
    ) -> Self {
        Self {
            content_type,
            inner: Box::pin(chunks),
        }
    }

    /// Audio already received whole (a buffered call), handed over as one chunk.
    pub(crate) fn whole(audio: crate::Audio) -> Self {
        Self::new(
            Some(audio.content_type),
            futures::stream::once(std::future::ready(Ok(audio.bytes))),
        )
    }

    /// The audio's content type, e.g. `audio/mpeg`.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }
}

impl std::fmt::Debug for AudioStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioStream")
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl Stream for AudioStream {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
