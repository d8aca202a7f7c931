//! The seven networks: exact parameter counts, output shapes and values on every compiled
//! backend, and the same outputs from the same weights across backends.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use mnist_lab::data::{MnistDataset, mnist_loader};
use mnist_lab::model::{ComplexMlpConfig, Model};
use mnist_lab::{BackendKind, ModelKind, ParamCounts};

#[test]
fn parameter_counts_are_exact() {
    let device = BackendKind::Flex.device().unwrap();
    let expected = [
        (ModelKind::SimpleFc, 7_850, 7_850),
        (ModelKind::ComplexMlp, 669_706, 669_706),
        (ModelKind::SimpleCnn, 8_490, 8_490),
        (ModelKind::ProvidedCnn, 21_840, 21_840),
        // PyTorch counts 1,797,642; burn's num_params adds 1,856 batch-norm running statistics.
        (ModelKind::ComplexCnn, 1_797_642, 1_799_498),
        // Simard et al.'s 784-800-10 (their paper rounds it to "800 hidden units").
        (ModelKind::Mlp, 636_010, 636_010),
        // LeNet-5's layout: 156 + 2,416 + 48,120 + 10,164 + 850.
        (ModelKind::ConvNet, 61_706, 61_706),
    ];
    for (kind, trainable, total) in expected {
        let model = kind.init(&device);
        assert_eq!(
            model.param_counts(),
            ParamCounts { trainable, total },
            "{kind}"
        );
        assert_eq!(model.kind(), kind);
        let summary = model.summary();
        assert!(
            summary.contains(&format!("trainable parameters: {trainable}")),
            "{summary}"
        );
    }
}

#[test]
fn model_names_parse_and_unknown_names_list_the_choices() {
    for kind in ModelKind::ALL {
        assert_eq!(kind.to_string().parse::<ModelKind>(), Ok(kind));
    }
    assert_eq!(
        "complex-cnn".parse::<ModelKind>(),
        Ok(ModelKind::ComplexCnn)
    );
    let err = "resnet".parse::<ModelKind>().unwrap_err().to_string();
    assert!(
        err.contains(
            "simple_fc, complex_mlp, simple_cnn, provided_cnn, complex_cnn, mlp, conv_net"
        ),
        "{err}"
    );
}

fn real_images(n: usize, device: &Device) -> Tensor<4> {
    let test = MnistDataset::test(&common::slice_dir()).unwrap().limit(n);
    mnist_loader(test, n, None, device)
        .iter()
        .next()
        .unwrap()
        .unwrap()
        .images
}

/// Rows of `log_probs` are log-probabilities: exp sums to 1.
fn assert_log_probs(log_probs: &Tensor<2>, what: &str) {
    let sums = log_probs
        .clone()
        .exp()
        .sum_dim(1)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    for s in sums {
        assert!((s - 1.0).abs() < 1e-4, "{what}: row sums to {s}");
    }
}

/// Models small enough to compile quickly on lavapipe; the complex CNN and the conv net (its
/// padded convolutions are more kernels to compile there) run on the CPU backends.
fn models_for(kind: BackendKind) -> Vec<ModelKind> {
    match kind {
        BackendKind::Wgpu | BackendKind::Vulkan => {
            vec![
                ModelKind::SimpleFc,
                ModelKind::ComplexMlp,
                ModelKind::SimpleCnn,
                ModelKind::ProvidedCnn,
                ModelKind::Mlp,
            ]
        }
        _ => ModelKind::ALL.to_vec(),
    }
}

#[test]
fn forward_gives_log_probabilities_of_shape_b_by_10_on_every_backend() {
    for (backend, device) in common::compiled_devices() {
        let images = real_images(4, &device);
        for kind in models_for(backend) {
            let out = kind.init(&device).forward(images.clone());
            assert_eq!(out.dims(), [4, 10], "{kind} on {backend}");
            assert_log_probs(&out, &format!("{kind} on {backend}"));
        }
    }
}

