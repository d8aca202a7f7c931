//! A trained network over HTTP (cargo feature `serve`): a page to draw a digit on, and a JSON
//! API. Routes:
//!
//! - `GET /`: the drawing page (one static HTML + JS file embedded in the binary; no CDN, no
//!   build step): draw with the mouse or a finger, the top 3 as bars update as you draw.
//! - `POST /api/predict`: a PNG or JPEG (`Content-Type: image/png`, `image/jpeg`), or
//!   `{"pixels": [784 grey values]}` (`application/json`, a 28x28 image row by row) ->
//!   `{"class": 7, "top": [{"class": 7, "probability": 0.99}, ...], "probabilities": [...]}`.
//!   Every input is made MNIST-style first ([`mnist_lab::infer::mnist_style`]).
//! - `GET /api/sample`: a random test digit, `{"pixels": [...], "label": 3}` (when the server
//!   has a test set).
//! - `GET /healthz`: `{"status": "ok", "network": "complex_cnn"}`.
//!
//! Bad requests get a 4xx with `{"error": "..."}` saying what was wrong: malformed JSON or the
//! wrong number of values (400 / 422), an undecodable image (400), a body over [`BODY_LIMIT`]
//! (413), an empty drawing (422), another content type (415), another method (405), another
//! path (404). Nothing a client sends makes the server panic.
//!
//! axum (on tokio) because it is the most used and best kept Rust HTTP server; it gives body
//! limits, typed rejections and method routing that this module turns into JSON errors.
//! Inference runs on tokio's blocking pool, one request at a time: a batch-1 forward pass
//! already uses both cores through burn-flex's threads.

mod static_site;
pub use static_site::{STATIC_ASSETS, StaticSiteError, static_page, write_static_site};

/// The runtime [`serve`] runs on, re-exported so a caller binds its listener with the same
/// tokio.
pub use tokio;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::experiment::throughput::percentile;
use mnist_lab::data::{IMAGE_PIXELS, IMAGE_SIDE, MnistDataset};
use mnist_lab::infer::{Prediction, Predictor, PreprocessError, mnist_style};
use mnist_lab::model::Model;

/// The largest request body accepted: 2 MiB (a 280x280 canvas as PNG is ~10 KB).
pub const BODY_LIMIT: usize = 2 << 20;

/// The drawing page.
pub const PAGE: &str = include_str!("page.html");

/// What the server holds: the network, its name, and test digits to hand out.
pub struct AppState {
    predictor: Mutex<Predictor<Model>>,
    network: String,
    samples: Option<MnistDataset>,
}

impl AppState {
    /// A server of `predictor` (`network` names it in `/healthz`), with `samples` as the test
    /// digits of `/api/sample` when given.
    pub fn new(predictor: Predictor<Model>, network: &str, samples: Option<MnistDataset>) -> Self {
        Self {
            predictor: Mutex::new(predictor),
            network: network.to_string(),
            samples,
        }
    }
}

/// A request the API refuses: its status and what to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// 4xx.
    pub status: StatusCode,
    /// What was wrong, and how to send it right.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

/// The app: every route above, the body limit, JSON errors for everything else.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/healthz", get(healthz))
        .route("/api/predict", post(predict))
        .route("/api/sample", get(sample))
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed: GET /, /healthz, /api/sample; POST /api/predict",
            )
        })
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such page: GET /, /healthz, /api/sample; POST /api/predict",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves `state` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<AppState>) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(json!({ "status": "ok", "network": state.network })).into_response()
}

async fn sample(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let Some(samples) = &state.samples else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "this server has no test digits: start it with --data-dir (the MNIST files)",
        ));
    };
    let count = samples.labels().len();
    let index = rand::random_range(0..count);
    let pixels = samples.pixels(index).unwrap_or(&[]);
    Ok(
        axum::Json(json!({ "pixels": pixels, "label": samples.labels()[index], "index": index }))
            .into_response(),
    )
}

async fn predict(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                format!("the body is over the {BODY_LIMIT}-byte limit: send one digit, e.g. a 280x280 PNG"),
            )
        } else {
            ApiError::new(status, format!("cannot read the body: {}", rejection.body_text()))
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let digit = digit_of(content_type, &body)?;
    let prediction = tokio::task::spawn_blocking(move || {
        let predictor = state
            .predictor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        predictor.predict_pixels(&[digit]).remove(0)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("inference failed: {e}"),
        )
    })?;
    Ok(axum::Json(prediction_json(&prediction)).into_response())
}

