//! Dependency resolution: a pure function from the spec's package requests and the indexes
//! to a package set. No I/O, no clocks, no hash-map order: the same input always gives the
//! same answer, whatever the order of the stanzas in the indexes.
//!
//! The rules are apt's (`apt-get install --no-install-recommends` on an empty system, its
//! `pkgDepCache::MarkInstall`), except where noted as compose's own.
//!
//! - **Closure.** The result is the closure of `include` over `Pre-Depends` and `Depends`
//!   (both are in [`PackageEntry::depends`]). Recommends, Suggests, Conflicts and Breaks are
//!   ignored: nothing is configured and nothing runs, so only what must be on disk counts
//!   (compose's own: apt would refuse two conflicting packages).
//! - **Candidates.** Only stanzas of the target architecture or `all` are candidates.
//! - **Versions.** Among the candidates of one name, the highest version (dpkg order) that
//!   satisfies the constraint wins, across every suite (security and updates included);
//!   identical versions go to the lowest `origin` index, i.e. the source listed first.
//!   (compose's own: apt considers only the highest version, its candidate, and fails when
//!   that one does not satisfy the constraint.)
//! - **Requests.** `include` entries are `name` or `name=version` (exactly that version). A
//!   name may be virtual. Requests naming a real package are taken first, in the order given,
//!   then requests naming only a virtual package, so that `include = ["awk", "mawk"]` takes
//!   `mawk` for `awk` rather than another provider. A request already satisfied (by an
//!   earlier request or by a lower layer) adds nothing. Every request is taken before any
//!   dependency is walked; then the requests are walked in that order (compose's own: apt
//!   walks them in the order of its cache, and refuses a virtual request with several
//!   providers).
//! - **Order.** Depth first, as apt: a package is taken, then its dependency groups in
//!   stanza order, each group's choice walked completely before the next group is looked
//!   at. A group already satisfied by a chosen or installed package needs nothing. Cycles
//!   are fine (a package is taken before its dependencies).
//! - **Alternatives.** The solutions of a group `a | b` are those of `a`, then those of `b`.
//!   Each is tried in turn: when the dependencies of one cannot be satisfied, everything
//!   its attempt chose is given back and the next is tried; the group fails (with the error
//!   of its first solution) only when all do.
//! - **Virtual packages.** A name is satisfied by a real package of that name matching the
//!   constraint, else by a package that `Provides` it; a real package comes before providers.
//!   A versioned constraint on a virtual name needs a versioned `Provides` that matches it.
//!   Providers are tried as apt's `CompareProviders` ranks them: `Essential: yes` first, then
//!   `Protected: yes`, then by `Priority` (required, important, standard, optional, extra;
//!   apt ranks a stanza without the field before required, and an unknown word as extra).
//!   So `awk` is `mawk` (required), not `gawk` (optional). When these tie, apt takes the
//!   package its cache happened to create last (an artifact of index and status-file
//!   order); compose takes the first by package name (compose's own), then the highest
//!   version. A provider whose name is already taken at another version is never chosen a
//!   second time.
//! - **Multi-Arch.** One architecture is installed. A qualifier `:native`, `:any` or naming
//!   that architecture is always met; another architecture never (so `a:i386 | b` is `b`).
//!   (compose's own: apt meets `:any` only with a `Multi-Arch: allowed` package.)
//! - **Exclude.** An excluded name is never chosen. A group in which any alternative names an
//!   excluded package (real or virtual name) is cut: it pulls nothing, so the excluded
//!   package's own dependencies come in only if something else needs them. A group that only
//!   excluded providers could satisfy is cut the same way. Every cut is recorded in
//!   [`Resolution::excluded`]. Including and excluding one name is an error.
//! - **Lower layers.** `installed` packages (chosen by a parent spec) satisfy dependencies and
//!   requests but are never chosen or returned again; their own dependencies are not walked
//!   (the lower layer is closed already). A lower layer's version is never replaced: a
//!   constraint it does not meet is an error.
//! - **Bounded.** The walk keeps its own stack (no recursion), so a hostile chain of any
//!   length cannot overflow the thread's stack, and gives up after [`MAX_STEPS`] packages
//!   taken (failed alternatives included), so hostile alternatives cannot make it run for
//!   ever.

use std::collections::{BTreeMap, BTreeSet};

use crate::package::{Constraint, Dependency, PackageEntry, Relation, RelationError, Version};

/// Why a request cannot be resolved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResolveError {
    /// No real package and no provider for any alternative of a dependency.
    #[error(
        "{} not found in any source ({})",
        unknown_text(names),
        format_chain(chain)
    )]
    Unknown {
        /// The names looked for (one per alternative of the group).
        names: Vec<String>,
        /// `[parent, grandparent, ..., requested root]`; empty for a request.
        chain: Vec<String>,
    },
    /// Packages exist under the name(s), but none can satisfy the dependency.
    #[error(
        "unsatisfiable dependency `{dependency}`: available {} ({})",
        available_text(available),
        format_chain(chain)
    )]
    Unsatisfiable {
        /// The dependency group as written (`libc6 (>= 2.36)`, `a | b`) or the request.
        dependency: String,
        /// What the alternatives could have been: `name version`, with notes in brackets.
        available: Vec<String>,
        /// `[parent, grandparent, ..., requested root]`; empty for a request.
        chain: Vec<String>,
    },
    /// The walk took more than [`MAX_STEPS`] packages (failed alternatives included).
    #[error("dependency resolution gave up after taking {0} packages")]
    TooManySteps(usize),
    #[error("package `{0}` is both included and excluded")]
    IncludedAndExcluded(String),
    #[error("invalid package request `{0}`: expected `name` or `name=version`")]
    BadRequest(String),
    #[error("package `{package}` has an unparsable dependency field")]
    BadRelation {
        package: String,
        #[source]
        source: RelationError,
    },
}

/// How many packages one resolution may take, counting those of alternatives that failed
/// and were given back. Real closures take a few thousand at most (npm: 404).
pub const MAX_STEPS: usize = 50_000;

/// `required by: a -> b (requested)` for the chain `[a, b]`, `requested` for an empty chain
/// (the package was asked for directly).
pub fn format_chain(chain: &[String]) -> String {
    if chain.is_empty() {
        "requested".to_owned()
    } else {
        format!("required by: {} (requested)", chain.join(" -> "))
    }
}

