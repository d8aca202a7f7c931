//! What runs leave behind for people to look at: image grids, loss and accuracy plots, the
//! confusion heat map, feature maps and layer diagrams, markdown tables and the report.

mod context;
pub mod image;
pub mod markdown;
pub mod pictures;
pub mod plot;

pub use context::{ReportContext, civil_date, cpu_name, portable_command};
pub use markdown::{
    ExperimentRow, Picture, PictureSection, ReportInput, SweepRow, SweepSection, Table,
    render_report,
};
pub use plot::{LinePlot, PlotError, Series, epoch_curves, loss_curve, register_font, test_points};
