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
    /// Where the data came from, with no machine path: `$MNIST_DIR` when that variable named
    /// it, else the directory's own name.
    pub data: String,
}

impl ReportContext {
    /// The context of this process: today's date (UTC), the CPU of `/proc/cpuinfo` (its model
    /// name with family and model number: "AMD EPYC" alone names several generations), the
    /// available parallelism. Absolute paths in `command` are shortened ([`portable_command`]).
    pub fn current(command: String, data_dir: PathBuf) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let days = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        let (y, m, d) = civil_date(days as i64);
        let from_env = std::env::var_os("MNIST_DIR").is_some_and(|v| v == data_dir.as_os_str());
        let data = if from_env {
            "$MNIST_DIR".to_string()
        } else {
            short_path(&data_dir.to_string_lossy())
        };
        Self {
            command: portable_command(&command, &data_dir.to_string_lossy()),
            date: format!("{y:04}-{m:02}-{d:02}"),
            cpu: cpu_name(&cpuinfo),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            data,
        }
    }
}

/// The CPU of a `/proc/cpuinfo` text: `AMD EPYC (family 25, model 1)`.
///
/// ```
/// let info = "processor\t: 0\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\n";
/// assert_eq!(mnist_lab_tools::report::cpu_name(info), "AMD EPYC (family 25, model 1)");
/// assert_eq!(mnist_lab_tools::report::cpu_name(""), "unknown CPU");
/// ```
pub fn cpu_name(cpuinfo: &str) -> String {
    let field = |key: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    let Some(name) = field("model name") else {
        return "unknown CPU".to_string();
    };
    match (field("cpu family"), field("model")) {
        (Some(family), Some(model)) => format!("{name} (family {family}, model {model})"),
        _ => name,
    }
}

/// `command` without machine paths: `data_dir` becomes `$MNIST_DIR`, any other absolute path
/// its last component.
///
/// ```
/// use mnist_lab_tools::report::portable_command;
/// assert_eq!(
///     portable_command("reproduce -- --data-dir /home/me/mnist --runs-dir /tmp/runs", "/home/me/mnist"),
///     "reproduce -- --data-dir $MNIST_DIR --runs-dir runs"
/// );
/// ```
pub fn portable_command(command: &str, data_dir: &str) -> String {
    command
        .split(' ')
        .map(|word| {
            if !data_dir.is_empty() && word == data_dir {
                "$MNIST_DIR".to_string()
            } else if word.starts_with('/') {
                short_path(word)
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last component of an absolute path; a relative path as it is.
fn short_path(path: &str) -> String {
    if !path.starts_with('/') {
        return path.to_string();
    }
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("/")
        .to_string()
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
/// Written out because one date in a report header does not justify a date-time dependency.
///
/// ```
/// use mnist_lab_tools::report::civil_date;
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
