//! The simple-signing payload cosign signs for an image (sigstore's `payload.Cosign`): what
//! containers/image requires of it: `critical` with exactly `identity.docker-reference`,
//! `image.docker-manifest-digest` and `type`, and an `optional` member (`null` here).

use serde_json::{Map, Value, json};

use super::SignError;

/// The `critical.type` of every cosign image signature.
pub const COSIGN_TYPE: &str = "cosign container image signature";

/// The largest payload `parse` reads.
pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;

/// The payload signing `manifest_digest` under `docker_reference` (`HOST[:PORT]/REPO`, no
/// tag), as JSON with sorted keys: the bytes cosign writes for the same input.
pub fn simple_signing(docker_reference: &str, manifest_digest: &str) -> Vec<u8> {
    let v = json!({
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": COSIGN_TYPE,
        },
        "optional": null,
    });
    serde_json::to_vec(&v).expect("JSON values serialize")
}

/// What a simple-signing payload says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleSigning {
    pub docker_reference: String,
    pub manifest_digest: String,
}

/// A payload read back, with the checks containers/image makes (hostile input).
pub fn parse(bytes: &[u8]) -> Result<SimpleSigning, SignError> {
    let bad = |s: &str| SignError::BadPayload(s.to_string());
    if bytes.len() > MAX_PAYLOAD {
        return Err(bad("larger than 4 MiB"));
    }
    let top: Map<String, Value> =
        serde_json::from_slice(bytes).map_err(|_| bad("not a JSON object"))?;
    exact_keys(&top, &["critical", "optional"])
        .map_err(|_| bad("the top level must have exactly `critical` and `optional`"))?;
    if !matches!(top["optional"], Value::Null | Value::Object(_)) {
        return Err(bad("`optional` is neither null nor an object"));
    }
    let critical = top["critical"]
        .as_object()
        .ok_or_else(|| bad("`critical` is not an object"))?;
    exact_keys(critical, &["identity", "image", "type"])
        .map_err(|_| bad("`critical` must have exactly `identity`, `image` and `type`"))?;
    if critical["type"] != COSIGN_TYPE {
        return Err(bad(
            "`critical.type` is not a cosign container image signature",
        ));
    }
    let member = |object: &str, key: &str| -> Result<String, SignError> {
        let o = critical[object]
            .as_object()
            .ok_or_else(|| bad("`critical` members must be objects"))?;
        exact_keys(o, &[key])
            .map_err(|_| SignError::BadPayload(format!("`{object}` must have exactly `{key}`")))?;
        o[key]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| SignError::BadPayload(format!("`{key}` is not a string")))
    };
    Ok(SimpleSigning {
        docker_reference: member("identity", "docker-reference")?,
        manifest_digest: member("image", "docker-manifest-digest")?,
    })
}

fn exact_keys(object: &Map<String, Value>, keys: &[&str]) -> Result<(), ()> {
    if object.len() == keys.len() && keys.iter().all(|k| object.contains_key(*k)) {
        Ok(())
    } else {
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn the_payload_is_cosigns_and_reads_back() {
        let p = simple_signing("127.0.0.1:5000/img", DIGEST);
        assert_eq!(
            String::from_utf8(p.clone()).unwrap(),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"127.0.0.1:5000/img"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
        let s = parse(&p).unwrap();
        assert_eq!(s.docker_reference, "127.0.0.1:5000/img");
        assert_eq!(s.manifest_digest, DIGEST);
    }

    #[test]
    fn payloads_containers_image_refuses_are_refused() {
        let good: Value = serde_json::from_slice(&simple_signing("r/x", DIGEST)).unwrap();
        let mut no_optional = good.clone();
        no_optional.as_object_mut().unwrap().remove("optional");
        let mut other_type = good.clone();
        other_type["critical"]["type"] = json!("atomic container signature");
        let mut extra = good.clone();
        extra["critical"]["extra"] = json!(1);
        let mut number = good.clone();
        number["critical"]["image"]["docker-manifest-digest"] = json!(1);
        for bad in [no_optional, other_type, extra, number] {
            assert!(parse(&serde_json::to_vec(&bad).unwrap()).is_err(), "{bad}");
        }
        assert!(parse(b"[]").is_err());
        assert!(parse(&vec![b' '; MAX_PAYLOAD + 1]).is_err());
    }
}
