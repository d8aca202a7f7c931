//! What runs leave behind for people to look at: image grids, loss plots, the report.

pub mod image;
pub mod plot;

pub use plot::{LinePlot, PlotError, Series, loss_curve, register_font};