fn unknown_text(names: &[String]) -> String {
    match names {
        [one] => format!("package `{one}`"),
        _ => format!(
            "packages {}",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn available_text(available: &[String]) -> String {
    if available.is_empty() {
        "none".to_owned()
    } else {
        available.join(", ")
    }
}

/// All candidate packages of one architecture, indexed by name and by provided name.
#[derive(Debug)]
pub struct Universe<'a> {
    packages: &'a [PackageEntry],
    /// Real packages by name, best first (highest version, then lowest origin); one entry
    /// per `.deb` (the same file in several suites counts once, from its first source).
    by_name: BTreeMap<&'a str, Vec<usize>>,
    /// Providers by virtual name, in apt's order of preference: `Essential` first, then
    /// `Protected`, then by `Priority` (required first); then by package name and best first.
    providers: BTreeMap<&'a str, Vec<usize>>,
    /// The one architecture installed (qualifiers such as `:any` are checked against it).
    architecture: &'a str,
}

impl<'a> Universe<'a> {
    /// `packages`: every stanza of every index (several suites may hold several versions of
    /// one name). Only entries whose architecture is `architecture` or `all` are candidates.
    /// Ids are indexes into `packages`.
    pub fn new(packages: &'a [PackageEntry], architecture: &'a str) -> Universe<'a> {
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
        // A total order on ids that does not depend on their positions.
        let best_first = |a: &usize, b: &usize| {
            let (pa, pb) = (&packages[*a], &packages[*b]);
            pb.version
                .cmp(&pa.version)
                .then(pa.origin.cmp(&pb.origin))
                .then_with(|| pa.sha256.cmp(&pb.sha256))
                .then_with(|| pa.architecture.cmp(&pb.architecture))
                .then_with(|| pa.filename.cmp(&pb.filename))
                .then(a.cmp(b))
        };
        let one_per_deb = |ids: &mut Vec<usize>| {
            let mut seen = BTreeSet::new();
            ids.retain(|&id| seen.insert((&packages[id].name, &packages[id].sha256)));
        };
        for ids in by_name.values_mut() {
            ids.sort_by(best_first);
            one_per_deb(ids);
        }
        // Smaller is preferred, as apt's `CompareProviders` ranks candidates.
        let rank = |p: &PackageEntry| (!p.essential, !p.protected, p.priority);
        for ids in providers.values_mut() {
            ids.sort_by(|a, b| {
                let (pa, pb) = (&packages[*a], &packages[*b]);
                rank(pa)
                    .cmp(&rank(pb))
                    .then_with(|| pa.name.cmp(&pb.name))
                    .then_with(|| best_first(a, b))
            });
            ids.dedup();
            one_per_deb(ids);
        }
        Universe {
            packages,
            by_name,
            providers,
            architecture,
        }
    }

    /// The stanza with id `id` (an index into the `packages` given to [`Universe::new`]).
    pub fn entry(&self, id: usize) -> &'a PackageEntry {
        &self.packages[id]
    }

    /// The best (highest version, first source) real package named `name`.
    pub fn best(&self, name: &str) -> Option<usize> {
        self.candidates(name).first().copied()
    }

    /// Real packages named `name`, best first.
    pub fn candidates(&self, name: &str) -> &[usize] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// Packages that provide `name`, preferred first (see the module documentation).
    pub fn providers(&self, name: &str) -> &[usize] {
        self.providers.get(name).map_or(&[], Vec::as_slice)
    }

    /// Versions of real packages named `name`, best first.
    pub fn versions(&self, name: &str) -> Vec<String> {
        self.candidates(name)
            .iter()
            .map(|&i| self.packages[i].version.to_string())
            .collect()
    }

    /// Whether `name` is known at all, as a real or a virtual package.
    pub fn knows(&self, name: &str) -> bool {
        self.by_name.contains_key(name) || self.providers.contains_key(name)
    }
}

/// What to resolve.
#[derive(Debug, Clone, Copy)]
pub struct Request<'r> {
    /// Names to install: a real or virtual name, or `name=version` for exactly that version.
    pub include: &'r [String],
    /// Names cut from the closure on purpose.
    pub exclude: &'r BTreeSet<String>,
    /// Packages already chosen by a lower layer (a parent spec): they satisfy dependencies
    /// and requests, and are never chosen or returned again.
    pub installed: &'r [usize],
}

/// Why a package is in the closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Named by `include` (directly, or as the provider of a requested virtual name).
    Requested,
    /// Chosen to satisfy a dependency group of `parent`.
    DependencyOf {
        parent: String,
        /// The dependency group as written, e.g. `libc6 (>= 2.36)` or `a | b`.
        dependency: String,
    },
}

/// The packages one request adds on top of its lower layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The packages this request adds (ids into the universe), sorted by name. Installed
    /// packages are never in it.
    pub chosen: Vec<usize>,
    /// Why each chosen package is in, by package name.
    pub reasons: BTreeMap<String, Reason>,
    /// Excluded name -> the packages whose dependencies named it (sorted, no duplicates).
    pub excluded: BTreeMap<String, Vec<String>>,
}

impl Resolution {
    /// `[name, parent, grandparent, ..., requested root]`, or `None` when `name` is not chosen
    /// by this resolution. When a parent is not chosen here (a lower layer's package), it
    /// ends the chain.
    pub fn chain(&self, name: &str) -> Option<Vec<String>> {
        self.reasons.get(name)?;
        Some(chain_from(&self.reasons, name))
    }
}

/// `[name, parent, ...]` following `reasons` until a request, an unknown parent, or a loop.
fn chain_from(reasons: &BTreeMap<String, Reason>, name: &str) -> Vec<String> {
    let mut out = vec![name.to_owned()];
    let mut current = name;
    while let Some(Reason::DependencyOf { parent, .. }) = reasons.get(current) {
        if out.contains(parent) {
            break;
        }
        out.push(parent.clone());
        current = parent;
    }
    out
}

/// How a package relates to a resolution (for `compose why`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// In the closure; the chain from the package to what was requested
    /// (see [`Resolution::chain`]).
    Chosen(Vec<String>),
    /// Cut by `exclude`; the packages whose dependencies named it.
    Excluded(Vec<String>),
    /// Neither chosen nor excluded here: nothing needed it (or a lower layer has it).
    NotInClosure,
}

/// Why `name` is, or is not, in `resolution`.
pub fn why(resolution: &Resolution, name: &str) -> Why {
    if let Some(chain) = resolution.chain(name) {
        Why::Chosen(chain)
    } else if let Some(by) = resolution.excluded.get(name) {
        Why::Excluded(by.clone())
    } else {
        Why::NotInClosure
    }
}

/// One step of the undo log: what a failed alternative's subtree must give back.
enum Undo {
    /// A package was taken (it is the last of `new` and of each `provided` list it joined).
    Took(usize),
    /// `parent` was recorded as cutting `name` for the first time.
    Cut(String, String),
}

/// A package whose dependency groups are being satisfied, one group at a time.
struct Frame {
    id: usize,
    groups: Vec<Vec<Dependency>>,
    /// The group being satisfied.
    group: usize,
    /// Whether the current group's solutions are being tried.
    trying: bool,
    /// The current group's solutions, best first, and the next one to try.
    solutions: Vec<usize>,
    next: usize,
    /// The undo-log length before the solution being tried was taken.
    mark: usize,
    /// Why the first solution tried for this group failed (reported if all fail).
    first_error: Option<ResolveError>,
}

/// The walk's state.
struct State<'u, 'a> {
    universe: &'u Universe<'a>,
    exclude: &'u BTreeSet<String>,
    installed: BTreeSet<usize>,
    /// Chosen or installed: real name -> id.
    chosen: BTreeMap<&'a str, usize>,
    /// Virtual name -> ids of chosen or installed providers.
    provided: BTreeMap<&'a str, Vec<usize>>,
    new: Vec<usize>,
    reasons: BTreeMap<String, Reason>,
    excluded: BTreeMap<String, BTreeSet<String>>,
    log: Vec<Undo>,
    /// Packages taken so far, given back or not (see [`MAX_STEPS`]).
    steps: usize,
}

