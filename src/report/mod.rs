//! What runs leave behind for people to look at: image grids, loss plots, markdown tables and
//! the report.

mod context;
pub mod image;
pub mod markdown;
pub mod plot;

pub use context::{ReportContext, civil_date};
pub use markdown::{ExperimentRow, ReportInput, SweepRow, SweepSection, Table, render_report};
pub use plot::{LinePlot, PlotError, Series, loss_curve, register_font};
