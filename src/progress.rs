//! Progress bars on stderr (indicatif), hidden when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Makes progress bars, or hidden ones when progress is off.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        Progress { enabled }
    }

    fn bar(&self, len: u64, template: &str, what: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(what.to_owned());
        bar
    }

    /// A bar counting bytes.
    pub fn bytes(&self, what: &str, total: u64) -> ProgressBar {
        self.bar(
            total,
            "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            what,
        )
    }

    /// A bar counting items.
    pub fn count(&self, what: &str, total: u64) -> ProgressBar {
        self.bar(total, "{prefix:>10} [{bar:30}] {pos}/{len}", what)
    }
}
