//! Where and how a report was produced: its header line.

use std::path::PathBuf;

/// Where and how the report was produced, for its header.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportContext {
    /// The command line that produced it.
    pub command: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// CPU model name.
    pub cpu: String,
    /// Threads available to the process.
    pub threads: usize,
    /// Where the data came from.
    pub data_dir: PathBuf,
}

impl ReportContext {
    /// The context of this process: today's date (UTC), the CPU of `/proc/cpuinfo`, the
    /// available parallelism.
    pub fn current(command: String, data_dir: PathBuf) -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, name)| name.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".to_string());
        let days = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        let (y, m, d) = civil_date(days as i64);
        Self {
            command,
            date: format!("{y:04}-{m:02}-{d:02}"),
            cpu,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            data_dir,
        }
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
/// Written out because one date in a report header does not justify a date-time dependency.
///
/// ```
/// use mnist_lab::report::civil_date;
/// assert_eq!(civil_date(0), (1970, 1, 1));
/// assert_eq!(civil_date(20_417), (2025, 11, 25));
/// ```
pub fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}
