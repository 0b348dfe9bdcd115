//! Request-rate limits: a token bucket per client address and one per credential
//! (bearer token or page session), so that one client, or one stolen or runaway
//! token, cannot flood the API (each request may cost a database transaction and a
//! Temporal call). A request over either limit is answered 429 with `Retry-After`
//! (whole seconds until the bucket has room) before any handler runs.
//!
//! The buckets are kept by the `governor` crate (GCRA, no background task); buckets
//! idle long enough to be full again are dropped now and then, so the memory stays
//! bounded by the clients of the last few seconds.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use careflow_types::{ApiErrorBody, ApiErrorDetail};

/// Requests per second, and the burst allowed above it, per client address and per
/// credential; `None` turns that limit off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    /// Per client IP address (the TCP peer).
    pub per_client: Option<Rate>,
    /// Per bearer token or page session.
    pub per_credential: Option<Rate>,
}

/// A sustained rate and the burst a bucket holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_second: NonZeroU32,
    /// Requests allowed at once above the sustained rate.
    pub burst: NonZeroU32,
}

impl Rate {
    /// `per_second` sustained with bursts of `burst`; `None` when either is 0 (off).
    pub fn new(per_second: u32, burst: u32) -> Option<Rate> {
        Some(Rate {
            per_second: NonZeroU32::new(per_second)?,
            burst: NonZeroU32::new(burst.max(per_second))?,
        })
    }

    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// How often (in checked requests) buckets that are full again are dropped.
const RETAIN_EVERY: u64 = 4096;

struct Limiters {
    per_client: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_credential: Option<DefaultKeyedRateLimiter<String>>,
    checked: AtomicU64,
}

/// `router` with `limits` applied to every request. The client's address comes from
/// the connection (serve the router with `into_make_service_with_connect_info`);
/// without it the per-client limit does not apply.
pub fn with_rate_limits(router: Router, limits: RateLimits) -> Router {
    let limiters = Arc::new(Limiters {
        per_client: limits.per_client.map(|r| RateLimiter::keyed(r.quota())),
        per_credential: limits.per_credential.map(|r| RateLimiter::keyed(r.quota())),
        checked: AtomicU64::new(0),
    });
    router.layer(axum::middleware::from_fn_with_state(limiters, limit))
}

async fn limit(State(limiters): State<Arc<Limiters>>, req: Request, next: Next) -> Response {
    if limiters.checked.fetch_add(1, Ordering::Relaxed) % RETAIN_EVERY == RETAIN_EVERY - 1 {
        if let Some(l) = &limiters.per_client {
            l.retain_recent();
        }
        if let Some(l) = &limiters.per_credential {
            l.retain_recent();
        }
    }
    let clock = DefaultClock::default();
    if let (Some(l), Some(ConnectInfo(peer))) = (
        &limiters.per_client,
        req.extensions().get::<ConnectInfo<SocketAddr>>(),
    ) {
        if let Err(not_until) = l.check_key(&peer.ip()) {
            return too_many("this client", not_until.wait_time_from(clock.now()));
        }
    }
    if let (Some(l), Some(credential)) = (&limiters.per_credential, credential(&req)) {
        if let Err(not_until) = l.check_key(&credential) {
            return too_many("this login", not_until.wait_time_from(clock.now()));
        }
    }
    next.run(req).await
}

/// The bearer token or page session a request carries (cut to a bounded length: a
/// longer one is no credential careflow issued, and still shares one bucket).
fn credential(req: &Request) -> Option<String> {
    let headers = req.headers();
    let found = crate::api::bearer(headers).or_else(|| {
        crate::pages::session::cookie(headers, crate::pages::session::SESSION_COOKIE)
    })?;
    Some(found.chars().take(128).collect())
}

fn too_many(whose: &str, wait: Duration) -> Response {
    // Whole seconds, rounded up: a client that waits that long finds room.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let body = ApiErrorBody {
        error: ApiErrorDetail {
            code: "rate_limited".into(),
            message: format!("too many requests from {whose}: retry after {secs} s"),
            fields: None,
        },
    };
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&secs.to_string()).expect("digits"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request as HttpRequest;
    use axum::routing::get;
    use tower::ServiceExt;

    fn limited(limits: RateLimits) -> Router {
        with_rate_limits(Router::new().route("/x", get(|| async { "ok" })), limits)
    }

    /// A request from `peer` (as axum's connect info gives it), with a bearer token.
    async fn call(router: &Router, peer: [u8; 4], token: Option<&str>) -> Response {
        let mut req = HttpRequest::get("/x");
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let mut req = req.body(Body::empty()).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((peer, 40000))));
        router.clone().oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn a_client_over_its_rate_gets_429_with_retry_after() {
        let router = limited(RateLimits {
            per_client: Rate::new(1, 3),
            per_credential: None,
        });
        let first = [10, 0, 0, 1];
        for n in 0..3 {
            assert_eq!(
                call(&router, first, None).await.status(),
                StatusCode::OK,
                "request {n}"
            );
        }
        let refused = call(&router, first, None).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = refused.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&retry), "Retry-After {retry}");
        let body = axum::body::to_bytes(refused.into_body(), 4096)
            .await
            .unwrap();
        let body: ApiErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(body.error.code, "rate_limited");
        assert!(
            body.error.message.contains("this client"),
            "{}",
            body.error.message
        );
        // Another client is not held back by the first one's flood.
        assert_eq!(
            call(&router, [10, 0, 0, 2], None).await.status(),
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn one_login_over_its_rate_is_refused_while_others_go_on() {
        let router = limited(RateLimits {
            per_client: None,
            per_credential: Rate::new(1, 2),
        });
        let peer = [10, 0, 0, 1];
        for _ in 0..2 {
            assert_eq!(
                call(&router, peer, Some("token-a")).await.status(),
                StatusCode::OK
            );
        }
        let refused = call(&router, peer, Some("token-a")).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key(header::RETRY_AFTER));
        // The same login from another address shares its bucket.
        let elsewhere = call(&router, [10, 0, 0, 9], Some("token-a")).await;
        assert_eq!(elsewhere.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            call(&router, peer, Some("token-b")).await.status(),
            StatusCode::OK
        );
        // Without a credential only the per-client limit (off here) applies.
        assert_eq!(call(&router, peer, None).await.status(), StatusCode::OK);
        // The bucket refills at the sustained rate.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            call(&router, peer, Some("token-a")).await.status(),
            StatusCode::OK
        );
    }
}