impl<'a> State<'_, 'a> {
    fn take(&mut self, id: usize, reason: Option<Reason>) {
        let p = self.universe.entry(id);
        self.chosen.insert(&p.name, id);
        for prov in &p.provides {
            self.provided.entry(&prov.name).or_default().push(id);
        }
        match reason {
            Some(reason) => {
                self.new.push(id);
                self.reasons.insert(p.name.clone(), reason);
                self.log.push(Undo::Took(id));
            }
            None => {
                self.installed.insert(id);
            }
        }
    }

    /// Give back everything taken or recorded since the log had `mark` entries.
    fn rollback(&mut self, mark: usize) {
        while self.log.len() > mark {
            match self.log.pop() {
                Some(Undo::Took(id)) => {
                    let p = self.universe.entry(id);
                    self.chosen.remove(p.name.as_str());
                    for prov in &p.provides {
                        if let Some(ids) = self.provided.get_mut(prov.name.as_str()) {
                            ids.pop();
                            if ids.is_empty() {
                                self.provided.remove(prov.name.as_str());
                            }
                        }
                    }
                    self.new.pop();
                    self.reasons.remove(&p.name);
                }
                Some(Undo::Cut(name, parent)) => {
                    if let Some(by) = self.excluded.get_mut(&name) {
                        by.remove(&parent);
                        if by.is_empty() {
                            self.excluded.remove(&name);
                        }
                    }
                }
                None => break,
            }
        }
    }

    /// Does package `id` meet `dep`'s architecture qualifier? One architecture is installed:
    /// `:native`, `:any` and that architecture always match, another architecture never.
    /// (apt meets `:any` only with a `Multi-Arch: allowed` package; compose accepts any, as
    /// it always has: with one architecture the difference is only the flag.)
    fn qualifier_allows(&self, _id: usize, dep: &Dependency) -> bool {
        match dep.arch_qualifier.as_deref() {
            None | Some("native") | Some("any") => true,
            Some(arch) => arch == self.universe.architecture,
        }
    }

    /// Does package `id` provide `dep` (name, and version when the constraint has one)?
    fn provides_match(&self, id: usize, dep: &Dependency) -> bool {
        self.qualifier_allows(id, dep)
            && self.universe.entry(id).provides.iter().any(|prov| {
                prov.name == dep.name
                    && match (&dep.constraint, &prov.version) {
                        (None, _) => true,
                        (Some(c), Some(v)) => c.matches(v),
                        (Some(_), None) => false,
                    }
            })
    }

    /// Is package `id` (named `dep.name`) a match for `dep`: version and qualifier?
    fn real_match(&self, id: usize, dep: &Dependency) -> bool {
        self.qualifier_allows(id, dep)
            && dep
                .constraint
                .as_ref()
                .is_none_or(|c| c.matches(&self.universe.entry(id).version))
    }

    /// Is `dep` satisfied by something already chosen or installed?
    fn satisfied(&self, dep: &Dependency) -> bool {
        let real = self.chosen.get(dep.name.as_str());
        if real.is_some_and(|&id| self.real_match(id, dep)) {
            return true;
        }
        self.provided
            .get(dep.name.as_str())
            .is_some_and(|ids| ids.iter().any(|&id| self.provides_match(id, dep)))
    }

    /// The new packages that could satisfy `dep`, best first: the real package of that
    /// name (its highest matching version), then the providers in the universe's rank
    /// order. Never an excluded package, never a second package of a taken name.
    fn solutions(&self, dep: &Dependency, out: &mut Vec<usize>) {
        if !self.chosen.contains_key(dep.name.as_str()) && !self.exclude.contains(&dep.name) {
            let real = self
                .universe
                .candidates(&dep.name)
                .iter()
                .copied()
                .find(|&id| self.real_match(id, dep));
            out.extend(real);
        }
        let mut names = BTreeSet::new();
        for &id in self.universe.providers(&dep.name) {
            let p = self.universe.entry(id);
            if !self.exclude.contains(&p.name)
                && !self.chosen.contains_key(p.name.as_str())
                && self.provides_match(id, dep)
                && names.insert(p.name.as_str())
                && !out.contains(&id)
            {
                out.push(id);
            }
        }
    }

    /// The best new package for `dep`, if any (see [`State::solutions`]).
    fn candidate(&self, dep: &Dependency) -> Option<usize> {
        let mut out = Vec::new();
        self.solutions(dep, &mut out);
        out.first().copied()
    }

    /// Excluded providers that would have satisfied one of `group`'s alternatives.
    fn excluded_providers(&self, group: &[Dependency]) -> BTreeSet<&'a str> {
        group
            .iter()
            .flat_map(|dep| {
                self.universe
                    .providers(&dep.name)
                    .iter()
                    .copied()
                    .filter(move |&id| {
                        self.exclude.contains(&self.universe.entry(id).name)
                            && self.provides_match(id, dep)
                    })
            })
            .map(|id| self.universe.entry(id).name.as_str())
            .collect()
    }

    fn record_excluded(&mut self, name: &str, parent: &str) {
        let by = self.excluded.entry(name.to_owned()).or_default();
        if by.insert(parent.to_owned()) {
            self.log.push(Undo::Cut(name.to_owned(), parent.to_owned()));
        }
    }

    /// Bracketed notes on a package that could not be used for `dep`.
    fn notes(&self, id: usize, dep: &Dependency, provides: Option<String>) -> String {
        let p = self.universe.entry(id);
        let mut notes: Vec<String> = provides.into_iter().collect();
        if self.exclude.contains(&p.name) {
            notes.push("excluded".to_owned());
        }
        if !self.qualifier_allows(id, dep) {
            notes.push(format!("only {} is installed", self.universe.architecture));
        }
        match self.chosen.get(p.name.as_str()) {
            Some(&taken) if self.universe.entry(taken).version == p.version => {
                notes.push(if self.installed.contains(&taken) {
                    "installed by a lower layer".to_owned()
                } else {
                    "already chosen".to_owned()
                })
            }
            Some(&taken) => notes.push(format!(
                "{} {} {}",
                p.name,
                self.universe.entry(taken).version,
                if self.installed.contains(&taken) {
                    "installed by a lower layer"
                } else {
                    "already chosen"
                }
            )),
            None => {}
        }
        if notes.is_empty() {
            format!("{} {}", p.name, p.version)
        } else {
            format!("{} {} [{}]", p.name, p.version, notes.join(", "))
        }
    }

    /// The error for a group nothing can satisfy.
    fn failure(&self, group: &[Dependency], text: &str, chain: Vec<String>) -> ResolveError {
        let mut deps: Vec<&Dependency> = Vec::new();
        for dep in group {
            if !deps.iter().any(|d| d.name == dep.name) {
                deps.push(dep);
            }
        }
        if !deps.iter().any(|d| self.universe.knows(&d.name)) {
            return ResolveError::Unknown {
                names: deps.into_iter().map(|d| d.name.clone()).collect(),
                chain,
            };
        }
        let mut available = Vec::new();
        for dep in deps {
            let name = dep.name.as_str();
            for &id in self.universe.candidates(name) {
                available.push(self.notes(id, dep, None));
            }
            for &id in self.universe.providers(name) {
                let p = self.universe.entry(id);
                for prov in p.provides.iter().filter(|prov| prov.name == name) {
                    let what = match &prov.version {
                        Some(v) => format!("provides {name} (= {v})"),
                        None => format!("provides {name}"),
                    };
                    available.push(self.notes(id, dep, Some(what)));
                }
            }
        }
        available.dedup();
        ResolveError::Unsatisfiable {
            dependency: text.to_owned(),
            available,
            chain,
        }
    }

    /// Take `id` and start on its dependency groups.
    fn enter(&mut self, id: usize, reason: Reason) -> Result<Frame, ResolveError> {
        let p = self.universe.entry(id);
        let groups = p.depends().map_err(|source| ResolveError::BadRelation {
            package: p.name.clone(),
            source,
        })?;
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(ResolveError::TooManySteps(MAX_STEPS));
        }
        self.take(id, Some(reason));
        Ok(Frame {
            id,
            groups,
            group: 0,
            trying: false,
            solutions: Vec::new(),
            next: 0,
            mark: self.log.len(),
            first_error: None,
        })
    }

    /// Start on one dependency group of `parent`: `None` when there is nothing to choose (an
    /// alternative is excluded or already satisfied, or every provider is excluded: each
    /// recorded), else the solutions to try in turn; an error when nothing can satisfy it.
    fn open_group(
        &mut self,
        group: &[Dependency],
        parent: &str,
    ) -> Result<Option<Vec<usize>>, ResolveError> {
        let cut: Vec<&str> = group
            .iter()
            .map(|alt| alt.name.as_str())
            .filter(|name| self.exclude.contains(*name))
            .collect();
        if !cut.is_empty() || group.iter().any(|alt| self.satisfied(alt)) {
            let cut: Vec<String> = cut.into_iter().map(str::to_owned).collect();
            for name in cut {
                self.record_excluded(&name, parent);
            }
            return Ok(None);
        }
        let mut solutions = Vec::new();
        for alt in group {
            self.solutions(alt, &mut solutions);
        }
        if !solutions.is_empty() {
            return Ok(Some(solutions));
        }
        let blocked: Vec<String> = self
            .excluded_providers(group)
            .into_iter()
            .map(str::to_owned)
            .collect();
        if blocked.is_empty() {
            let chain = chain_from(&self.reasons, parent);
            return Err(self.failure(group, &group_text(group), chain));
        }
        for name in blocked {
            self.record_excluded(&name, parent);
        }
        Ok(None)
    }

    /// Satisfy the dependencies of the already taken `root`, depth first: each group in
    /// stanza order, each solution in turn until one's whole subtree can be satisfied.
    fn walk(&mut self, root: Frame) -> Result<(), ResolveError> {
        let mut stack = vec![root];
        // The outcome of the frame just popped, for the frame below it.
        let mut returned: Option<Result<(), ResolveError>> = None;
        while let Some(top) = stack.last_mut() {
            match returned.take() {
                Some(Ok(())) => {
                    // The solution being tried holds: on to the next group.
                    top.group += 1;
                    top.trying = false;
                    top.first_error = None;
                }
                Some(Err(e)) => {
                    // Forget the failed solution's subtree and try the next one.
                    let mark = top.mark;
                    top.first_error.get_or_insert(e);
                    self.rollback(mark);
                }
                None => {}
            }
            let top = stack.last_mut().expect("the loop holds a frame");
            let parent = self.universe.entry(top.id);
            let Some(group) = top.groups.get(top.group) else {
                stack.pop();
                returned = Some(Ok(()));
                continue;
            };
            if !top.trying {
                match self.open_group(group, &parent.name) {
                    Err(e) => {
                        stack.pop();
                        returned = Some(Err(e));
                        continue;
                    }
                    Ok(None) => {
                        top.group += 1;
                        continue;
                    }
                    Ok(Some(solutions)) => {
                        top.solutions = solutions;
                        top.next = 0;
                        top.trying = true;
                    }
                }
            }
            let Some(&id) = top.solutions.get(top.next) else {
                // Every solution failed: so does this package.
                let e = top.first_error.take().expect("a solution was tried");
                stack.pop();
                returned = Some(Err(e));
                continue;
            };
            top.next += 1;
            top.mark = self.log.len();
            let reason = Reason::DependencyOf {
                parent: parent.name.clone(),
                dependency: group_text(group),
            };
            let frame = self.enter(id, reason)?;
            stack.push(frame);
        }
        match returned {
            Some(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }
}

/// A group as written: `a (>= 1) | b:any`.
fn group_text(group: &[Dependency]) -> String {
    group
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// `name`, `name:arch` or `name=version` as a dependency (the qualifier is dropped).
fn parse_request(item: &str) -> Result<Dependency, ResolveError> {
    let bad = || ResolveError::BadRequest(item.to_owned());
    let (name, version) = match item.split_once('=') {
        Some((n, v)) => (n, Some(v.trim().parse::<Version>().map_err(|_| bad())?)),
        None => (item, None),
    };
    let name = name.split_once(':').map_or(name, |(n, _)| n).trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok(Dependency {
        name: name.to_owned(),
        arch_qualifier: None,
        constraint: version.map(|version| Constraint {
            relation: Relation::Equal,
            version,
        }),
    })
}

/// Resolve `request` against `universe`: the packages to add, and why (see the module
/// documentation for the rules).
pub fn resolve(universe: &Universe, request: &Request) -> Result<Resolution, ResolveError> {
    let mut st = State {
        universe,
        exclude: request.exclude,
        installed: BTreeSet::new(),
        chosen: BTreeMap::new(),
        provided: BTreeMap::new(),
        new: Vec::new(),
        reasons: BTreeMap::new(),
        excluded: BTreeMap::new(),
        log: Vec::new(),
        steps: 0,
    };
    for &id in request.installed {
        st.take(id, None);
    }
    let mut requests = Vec::with_capacity(request.include.len());
    for item in request.include {
        let dep = parse_request(item)?;
        if request.exclude.contains(&dep.name) {
            return Err(ResolveError::IncludedAndExcluded(dep.name));
        }
        requests.push((item, dep));
    }
    // Real names first, then names only providers can satisfy; every request is taken
    // before any dependency is walked.
    let (real, virtual_only): (Vec<_>, Vec<_>) = requests
        .into_iter()
        .partition(|(_, dep)| !universe.candidates(&dep.name).is_empty());
    let mut roots = Vec::new();
    for (item, dep) in real.into_iter().chain(virtual_only) {
        if st.satisfied(&dep) {
            continue;
        }
        let Some(id) = st.candidate(&dep) else {
            return Err(st.failure(std::slice::from_ref(&dep), item, Vec::new()));
        };
        roots.push(st.enter(id, Reason::Requested)?);
    }
    for root in roots {
        st.walk(root)?;
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
    use crate::package::{MultiArch, Priority, parse_provides};

    /// `name version [depends] [; provides]`, e.g. `tool 1.0 libc (>= 2) | b ; awk (= 1)`,
    /// for amd64. A name written `name/arch` sets the architecture.
    fn pkg(spec: &str, origin: usize) -> PackageEntry {
        let (head, provides) = spec.split_once(';').unwrap_or((spec, ""));
        let mut words = head.trim().splitn(3, ' ');
        let first = words.next().unwrap();
        let (name, architecture) = match first.split_once('/') {
            Some((n, a)) => (n.to_owned(), a.to_owned()),
            None => (first.to_owned(), "amd64".to_owned()),
        };
        let version: Version = words.next().unwrap().parse().unwrap();
        let deps = words.next().unwrap_or("").trim();
        PackageEntry {
            name: name.clone(),
            version: version.clone(),
            architecture: architecture.clone(),
            multi_arch: MultiArch::No,
            depends_raw: deps.to_owned(),
            provides: parse_provides(provides).unwrap(),
            filename: format!("pool/{name}_{version}_{architecture}.deb"),
            size: 1,
            // One .deb per (name, version, arch): the same file may sit in several suites.
            sha256: format!("{name}_{version}_{architecture}"),
            origin,
            // As most of the archive: ranked below required, important and standard ones.
            priority: Priority::Optional,
            essential: false,
            protected: false,
        }
    }

    fn universe(specs: &[&str]) -> Vec<PackageEntry> {
        specs.iter().map(|s| pkg(s, 0)).collect()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// `name=version` of every chosen package, in the resolution's order.
    fn names(pkgs: &[PackageEntry], r: &Resolution) -> Vec<String> {
        r.chosen
            .iter()
            .map(|&i| format!("{}={}", pkgs[i].name, pkgs[i].version))
            .collect()
    }

    fn run_with(
        pkgs: &[PackageEntry],
        include: &[&str],
        exclude: &[&str],
        installed: &[usize],
    ) -> Result<Resolution, ResolveError> {
        let u = Universe::new(pkgs, "amd64");
        let include = strings(include);
        let exclude: BTreeSet<String> = exclude.iter().map(|s| s.to_string()).collect();
        resolve(
            &u,
            &Request {
                include: &include,
                exclude: &exclude,
                installed,
            },
        )
    }

    fn run(
        pkgs: &[PackageEntry],
        include: &[&str],
        exclude: &[&str],
    ) -> Result<Resolution, ResolveError> {
        run_with(pkgs, include, exclude, &[])
    }

    /// Resolve and list `name=version`, panicking with the error's text on failure.
    fn ok(pkgs: &[PackageEntry], include: &[&str], exclude: &[&str]) -> Vec<String> {
        match run(pkgs, include, exclude) {
            Ok(r) => names(pkgs, &r),
            Err(e) => panic!("{e}"),
        }
    }

    fn err(pkgs: &[PackageEntry], include: &[&str], exclude: &[&str]) -> String {
        run(pkgs, include, exclude).unwrap_err().to_string()
    }

    fn id_of(pkgs: &[PackageEntry], name: &str, version: &str) -> usize {
        pkgs.iter()
            .position(|p| p.name == name && p.version.to_string() == version)
            .unwrap()
    }

    #[test]
    fn alternatives_take_the_first_satisfiable() {
        // The first alternative with a candidate wins over later ones.
        let p = universe(&["app 1 a | b", "a 1", "b 1"]);
        assert_eq!(ok(&p, &["app"], &[]), ["a=1", "app=1"]);
        // An unknown or unsatisfiable first alternative passes to the next.
        let p = universe(&["app 1 zz | a (>= 2) | b", "a 1", "b 1"]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "b=1"]);
        let r = run(&p, &["app"], &[]).unwrap();
        assert_eq!(
            r.reasons["b"],
            Reason::DependencyOf {
                parent: "app".into(),
                dependency: "zz | a (>= 2) | b".into()
            }
        );
        // An alternative whose own dependencies cannot be satisfied makes way for the next.
        let p = universe(&["app 1 a | b", "a 1 x", "b 1"]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "b=1"]);
        // When every alternative fails, the error is the first one's.
        let p = universe(&["app 1 a | b", "a 1 x", "b 1 y"]);
        assert_eq!(
            err(&p, &["app"], &[]),
            "package `x` not found in any source (required by: a -> app (requested))"
        );
    }

    #[test]
    fn a_failed_alternative_gives_back_all_it_chose() {
        // `a` took `e` and cut `gone` before `x` failed: both are forgotten, as apt finally
        // drops what nothing needs.
        let p = universe(&["app 1 a | b", "a 1 e, gone, x", "e 1", "b 1"]);
        let r = run(&p, &["app"], &["gone"]).unwrap();
        assert_eq!(names(&p, &r), ["app=1", "b=1"]);
        assert!(r.excluded.is_empty());
        assert_eq!(why(&r, "e"), Why::NotInClosure);
        // Nested: the inner failure is given back, the outer choice stands.
        let p = universe(&[
            "app 1 a, c",
            "a 1 m | n",
            "m 1 z, missing",
            "z 1 ; v",
            "n 1",
            "c 1 v",
            "w 1 ; v",
        ]);
        assert_eq!(ok(&p, &["app"], &[]), ["a=1", "app=1", "c=1", "n=1", "w=1"]);
    }

    #[test]
    fn depth_first_as_apt() {
        // `d` (the first group) is walked to the end before `b | c` is looked at: `c` is
        // chosen by then, so the group needs nothing (breadth first would add `b`).
        let p = universe(&["app 1 d, b | c", "d 1 c", "b 1", "c 1"]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "c=1", "d=1"]);
        // The same for a virtual name: `d` brings the provider `y`.
        let p = universe(&["app 1 d, v", "d 1 y", "x 1 ; v", "y 1 ; v"]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "d=1", "y=1"]);
        let r = run(&p, &["app"], &[]).unwrap();
        assert_eq!(r.chain("y").unwrap(), ["y", "d", "app"]);
        // Every request is taken before dependencies are walked.
        let p = universe(&["app 1 a | b", "a 1", "b 1"]);
        assert_eq!(ok(&p, &["app", "b"], &[]), ["app=1", "b=1"]);
    }

    #[test]
    fn providers_rank_essential_protected_then_priority() {
        use crate::package::Priority::*;
        let set = |p: &mut Vec<PackageEntry>, name: &str, f: &dyn Fn(&mut PackageEntry)| {
            p.iter_mut().filter(|e| e.name == name).for_each(f)
        };
        // base-files depends on awk: apt installs mawk (required), not gawk (optional).
        let mut p = universe(&["base-files 1 awk", "gawk 1 ; awk", "mawk 1 ; awk"]);
        set(&mut p, "mawk", &|e| e.priority = Required);
        assert_eq!(ok(&p, &["base-files"], &[]), ["base-files=1", "mawk=1"]);
        // Each priority beats the ones after it; `extra` comes last.
        for (better, worse) in [
            (Required, Important),
            (Important, Standard),
            (Standard, Optional),
            (Optional, Extra),
        ] {
            let mut p = universe(&["app 1 v", "a 1 ; v", "b 1 ; v"]);
            set(&mut p, "a", &|e| e.priority = worse);
            set(&mut p, "b", &|e| e.priority = better);
            assert_eq!(ok(&p, &["app"], &[]), ["app=1", "b=1"], "{better:?}");
        }
        // A stanza without Priority ranks before required, as apt's zero value does.
        let mut p = universe(&["app 1 v", "a 1 ; v", "b 1 ; v"]);
        set(&mut p, "a", &|e| e.priority = Required);
        set(&mut p, "b", &|e| e.priority = Unset);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "b=1"]);
        // Protected beats any priority; Essential beats Protected.
        let mut p = universe(&["app 1 v", "a 1 ; v", "b 1 ; v", "c 1 ; v"]);
        set(&mut p, "a", &|e| e.priority = Required);
        set(&mut p, "c", &|e| e.protected = true);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "c=1"]);
        set(&mut p, "b", &|e| {
            e.essential = true;
            e.priority = Extra
        });
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "b=1"]);
        // A real package of the name still comes first, and a chosen provider still
        // satisfies the group.
        let mut p = universe(&["app 1 awk", "awk 1", "mawk 1 ; awk"]);
        set(&mut p, "mawk", &|e| e.essential = true);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "awk=1"]);
        let mut p = universe(&["app 1 gawk, awk", "gawk 1 ; awk", "mawk 1 ; awk"]);
        set(&mut p, "mawk", &|e| e.priority = Required);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "gawk=1"]);
        // A requested virtual name follows the same order.
        let mut p = universe(&["gawk 1 ; awk", "mawk 1 ; awk"]);
        set(&mut p, "mawk", &|e| e.priority = Required);
        assert_eq!(ok(&p, &["awk"], &[]), ["mawk=1"]);
        // Excluding the preferred one falls back to the next.
        assert_eq!(ok(&p, &["awk"], &["mawk"]), ["gawk=1"]);
        // The order does not depend on the stanzas' order.
        p.reverse();
        assert_eq!(ok(&p, &["awk"], &[]), ["mawk=1"]);
    }

    #[test]
    fn hostile_shapes_stay_bounded() {
        // A chain far deeper than any stack: no recursion.
        let n = 40_000;
        let p: Vec<_> = (0..n)
            .map(|i| pkg(&format!("p{i} 1 p{}", i + 1), 0))
            .chain([pkg(&format!("p{n} 1"), 0)])
            .collect();
        assert_eq!(run(&p, &["p0"], &[]).unwrap().chosen.len(), n + 1);
        // Alternatives that all fail at the bottom: 2^25 attempts, cut at MAX_STEPS.
        let mut specs = Vec::new();
        for i in 0..24 {
            specs.push(format!("p{i} 1 a{i} | b{i}"));
            specs.push(format!("a{i} 1 p{}", i + 1));
            specs.push(format!("b{i} 1 p{}", i + 1));
        }
        specs.push("p24 1 missing".to_owned());
        let p: Vec<_> = specs.iter().map(|s| pkg(s, 0)).collect();
        assert_eq!(
            run(&p, &["p0"], &[]).unwrap_err(),
            ResolveError::TooManySteps(MAX_STEPS)
        );
    }

    #[test]
    fn alternatives_prefer_what_is_already_chosen() {
        // `b` is chosen by the first group, so `a | b` needs nothing more.
        let p = universe(&["tool 1 b, a | b", "a 1", "b 1"]);
        assert_eq!(ok(&p, &["tool"], &[]), ["b=1", "tool=1"]);
        // Chosen by a request.
        let p = universe(&["tool 1 a | b", "a 1", "b 1"]);
        assert_eq!(ok(&p, &["tool", "b"], &[]), ["b=1", "tool=1"]);
        // A chosen package that does not meet the constraint does not satisfy the group.
        let p = universe(&["tool 1 b, a | b (>= 2)", "a 1", "b 1"]);
        assert_eq!(ok(&p, &["tool"], &[]), ["a=1", "b=1", "tool=1"]);
        // A chosen provider satisfies a virtual alternative.
        let p = universe(&["tool 1 mawk, a | awk", "a 1", "mawk 1 ; awk"]);
        assert_eq!(ok(&p, &["tool"], &[]), ["mawk=1", "tool=1"]);
    }

    #[test]
    fn a_real_package_beats_providers() {
        let p = universe(&["app 1 awk", "mawk 1 ; awk", "gawk 1 ; awk", "awk 1"]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "awk=1"]);
        // ... unless it does not meet the constraint and a versioned Provides does.
        let p = universe(&["app 1 awk (>= 2)", "awk 1", "gawk 1 ; awk (= 2)"]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "gawk=1"]);
    }

    #[test]
    fn several_providers_first_by_name_unless_one_is_chosen() {
        let p = universe(&["app 1 awk", "mawk 1 ; awk", "gawk 1 ; awk"]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "gawk=1"]);
        // The highest version of that provider.
        let p = universe(&["app 1 awk", "mawk 1 ; awk", "gawk 1 ; awk", "gawk 2 ; awk"]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "gawk=2"]);
        // Exactly one provider.
        let p = universe(&["app 1 awk", "mawk 1 ; awk"]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "mawk=1"]);
        // A provider already chosen wins.
        let p = universe(&["app 1 mawk, awk", "mawk 1 ; awk", "gawk 1 ; awk"]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "mawk=1"]);
        // A provider installed by a lower layer wins.
        let p = universe(&["app 1 awk", "mawk 1 ; awk", "gawk 1 ; awk"]);
        let r = run_with(&p, &["app"], &[], &[1]).unwrap();
        assert_eq!(names(&p, &r), ["app=1"]);
        // A requested virtual name waits for the real requests: `mawk` is asked for, so it
        // provides `awk`.
        assert_eq!(ok(&p, &["awk", "mawk"], &[]), ["mawk=1"]);
        let r = run(&p, &["awk"], &[]).unwrap();
        assert_eq!(names(&p, &r), ["gawk=1"]);
        assert_eq!(r.reasons["gawk"], Reason::Requested);
    }

    #[test]
    fn versioned_constraints_need_versioned_provides() {
        let p = universe(&["app 1 api (>= 2)", "old 1 ; api", "new 1 ; api (= 2)"]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "new=1"]);
        // An unversioned Provides only satisfies unversioned dependencies.
        let p = universe(&["app 1 api (>= 2)", "old 1 ; api"]);
        assert_eq!(
            err(&p, &["app"], &[]),
            "unsatisfiable dependency `api (>= 2)`: available old 1 [provides api] \
             (required by: app (requested))"
        );
        let p = universe(&["app 1 api (>= 3)", "new 1 ; api (= 2)"]);
        assert_eq!(
            err(&p, &["app"], &[]),
            "unsatisfiable dependency `api (>= 3)`: available new 1 [provides api (= 2)] \
             (required by: app (requested))"
        );
        // A chosen provider with a matching versioned Provides satisfies the constraint.
        let p = universe(&[
            "app 1 new, api (>= 2)",
            "new 1 ; api (= 2)",
            "another 1 ; api (= 3)",
        ]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "new=1"]);
    }

    #[test]
    fn highest_version_wins_across_origins() {
        let p = vec![
            pkg("lib 1.0", 0),
            pkg("lib 1.0+deb13u1", 1),
            pkg("lib 1.0~rc1", 2),
            pkg("app 1 lib (>= 1.0)", 0),
        ];
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "lib=1.0+deb13u1"]);
        // Constraints pick the highest satisfying version.
        let p = universe(&["lib 3", "lib 2", "lib 1:0.1", "app 1 lib (<< 3)"]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "lib=2"]);
        let p = universe(&["lib 3", "lib 2", "lib 1:0.1", "app 1 lib (>> 3)"]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "lib=1:0.1"]);
        // Other architectures are not candidates; `all` is.
        let p = universe(&[
            "lib/arm64 9",
            "lib 2",
            "data/all 1",
            "data/arm64 5",
            "app 1 lib, data",
        ]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "data=1", "lib=2"]);
    }

    #[test]
    fn identical_versions_go_to_the_first_source() {
        // Different files with the same version: the lowest origin index wins.
        let mut p = vec![pkg("lib 2", 1), pkg("lib 2", 0), pkg("lib 2", 2)];
        p[0].sha256 = "x".into();
        p[2].sha256 = "y".into();
        let r = run(&p, &["lib"], &[]).unwrap();
        assert_eq!(r.chosen, [1]);
        let u = Universe::new(&p, "amd64");
        assert_eq!(u.best("lib"), Some(1));
        assert_eq!(u.versions("lib"), ["2", "2", "2"]);
        // The same file in two suites counts once.
        let p = vec![pkg("lib 2", 1), pkg("lib 2", 0)];
        let u = Universe::new(&p, "amd64");
        assert_eq!(u.candidates("lib"), [1]);
    }

    #[test]
    fn pins_select_exactly_one_version() {
        let p = universe(&["lib 3", "lib 2", "lib 1", "app 1 lib (>= 1)"]);
        assert_eq!(ok(&p, &["lib=2"], &[]), ["lib=2"]);
        // A pinned request is taken before dependencies, which it satisfies.
        assert_eq!(ok(&p, &["app", "lib=2"], &[]), ["app=1", "lib=2"]);
        assert_eq!(ok(&p, &["lib = 1"], &[]), ["lib=1"]);
        assert_eq!(
            err(&p, &["lib=4"], &[]),
            "unsatisfiable dependency `lib=4`: available lib 3, lib 2, lib 1 (requested)"
        );
        assert_eq!(
            run(&p, &["lib=!"], &[]).unwrap_err(),
            ResolveError::BadRequest("lib=!".into())
        );
        // A pin on a virtual name needs that version provided.
        let p = universe(&["a 1 ; api (= 1)", "b 1 ; api (= 2)"]);
        assert_eq!(ok(&p, &["api=2"], &[]), ["b=1"]);
    }

    #[test]
    fn multiarch_qualifiers() {
        let p = universe(&[
            "app 1 python3:any (>= 3), libc:native, zlib:amd64",
            "python3 3.13",
            "libc 2",
            "zlib 1",
        ]);
        assert_eq!(
            ok(&p, &["app"], &[]),
            ["app=1", "libc=2", "python3=3.13", "zlib=1"]
        );
        let r = run(&p, &["app"], &[]).unwrap();
        assert_eq!(
            r.reasons["python3"],
            Reason::DependencyOf {
                parent: "app".into(),
                dependency: "python3:any (>= 3)".into()
            }
        );
        assert_eq!(ok(&p, &["libc:amd64"], &[]), ["libc=2"]);
        // Another architecture is never installed: the next alternative is taken.
        let p = universe(&["app 1 a:i386 | b", "a 1", "b 1"]);
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "b=1"]);
        // Nor does a chosen package satisfy it.
        let p = universe(&["app 1 a, a:i386 | b", "a 1", "b 1"]);
        assert_eq!(ok(&p, &["app"], &[]), ["a=1", "app=1", "b=1"]);
        let p = universe(&["app 1 a:i386", "a 1"]);
        assert_eq!(
            err(&p, &["app"], &[]),
            "unsatisfiable dependency `a:i386`: available a 1 [only amd64 is installed] \
             (required by: app (requested))"
        );
    }

    #[test]
    fn excludes_cut_groups_and_their_orphans() {
        let p = universe(&[
            "tzdata 1 debconf (>= 0.5) | debconf-2.0",
            "debconf 1 perl-base",
            "cdebconf 1 ; debconf-2.0",
            "perl-base 1",
            "app 1 debconf, tzdata",
        ]);
        // The whole group is cut: neither debconf nor its other alternative's provider,
        // nor debconf's own dependencies.
        let r = run(&p, &["tzdata", "app"], &["debconf"]).unwrap();
        assert_eq!(names(&p, &r), ["app=1", "tzdata=1"]);
        assert_eq!(r.excluded["debconf"], ["app", "tzdata"]);
        assert_eq!(r.excluded.len(), 1);
        assert_eq!(
            why(&r, "debconf"),
            Why::Excluded(vec!["app".into(), "tzdata".into()])
        );
        assert_eq!(why(&r, "perl-base"), Why::NotInClosure);
        // Without the exclude, all of it comes.
        assert_eq!(
            ok(&p, &["tzdata"], &[]),
            ["debconf=1", "perl-base=1", "tzdata=1"]
        );
        // A virtual name can be excluded too.
        let r = run(&p, &["tzdata"], &["debconf-2.0"]).unwrap();
        assert_eq!(names(&p, &r), ["tzdata=1"]);
        assert_eq!(r.excluded["debconf-2.0"], ["tzdata"]);
        // Included and excluded at once.
        assert_eq!(
            run(&p, &["debconf"], &["debconf"]).unwrap_err(),
            ResolveError::IncludedAndExcluded("debconf".into())
        );
        assert_eq!(
            err(&p, &["debconf=1"], &["debconf"]),
            "package `debconf` is both included and excluded"
        );
    }

    #[test]
    fn excluded_dependencies_come_when_something_else_needs_them() {
        let p = universe(&["a 1 x, perl-base", "x 1 perl-base", "perl-base 1"]);
        let r = run(&p, &["a"], &["x"]).unwrap();
        assert_eq!(names(&p, &r), ["a=1", "perl-base=1"]);
        assert_eq!(r.excluded["x"], ["a"]);
        assert_eq!(
            r.reasons["perl-base"],
            Reason::DependencyOf {
                parent: "a".into(),
                dependency: "perl-base".into()
            }
        );
    }

    #[test]
    fn excluded_providers_are_skipped_or_cut_the_group() {
        // Another provider is taken.
        let p = universe(&["app 1 awk", "gawk 1 ; awk", "mawk 1 ; awk"]);
        let r = run(&p, &["app"], &["gawk"]).unwrap();
        assert_eq!(names(&p, &r), ["app=1", "mawk=1"]);
        assert!(r.excluded.is_empty());
        // The only provider is excluded: the group is cut, not an error.
        let r = run(&p, &["app"], &["gawk", "mawk"]).unwrap();
        assert_eq!(names(&p, &r), ["app=1"]);
        assert_eq!(r.excluded["gawk"], ["app"]);
        assert_eq!(r.excluded["mawk"], ["app"]);
        // A request has nothing to cut: it fails, and says why.
        assert_eq!(
            err(&p, &["awk"], &["gawk", "mawk"]),
            "unsatisfiable dependency `awk`: available gawk 1 [provides awk, excluded], \
             mawk 1 [provides awk, excluded] (requested)"
        );
    }

    #[test]
    fn installed_packages_satisfy_and_are_not_returned() {
        let p = universe(&["libc 2", "app 1 libc (>= 2), extra", "extra 1 libc"]);
        let r = run_with(&p, &["app"], &[], &[0]).unwrap();
        assert_eq!(names(&p, &r), ["app=1", "extra=1"]);
        assert!(!r.reasons.contains_key("libc"));
        assert_eq!(why(&r, "libc"), Why::NotInClosure);
        // A request for an installed package adds nothing.
        let r = run_with(&p, &["libc", "app"], &[], &[0]).unwrap();
        assert_eq!(names(&p, &r), ["app=1", "extra=1"]);
        // Their dependencies are the lower layer's business: not walked again.
        let p = universe(&["base 1 gone", "app 1 base"]);
        let r = run_with(&p, &["app"], &[], &[0]).unwrap();
        assert_eq!(names(&p, &r), ["app=1"]);
    }

    #[test]
    fn installed_versions_are_never_replaced() {
        let p = universe(&["libc 1", "libc 2", "app 1 libc (>= 2)"]);
        let installed = [id_of(&p, "libc", "1")];
        let e = run_with(&p, &["app"], &[], &installed)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "unsatisfiable dependency `libc (>= 2)`: available \
             libc 2 [libc 1 installed by a lower layer], \
             libc 1 [installed by a lower layer] (required by: app (requested))"
        );
        // Same for a pin.
        let e = run_with(&p, &["libc=2"], &[], &installed)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("libc 2 [libc 1 installed by a lower layer]"),
            "{e}"
        );
    }

    #[test]
    fn cycles_terminate() {
        let p = universe(&["a 1 b", "b 1 c", "c 1 a, b", "d 1 d"]);
        let r = run(&p, &["a", "d"], &[]).unwrap();
        assert_eq!(names(&p, &r), ["a=1", "b=1", "c=1", "d=1"]);
        assert_eq!(r.chain("c").unwrap(), ["c", "b", "a"]);
        assert_eq!(r.reasons["d"], Reason::Requested);
    }

    #[test]
    fn unknown_packages_name_the_chain() {
        let p = universe(&[
            "python3.13 1 python3.13-minimal",
            "python3.13-minimal 1 libc6, libfoo",
            "libc6 1",
        ]);
        assert_eq!(
            err(&p, &["python3.13"], &[]),
            "package `libfoo` not found in any source \
             (required by: python3.13-minimal -> python3.13 (requested))"
        );
        let e = run(&p, &["python3.13"], &[]).unwrap_err();
        assert_eq!(
            e,
            ResolveError::Unknown {
                names: vec!["libfoo".into()],
                chain: vec!["python3.13-minimal".into(), "python3.13".into()],
            }
        );
        assert_eq!(
            err(&p, &["nothing"], &[]),
            "package `nothing` not found in any source (requested)"
        );
        let p = universe(&["app 1 a | b:any (>= 1)"]);
        assert_eq!(
            err(&p, &["app"], &[]),
            "packages `a`, `b` not found in any source (required by: app (requested))"
        );
    }

    #[test]
    fn unsatisfiable_constraints_name_the_dependency_and_versions() {
        let p = universe(&["app 1 old (>= 2) | older", "old 1", "old 1.5", "older 1"]);
        // `older` is there: fine.
        assert_eq!(ok(&p, &["app"], &[]), ["app=1", "older=1"]);
        let p = universe(&["top 1 app", "app 1 old (>= 2) | zz", "old 1", "old 1.5"]);
        let e = run(&p, &["top"], &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsatisfiable dependency `old (>= 2) | zz`: available old 1.5, old 1 \
             (required by: app -> top (requested))"
        );
        assert!(matches!(
            e,
            ResolveError::Unsatisfiable { ref available, .. } if available.len() == 2
        ));
        // A version taken earlier is reported as such.
        let p = universe(&["app 1 old, x", "x 1 old (>= 2)", "old 1", "old 2"]);
        let e = run(&p, &["app", "old=1"], &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "unsatisfiable dependency `old (>= 2)`: available \
             old 2 [old 1 already chosen], old 1 [already chosen] \
             (required by: x -> app (requested))"
        );
    }

    #[test]
    fn unparsable_dependencies_are_errors() {
        let p = universe(&["app 1 a (~~ 1)"]);
        let e = run(&p, &["app"], &[]).unwrap_err();
        assert!(
            matches!(e, ResolveError::BadRelation { ref package, .. } if package == "app"),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "package `app` has an unparsable dependency field"
        );
        assert_eq!(
            run(&p, &[" "], &[]).unwrap_err(),
            ResolveError::BadRequest(" ".into())
        );
    }

    #[test]
    fn reasons_chain_and_why() {
        let p = universe(&["a 1 b", "b 1 c | d", "c 1", "e 1"]);
        let r = run(&p, &["a"], &[]).unwrap();
        assert_eq!(r.chain("c").unwrap(), ["c", "b", "a"]);
        assert_eq!(r.chain("a").unwrap(), ["a"]);
        assert_eq!(r.chain("e"), None);
        assert_eq!(
            r.reasons["c"],
            Reason::DependencyOf {
                parent: "b".into(),
                dependency: "c | d".into()
            }
        );
        assert_eq!(r.reasons.len(), 3);
        assert_eq!(why(&r, "a"), Why::Chosen(vec!["a".into()]));
        assert_eq!(
            why(&r, "c"),
            Why::Chosen(vec!["c".into(), "b".into(), "a".into()])
        );
        assert_eq!(why(&r, "e"), Why::NotInClosure);
        assert_eq!(format_chain(&[]), "requested");
        assert_eq!(
            format_chain(&["b".into(), "a".into()]),
            "required by: b -> a (requested)"
        );
    }

    #[test]
    fn input_order_does_not_matter() {
        let specs = [
            "app 1 awk, lib (>= 1), tzdata, x:any | y",
            "tzdata 1 debconf | debconf-2.0",
            "debconf 1 perl",
            "perl 1",
            "mawk 1 ; awk",
            "gawk 1 ; awk",
            "gawk 0.9 ; awk",
            "lib 1",
            "lib 2 y",
            "lib 1.5",
            "y 1 app",
            "x/arm64 1",
            "x/all 0.1",
        ];
        let mut runs = Vec::new();
        // Every rotation, forwards and backwards, with sources assigned by position.
        for reverse in [false, true] {
            for shift in 0..specs.len() {
                let mut order = specs.to_vec();
                order.rotate_left(shift);
                if reverse {
                    order.reverse();
                }
                let p: Vec<_> = order.iter().map(|s| pkg(s, 0)).collect();
                let r = run(&p, &["app"], &["debconf"]).unwrap();
                runs.push((names(&p, &r), r.reasons, r.excluded));
            }
        }
        let (first, reasons, excluded) = &runs[0];
        assert_eq!(
            first,
            // `lib 2` brings `y` (depth first) before `x:any | y` is looked at.
            &["app=1", "gawk=1", "lib=2", "tzdata=1", "y=1"]
        );
        assert_eq!(excluded["debconf"], ["tzdata"]);
        assert_eq!(
            reasons["y"],
            Reason::DependencyOf {
                parent: "lib".into(),
                dependency: "y".into()
            }
        );
        for run in &runs {
            assert_eq!(run, &runs[0]);
        }
    }
}
