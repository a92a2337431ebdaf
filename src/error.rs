//! One renderer for every error: the cause chain on one line, then each hint on its own.
//!
//! Hints are data, not text: an error type that can tell the user what to do implements
//! [`Hint`], and [`render`] asks every link of the chain for one. The types that carry hints
//! are listed once, in `hint_of`. A hinted error must be an error of the chain (returned,
//! or the `#[source]` of another), never an `anyhow` context: a context's type is hidden
//! from the chain.

use std::error::Error as StdError;

/// What the user can do about an error, printed after it as `hint: ...`.
pub trait Hint {
    /// The hint for this error, if the user can act on it.
    fn hint(&self) -> Option<String>;
}

/// The hint of one link of an error chain, if its type carries hints.
fn hint_of(link: &(dyn StdError + 'static)) -> Option<String> {
    macro_rules! hinted {
        ($($ty:ty),* $(,)?) => {
            $(if let Some(e) = link.downcast_ref::<$ty>() {
                return e.hint();
            })*
        };
    }
    hinted![
        Hinted,
        crate::build::BuildError,
        crate::build::FilesError,
        crate::fetch::FetchError,
        crate::installed::InstalledError,
        crate::lock::LockError,
        crate::mirror::MirrorError,
        crate::oci::OciError,
        crate::publish::PublishError,
        crate::registry::RegistryError,
        crate::repo::RepoError,
        crate::rootfs::RootfsError,
        crate::sign::SignError,
        crate::spec::SpecError,
        crate::tracker::TrackerError,
        crate::vendor::VendorError,
        crate::verify::published::PublishedError,
    ];
    crate::net::client::certificate_hint(link)
}

/// An error with a hint attached where it is raised: for the few errors that are not a
/// variant of a module's error enum (a one-off refusal in the CLI).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

impl Hinted {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Hinted {
        Hinted {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl Hint for Hinted {
    fn hint(&self) -> Option<String> {
        Some(self.hint.clone())
    }
}

/// `error: CAUSE: CAUSE: ...` on one line, then `hint: ...` for every link that has one, so
/// a hint never sits between causes.
pub fn render(err: &anyhow::Error) -> String {
    let mut causes = Vec::new();
    let mut hints = Vec::new();
    for link in err.chain() {
        causes.push(link.to_string());
        hints.extend(hint_of(link));
    }
    let mut out = format!("error: {}", causes.join(": "));
    for h in hints {
        out.push_str("\n\nhint: ");
        out.push_str(&h);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_follow_the_whole_chain() {
        let err = anyhow::Error::new(Hinted::new("cannot reach `x`", "is it running?"))
            .context("push failed");
        assert_eq!(
            render(&err),
            "error: push failed: cannot reach `x`\n\nhint: is it running?"
        );
    }

    #[test]
    fn an_error_without_a_hint_is_one_line() {
        let err = anyhow::anyhow!("plain").context("outer");
        assert_eq!(render(&err), "error: outer: plain");
    }
}
