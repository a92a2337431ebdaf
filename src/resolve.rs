//! Dependency resolution: a pure function from the spec's package requests and the indexes
//! to a package set. No I/O, no clocks, no hash-map order: the same input always gives the
//! same answer.
//!
//! Semantics:
//! - the closure of `include` over `Pre-Depends` and `Depends` (Recommends, Suggests,
//!   Conflicts and Breaks are ignored: nothing is configured, nothing runs);
//! - among the candidates of one name, the highest version (dpkg order) that satisfies the
//!   constraint wins, across every suite; equal versions go to the source listed first;
//! - a group of alternatives `a | b` is satisfied by any package already chosen (or installed
//!   by a lower layer); otherwise its first satisfiable alternative is chosen;
//! - virtual names resolve through `Provides`; a real package of that name beats providers;
//!   a versioned constraint needs a versioned `Provides`; among several providers the one
//!   already chosen wins, else the first by name;
//! - `:any` and `:native` qualifiers are satisfied by the package itself (one architecture);
//! - a group in which any alternative names an excluded package is cut: it pulls nothing, so
//!   the excluded package's own dependencies come in only if something else needs them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::str::FromStr;

use crate::package::{Dependency, PackageEntry, Version};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResolveError {
    #[error("package `{name}` not found in any source ({})", chain_text(chain))]
    Unknown { name: String, chain: Vec<String> },
    #[error(
        "unsatisfiable dependency `{dependency}`: available {} ({})",
        if available.is_empty() { "none".to_owned() } else { available.join(", ") },
        chain_text(chain)
    )]
    Unsatisfiable {
        dependency: String,
        available: Vec<String>,
        chain: Vec<String>,
    },
    #[error("package `{0}` is both included and excluded")]
    IncludedAndExcluded(String),
    #[error("invalid version in `{0}`")]
    BadPin(String),
    #[error("package `{package}` has an unparsable dependency field")]
    BadRelation {
        package: String,
        #[source]
        source: crate::package::RelationError,
    },
}

fn chain_text(chain: &[String]) -> String {
    if chain.is_empty() {
        "requested".to_owned()
    } else {
        format!("required by: {} (requested)", chain.join(" -> "))
    }
}

/// All candidate packages of one architecture, indexed by name and by provided name.
#[derive(Debug)]
pub struct Universe<'a> {
    packages: &'a [PackageEntry],
    /// Real packages by name, best first (highest version, then earliest origin).
    by_name: BTreeMap<&'a str, Vec<usize>>,
    /// Providers by virtual name, in (provider name, version desc) order.
    providers: BTreeMap<&'a str, Vec<usize>>,
}

impl<'a> Universe<'a> {
    /// `packages`: every stanza of every index; only entries of `architecture` or `all` are
    /// candidates.
    pub fn new(packages: &'a [PackageEntry], architecture: &str) -> Universe<'a> {
        let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut providers: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (id, p) in packages.iter().enumerate() {
            if p.architecture != architecture && p.architecture != "all" {
                continue;
            }
            by_name.entry(&p.name).or_default().push(id);
            for prov in &p.provides {
                providers.entry(&prov.name).or_default().push(id);
            }
        }
        let best_first = |a: &usize, b: &usize| {
            let (pa, pb) = (&packages[*a], &packages[*b]);
            pb.version
                .cmp(&pa.version)
                .then(pa.origin.cmp(&pb.origin))
                .then(pa.sha256.cmp(&pb.sha256))
        };
        for ids in by_name.values_mut() {
            ids.sort_by(best_first);
            ids.dedup_by(|a, b| packages[*a].sha256 == packages[*b].sha256);
        }
        for ids in providers.values_mut() {
            ids.sort_by(|a, b| {
                packages[*a]
                    .name
                    .cmp(&packages[*b].name)
                    .then(best_first(a, b))
            });
            ids.dedup();
        }
        Universe {
            packages,
            by_name,
            providers,
        }
    }

    pub fn entry(&self, id: usize) -> &'a PackageEntry {
        &self.packages[id]
    }

