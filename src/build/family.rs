//! A family in one run (`compose build specs/*.toml`): each spec's image name, and each
//! one's outputs from the `--output` templates, where `{name}` stands for that name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::error::BuildError;
use crate::publish::Destination;
use crate::spec::Spec;

/// What an `--output` template says for the spec's name.
pub const NAME: &str = "{name}";

/// The image name of every spec (its top level's `name`), in order, refusing two specs of
/// one name (their outputs would be the same).
pub fn family_names(specs: &[PathBuf]) -> Result<Vec<String>> {
    let mut seen: BTreeMap<String, &Path> = BTreeMap::new();
    let mut names = Vec::with_capacity(specs.len());
    for spec in specs {
        let levels = Spec::load(spec)?;
        let name = levels.last().expect("a chain has a level").name.clone();
        if let Some(first) = seen.insert(name.clone(), spec) {
            return Err(BuildError::SameName {
                name,
                first: first.to_path_buf(),
                second: spec.clone(),
            }
            .into());
        }
        names.push(name);
    }
    Ok(names)
}

/// The outputs of every image, in the order of `names`: each template with `{name}` replaced
/// by the image's name, then parsed. With several images every template must have `{name}`.
pub fn family_outputs(templates: &[String], names: &[String]) -> Result<Vec<Vec<Destination>>> {
    if names.len() > 1
        && let Some(t) = templates.iter().find(|t| !t.contains(NAME))
    {
        return Err(BuildError::FamilyOutput {
            output: t.clone(),
            specs: names.len(),
        }
        .into());
    }
    names
        .iter()
        .map(|name| {
            templates
                .iter()
                .map(|t| Destination::parse(&t.replace(NAME, name)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(anyhow::Error::msg)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path, file: &str, name: &str) -> PathBuf {
        let path = dir.join(file);
        let text = format!(
            "name = \"{name}\"\n[[source]]\nurl = \"http://127.0.0.1/d\"\nsuites = [\"t\"]\ncomponents = [\"main\"]\n[packages]\ninclude = [\"a\"]\n"
        );
        fs_err::write(&path, text).unwrap();
        path
    }

    #[test]
    fn names_are_the_top_levels_and_unique() {
        let dir = tempfile::tempdir().unwrap();
        let a = spec(dir.path(), "a.toml", "alpha");
        let b = spec(dir.path(), "b.toml", "beta");
        let c = spec(dir.path(), "c.toml", "alpha");
        assert_eq!(
            family_names(&[a.clone(), b.clone()]).unwrap(),
            ["alpha", "beta"]
        );
        let e = family_names(&[a, b, c]).unwrap_err().to_string();
        assert!(e.contains("a.toml") && e.contains("c.toml"), "{e}");
        assert!(e.contains("`alpha`"), "{e}");
    }

    #[test]
    fn outputs_replace_the_name_and_several_images_need_it() {
        let names = ["x".to_owned(), "y".to_owned()];
        let t = [
            "oci:out/{name}".to_owned(),
            "oci-archive:{name}.tar:v1".to_owned(),
        ];
        let outs = family_outputs(&t, &names).unwrap();
        assert_eq!(outs[1][0].to_string(), "oci:out/y:latest");
        assert_eq!(outs[0][1].to_string(), "oci-archive:x.tar:v1");
        let e = family_outputs(&["oci:out/same".to_owned()], &names).unwrap_err();
        assert!(e.to_string().contains("`--output oci:out/same`"), "{e}");
        // One image: a template without `{name}` is a plain output, as always.
        let one = family_outputs(&["oci:out/same".to_owned()], &names[..1]).unwrap();
        assert_eq!(one[0][0].to_string(), "oci:out/same:latest");
        assert!(
            family_outputs(&[], &names)
                .unwrap()
                .iter()
                .all(Vec::is_empty)
        );
    }
}