fn outputs(model: &Model, images: Tensor<4>) -> Vec<f32> {
    model
        .forward(images)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

#[test]
fn same_weights_give_the_same_outputs_on_every_backend() {
    let devices = common::compiled_devices();
    let (_, flex) = &devices[0];
    for kind in ModelKind::ALL {
        flex.seed(1);
        let reference_model = kind.init(flex);
        let reference = outputs(&reference_model, real_images(8, flex));
        for (backend, device) in devices.iter().skip(1) {
            if !models_for(*backend).contains(&kind) {
                continue;
            }
            let record = reference_model.clone().into_record();
            let model = kind.init(device).load_record(record);
            let diff = common::max_abs_diff(&reference, &outputs(&model, real_images(8, device)));
            assert!(diff < 1e-4, "{kind}: flex vs {backend} differ by {diff}");
        }
    }
}

#[test]
fn dropout_is_off_in_inference_unless_the_report_quirk_is_asked_for() {
    let device = BackendKind::Flex.device().unwrap();
    let images = real_images(8, &device);
    device.seed(3);
    let faithful = Model::ComplexMlp(ComplexMlpConfig::new().init(&device));
    assert_eq!(
        outputs(&faithful, images.clone()),
        outputs(&faithful, images.clone())
    );

    let quirky = Model::ComplexMlp(
        ComplexMlpConfig::new()
            .with_dropout_at_test(true)
            .init(&device),
    );
    let a = outputs(&quirky, images.clone());
    let b = outputs(&quirky, images.clone());
    assert!(
        common::max_abs_diff(&a, &b) > 1e-3,
        "dropout stays on at test time"
    );

    // On the training device, dropout is active for both.
    let ad = device.clone().autodiff();
    let train_model = Model::ComplexMlp(ComplexMlpConfig::new().init(&ad));
    let x = Tensor::<4>::random([8, 1, 28, 28], Distribution::Normal(0.0, 1.0), &ad);
    let a = outputs(&train_model, x.clone());
    let b = outputs(&train_model, x);
    assert!(common::max_abs_diff(&a, &b) > 1e-3);
}

#[test]
fn the_mlp_takes_any_list_of_widths_and_refuses_a_width_of_zero() {
    use mnist_lab::model::{MlpConfig, ModelConfig};
    let device = Device::flex();
    // No hidden layer: the one-layer network, with the simple FC's parameters.
    let one_layer = ModelConfig::Mlp(MlpConfig::new().with_hidden(vec![])).init(&device);
    assert_eq!(one_layer.param_counts().trainable, 7_850);
    let lecun = ModelConfig::Mlp(MlpConfig::new().with_hidden(vec![500, 150])).init(&device);
    let shapes: Vec<Vec<usize>> = lecun
        .layers(real_images(2, &device))
        .iter()
        .map(|l| l.shape.clone())
        .collect();
    assert_eq!(shapes, [vec![784], vec![500], vec![150], vec![10]]);
    assert_log_probs(&lecun.forward(real_images(3, &device)), "500+150");

    let zero = ModelConfig::Mlp(MlpConfig::new().with_hidden(vec![500, 0]));
    let problem = zero.problem().unwrap();
    assert!(problem.contains("hidden [500, 0] holds a 0"), "{problem}");
    let dropout = ModelConfig::Mlp(MlpConfig::new().with_dropout(1.0));
    assert!(
        dropout.problem().unwrap().contains("dropout 1"),
        "{dropout:?}"
    );
}

#[test]
fn the_conv_net_takes_its_layers_as_data_and_refuses_layers_that_leave_no_pixel() {
    use mnist_lab::model::{Activation, ConvLayerConfig, ConvNetConfig, ModelConfig};
    let devices = common::compiled_devices();
    let (_, flex) = &devices[0];
    // Simard et al.'s network with tanh: strides, padding, no pooling.
    let config = ModelConfig::ConvNet(ConvNetConfig::simard().with_activation(Activation::Tanh));
    assert_eq!(config.problem(), None);
    flex.seed(3);
    let simard = config.init(flex);
    assert_eq!(simard.param_counts().trainable, 132_540);
    let images = real_images(3, flex);
    let layers = simard.layers(images.clone());
    let shapes: Vec<Vec<usize>> = layers.iter().map(|l| l.shape.clone()).collect();
    assert_eq!(
        shapes,
        [
            vec![5, 13, 13],
            vec![50, 5, 5],
            vec![1250],
            vec![100],
            vec![10]
        ]
    );
    assert!(layers[0].op.contains("stride 2, padding 1") && layers[0].op.ends_with("Tanh"));
    let out = simard.forward(images);
    assert_log_probs(&out, "simard");
    let first = out.narrow(0, 0, 1).into_data().try_to_vec::<f32>().unwrap();
    assert!(common::max_abs_diff(&first, &layers[4].values) < 1e-4);
    // The same weights give the same outputs on the other CPU backend (burn's own convs there).
    let reference = outputs(&simard, real_images(8, flex));
    for (backend, device) in devices.iter().skip(1) {
        if matches!(backend, BackendKind::NdArray) {
            let model = config
                .init(device)
                .load_record(simard.clone().into_record());
            let diff = common::max_abs_diff(&reference, &outputs(&model, real_images(8, device)));
            assert!(diff < 1e-4, "simard: flex vs {backend} differ by {diff}");
        }
    }

    let too_deep = ModelConfig::ConvNet(
        ConvNetConfig::new().with_convs(vec![ConvLayerConfig::new(8, 5).with_pool(Some(2)); 4]),
    );
    let problem = too_deep.problem().unwrap();
    assert!(
        problem.contains("leave no pixel of a 28x28 input"),
        "{problem}"
    );
    let zero_stride = ModelConfig::ConvNet(
        ConvNetConfig::new().with_convs(vec![ConvLayerConfig::new(8, 5).with_stride(0)]),
    );
    assert!(zero_stride.problem().unwrap().contains("holds a 0"));
}
