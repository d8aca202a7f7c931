//! Training and inference speed of one model on one backend, measured the way
//! `reference/pytorch/mnist_reference.py throughput` measures PyTorch: real images in batches
//! built once (the data path is not timed), SGD momentum 0.9 at batch 50, the median of several
//! timed windows after a warm-up; inference at batch 100; the latency of one image alone (what a
//! server answering one request at a time sees, `serve`); the process's peak resident
//! memory.

use std::time::Instant;

use burn::module::Module;

use flex_kernels::{ConvAlgorithm, KernelImpl, Op, conv_algorithm, kernel};
use mnist_lab::backend::BackendKind;
use mnist_lab::data::{MnistBatch, MnistDataset, mnist_loader};
use mnist_lab::model::{Model, ModelKind};
use mnist_lab::train::{TrainError, sgd, train_step};

/// How long to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThroughputPlan {
    /// Untimed training steps first.
    pub warmup_batches: usize,
    /// Timed windows; the median is reported.
    pub windows: usize,
    /// Batches per window.
    pub window_batches: usize,
    /// Forward passes of one image, timed one by one for the latency percentiles (after 20
    /// untimed ones).
    pub latency_samples: usize,
}

impl Default for ThroughputPlan {
    /// 10 warm-up batches, then 5 windows of 20; 300 single images (as the PyTorch twin's
    /// defaults).
    fn default() -> Self {
        Self {
            warmup_batches: 10,
            windows: 5,
            window_batches: 20,
            latency_samples: 300,
        }
    }
}

/// What was measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Throughput {
    /// The network.
    pub model: ModelKind,
    /// The backend.
    pub backend: BackendKind,
    /// Worker threads (`RAYON_NUM_THREADS`, else the available parallelism).
    pub threads: usize,
    /// Whose convolution kernel the CNNs ran ([`flex_kernels::conv2d`]).
    pub conv: KernelImpl,
    /// How our kernel computed the 3x3 convolutions ([`flex_kernels::conv_algorithm`]).
    pub conv_algorithm: ConvAlgorithm,
    /// Whose max-pooling kernel the CNNs ran ([`flex_kernels::max_pool2d`]).
    pub pool: KernelImpl,
    /// Whose batch-norm kernel the complex CNN ran ([`flex_kernels::batch_norm`]).
    pub norm: KernelImpl,
    /// Whose generator drew the dropout masks ([`flex_kernels::dropout`]).
    pub dropout: KernelImpl,
    /// Whose kernel ran the fully connected layers ([`flex_kernels::linear`]).
    pub linear: KernelImpl,
    /// Whose SGD step ran ([`flex_kernels::FusedSgd`]).
    pub sgd: KernelImpl,
    /// Median training images/s at batch 50.
    pub train_images_per_sec: f64,
    /// Median inference images/s at batch 100.
    pub infer_images_per_sec: f64,
    /// Median time of one image's forward pass (batch 1), milliseconds.
    pub latency_p50_ms: f64,
    /// Its 99th percentile, milliseconds.
    pub latency_p99_ms: f64,
    /// Peak resident memory of the process, MiB (`None` where the OS does not say).
    pub peak_rss_mb: Option<f64>,
}

impl std::fmt::Display for Throughput {
    /// One line: `model=complex_cnn backend=flex threads=2 conv=ours algorithm=winograd
    /// pool=ours norm=ours dropout=ours linear=ours sgd=ours train_img_s=... infer_img_s=...
    /// latency_p50_ms=... latency_p99_ms=... peak_rss_mb=...`, the PyTorch twin's format (which
    /// has no `conv`, `algorithm`, `pool`, `norm`, `dropout`, `linear`, `sgd`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "model={} backend={} threads={} conv={} algorithm={} pool={} norm={} dropout={} \
             linear={} sgd={} train_img_s={:.1} infer_img_s={:.1} latency_p50_ms={:.3} \
             latency_p99_ms={:.3} peak_rss_mb={}",
            self.model,
            self.backend,
            self.threads,
            self.conv,
            self.conv_algorithm,
            self.pool,
            self.norm,
            self.dropout,
            self.linear,
            self.sgd,
            self.train_images_per_sec,
            self.infer_images_per_sec,
            self.latency_p50_ms,
            self.latency_p99_ms,
            self.peak_rss_mb
                .map_or("unknown".to_string(), |m| format!("{m:.1}"))
        )
    }
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
///
/// ```
/// use mnist_lab_tools::experiment::throughput::median;
/// assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
/// assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
/// assert_eq!(median(&[]), None);
/// ```
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The `q`-quantile of `values` (0 <= q <= 1) by the nearest rank: the smallest value with at
/// least a share `q` of them at or below it; `None` when empty.
///
/// ```
/// use mnist_lab_tools::experiment::throughput::percentile;
/// let ms: Vec<f64> = (1..=100).map(f64::from).collect();
/// assert_eq!(percentile(&ms, 0.5), Some(50.0));
/// assert_eq!(percentile(&ms, 0.99), Some(99.0));
/// assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
/// assert_eq!(percentile(&[], 0.5), None);
/// ```
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize;
    v.get(rank.max(1) - 1).copied()
}

