//! Which burn backend runs the networks, chosen at run time by name.
//!
//! Burn 0.22 dispatches on a [`Device`]; the cargo features decide which backends are compiled
//! in. [`BackendKind`] turns a name from the command line into a device, and says how to get a
//! backend that was left out of the build instead of silently falling back to another one.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// A burn backend this crate knows about. Whether it is usable depends on the cargo features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn-flex: pure-Rust CPU backend with SIMD and rayon (feature `flex`, on by default).
    Flex,
    /// burn-ndarray: the classic CPU backend (feature `ndarray`).
    NdArray,
    /// burn-wgpu: GPU through wgpu, or Mesa's lavapipe without one (feature `wgpu`).
    Wgpu,
    /// burn-wgpu pinned to Vulkan and its SPIR-V compiler (feature `vulkan`).
    Vulkan,
}

/// A backend was named that this build cannot provide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The name is not a backend at all.
    #[error("unknown backend `{name}`: expected one of {}", BackendKind::names().join(", "))]
    Unknown {
        /// What was asked for.
        name: String,
    },
    /// The backend exists but its cargo feature was not enabled.
    #[error(
        "backend `{kind}` is not compiled into this build; compiled backends: {}. \
         Rebuild with `--features {feature}` to add it",
        compiled_names()
    )]
    NotCompiled {
        /// The backend asked for.
        kind: BackendKind,
        /// The cargo feature that compiles it in.
        feature: &'static str,
    },
}

fn compiled_names() -> String {
    let names: Vec<String> = BackendKind::compiled()
        .iter()
        .map(|k| k.to_string())
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

impl BackendKind {
    /// Every backend, compiled in or not.
    pub const ALL: [BackendKind; 4] = [Self::Flex, Self::NdArray, Self::Wgpu, Self::Vulkan];
    /// The names [`FromStr`] accepts, from [`name`](Self::name).
    pub fn names() -> [&'static str; 4] {
        Self::ALL.map(Self::name)
    }

    /// The name used on the command line and in `summary.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::NdArray => "ndarray",
            Self::Wgpu => "wgpu",
            Self::Vulkan => "vulkan",
        }
    }

    /// The cargo feature that compiles this backend in.
    pub fn cargo_feature(self) -> &'static str {
        self.name()
    }

    /// Whether this build can run the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Self::Flex => cfg!(feature = "flex"),
            Self::NdArray => cfg!(feature = "ndarray"),
            Self::Wgpu => cfg!(feature = "wgpu"),
            Self::Vulkan => cfg!(feature = "vulkan"),
        }
    }

    /// The backends compiled into this build, in order of preference.
    pub fn compiled() -> Vec<BackendKind> {
        Self::ALL.into_iter().filter(|k| k.is_compiled()).collect()
    }

    /// The inference device of this backend (call `.autodiff()` on it to train).
    ///
    /// ```
    /// use mnist_lab::BackendKind;
    /// let device = BackendKind::Flex.device().expect("flex is the default feature");
    /// assert!(!device.is_autodiff());
    /// ```
    pub fn device(self) -> Result<Device, BackendError> {
        if !self.is_compiled() {
            return Err(BackendError::NotCompiled {
                kind: self,
                feature: self.cargo_feature(),
            });
        }
        Ok(self.device_unchecked())
    }

    /// The backend `device` (with or without autodiff) belongs to, if it is one of ours.
    pub fn of(device: &Device) -> Option<BackendKind> {
        let inner = device.clone().inner();
        Self::compiled()
            .into_iter()
            .find(|k| k.device_unchecked() == inner)
    }

    /// The name of `device`'s backend (`flex`, `wgpu`, ...), or burn's description of the device
    /// when it is none of ours.
    pub fn name_of(device: &Device) -> String {
        Self::of(device).map_or_else(|| format!("{device:?}"), |k| k.to_string())
    }

    #[allow(unreachable_code, unused_variables)]
    fn device_unchecked(self) -> Device {
        match self {
            #[cfg(feature = "flex")]
            Self::Flex => Device::flex(),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            // burn deprecates ndarray in favour of flex; users still ask for it.
            Self::NdArray => Device::ndarray(),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
            #[cfg(feature = "vulkan")]
            Self::Vulkan => Device::vulkan(burn::tensor::DeviceKind::DefaultDevice),
            #[allow(unreachable_patterns)]
            other => unreachable!("{other} is checked to be compiled before this call"),
        }
    }
}

impl Default for BackendKind {
    /// The first compiled backend: flex in a default build.
    fn default() -> Self {
        Self::compiled().first().copied().unwrap_or(Self::Flex)
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|k| k.name() == wanted)
            .ok_or_else(|| BackendError::Unknown {
                name: s.to_string(),
            })
    }
}

/// Keeps freed memory in the process ([`flex_kernels::keep_freed_memory`]: burn-flex allocates a
/// fresh buffer per op, and glibc would unmap and fault in each one again), once per process.
/// The trainer, evaluation and inference call it, so a dependent's binary runs as fast as the
/// examples; it changes no result.
pub(crate) fn keep_freed_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        flex_kernels::keep_freed_memory();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in BackendKind::ALL {
            assert_eq!(kind.to_string().parse::<BackendKind>(), Ok(kind));
        }
        assert_eq!("FLEX".parse::<BackendKind>(), Ok(BackendKind::Flex));
    }

    #[test]
    fn unknown_name_lists_the_choices() {
        let err = "cuda".parse::<BackendKind>().unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("`cuda`") && msg.contains("flex, ndarray, wgpu, vulkan"),
            "{msg}"
        );
    }

    #[test]
    fn missing_backend_names_the_feature() {
        for kind in BackendKind::ALL.into_iter().filter(|k| !k.is_compiled()) {
            let msg = kind.device().unwrap_err().to_string();
            assert!(
                msg.contains(&format!("--features {}", kind.name())),
                "{msg}"
            );
            assert!(msg.contains("compiled backends:"), "{msg}");
        }
        for kind in BackendKind::compiled() {
            assert!(kind.device().is_ok());
        }
    }
}
