//! The MLLP listener: one task per connection, one message at a time per connection
//! (MLLP is synchronous: the sender waits for each ACK), the ACK written only after the
//! store has committed the change.

use std::sync::Arc;

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use hl7_mllp_codec::MllpCodec;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::codec::Framed;

use careflow_store::adt::{self, AdtOutcome, Condition};
use careflow_store::Db;

use crate::ack::{ack, AckCode};
use crate::decode::{code, decode_with, Decoded, Fault};
use crate::location::LocationMap;

/// A boxed future of an [`Admissions`] start or cancel.
pub type StartFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;

/// Starts careflow's admission workflow for a stay the feed hands over (an admit,
/// registration or transfer into a managed ward without a bed, an admit into a bed held
/// for someone else), and cancels one whose choice of a bed the sender ended (a
/// discharge, a cancelled admit or transfer, a bed named by the sender). `careflow
/// serve` passes one built on its Temporal client; this crate knows nothing of Temporal.
pub trait Admissions: Send + Sync {
    /// Starts the admission workflow `workflow_id` for `input`, idempotently: `Ok` once
    /// it runs or ran (already started counts), `Err` when it could not be started (the
    /// message then goes unacknowledged and is resent).
    fn start<'a>(
        &'a self,
        workflow_id: &'a str,
        input: &'a careflow_types::AdmissionInput,
    ) -> StartFuture<'a>;

    /// Requests cancellation of the admission workflow `workflow_id` with `reason` (no
    /// patient data), idempotently: `Ok` once requested, or when the workflow has
    /// finished or never ran; `Err` when the request could not be delivered (the message
    /// then goes unacknowledged and is resent).
    fn cancel<'a>(&'a self, workflow_id: &'a str, reason: &'a str) -> StartFuture<'a>;
}

/// How long a sender has to complete the TLS handshake.
const TLS_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a message got no ACK.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The store failed; nothing was committed.
    #[error("store: {0}")]
    Store(#[from] careflow_store::Error),
    /// The change is committed but an admission workflow could not be started or
    /// cancelled.
    #[error("admission workflow: {0}")]
    Workflow(String),
}

/// What the listener needs: the store and the location map, and the admission
/// workflow's starter when admits without a bed go through it.
#[derive(Clone)]
pub struct Hl7Service {
    db: Db,
    locations: Arc<LocationMap>,
    admissions: Option<Arc<dyn Admissions>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    // One message applied at a time across this listener's connections: they queue
    // here in order instead of in SQLite's busy handler, whose growing sleeps (up to
    // 100 ms) would make the ACK latency's tail.
    apply_one_at_a_time: Arc<tokio::sync::Mutex<()>>,
}

impl Hl7Service {
    /// A service over `db` with `locations`.
    pub fn new(db: Db, locations: LocationMap) -> Self {
        Self {
            db,
            locations: Arc::new(locations),
            admissions: None,
            tls: None,
            apply_one_at_a_time: Arc::default(),
        }
    }

    /// Accepts MLLP over TLS only (see [`crate::tls::acceptor`]).
    pub fn with_tls(mut self, acceptor: tokio_rustls::TlsAcceptor) -> Self {
        self.tls = Some(acceptor);
        self
    }

    /// Hands admits, registrations and transfers into a managed ward without a bed, and
    /// admits into a bed careflow holds for another admission, to careflow's admission
    /// workflow through `admissions`, instead of refusing them (AE), and cancels the
    /// workflows whose stay the sender ends or places itself.
    pub fn with_admissions(mut self, admissions: Arc<dyn Admissions>) -> Self {
        self.admissions = Some(admissions);
        self
    }

