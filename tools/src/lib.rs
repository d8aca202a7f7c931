//! # mnist-lab-tools
//!
//! The tools around [`mnist_lab`], kept out of the library a dependent compiles: the report's
//! recipes and their reproduction ([`experiment`]), its tables, plots and pictures ([`report`]),
//! the examples' command lines ([`cli`]), and the drawing page's HTTP server (`serve`, with the
//! `serve` feature). "The report" is the MNIST coursework report whose experiments the
//! repository's examples reproduce (`results/REPORT.md`).
//!
//! Imports run one way: `cli` -> `experiment` -> `report`, each on top of `mnist_lab`.

#![warn(missing_docs)]

pub mod cli;
pub mod experiment;
pub mod report;
#[cfg(feature = "serve")]
pub mod serve;
