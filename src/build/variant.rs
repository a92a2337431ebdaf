//! The image variants (`latest`, `nonroot`, `debug`, `debug-nonroot`): the user and workdir
//! of every image, and the debug layer (busybox, its applets, the spec's `[debug] include`).

use crate::spec::{Spec, Symlink};

/// The distroless image variants: `latest`, `nonroot`, `debug`, `debug-nonroot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Variant {
    /// Run as `nonroot` (65532) from `/home/nonroot`.
    pub nonroot: bool,
    /// Add a layer with Debian's `busybox-static` under `/busybox`, the entrypoint a shell.
    pub debug: bool,
}

/// Busybox applets linked into `/busybox` by the debug variant (Debian's busybox-static has
/// them all; the binary itself is never run to list them).
pub const BUSYBOX_APPLETS: &[&str] = &[
    "[",
    "[[",
    "ash",
    "awk",
    "base64",
    "basename",
    "cat",
    "chgrp",
    "chmod",
    "chown",
    "clear",
    "cmp",
    "cp",
    "cut",
    "date",
    "dd",
    "df",
    "diff",
    "dirname",
    "du",
    "echo",
    "egrep",
    "env",
    "expr",
    "false",
    "fgrep",
    "find",
    "free",
    "grep",
    "gunzip",
    "gzip",
    "head",
    "hexdump",
    "hostname",
    "id",
    "kill",
    "less",
    "ln",
    "ls",
    "md5sum",
    "mkdir",
    "mktemp",
    "more",
    "mv",
    "nc",
    "netstat",
    "nslookup",
    "od",
    "ping",
    "printenv",
    "printf",
    "ps",
    "pwd",
    "readlink",
    "realpath",
    "rm",
    "rmdir",
    "sed",
    "seq",
    "sh",
    "sha1sum",
    "sha256sum",
    "sleep",
    "sort",
    "stat",
    "strings",
    "tail",
    "tar",
    "tee",
    "test",
    "top",
    "touch",
    "tr",
    "true",
    "uname",
    "uniq",
    "uptime",
    "vi",
    "watch",
    "wc",
    "wget",
    "which",
    "whoami",
    "xargs",
    "zcat",
];

impl Variant {
    pub fn parse(text: &str) -> Result<Variant, String> {
        Ok(match text {
            "latest" => Variant::default(),
            "nonroot" => Variant {
                nonroot: true,
                debug: false,
            },
            "debug" => Variant {
                nonroot: false,
                debug: true,
            },
            "debug-nonroot" => Variant {
                nonroot: true,
                debug: true,
            },
            _ => {
                return Err(format!(
                    "unknown variant `{text}`: expected latest, nonroot, debug or debug-nonroot"
                ));
            }
        })
    }

    /// The tag distroless uses for this variant.
    pub fn tag(self) -> &'static str {
        match (self.debug, self.nonroot) {
            (false, false) => "latest",
            (false, true) => "nonroot",
            (true, false) => "debug",
            (true, true) => "debug-nonroot",
        }
    }

    /// The user the image runs as: root for `latest` and `debug`, `nonroot` (65532)
    /// otherwise, whatever the image (as distroless's tags).
    pub fn user(self) -> &'static str {
        if self.nonroot { "65532" } else { "0" }
    }

    /// The working directory that goes with `user`.
    pub fn workdir(self) -> &'static str {
        if self.nonroot { "/home/nonroot" } else { "/" }
    }

    /// Apply the variant to a chain: for debug, a layer on top with busybox and the spec's
    /// `[debug] include`, `/busybox` on `PATH`. The debug image starts what the chain starts
    /// (a runtime's entrypoint and cmd); a chain that starts nothing starts `/busybox/sh`.
    /// The user is not part of the chain: see `user`.
    pub fn apply(self, chain: &mut Vec<Spec>) {
        if !self.debug {
            return;
        }
        let mut debug = chain.last().expect("a chain has a level").clone();
        debug.name = format!("{}-debug", debug.name);
        debug.include = std::iter::once("busybox-static".to_owned())
            .chain(debug.debug_include.iter().cloned())
            .collect();
        debug.partial = Vec::new();
        debug.files = Vec::new();
        debug.inhouse = debug.inhouse.inherited(); // the top level's are in its own layer
        debug.symlinks = std::iter::once("busybox")
            .chain(BUSYBOX_APPLETS.iter().copied())
            .map(|a| Symlink {
                path: format!("/busybox/{a}"),
                target: "/usr/bin/busybox".to_owned(),
            })
            .collect();
        if debug.config.entrypoint.is_none() && debug.config.cmd.is_none() {
            debug.config.entrypoint = Some(vec!["/busybox/sh".to_owned()]);
        }
        let path = debug
            .config
            .env
            .get("PATH")
            .cloned()
            .unwrap_or_else(|| DEFAULT_PATH.to_owned());
        debug
            .config
            .env
            .insert("PATH".to_owned(), format!("{path}:/busybox"));
        chain.push(debug);
    }
}

/// The `PATH` every image gets unless its spec sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