    /// Handles one message and returns its ACK; `Err` when the store failed (nothing
    /// committed) or an admission workflow could not be cancelled or started (the change
    /// is recorded and a resend cancels or starts it): the caller drops the connection
    /// so that the sender resends.
    pub async fn handle(&self, frame: &[u8]) -> Result<(AckCode, String), HandleError> {
        let workflows = self.admissions.is_some();
        let (code, header, fault) = match decode_with(frame, &self.locations, workflows) {
            Decoded::Reject(h, f) => (AckCode::Reject, h, Some(f)),
            Decoded::Error(h, f) => (AckCode::Error, h, Some(f)),
            Decoded::Adt(msg, h) => {
                let outcome = {
                    let _turn = self.apply_one_at_a_time.lock().await;
                    adt::apply_with(&self.db, &msg, workflows).await?
                };
                match outcome {
                    AdtOutcome::Applied | AdtOutcome::Duplicate => (AckCode::Accept, h, None),
                    // Committed; acknowledged only once the workflows it ended are
                    // cancelled and the one it hands the stay to runs (a resend answers
                    // the same steps, each idempotent).
                    AdtOutcome::Workflows(steps) => {
                        let Some(admissions) = &self.admissions else {
                            unreachable!("the store names workflow steps only when asked to")
                        };
                        for c in &steps.cancel {
                            admissions
                                .cancel(&c.workflow_id, &c.reason)
                                .await
                                .map_err(|e| {
                                    HandleError::Workflow(format!(
                                        "cancelling {}: {e}",
                                        c.workflow_id
                                    ))
                                })?;
                        }
                        if let Some(start) = &steps.start {
                            admissions
                                .start(&start.workflow_id, &start.input)
                                .await
                                .map_err(|e| {
                                    HandleError::Workflow(format!(
                                        "starting {}: {e}",
                                        start.workflow_id
                                    ))
                                })?;
                        }
                        (AckCode::Accept, h, None)
                    }
                    AdtOutcome::Refused(r) => {
                        let condition = match r.condition {
                            Condition::UnknownKey => code::UNKNOWN_KEY,
                            Condition::RecordLocked => code::RECORD_LOCKED,
                            Condition::RequiredField => code::REQUIRED_FIELD,
                            Condition::TableValue => code::TABLE_VALUE,
                        };
                        let mut f = Fault::at(&r.segment, r.field, condition, r.reason);
                        f.component = r.component;
                        (AckCode::Error, h, Some(f))
                    }
                }
            }
        };
        // Positions and reasons only: no field value of PID reaches the log.
        tracing::debug!(
            sender = %header.sending_application,
            control_id = %header.control_id,
            trigger = %header.trigger,
            ack = code.as_str(),
            fault = fault.as_ref().map(|f| format!("{}-{}: {}", f.segment, f.field, f.reason)),
            "hl7 message"
        );
        Ok((code, ack(&header, code, fault.as_ref())))
    }

    /// Serves one connection until the sender closes it (a frame cut off by a dropped
    /// connection is discarded: it was never acknowledged, so the sender resends it).
    pub async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        peer: Option<std::net::SocketAddr>,
    ) {
        let mut framed = Framed::new(stream, MllpCodec::new());
        while let Some(frame) = framed.next().await {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(?peer, error = %e, "hl7: connection failed");
                    return;
                }
            };
            let reply = match self.handle(&frame).await {
                Ok((_, reply)) => reply,
                Err(e) => {
                    tracing::error!(?peer, error = %e, "hl7: closing the connection unacknowledged");
                    return;
                }
            };
            if let Err(e) = framed.send(BytesMut::from(reply.as_bytes())).await {
                tracing::warn!(?peer, error = %e, "hl7: could not send the ACK");
                return;
            }
        }
    }

    /// Accepts connections on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = accepted?;
                    let _ = stream.set_nodelay(true);
                    let me = self.clone();
                    match self.tls.clone() {
                        None => {
                            tokio::spawn(async move { me.connection(stream, Some(peer)).await });
                        }
                        Some(tls) => {
                            tokio::spawn(async move {
                                // A sender that does not complete a handshake in time (or
                                // speaks plain MLLP) is disconnected unacknowledged.
                                match tokio::time::timeout(TLS_HANDSHAKE, tls.accept(stream)).await {
                                    Ok(Ok(s)) => me.connection(s, Some(peer)).await,
                                    Ok(Err(e)) => {
                                        tracing::warn!(%peer, error = %e, "hl7: TLS handshake failed")
                                    }
                                    Err(_) => tracing::warn!(%peer, "hl7: no TLS handshake within {}s", TLS_HANDSHAKE.as_secs()),
                                }
                            });
                        }
                    }
                }
                _ = &mut shutdown => return Ok(()),
            }
        }
    }
}