/// The MNIST-style digit in a request body of `content_type`, or what is wrong with it.
///
/// ```
/// use mnist_lab_tools::serve::digit_of;
/// let err = digit_of("application/json", br#"{"pixels": [0, 0]}"#).unwrap_err();
/// assert_eq!(err.status.as_u16(), 422);
/// assert!(err.message.contains("784"));
/// ```
pub fn digit_of(content_type: &str, body: &[u8]) -> Result<[u8; IMAGE_PIXELS], ApiError> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let image = match mime.as_str() {
        "application/json" => grey_values(body)?,
        "image/png" | "image/jpeg" | "application/octet-stream" => image::load_from_memory(body)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("cannot decode the image ({e}): send a PNG or JPEG file"),
                )
            })?
            .to_luma8(),
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "content type `{other}` is not accepted: send image/png, image/jpeg, or \
                     application/json with {{\"pixels\": [784 grey values]}}"
                ),
            ));
        }
    };
    mnist_style(&image).map_err(|e| match e {
        PreprocessError::Blank { .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the drawing is empty: {e}"),
        ),
        PreprocessError::Empty { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
    })
}

/// `{"pixels": [784 values 0..=255]}` as a 28x28 image.
fn grey_values(body: &[u8]) -> Result<image::GrayImage, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("malformed JSON ({e}): send {{\"pixels\": [784 grey values]}}"),
        )
    })?;
    let Some(values) = value.get("pixels").and_then(Value::as_array) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no `pixels` array: send {\"pixels\": [784 grey values]}",
        ));
    };
    if values.len() != IMAGE_PIXELS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "`pixels` holds {} values; send {IMAGE_PIXELS} (28x28, row by row)",
                values.len()
            ),
        ));
    }
    let mut pixels = Vec::with_capacity(IMAGE_PIXELS);
    for (i, v) in values.iter().enumerate() {
        match v.as_f64() {
            Some(g) if (0.0..=255.0).contains(&g) => pixels.push(g.round() as u8),
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("`pixels[{i}]` is {v}; each value is a grey level from 0 to 255"),
                ));
            }
        }
    }
    Ok(
        image::GrayImage::from_raw(IMAGE_SIDE as u32, IMAGE_SIDE as u32, pixels)
            .expect("784 values make a 28x28 image"),
    )
}

/// The API's answer for one prediction.
pub fn prediction_json(prediction: &Prediction) -> Value {
    json!({
        "class": prediction.class(),
        "top": prediction.top(3).iter()
            .map(|&(class, probability)| json!({ "class": class, "probability": probability }))
            .collect::<Vec<_>>(),
        "probabilities": prediction.probabilities,
    })
}

/// What [`load_test`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadReport {
    /// Requests sent.
    pub requests: usize,
    /// Requests that did not come back 200 with a prediction.
    pub errors: usize,
    /// Wall time of the whole test, seconds.
    pub seconds: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th-percentile latency, milliseconds.
    pub p99_ms: f64,
}

impl LoadReport {
    /// Requests per second.
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// `clients` threads each POSTing `body` (a PNG) to `http://addr/api/predict` `requests` times,
/// one after the other: loopback load, bounded by `clients x requests`.
pub fn load_test(
    addr: std::net::SocketAddr,
    clients: usize,
    requests: usize,
    body: &[u8],
) -> LoadReport {
    let url = format!("http://{addr}/api/predict");
    let started = std::time::Instant::now();
    let results: Vec<(usize, Vec<f64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(|| {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .into();
                    let (mut errors, mut latencies) = (0, Vec::with_capacity(requests));
                    for _ in 0..requests {
                        let sent = std::time::Instant::now();
                        let ok = agent
                            .post(&url)
                            .header("Content-Type", "image/png")
                            .send(body)
                            .is_ok_and(|r| r.status() == 200);
                        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                        errors += usize::from(!ok);
                    }
                    (errors, latencies)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or((requests, vec![])))
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let errors = results.iter().map(|(e, _)| e).sum();
    let latencies: Vec<f64> = results.into_iter().flat_map(|(_, l)| l).collect();
    let quantile = |q: f64| percentile(&latencies, q).unwrap_or(f64::NAN);
    LoadReport {
        requests: clients * requests,
        errors,
        seconds,
        p50_ms: quantile(0.50),
        p99_ms: quantile(0.99),
    }
}
