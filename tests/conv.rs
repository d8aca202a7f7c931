//! The hand-written reference convolution against burn's `conv2d` on every compiled backend.

mod common;

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, Tensor, TensorData};
use mnist_lab::conv::{Conv2dParams, conv2d_batched};

#[test]
fn reference_matches_burn_over_a_grid_of_shapes() {
    for (backend, device) in common::compiled_devices() {
        device.seed(11);
        let mut cases = 0;
        for (channels_in, channels_out) in [(1, 3), (3, 4)] {
            for kernel in [1, 3, 5] {
                for stride in [1, 2, 3] {
                    for padding in [0, 1, 2] {
                        let (n, h, w) = (2, 9, 8);
                        let x = Tensor::<4>::random(
                            [n, channels_in, h, w],
                            Distribution::Normal(0.0, 1.0),
                            &device,
                        );
                        let wt = Tensor::<4>::random(
                            [channels_out, channels_in, kernel, kernel],
                            Distribution::Normal(0.0, 1.0),
                            &device,
                        );
                        let b = Tensor::<1>::random(
                            [channels_out],
                            Distribution::Normal(0.0, 1.0),
                            &device,
                        );
                        let ours = conv2d_batched(
                            &x.to_data().try_to_vec::<f32>().unwrap(),
                            [n, channels_in, h, w],
                            &wt.to_data().try_to_vec::<f32>().unwrap(),
                            [channels_out, channels_in, kernel, kernel],
                            Some(&b.to_data().try_to_vec::<f32>().unwrap()),
                            Conv2dParams {
                                stride: [stride, stride],
                                padding: [padding, padding],
                            },
                        )
                        .unwrap();
                        let theirs = conv2d(
                            x,
                            wt,
                            Some(b),
                            ConvOptions::new([stride, stride], [padding, padding], [1, 1], 1),
                        );
                        assert_eq!(
                            theirs.dims(),
                            ours.1,
                            "{backend} k{kernel} s{stride} p{padding}"
                        );
                        let theirs: Vec<f32> = theirs.into_data().try_to_vec::<f32>().unwrap();
                        let diff = common::max_abs_diff(&ours.0, &theirs);
                        assert!(
                            diff < 1e-4,
                            "{backend} c{channels_in}->{channels_out} k{kernel} s{stride} p{padding}: {diff}"
                        );
                        cases += 1;
                    }
                }
            }
        }
        assert_eq!(cases, 54);
        println!("{backend}: {cases} shapes match the reference");
    }
}

#[test]
fn reference_matches_burn_on_the_models_own_layer_shapes() {
    // conv1 of the simple CNN and conv2 of the complex CNN, on a real digit.
    for (backend, device) in common::compiled_devices() {
        let test = mnist_lab::data::MnistDataset::test(&common::slice_dir())
            .unwrap()
            .limit(2);
        let batcher = mnist_lab::data::MnistBatcher::default();
        let items: Vec<_> = (0..2)
            .map(|i| burn::data::dataset::Dataset::get(&test, i).unwrap())
            .collect();
        let pixels = batcher.normalize_all(&items);
        let x = Tensor::<4>::from_data(TensorData::new(pixels.clone(), [2, 1, 28, 28]), &device);
        let wt = Tensor::<4>::random([10, 1, 5, 5], Distribution::Uniform(-0.2, 0.2), &device);
        let ours = conv2d_batched(
            &pixels,
            [2, 1, 28, 28],
            &wt.to_data().try_to_vec::<f32>().unwrap(),
            [10, 1, 5, 5],
            None,
            Conv2dParams {
                stride: [1, 1],
                padding: [0, 0],
            },
        )
        .unwrap();
        let theirs = conv2d(x, wt, None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1));
        assert_eq!(ours.1, [2, 10, 24, 24]);
        let diff = common::max_abs_diff(&ours.0, &theirs.into_data().try_to_vec::<f32>().unwrap());
        assert!(diff < 1e-4, "{backend}: {diff}");
    }
}
