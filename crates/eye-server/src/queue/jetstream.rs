//! The scale-out queue: a NATS JetStream stream (file storage, work-queue retention) with
//! one durable pull consumer shared by every worker. A publish counts only once JetStream
//! acknowledged it; each message carries its event id as `Nats-Msg-Id`, so the stream's
//! duplicate window drops a publisher's retries.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::pull::{Config as PullConfig, Stream as MessageStream};
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer};
use async_nats::jetstream::stream::{
    Config as StreamConfig, DiscardPolicy, RetentionPolicy, StorageType,
};
use async_nats::jetstream::{self, Message};
use async_trait::async_trait;
use futures_util::future::join_all;
use futures_util::{FutureExt, StreamExt};

use super::{Delivery, Queue, QueueError};
use crate::model::QueueMessage;
use crate::model::timestamp::{Micros, to_micros};

/// How the stream and consumer are named and sized.
#[derive(Debug, Clone)]
pub struct JetStreamSettings {
    pub url: String,
    pub stream: String,
    pub consumer: String,
    pub replicas: usize,
    /// Unacknowledged messages are delivered again after this long.
    pub ack_wait: Duration,
    pub max_depth: u64,
}

/// Depth read from the server at most this often when far from the bound.
const DEPTH_STALENESS: Duration = Duration::from_secs(1);
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

pub struct JetStreamQueue {
    context: jetstream::Context,
    stream_name: String,
    subject: String,
    messages: tokio::sync::Mutex<MessageStream>,
    in_flight: Mutex<HashMap<u64, Message>>,
    next_token: AtomicU64,
    max_depth: u64,
    /// The last depth read from the server, when, and what this node published since.
    depth: Mutex<(u64, Instant, u64)>,
}

impl JetStreamQueue {
    pub async fn open(settings: &JetStreamSettings) -> Result<JetStreamQueue, QueueError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .retry_on_initial_connect()
            .connect(settings.url.as_str())
            .await
            .map_err(unavailable)?;
        let context = jetstream::new(client);
        let subject = format!("eye.{}", settings.stream);
        let stream = context
            .get_or_create_stream(StreamConfig {
                name: settings.stream.clone(),
                subjects: vec![subject.clone()],
                storage: StorageType::File,
                num_replicas: settings.replicas.max(1),
                retention: RetentionPolicy::WorkQueue,
                max_messages: i64::try_from(settings.max_depth).unwrap_or(i64::MAX),
                discard: DiscardPolicy::New,
                duplicate_window: DUPLICATE_WINDOW,
                ..StreamConfig::default()
            })
            .await
            .map_err(unavailable)?;
        let consumer: PullConsumer = stream
            .get_or_create_consumer(
                &settings.consumer,
                PullConfig {
                    durable_name: Some(settings.consumer.clone()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: settings.ack_wait,
                    max_deliver: -1,
                    ..PullConfig::default()
                },
            )
            .await
            .map_err(unavailable)?;
        let messages = consumer.messages().await.map_err(unavailable)?;
        let depth = stream.get_info().await.map_err(unavailable)?.state.messages;
        Ok(JetStreamQueue {
            context,
            stream_name: settings.stream.clone(),
            subject,
            messages: tokio::sync::Mutex::new(messages),
            in_flight: Mutex::new(HashMap::new()),
            next_token: AtomicU64::new(1),
            max_depth: settings.max_depth,
            depth: Mutex::new((depth, Instant::now(), 0)),
        })
    }

    async fn fresh_depth(&self) -> Result<u64, QueueError> {
        let stream = self
            .context
            .get_stream(&self.stream_name)
            .await
            .map_err(unavailable)?;
        let depth = stream.get_info().await.map_err(unavailable)?.state.messages;
        *self.depth.lock().unwrap_or_else(|p| p.into_inner()) = (depth, Instant::now(), 0);
        Ok(depth)
    }