/// Peak resident set size of this process in MiB, from `/proc/self/status` (`VmHWM`).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Worker threads of the CPU backends: `RAYON_NUM_THREADS` when set, else the available
/// parallelism.
pub fn worker_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn batches(
    data: &MnistDataset,
    batch_size: usize,
    count: usize,
    device: &burn::tensor::Device,
) -> Result<Vec<MnistBatch>, TrainError> {
    let loader = mnist_loader(data.clone(), batch_size, None, device);
    let batches = loader
        .iter()
        .take(count)
        .collect::<Result<Vec<_>, _>>()
        .map_err(TrainError::Data)?;
    if batches.is_empty() {
        return Err(TrainError::EmptyData {
            what: "training",
            reason: "no batch to measure: the data set holds no images",
        });
    }
    Ok(batches)
}

/// Measures `model` on `backend` with real images from `data`.
pub fn measure(
    model: ModelKind,
    backend: BackendKind,
    data: &MnistDataset,
    plan: ThroughputPlan,
) -> Result<Throughput, TrainError> {
    let device = backend.device()?;
    let train_device = device.clone().autodiff();
    let plan = ThroughputPlan {
        windows: plan.windows.max(1),
        window_batches: plan.window_batches.max(1),
        ..plan
    };
    let train_batches = batches(data, 50, 40, &train_device)?;
    let mut optim = sgd(0.9);
    let mut steps = train_batches.iter().cycle();
    // The model is moved through every step (no second handle), so the optimizer may update
    // its tensors in place as in real training.
    let mut train = |mut net: Model, n: usize| {
        for batch in steps.by_ref().take(n) {
            net = train_step(net, &mut optim, batch.clone(), 0.01).0;
        }
        net
    };
    let mut net = train(model.init(&train_device), plan.warmup_batches);
    let mut train_rates = Vec::with_capacity(plan.windows);
    for _ in 0..plan.windows {
        let started = Instant::now();
        net = train(net, plan.window_batches);
        train_rates.push((plan.window_batches * 50) as f64 / started.elapsed().as_secs_f64());
    }

    let infer_batches = batches(data, 100, 20, &device)?;
    let net = net.valid();
    let mut infer_rates = Vec::with_capacity(plan.windows);
    // The first window warms up and is not counted.
    for window in 0..=plan.windows {
        let started = Instant::now();
        for b in 0..plan.window_batches {
            let batch = &infer_batches[b % infer_batches.len()];
            let _ = net
                .forward(batch.images.clone())
                .into_data()
                .try_to_vec::<f32>();
        }
        if window > 0 {
            infer_rates.push((plan.window_batches * 100) as f64 / started.elapsed().as_secs_f64());
        }
    }
    // One image at a time, each forward pass timed until its output is read.
    let singles = batches(data, 1, 20, &device)?;
    let mut latencies = Vec::with_capacity(plan.latency_samples);
    for i in 0..20 + plan.latency_samples {
        let image = singles[i % singles.len()].images.clone();
        let started = Instant::now();
        let _ = net.forward(image).into_data().try_to_vec::<f32>();
        if i >= 20 {
            latencies.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(Throughput {
        model,
        backend,
        threads: worker_threads(),
        conv: kernel(Op::Conv2d),
        conv_algorithm: conv_algorithm(),
        pool: kernel(Op::MaxPool2d),
        norm: kernel(Op::BatchNorm),
        dropout: kernel(Op::Dropout),
        linear: kernel(Op::Linear),
        sgd: kernel(Op::Sgd),
        train_images_per_sec: median(&train_rates).unwrap_or(0.0),
        infer_images_per_sec: median(&infer_rates).unwrap_or(0.0),
        latency_p50_ms: percentile(&latencies, 0.5).unwrap_or(0.0),
        latency_p99_ms: percentile(&latencies, 0.99).unwrap_or(0.0),
        peak_rss_mb: peak_rss_mb(),
    })
}
