//! Docker credential helpers (`credHelpers`, `credsStore` of Docker's config file): run
//! `docker-credential-NAME get` with the registry host on stdin, as docker does, and read
//! its `{"ServerURL","Username","Secret"}` answer. The helper is the user's own program, but
//! its answer is still bounded, its run has a deadline, and its stderr is never shown (it may
//! hold secrets): errors name the helper and the host only.

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::RegistryError;
use super::auth::Credentials;

/// The longest a helper may take (a keychain may ask the user to unlock it).
const DEADLINE: Duration = Duration::from_secs(60);

/// The most read of a helper's answer.
const MAX_ANSWER: u64 = 64 << 10;

/// What docker's helpers print on stdout when they hold nothing for the host.
const NOT_FOUND: &str = "credentials not found";

#[derive(Debug, serde::Deserialize)]
struct Answer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// The credentials helper `name` holds for `host` (`None`: it holds none).
pub fn get(name: &str, host: &str) -> Result<Option<Credentials>, RegistryError> {
    let program = format!("docker-credential-{name}");
    let fail = |reason: String| RegistryError::CredHelper {
        helper: program.clone(),
        host: host.to_owned(),
        reason,
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(fail(
            "the helper's name is not a plain program name".to_owned(),
        ));
    }
    let (ok, stdout) = run(&program, host).map_err(|source| RegistryError::CredHelperRun {
        helper: program.clone(),
        host: host.to_owned(),
        source,
    })?;
    let text = String::from_utf8_lossy(&stdout);
    match ok {
        Some(false) if text.to_ascii_lowercase().contains(NOT_FOUND) => return Ok(None),
        Some(false) => return Err(fail("it exited with an error".to_owned())),
        None => {
            return Err(fail(format!(
                "it gave no answer within {} s",
                DEADLINE.as_secs()
            )));
        }
        Some(true) => {}
    }
    if stdout.len() as u64 > MAX_ANSWER {
        return Err(fail("its answer is longer than 64 KiB".to_owned()));
    }
    let answer: Answer = serde_json::from_slice(&stdout)
        .map_err(|_| fail("its answer is not JSON with `Username` and `Secret`".to_owned()))?;
    if answer.username == "<token>" {
        return Err(fail(
            "it holds an identity token, which compose cannot use: store a user name and password (or a token as the password)"
                .to_owned(),
        ));
    }
    if answer.username.is_empty() && answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        user: answer.username,
        password: answer.secret,
        from: format!("the credential helper `{program}`"),
    }))
}

/// Run `program get` with `host` on stdin: whether it succeeded (`None`: killed at the
/// deadline) and the first `MAX_ANSWER + 1` bytes of its stdout. Its stderr is dropped.
fn run(program: &str, host: &str) -> std::io::Result<(Option<bool>, Vec<u8>)> {
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    // A helper that exits without reading its input is judged by its exit status.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(host.as_bytes());
    }
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = (&mut stdout).take(MAX_ANSWER + 1).read_to_end(&mut bytes);
        // The rest is drained, so a helper that says too much is not stuck writing it.
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        bytes
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status.success());
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let bytes = reader.join().unwrap_or_default();
    Ok((status, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_names_are_plain_program_names() {
        for bad in ["", "../x", "a b", "x/y"] {
            let e = get(bad, "h:1").unwrap_err().to_string();
            assert!(e.contains("not a plain program name"), "{e}");
        }
    }

    #[test]
    fn a_missing_helper_is_named_with_the_host() {
        let e = get("compose-test-absent", "127.0.0.1:9")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "cannot run the credential helper `docker-credential-compose-test-absent` for `127.0.0.1:9`"
        );
    }
}
