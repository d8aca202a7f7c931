//! What the trainer prints during an epoch: the report's progress line every `log_interval`
//! steps and, on a terminal with the `progress` feature, a bar over the epoch's images.

use std::io::IsTerminal;

/// The report's progress line: `Train Epoch: 1 [5000/60000 (8%)]  Loss: 0.362447`.
pub fn progress_line(epoch: usize, seen: usize, total: usize, loss: f64) -> String {
    let percent = (100 * seen).checked_div(total).unwrap_or(0);
    format!("Train Epoch: {epoch} [{seen}/{total} ({percent}%)]  Loss: {loss:.6}")
}

/// One epoch's output: nothing when quiet, log lines, and a bar on a terminal.
pub(crate) struct EpochProgress {
    verbose: bool,
    is_tty: bool,
    epoch: usize,
    images: usize,
    log_interval: usize,
    #[cfg(feature = "progress")]
    bar: Option<indicatif::ProgressBar>,
}

impl EpochProgress {
    pub(crate) fn new(verbose: bool, epoch: usize, images: usize, log_interval: usize) -> Self {
        let is_tty = std::io::stdout().is_terminal();
        Self {
            verbose,
            is_tty,
            epoch,
            images,
            log_interval,
            #[cfg(feature = "progress")]
            bar: (verbose && is_tty).then(|| epoch_bar(epoch, images)),
        }
    }

    /// After step `index` (0-based), with `seen` images trained this epoch.
    pub(crate) fn step(&self, index: usize, seen: usize, loss: f32) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.set_position(seen as u64);
            bar.set_message(format!("loss {loss:.4}"));
        }
        let last = self.is_tty && seen == self.images;
        if self.verbose && ((index + 1).is_multiple_of(self.log_interval) || last) {
            let line = progress_line(self.epoch, seen, self.images, loss as f64);
            #[cfg(feature = "progress")]
            if let Some(bar) = &self.bar {
                bar.println(line);
                return;
            }
            println!("{line}");
        }
    }

    /// At the end of the epoch: the bar goes, the log lines stay.
    pub(crate) fn finish(self) {
        #[cfg(feature = "progress")]
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A terminal progress bar over one epoch's images (plain log lines are printed above it).
#[cfg(feature = "progress")]
fn epoch_bar(epoch: usize, images: usize) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressStyle};
    let style = ProgressStyle::with_template(
        "epoch {prefix} [{bar:32}] {pos}/{len} images, {per_sec}, eta {eta} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let bar = ProgressBar::new(images as u64).with_style(style);
    bar.set_prefix(epoch.to_string());
    bar
}
