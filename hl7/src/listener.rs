//! The MLLP listener: one task per connection, one message at a time per connection
//! (MLLP is synchronous: the sender waits for each ACK), the ACK written only after the
//! store has committed the change.

use std::sync::Arc;

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use hl7_mllp_codec::MllpCodec;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

use careflow_store::adt::{self, AdtOutcome};
use careflow_store::Db;

use crate::ack::{ack, AckCode};
use crate::decode::{code, decode, Decoded, Fault};
use crate::location::LocationMap;

/// What the listener needs: the store and the location map.
#[derive(Clone)]
pub struct Hl7Service {
    db: Db,
    locations: Arc<LocationMap>,
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
            apply_one_at_a_time: Arc::default(),
        }
    }

    /// Handles one message and returns its ACK; `Err` when the store failed (nothing
    /// committed; the caller drops the connection so that the sender resends).
    pub async fn handle(&self, frame: &[u8]) -> Result<(AckCode, String), careflow_store::Error> {
        let (code, header, fault) = match decode(frame, &self.locations) {
            Decoded::Reject(h, f) => (AckCode::Reject, h, Some(f)),
            Decoded::Error(h, f) => (AckCode::Error, h, Some(f)),
            Decoded::Adt(msg, h) => {
                let outcome = {
                    let _turn = self.apply_one_at_a_time.lock().await;
                    adt::apply(&self.db, &msg).await?
                };
                match outcome {
                    AdtOutcome::Applied | AdtOutcome::Duplicate => (AckCode::Accept, h, None),
                    AdtOutcome::Refused(r) => {
                        let mut f = Fault::at(&r.segment, r.field, code::APPLICATION, r.reason);
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
    pub async fn connection(&self, stream: TcpStream) {
        let peer = stream.peer_addr().ok();
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
                    tracing::error!(?peer, error = %e, "hl7: store failed; closing the connection unacknowledged");
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
                    let (stream, _) = accepted?;
                    let _ = stream.set_nodelay(true);
                    let me = self.clone();
                    tokio::spawn(async move { me.connection(stream).await });
                }
                _ = &mut shutdown => return Ok(()),
            }
        }
    }
}
