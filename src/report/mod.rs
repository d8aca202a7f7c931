//! What runs leave behind for people to look at: image grids now, plots and tables later.

pub mod image;
