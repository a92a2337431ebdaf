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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::inhouse::{Group, User};

    fn user(name: &str, uid: u32, level: usize, home: Option<&str>) -> User {
        User {
            name: name.into(),
            uid,
            gid: uid,
            home: home.map(str::to_owned),
            shell: "/sbin/nologin".into(),
            spec: "s".into(),
            level,
        }
    }

    #[test]
    fn accounts_follow_the_defaults_in_level_order_and_only_where_added() {
        let below = InHouse {
            level: 0,
            users: vec![user("app", 10001, 0, Some("/home/app"))],
            groups: vec![Group {
                name: "app".into(),
                gid: 10001,
                members: vec!["app".into(), "web".into()],
                spec: "s".into(),
            }],
            ..InHouse::default()
        };
        let mut top = below.inherited();
        let mut t = Tree::new();
        accounts(&mut t, &top, Some(&below), 3);
        assert!(t.is_empty(), "nothing added: the lower files stay");
        top.users.push(user("web", 10002, 1, None));
        accounts(&mut t, &top, Some(&below), 3);
        let Kind::File(c) = &t["etc/passwd"].kind else {
            panic!()
        };
        let passwd = std::str::from_utf8(c.inline.as_deref().unwrap()).unwrap();
        assert_eq!(
            passwd.strip_prefix(PASSWD).unwrap(),
            "app:x:10001:10001:app:/home/app:/sbin/nologin\nweb:x:10002:10002:web:/nonexistent:/sbin/nologin\n"
        );
        assert!(group(&top).ends_with("nonroot:x:65532:\napp:x:10001:app,web\n"));
    }

    #[test]
    fn directories_make_parents_and_refuse_symlinks_and_files_on_the_way() {
        let mut lower = Tree::new();
        super::super::generated::base_files(&mut lower, "amd64", 1);
        let dir = |path: &str| Directory {
            path: path.into(),
            mode: 0o750,
            uid: 7,
            gid: 8,
        };
        let mut inhouse = InHouse {
            directories: vec![dir("/srv/app/data"), dir("/tmp")],
            ..InHouse::default()
        };
        let mut t = Tree::new();
        directories(&mut t, &lower, &inhouse, 5).unwrap();
        assert_eq!((t["srv"].mode, t["srv"].uid), (0o755, 0));
        assert_eq!((t["srv/app/data"].mode, t["srv/app/data"].gid), (0o750, 8));
        // A listed lower directory is re-owned in this layer.
        assert_eq!((t["tmp"].mode, t["tmp"].uid), (0o750, 7));
        for (path, msg) in [
            (
                "/lib/x",
                "directory `/lib/x`: `/lib` is a symlink in the image",
            ),
            (
                "/etc/passwd/x",
                "directory `/etc/passwd/x`: `/etc/passwd` is not a directory in the image",
            ),
        ] {
            inhouse.directories = vec![dir(path)];
            let e = directories(&mut Tree::new(), &lower, &inhouse, 5).unwrap_err();
            assert_eq!(e.to_string(), msg);
        }
    }
}
