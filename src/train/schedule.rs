//! How the learning rate moves within a stage: held constant (the report's), or one cycle up
//! and down (Smith's "super-convergence", what fast MNIST recipes use).
//!
//! A pure function of the step, so a resumed run sets exactly the rates an uninterrupted run
//! sets. Written here rather than taken from burn's `lr_scheduler`: burn's schedulers are
//! stateful iterators over one run of `num_iters`, while a stage of ours has to restart its
//! cycle and a resume has to land on step k without replaying k steps.

use std::fmt;
use std::str::FromStr;

use super::ConfigError;

/// The learning rate of each step of a stage, from the stage's `learning_rate` (the peak).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// Every step at the stage's rate (the report's stages).
    #[default]
    Constant,
    /// A linear ramp from `peak / initial_div` up to the stage's rate over the first `warmup`
    /// fraction of the stage's steps, then a linear fall to `peak / final_div` at its last step.
    OneCycle {
        /// Fraction of the steps spent rising, in `(0, 1)`.
        warmup: f64,
        /// The first step's rate is the peak divided by this (>= 1).
        initial_div: f64,
        /// The last step's rate is the peak divided by this (>= 1).
        final_div: f64,
    },
}

impl LrSchedule {
    /// A one-cycle schedule: 25% warm-up from a tenth of the peak, down to a hundredth of it.
    pub const ONE_CYCLE: Self = Self::OneCycle {
        warmup: 0.25,
        initial_div: 10.0,
        final_div: 100.0,
    };

    /// The rate of step `step` (0-based) of a stage of `steps` steps whose rate is `peak`.
    ///
    /// ```
    /// use mnist_lab::train::LrSchedule;
    /// let cycle = LrSchedule::OneCycle { warmup: 0.25, initial_div: 10.0, final_div: 100.0 };
    /// let rates: Vec<f64> = (0..9).map(|s| cycle.learning_rate(1.0, s, 9)).collect();
    /// assert_eq!(rates[0], 0.1); // the peak / initial_div
    /// assert_eq!(rates[2], 1.0); // the peak, after round(0.25 * 9) = 2 steps up
    /// assert!((rates[8] - 0.01).abs() < 1e-12); // the peak / final_div at the last step
    /// assert_eq!(LrSchedule::Constant.learning_rate(0.5, 3, 9), 0.5);
    /// ```
    pub fn learning_rate(self, peak: f64, step: usize, steps: usize) -> f64 {
        match self {
            Self::Constant => peak,
            Self::OneCycle {
                warmup,
                initial_div,
                final_div,
            } => {
                let last = steps.saturating_sub(1);
                let top = ((warmup * steps as f64).round() as usize).clamp(1, last.max(1));
                let (low, end) = (peak / initial_div, peak / final_div);
                if step < top {
                    low + (peak - low) * step as f64 / top as f64
                } else if last > top {
                    peak + (end - peak) * (step.min(last) - top) as f64 / (last - top) as f64
                } else {
                    peak
                }
            }
        }
    }

    /// Checks the bounds the fields document.
    pub fn validate(self) -> Result<(), ConfigError> {
        if let Self::OneCycle {
            warmup,
            initial_div,
            final_div,
        } = self
        {
            if !(warmup > 0.0 && warmup < 1.0) {
                return Err(ConfigError::BadSchedule(format!(
                    "one-cycle warm-up {warmup} must be a fraction of the steps in (0, 1), e.g. 0.25"
                )));
            }
            for (name, div) in [("initial_div", initial_div), ("final_div", final_div)] {
                if !(div.is_finite() && div >= 1.0) {
                    return Err(ConfigError::BadSchedule(format!(
                        "one-cycle {name} {div} must be a finite number >= 1 (the peak is divided by it), e.g. 10"
                    )));
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for LrSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Constant => f.write_str("constant"),
            Self::OneCycle {
                warmup,
                initial_div,
                final_div,
            } => write!(
                f,
                "one-cycle (warm-up {warmup}, from peak/{initial_div} to peak/{final_div})"
            ),
        }
    }
}

impl FromStr for LrSchedule {
    type Err = ConfigError;

    /// `constant`, or `one-cycle` ([`LrSchedule::ONE_CYCLE`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "constant" => Ok(Self::Constant),
            "one-cycle" | "onecycle" => Ok(Self::ONE_CYCLE),
            _ => Err(ConfigError::BadSchedule(format!(
                "unknown schedule `{s}`: expected constant or one-cycle"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cycle_rises_then_falls_linearly_to_its_bounds() {
        let cycle = LrSchedule::OneCycle {
            warmup: 0.3,
            initial_div: 25.0,
            final_div: 1e4,
        };
        let steps = 469; // 60,000 images in batches of 128
        let rates: Vec<f64> = (0..steps)
            .map(|s| cycle.learning_rate(0.01, s, steps))
            .collect();
        let top = 141; // round(0.3 * 469)
        assert_eq!(rates[0], 0.01 / 25.0);
        assert_eq!(rates[top], 0.01);
        assert!(
            (rates[steps - 1] - 1e-6).abs() < 1e-15,
            "{}",
            rates[steps - 1]
        );
        assert!(rates[..=top].windows(2).all(|w| w[0] < w[1]));
        assert!(rates[top..].windows(2).all(|w| w[0] > w[1]));
        // Linear: equal steps on each side of the peak.
        let up = rates[1] - rates[0];
        assert!((rates[top] - rates[top - 1] - up).abs() < 1e-12);
        assert!(rates.iter().all(|&r| r > 0.0 && r <= 0.01));
    }

    #[test]
    fn short_stages_and_steps_past_the_end_stay_in_bounds() {
        let cycle = LrSchedule::ONE_CYCLE;
        assert_eq!(cycle.learning_rate(1.0, 0, 1), 0.1);
        assert_eq!(cycle.learning_rate(1.0, 1, 2), 1.0);
        assert!((cycle.learning_rate(1.0, 10, 5) - 0.01).abs() < 1e-12);
        assert_eq!(LrSchedule::Constant.learning_rate(0.3, 7, 2), 0.3);
    }

    #[test]
    fn names_parse_and_bad_bounds_say_what_is_accepted() {
        assert_eq!("one-cycle".parse(), Ok(LrSchedule::ONE_CYCLE));
        assert_eq!("Constant".parse(), Ok(LrSchedule::Constant));
        let unknown = "cosine".parse::<LrSchedule>().unwrap_err().to_string();
        assert!(unknown.contains("constant or one-cycle"), "{unknown}");
        let bad = |warmup, initial_div, final_div| {
            LrSchedule::OneCycle {
                warmup,
                initial_div,
                final_div,
            }
            .validate()
            .unwrap_err()
            .to_string()
        };
        assert!(bad(1.0, 10.0, 10.0).contains("(0, 1)"));
        assert!(bad(0.2, 0.5, 10.0).contains("initial_div 0.5"));
        assert!(bad(0.2, 10.0, f64::NAN).contains("final_div NaN"));
        assert_eq!(LrSchedule::ONE_CYCLE.validate(), Ok(()));
    }
}