    /// Refuses a publish that would pass the bound. Near the bound the depth is read fresh;
    /// far from it a recent reading is enough. The stream's own limit is the backstop.
    async fn check_room(&self, adding: u64) -> Result<(), QueueError> {
        let (read, read_at, published_since) =
            *self.depth.lock().unwrap_or_else(|p| p.into_inner());
        let estimate = read + published_since;
        let near_bound = (estimate + adding) * 10 > self.max_depth * 9;
        let depth = if near_bound || read_at.elapsed() > DEPTH_STALENESS {
            self.fresh_depth().await?
        } else {
            estimate
        };
        if depth + adding > self.max_depth {
            return Err(QueueError::Full {
                depth,
                max: self.max_depth,
            });
        }
        Ok(())
    }

    fn track(&self, message: Message) -> Option<Delivery> {
        let decoded = serde_json::from_slice::<QueueMessage>(&message.payload);
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token, message);
        match decoded {
            Ok(body) => Some(Delivery {
                token,
                message: body,
            }),
            Err(error) => {
                tracing::error!(%error, "skipping an undecodable queue message");
                None
            }
        }
    }
}

#[async_trait]
impl Queue for JetStreamQueue {
    async fn publish(&self, messages: Vec<QueueMessage>) -> Result<(), QueueError> {
        self.check_room(messages.len() as u64).await?;
        let mut pending = Vec::with_capacity(messages.len());
        for message in &messages {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", message_id(message).as_str());
            let body = serde_json::to_vec(message).map_err(unavailable)?;
            let ack = self
                .context
                .publish_with_headers(self.subject.clone(), headers, body.into())
                .await
                .map_err(|e| publish_error(&e.to_string(), self.max_depth))?;
            pending.push(ack);
        }
        let results = join_all(
            pending
                .into_iter()
                .map(std::future::IntoFuture::into_future),
        )
        .await;
        let published = results.iter().filter(|r| r.is_ok()).count() as u64;
        self.depth.lock().unwrap_or_else(|p| p.into_inner()).2 += published;
        for acknowledged in results {
            acknowledged.map_err(|e| publish_error(&e.to_string(), self.max_depth))?;
        }
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let mut stream = self.messages.lock().await;
        let mut deliveries = Vec::new();
        let first = match tokio::time::timeout(wait, stream.next()).await {
            Err(_) | Ok(None) => return Ok(deliveries),
            Ok(Some(first)) => first.map_err(unavailable)?,
        };
        deliveries.extend(self.track(first));
        // Then whatever is already buffered, without waiting.
        while deliveries.len() < max {
            match stream.next().now_or_never() {
                Some(Some(Ok(message))) => deliveries.extend(self.track(message)),
                _ => break,
            }
        }
        Ok(deliveries)
    }

    async fn ack(&self, tokens: Vec<u64>) -> Result<(), QueueError> {
        let messages: Vec<Message> = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            tokens
                .iter()
                .filter_map(|token| in_flight.remove(token))
                .collect()
        };
        // Double acks wait for the server's confirmation, so the depth is right afterwards.
        let results = join_all(messages.iter().map(|message| message.double_ack())).await;
        for result in results {
            result.map_err(unavailable)?;
        }
        Ok(())
    }

    async fn depth(&self) -> Result<u64, QueueError> {
        self.fresh_depth().await
    }

    async fn stored_bytes(&self) -> Result<u64, QueueError> {
        let stream = self
            .context
            .get_stream(&self.stream_name)
            .await
            .map_err(unavailable)?;
        Ok(stream.cached_info().state.bytes)
    }

    /// Work-queue retention removes a message once it is acknowledged, so the stream's
    /// first message is the oldest unacknowledged one; its time is when JetStream stored it.
    async fn oldest_unacknowledged(&self) -> Result<Option<Micros>, QueueError> {
        // Looking the stream up reads its state afresh.
        let stream = self
            .context
            .get_stream(&self.stream_name)
            .await
            .map_err(unavailable)?;
        let state = &stream.cached_info().state;
        Ok((state.messages > 0).then(|| to_micros(state.first_timestamp)))
    }
}

fn message_id(message: &QueueMessage) -> String {
    match message {
        QueueMessage::Event(event) => event.id.to_string(),
        QueueMessage::Error(entry) => entry.id.to_string(),
    }
}

fn publish_error(text: &str, max: u64) -> QueueError {
    if text.contains("maximum messages") {
        QueueError::Full { depth: max, max }
    } else {
        QueueError::Unavailable(format!("JetStream: {text}"))
    }
}

fn unavailable(error: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(format!("JetStream: {error}"))
}
