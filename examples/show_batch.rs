//! Writes the first training batch as a labelled PNG grid, and one random image of it enlarged
//! (the report's Fig 2.4). The batch comes from the same shuffled loader training uses, on the
//! chosen backend, turned back into pixels: what you see is what the network sees.
//!
//! `cargo run --release --example show_batch -- --out runs/show_batch`

use clap::Parser;
use mnist_lab::data::{
    Augmentation, DEFAULT_TRAIN_BATCH, Elastic, MnistBatch, MnistBatcher, MnistDataset,
    mnist_loader,
};
use mnist_lab_tools::cli::CommonArgs;
use mnist_lab_tools::report::image::{enlarged, labelled_grid};
use rand::rngs::{StdRng, Xoshiro256PlusPlus};
use rand::{RngExt, SeedableRng};

/// Show the first training batch of MNIST.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Images in the batch.
    #[arg(long, default_value_t = DEFAULT_TRAIN_BATCH)]
    batch_size: usize,
    /// Images per row of the grid.
    #[arg(long, default_value_t = 10)]
    columns: usize,
    /// Also write the batch as the improved recipes distort it (augmented_batch.png).
    #[arg(long)]
    augment: bool,
    /// Also write the batch with Simard et al.'s elastic distortions alone (elastic_batch.png):
    /// `--elastic` for their sigma 4, alpha 34, `--elastic SIGMA,ALPHA` for another setting.
    #[arg(long, value_name = "SIGMA,ALPHA", num_args = 0..=1, default_missing_value = "4,34")]
    elastic: Option<Elastic>,
}

fn main() {
    mnist_lab_tools::cli::run_example(|| run(Args::parse()));
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.batch_size == 0 {
        return Err("--batch-size must be at least 1".into());
    }
    let device = args.common.backend.device()?;
    let dir = args.common.locate_data()?;
    let train = MnistDataset::train(&dir)?;
    let loader = mnist_loader(train, args.batch_size, Some(args.common.seed), &device);
    let batch = loader.iter().next().ok_or("the training set is empty")??;
    let batcher = MnistBatcher::default();
    let out = args.common.out_dir("show_batch");
    let distorted = [
        (args.augment, Augmentation::default(), "augmented_batch.png"),
        (
            args.elastic.is_some(),
            Augmentation {
                elastic: args.elastic,
                ..Augmentation::NONE
            },
            "elastic_batch.png",
        ),
    ];
    for (_, augmentation, name) in distorted.into_iter().filter(|(wanted, ..)| *wanted) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(args.common.seed);
        let images = augmentation.apply(batch.images.clone(), &mut rng, batcher.normalize(0));
        let distorted = batcher.unbatch(MnistBatch {
            images,
            targets: batch.targets.clone(),
        })?;
        let path = out.join(name);
        labelled_grid(&distorted, args.columns, 2).save_png(&path)?;
        println!("wrote {} (the same batch, distorted)", path.display());
    }
    let items = batcher.unbatch(batch)?;

    let grid_path = out.join("first_batch.png");
    labelled_grid(&items, args.columns, 2).save_png(&grid_path)?;
    let labels: Vec<String> = items.iter().map(|i| i.label.to_string()).collect();
    println!(
        "wrote {} ({} images from {}, backend {}, seed {}; labels: {})",
        grid_path.display(),
        items.len(),
        dir.display(),
        args.common.backend,
        args.common.seed,
        labels.join(" ")
    );

    let pick = StdRng::seed_from_u64(args.common.seed).random_range(0..items.len());
    let one = &items[pick];
    let one_path = out.join(format!("image_{pick}_label_{}.png", one.label));
    enlarged(one, 10).save_png(&one_path)?;
    println!(
        "wrote {} (image {pick} of the batch, label {})",
        one_path.display(),
        one.label
    );
    Ok(())
}
