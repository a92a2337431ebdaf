//! The files a spec's in-house sections put in its level's layer: each added certificate
//! under `/usr/local/share/ca-certificates/`, `/etc/passwd` and `/etc/group` with the
//! added accounts, home directories and `[[directories]]`.

use crate::spec::inhouse::{Directory, InHouse};
use crate::tree::{Kind, Node, Tree};

use super::generated::{GROUP, PASSWD};

#[derive(Debug, thiserror::Error)]
pub enum InHouseError {
    #[error("directory `{path}`: `/{through}` is {what} in the image")]
    Through {
        path: String,
        through: String,
        what: &'static str,
    },
}

/// Where each added certificate is installed, as `update-ca-certificates` expects them.
pub const LOCAL_CERTIFICATES: &str = "usr/local/share/ca-certificates";

/// `/usr/local/share/ca-certificates/<name>.crt` for each certificate this level adds.
pub fn certificate_files(tree: &mut Tree, inhouse: &InHouse, mtime: u64) {
    let mut any = false;
    for c in inhouse.own_certificates() {
        any = true;
        tree.insert(
            format!("{LOCAL_CERTIFICATES}/{}.crt", c.name),
            Node::file(c.pem.as_bytes(), 0o644, mtime, None),
        );
    }
    if any {
        for dir in ["usr", "usr/local", "usr/local/share", LOCAL_CERTIFICATES] {
            tree.entry(dir.to_owned())
                .or_insert_with(|| Node::dir(0o755, 0, 0, mtime));
        }
    }
}

/// `/etc/passwd`: the defaults, then every level's users up to this one.
pub fn passwd(inhouse: &InHouse) -> String {
    let mut out = PASSWD.to_owned();
    for u in &inhouse.users {
        let home = u.home.as_deref().unwrap_or("/nonexistent");
        out.push_str(&format!(
            "{}:x:{}:{}:{}:{home}:{}\n",
            u.name, u.uid, u.gid, u.name, u.shell
        ));
    }
    out
}

/// `/etc/group`: the defaults, then every level's groups up to this one.
pub fn group(inhouse: &InHouse) -> String {
    let mut out = GROUP.to_owned();
    for g in &inhouse.groups {
        out.push_str(&format!("{}:x:{}:{}\n", g.name, g.gid, g.members.join(",")));
    }
    out
}

/// `/etc/passwd` and `/etc/group` in this level's layer when it adds accounts (the whole
/// files: the layer below keeps its own).
pub fn accounts(tree: &mut Tree, inhouse: &InHouse, parent: Option<&InHouse>, mtime: u64) {
    let below = parent.map_or((0, 0), |p| (p.users.len(), p.groups.len()));
    if (inhouse.users.len(), inhouse.groups.len()) == below {
        return;
    }
    tree.entry("etc".to_owned())
        .or_insert_with(|| Node::dir(0o755, 0, 0, mtime));
    tree.insert(
        "etc/passwd".into(),
        Node::file(passwd(inhouse).into_bytes(), 0o644, mtime, None),
    );
    tree.insert(
        "etc/group".into(),
        Node::file(group(inhouse).into_bytes(), 0o644, mtime, None),
    );
}

/// The home directories of this level's users and its `[[directories]]`, with their
/// missing parents (root, 0755). Runs after the level's directories are settled, so a
/// listed directory of a lower level is re-owned here; one not listed is left alone.
pub fn directories(
    tree: &mut Tree,
    lower: &Tree,
    inhouse: &InHouse,
    mtime: u64,
) -> Result<(), InHouseError> {
    let homes = inhouse.own_users().filter_map(|u| {
        u.home.as_ref().map(|h| Directory {
            path: h.clone(),
            mode: 0o700,
            uid: u.uid,
            gid: u.gid,
        })
    });
    let listed: Vec<Directory> = homes.chain(inhouse.directories.iter().cloned()).collect();
    for d in &listed {
        let rel = d.path.trim_start_matches('/');
        let mut at = String::new();
        for part in rel.split('/') {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            let node = tree.get(&at).or_else(|| lower.get(&at));
            let what = match node.map(|n| &n.kind) {
                None => {
                    tree.insert(at.clone(), Node::dir(0o755, 0, 0, mtime));
                    continue;
                }
                Some(Kind::Dir) => continue,
                Some(Kind::Symlink(_)) => "a symlink",
                Some(_) => "not a directory",
            };
            return Err(InHouseError::Through {
                path: d.path.clone(),
                through: at,
                what,
            });
        }
        tree.insert(
            rel.to_owned(),
            Node::dir(d.mode, d.uid.into(), d.gid.into(), mtime),
        );
    }
    if !listed.is_empty() {
        super::add_parents(tree, lower, &std::collections::BTreeMap::new());
    }
    Ok(())
}