    /// The best (highest version) real package named `name`.
    pub fn best(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).and_then(|ids| ids.first().copied())
    }

    /// Versions of real packages named `name`, best first.
    pub fn versions(&self, name: &str) -> Vec<String> {
        self.by_name
            .get(name)
            .map(|ids| {
                ids.iter()
                    .map(|&i| self.packages[i].version.to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What to resolve.
#[derive(Debug, Clone, Copy)]
pub struct Request<'r> {
    /// Names to install; a real or virtual name, or `name=version` for an exact version.
    pub include: &'r [String],
    /// Names cut from the closure on purpose.
    pub exclude: &'r BTreeSet<String>,
    /// Packages already chosen by a lower layer: they satisfy dependencies and are never
    /// chosen or returned again.
    pub installed: &'r [usize],
}

/// Why a package is in the closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Requested,
    DependencyOf {
        parent: String,
        /// The dependency group as written, e.g. `libc6 (>= 2.36)` or `a | b`.
        dependency: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The packages this request adds (ids into the universe), sorted by name.
    pub chosen: Vec<usize>,
    /// Why each chosen package is in.
    pub reasons: BTreeMap<String, Reason>,
    /// Excluded name -> packages whose dependencies named it.
    pub excluded: BTreeMap<String, Vec<String>>,
}

impl Resolution {
    /// `[name, parent, ..., requested root]`, or `None` when `name` is not chosen here.
    pub fn chain(&self, name: &str) -> Option<Vec<String>> {
        let mut out = vec![name.to_owned()];
        let mut current = name.to_owned();
        loop {
            match self.reasons.get(&current)? {
                Reason::Requested => return Some(out),
                Reason::DependencyOf { parent, .. } => {
                    if out.contains(parent) || !self.reasons.contains_key(parent) {
                        if !out.contains(parent) {
                            out.push(parent.clone());
                        }
                        return Some(out);
                    }
                    out.push(parent.clone());
                    current = parent.clone();
                }
            }
        }
    }
}

/// The answer of `why`: how a package relates to a resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// In the closure; the chain from the package to what was requested.
    Chosen(Vec<String>),
    /// Cut by `exclude`; the packages that asked for it.
    Excluded(Vec<String>),
    NotInClosure,
}

pub fn why(resolution: &Resolution, name: &str) -> Why {
    if let Some(chain) = resolution.chain(name) {
        Why::Chosen(chain)
    } else if let Some(by) = resolution.excluded.get(name) {
        Why::Excluded(by.clone())
    } else {
        Why::NotInClosure
    }
}

struct State<'u, 'a> {
    universe: &'u Universe<'a>,
    exclude: &'u BTreeSet<String>,
    /// Chosen or installed: name -> id.
    chosen: BTreeMap<&'a str, usize>,
    /// Provided virtual name -> ids of chosen or installed providers.
    provided: BTreeMap<&'a str, Vec<usize>>,
    new: Vec<usize>,
    reasons: BTreeMap<String, Reason>,
    excluded: BTreeMap<String, BTreeSet<String>>,
    queue: VecDeque<usize>,
}

impl<'a> State<'_, 'a> {
    fn take(&mut self, id: usize, reason: Reason, installed: bool) {
        let p = self.universe.entry(id);
        self.chosen.insert(&p.name, id);
        for prov in &p.provides {
            self.provided.entry(&prov.name).or_default().push(id);
        }
        if !installed {
            self.new.push(id);
            self.reasons.insert(p.name.clone(), reason);
            self.queue.push_back(id);
        }
    }

    fn provides_match(&self, id: usize, dep: &Dependency) -> bool {
        self.universe.entry(id).provides.iter().any(|prov| {
            prov.name == dep.name
                && match (&dep.constraint, &prov.version) {
                    (None, _) => true,
                    (Some(c), Some(v)) => c.matches(v),
                    (Some(_), None) => false,
                }
        })
    }

    /// Is `dep` satisfied by something already chosen or installed?
    fn satisfied(&self, dep: &Dependency) -> bool {
        if let Some(&id) = self.chosen.get(dep.name.as_str()) {
            let v = &self.universe.entry(id).version;
            if dep.constraint.as_ref().is_none_or(|c| c.matches(v)) {
                return true;
            }
        }
        self.provided
            .get(dep.name.as_str())
            .is_some_and(|ids| ids.iter().any(|&id| self.provides_match(id, dep)))
    }

    /// The best new package for `dep`, if any.
    fn candidate(&self, dep: &Dependency) -> Option<usize> {
        if !self.chosen.contains_key(dep.name.as_str()) {
            let real = self
                .universe
                .by_name
                .get(dep.name.as_str())
                .and_then(|ids| {
                    ids.iter().copied().find(|&id| {
                        dep.constraint
                            .as_ref()
                            .is_none_or(|c| c.matches(&self.universe.entry(id).version))
                    })
                });
            if real.is_some() {
                return real;
            }
        }
        let providers = self.universe.providers.get(dep.name.as_str())?;
        providers.iter().copied().find(|&id| {
            let p = self.universe.entry(id);
            !self.exclude.contains(&p.name)
                && !self.chosen.contains_key(p.name.as_str())
                && self.provides_match(id, dep)
        })
    }

    fn chain_of(&self, name: &str) -> Vec<String> {
        let mut out = vec![name.to_owned()];
        let mut current = name.to_owned();
        while let Some(Reason::DependencyOf { parent, .. }) = self.reasons.get(&current) {
            if out.contains(parent) {
                break;
            }
            out.push(parent.clone());
            current = parent.clone();
        }
        out
    }

    fn failure(&self, dep: &Dependency, group: &str, chain: Vec<String>) -> ResolveError {
        let available = self.universe.versions(&dep.name);
        let known =
            !available.is_empty() || self.universe.providers.contains_key(dep.name.as_str());
        if known {
            ResolveError::Unsatisfiable {
                dependency: group.to_owned(),
                available: available
                    .into_iter()
                    .map(|v| format!("{} {v}", dep.name))
                    .collect(),
                chain,
            }
        } else {
            ResolveError::Unknown {
                name: dep.name.clone(),
                chain,
            }
        }
    }
}

fn group_text(group: &[Dependency]) -> String {
    group
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Resolve `request` against `universe`.
pub fn resolve(universe: &Universe, request: &Request) -> Result<Resolution, ResolveError> {
    let mut st = State {
        universe,
        exclude: request.exclude,
        chosen: BTreeMap::new(),
        provided: BTreeMap::new(),
        new: Vec::new(),
        reasons: BTreeMap::new(),
        excluded: BTreeMap::new(),
        queue: VecDeque::new(),
    };
    for &id in request.installed {
        st.take(id, Reason::Requested, true);
    }
    for item in request.include {
        let (name, pin) = match item.split_once('=') {
            Some((n, v)) => (
                n,
                Some(Version::from_str(v).map_err(|_| ResolveError::BadPin(item.clone()))?),
            ),
            None => (item.as_str(), None),
        };
        if request.exclude.contains(name) {
            return Err(ResolveError::IncludedAndExcluded(name.to_owned()));
        }
        let dep = Dependency {
            name: name.to_owned(),
            arch_qualifier: None,
            constraint: pin.map(|version| crate::package::Constraint {
                relation: crate::package::Relation::Equal,
                version,
            }),
        };
        if st.satisfied(&dep) {
            continue;
        }
        let Some(id) = st.candidate(&dep) else {
            return Err(st.failure(&dep, item, Vec::new()));
        };
        st.take(id, Reason::Requested, false);
    }
    while let Some(id) = st.queue.pop_front() {
        let parent = universe.entry(id);
        let depends = parent
            .depends()
            .map_err(|source| ResolveError::BadRelation {
                package: parent.name.clone(),
                source,
            })?;
        'groups: for group in &depends {
            for alt in group {
                if request.exclude.contains(&alt.name) {
                    st.excluded
                        .entry(alt.name.clone())
                        .or_default()
                        .insert(parent.name.clone());
                    continue 'groups;
                }
            }
            if group.iter().any(|alt| st.satisfied(alt)) {
                continue;
            }
            let text = group_text(group);
            let Some(found) = group.iter().find_map(|alt| st.candidate(alt)) else {
                return Err(st.failure(&group[0], &text, st.chain_of(&parent.name)));
            };
            st.take(
                found,
                Reason::DependencyOf {
                    parent: parent.name.clone(),
                    dependency: text,
                },
                false,
            );
        }
    }
    let mut chosen = st.new;
    chosen.sort_by(|a, b| universe.entry(*a).name.cmp(&universe.entry(*b).name));
    Ok(Resolution {
        chosen,
        reasons: st.reasons,
        excluded: st
            .excluded
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::MultiArch;
    use crate::package::parse_provides;

    /// `name version [depends] [; provides]`, e.g. `tool 1.0 libc (>= 2) | b ; awk`.
    fn pkg(spec: &str, origin: usize) -> PackageEntry {
        let (head, provides) = spec.split_once(';').unwrap_or((spec, ""));
        let mut words = head.trim().splitn(3, ' ');
        let name = words.next().unwrap().to_owned();
        let version = words.next().unwrap().parse().unwrap();
        let deps = words.next().unwrap_or("");
        PackageEntry {
            name: name.clone(),
            version,
            architecture: "amd64".into(),
            multi_arch: MultiArch::No,
            depends_raw: deps.to_owned(),
            provides: parse_provides(provides).unwrap(),
            filename: format!("pool/{name}.deb"),
            size: 1,
            sha256: format!("{name}-{spec}-{origin}"),
            origin,
        }
    }

    fn universe(specs: &[&str]) -> Vec<PackageEntry> {
        specs.iter().map(|s| pkg(s, 0)).collect()
    }

    fn names(pkgs: &[PackageEntry], r: &Resolution) -> Vec<String> {
        r.chosen
            .iter()
            .map(|&i| format!("{}={}", pkgs[i].name, pkgs[i].version))
            .collect()
    }

    fn run(
        pkgs: &[PackageEntry],
        include: &[&str],
        exclude: &[&str],
    ) -> Result<Resolution, ResolveError> {
        let u = Universe::new(pkgs, "amd64");
        let include: Vec<String> = include.iter().map(|s| s.to_string()).collect();
        let exclude: BTreeSet<String> = exclude.iter().map(|s| s.to_string()).collect();
        resolve(
            &u,
            &Request {
                include: &include,
                exclude: &exclude,
                installed: &[],
            },
        )
    }

    #[test]
    fn alternatives_first_satisfiable_or_already_chosen() {
        let p = universe(&["app 1 a | b", "b 1", "a 1 x", "tool 1 b, a | b"]);
        // The first alternative that has a candidate wins, even if its own dependencies fail
        // later (as apt does): `a` is chosen and its missing `x` is reported.
        let p2 = universe(&["app 1 zz | b", "b 1"]);
        assert_eq!(
            names(&p2, &run(&p2, &["app"], &[]).unwrap()),
            ["app=1", "b=1"]
        );
        // Already chosen `b` satisfies `a | b` in tool.
        let p3 = universe(&["tool 1 b, a | b", "a 1", "b 1"]);
        assert_eq!(
            names(&p3, &run(&p3, &["tool"], &[]).unwrap()),
            ["b=1", "tool=1"]
        );
        let e = run(&p, &["app"], &[]).unwrap_err();
        assert!(
            matches!(e, ResolveError::Unknown { ref name, .. } if name == "x"),
            "{e}"
        );
    }

    #[test]
    fn provides_real_beats_virtual_and_versions() {
        let p = universe(&["app 1 awk", "mawk 1 ; awk", "gawk 1 ; awk", "awk 1"]);
        assert_eq!(
            names(&p, &run(&p, &["app"], &[]).unwrap()),
            ["app=1", "awk=1"]
        );
        let p = universe(&["app 1 awk", "mawk 1 ; awk", "gawk 1 ; awk"]);
        assert_eq!(
            names(&p, &run(&p, &["app"], &[]).unwrap()),
            ["app=1", "gawk=1"]
        );
        // An already chosen provider wins.
        let p = universe(&["app 1 mawk, awk", "mawk 1 ; awk", "gawk 1 ; awk"]);
        assert_eq!(
            names(&p, &run(&p, &["app"], &[]).unwrap()),
            ["app=1", "mawk=1"]
        );
        // Versioned constraints need versioned Provides.
        let p = universe(&["app 1 api (>= 2)", "old 1 ; api", "new 1 ; api (= 2)"]);
        assert_eq!(
            names(&p, &run(&p, &["app"], &[]).unwrap()),
            ["app=1", "new=1"]
        );
        let p = universe(&["app 1 api (>= 3)", "new 1 ; api (= 2)"]);
        assert!(matches!(
            run(&p, &["app"], &[]),
            Err(ResolveError::Unsatisfiable { .. })
        ));
    }

    #[test]
    fn highest_version_across_origins_and_ties_by_origin() {
        let p = vec![
            pkg("lib 1.0", 0),
            pkg("lib 1.0+deb13u1", 1),
            pkg("lib 1.0~rc1", 2),
            pkg("app 1 lib (>= 1.0)", 0),
        ];
        let r = run(&p, &["app"], &[]).unwrap();
        assert_eq!(names(&p, &r), ["app=1", "lib=1.0+deb13u1"]);
        let p = vec![pkg("lib 2", 1), pkg("lib 2", 0)];
        let r = run(&p, &["lib"], &[]).unwrap();
        assert_eq!(
            p[r.chosen[0]].origin, 0,
            "equal versions: first source wins"
        );
        // Constraints pick the highest satisfying version.
        let p = universe(&["lib 3", "lib 2", "app 1 lib (<< 3)"]);
        assert_eq!(
            names(&p, &run(&p, &["app"], &[]).unwrap()),
            ["app=1", "lib=2"]
        );
        // A pin.
        let p = universe(&["lib 3", "lib 2"]);
        assert_eq!(names(&p, &run(&p, &["lib=2"], &[]).unwrap()), ["lib=2"]);
    }

    #[test]
    fn multiarch_qualifiers_are_stripped() {
        let p = universe(&[
            "app 1 python3:any (>= 3), libc:native",
            "python3 3.13",
            "libc 2",
        ]);
        assert_eq!(
            names(&p, &run(&p, &["app"], &[]).unwrap()),
            ["app=1", "libc=2", "python3=3.13"]
        );
    }

    #[test]
    fn excludes_cut_groups_and_orphans() {
        let p = universe(&[
            "tzdata 1 debconf (>= 0.5) | debconf-2.0",
            "debconf 1 perl-base",
            "cdebconf 1 ; debconf-2.0",
            "perl-base 1",
        ]);
        let r = run(&p, &["tzdata"], &["debconf"]).unwrap();
        assert_eq!(
            names(&p, &r),
            ["tzdata=1"],
            "no debconf, no provider, no perl"
        );
        assert_eq!(r.excluded["debconf"], ["tzdata"]);
        assert_eq!(why(&r, "debconf"), Why::Excluded(vec!["tzdata".into()]));
        assert_eq!(why(&r, "perl-base"), Why::NotInClosure);
        assert_eq!(
            run(&p, &["debconf"], &["debconf"]).unwrap_err(),
            ResolveError::IncludedAndExcluded("debconf".into())
        );
        // A dependency of an excluded package still comes when someone else needs it.
        let p = universe(&["a 1 x, perl-base", "x 1 perl-base", "perl-base 1"]);
        assert_eq!(
            names(&p, &run(&p, &["a"], &["x"]).unwrap()),
            ["a=1", "perl-base=1"]
        );
    }

    #[test]
    fn installed_packages_satisfy_and_are_not_returned() {
        let p = universe(&["libc 2", "app 1 libc (>= 2), extra", "extra 1 libc"]);
        let u = Universe::new(&p, "amd64");
        let include = vec!["app".to_owned()];
        let r = resolve(
            &u,
            &Request {
                include: &include,
                exclude: &BTreeSet::new(),
                installed: &[0],
            },
        )
        .unwrap();
        assert_eq!(names(&p, &r), ["app=1", "extra=1"]);
        // A lower layer's version that is too old is not replaced: unsatisfiable.
        let p = universe(&["libc 1", "libc 2", "app 1 libc (>= 2)"]);
        let u = Universe::new(&p, "amd64");
        let e = resolve(
            &u,
            &Request {
                include: &include,
                exclude: &BTreeSet::new(),
                installed: &[0],
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("libc (>= 2)"), "{e}");
    }

    #[test]
    fn cycles_terminate() {
        let p = universe(&["a 1 b", "b 1 c", "c 1 a"]);
        assert_eq!(
            names(&p, &run(&p, &["a"], &[]).unwrap()),
            ["a=1", "b=1", "c=1"]
        );
    }

    #[test]
    fn errors_name_the_package_and_the_chain() {
        let p = universe(&["python3 1 python3-min", "python3-min 1 libfoo", "old 1"]);
        let e = run(&p, &["python3"], &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "package `libfoo` not found in any source (required by: python3-min -> python3 (requested))"
        );
        let p = universe(&["app 1 old (>= 2)", "old 1"]);
        let e = run(&p, &["app"], &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "unsatisfiable dependency `old (>= 2)`: available old 1 (required by: app (requested))"
        );
        let e = run(&p, &["nothing"], &[]).unwrap_err().to_string();
        assert_eq!(e, "package `nothing` not found in any source (requested)");
    }

    #[test]
    fn reasons_give_the_chain() {
        let p = universe(&["a 1 b", "b 1 c | d", "c 1"]);
        let r = run(&p, &["a"], &[]).unwrap();
        assert_eq!(r.chain("c").unwrap(), ["c", "b", "a"]);
        assert_eq!(
            r.reasons["c"],
            Reason::DependencyOf {
                parent: "b".into(),
                dependency: "c | d".into()
            }
        );
        assert_eq!(why(&r, "a"), Why::Chosen(vec!["a".into()]));
    }

    #[test]
    fn input_order_does_not_matter() {
        let specs = [
            "app 1 awk, lib (>= 1)",
            "mawk 1 ; awk",
            "gawk 1 ; awk",
            "lib 1",
            "lib 2",
            "lib 1.5",
        ];
        let p1 = universe(&specs);
        let mut rev = specs.to_vec();
        rev.reverse();
        let p2 = universe(&rev);
        assert_eq!(
            names(&p1, &run(&p1, &["app"], &[]).unwrap()),
            names(&p2, &run(&p2, &["app"], &[]).unwrap())
        );
    }
}
