//! The HTTP server (`--features serve`) started on 127.0.0.1 with an ephemeral port: the page,
//! `/healthz`, predictions from PNG and from 784 grey values agreeing with the library's, a JSON
//! 4xx for every kind of bad request (and the server still serving after them), a random test
//! digit, and a bounded load from concurrent clients without an error.
#![cfg(feature = "serve")]

mod common;

use mnist_lab_tools::serve::tokio;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use mnist_lab::data::MnistDataset;
use mnist_lab::infer::{Predictor, load_network, mnist_style, network_beside};
use mnist_lab_tools::serve::{AppState, BODY_LIMIT, load_test};

/// The committed simple CNN (trained on all 60,000 images) behind a server on an ephemeral
/// port, with the slice's test digits as samples; the server runs until the test process ends.
fn start() -> (SocketAddr, Predictor<mnist_lab::Model>) {
    let weights = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/networks/simple_cnn/model.safetensors");
    let device = burn::tensor::Device::flex();
    let config = network_beside(&weights).unwrap();
    let predictor = || {
        Predictor::new(
            load_network(&config, &weights, &device).unwrap(),
            device.clone(),
        )
    };
    let samples = MnistDataset::test(&common::slice_dir()).ok();
    let state = Arc::new(AppState::new(predictor(), "simple_cnn", samples));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || runtime.block_on(mnist_lab_tools::serve::serve(listener, state)));
    (addr, predictor())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Status and JSON body of a POST to `/api/predict`.
fn post(addr: SocketAddr, content_type: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let mut response = agent()
        .post(&format!("http://{addr}/api/predict"))
        .header("Content-Type", content_type)
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} not JSON ({e}): {text}")),
    )
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut response = agent().get(&format!("http://{addr}{path}")).call().unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

fn png_of(pixels: &[u8], side: u32) -> Vec<u8> {
    let image = image::GrayImage::from_raw(side, side, pixels.to_vec()).unwrap();
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    bytes.into_inner()
}

#[test]
fn the_page_health_and_predictions() {
    let (addr, predictor) = start();
    let (status, page) = get(addr, "/");
    assert_eq!(status, 200);
    assert!(page.contains("<canvas id=\"canvas\"") && page.contains("/api/predict"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no CDN"
    );
    let (status, health) = get(addr, "/healthz");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&health).unwrap(),
        serde_json::json!({"status": "ok", "network": "simple_cnn"})
    );
    let test = MnistDataset::test(&common::slice_dir()).unwrap();
    for i in 0..20 {
        let pixels = test.pixels(i).unwrap();
        let expected = {
            let image = image::GrayImage::from_raw(28, 28, pixels.to_vec()).unwrap();
            predictor
                .predict_pixels(&[mnist_style(&image).unwrap()])
                .remove(0)
        };
        let (status, answer) = post(addr, "image/png", &png_of(pixels, 28));
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["class"], expected.class(), "digit {i} as PNG");
        assert_eq!(answer["top"].as_array().unwrap().len(), 3);
        let json = serde_json::json!({ "pixels": pixels });
        let (status, answer) = post(addr, "application/json", json.to_string().as_bytes());
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["class"], expected.class(), "digit {i} as JSON");
        let sum: f64 = answer["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-4);
    }
    let (status, sample) = get(addr, "/api/sample");
    assert_eq!(status, 200);
    let sample: serde_json::Value = serde_json::from_str(&sample).unwrap();
    assert_eq!(sample["pixels"].as_array().unwrap().len(), 784);
    assert!(sample["label"].as_u64().unwrap() < 10);
}

#[test]
fn bad_requests_get_a_json_error_and_the_server_keeps_serving() {
    let (addr, _) = start();
    let blank = png_of(&[255; 784], 28);
    let huge = vec![0u8; BODY_LIMIT + 1];
    let cases: [(&str, &str, &[u8], u16, &str); 9] = [
        (
            "malformed JSON",
            "application/json",
            b"{\"pixels\": [1, 2",
            400,
            "malformed JSON",
        ),
        (
            "no pixels",
            "application/json",
            b"{\"image\": []}",
            422,
            "no `pixels` array",
        ),
        (
            "wrong length",
            "application/json",
            b"{\"pixels\": [0, 0, 0]}",
            422,
            "holds 3 values; send 784",
        ),
        (
            "a value out of range",
            "application/json",
            &[],
            422,
            "is 300; each value is a grey level",
        ),
        (
            "undecodable image",
            "image/png",
            b"\x89PNG but not really",
            400,
            "cannot decode the image",
        ),
        (
            "huge body",
            "image/png",
            &huge,
            413,
            "over the 2097152-byte limit",
        ),
        (
            "empty drawing",
            "image/png",
            &blank,
            422,
            "the drawing is empty",
        ),
        (
            "an empty body",
            "image/png",
            b"",
            400,
            "cannot decode the image",
        ),
        (
            "another content type",
            "text/plain",
            b"7",
            415,
            "content type `text/plain` is not accepted",
        ),
    ];
    let mut out_of_range = vec![0u32; 784];
    out_of_range[5] = 300;
    let out_of_range = serde_json::json!({ "pixels": out_of_range }).to_string();
    for (what, content_type, body, status, says) in cases {
        let body = if what == "a value out of range" {
            out_of_range.as_bytes()
        } else {
            body
        };
        let (got, answer) = post(addr, content_type, body);
        assert_eq!(got, status, "{what}: {answer}");
        let message = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {answer}"));
        assert!(message.contains(says), "{what}: {message}");
    }
    let (status, body) = get(addr, "/api/predict");
    assert_eq!(status, 405, "{body}");
    assert!(body.contains("\"error\":\"method not allowed"), "{body}");
    let (status, body) = get(addr, "/no/such/page");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"error\":\"no such page"), "{body}");
    // Still serving.
    assert_eq!(get(addr, "/healthz").0, 200);
    let test = MnistDataset::test(&common::slice_dir()).unwrap();
    let (status, _) = post(addr, "image/png", &png_of(test.pixels(0).unwrap(), 28));
    assert_eq!(status, 200);
}

#[test]
fn concurrent_clients_get_answers_without_an_error() {
    let (addr, _) = start();
    let digit =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/digits/7-as-is.png"))
            .unwrap();
    let report = load_test(addr, 8, 25, &digit);
    eprintln!(
        "8 clients x 25 requests: {} errors, {:.0} requests/s, p50 {:.1} ms, p99 {:.1} ms",
        report.errors,
        report.requests_per_second(),
        report.p50_ms,
        report.p99_ms
    );
    assert_eq!(report.requests, 200);
    assert_eq!(report.errors, 0);
    assert!(report.p50_ms <= report.p99_ms);
}
