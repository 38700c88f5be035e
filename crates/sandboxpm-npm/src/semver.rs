//! Versions and ranges with exactly node-semver's semantics (strict mode, no `includePrerelease`).
//!
//! Why not just re-export a crate: resolution must pick the *same* versions npm picks, or a lockfile
//! written by us disagrees with one written by npm for the same `package.json`. Both Rust ports we
//! evaluated diverge from node-semver on inputs found in real dependency maps (measured by the
//! differential test in `tests/semver_differential.rs` against the node-semver that npm ships):
//!
//! - `node-semver` 2.2 panics on `=*` and `~*`;
//! - `nodejs-semver` 7 lets contradictory comparator sets (`^1.2.3 >=2.0.0`, `>2 <1`) match
//!   everything, treats `1 ||` and `|| 1` as `1` instead of `*`, rejects `^*`, `~*`, `=*` and
//!   `1.2.3 - *`, gets `>*`/`<=*` backwards, and caps numeric components at a mistyped
//!   `MAX_SAFE_INTEGER` (one digit short).
//!
//! So this module keeps `nodejs-semver`'s [`nodejs_semver::Version`] for storage and precedence
//! ordering (which it gets right: numeric identifiers below alphanumeric ones, build metadata
//! ignored) and does the rest itself: strict version parsing with node's limits, and the range
//! grammar desugared to comparator sets the way node-semver's `Range` does it (hyphen ranges, then
//! operator/tilde/caret trimming, then carets, tildes, x-ranges and stars per comparator). The
//! quirks are intentional: `>=0.0.0` counts as `*`, a set with `<0.0.0-0` is the null set, and
//! `a || *` collapses to `*` (so it does *not* match prereleases of `a`).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use nodejs_semver::Identifier;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest version string node-semver accepts.
const MAX_LENGTH: usize = 256;
/// JavaScript's `Number.MAX_SAFE_INTEGER`: node-semver rejects larger components.
const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// A version or range string that node-semver would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SemverError {
    /// Not a strict semantic version.
    #[error("invalid version {input:?}: {reason}")]
    InvalidVersion {
        /// The text that was given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not a range node-semver accepts.
    #[error("invalid version range {input:?}: {reason}")]
    InvalidRange {
        /// The text that was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A strict semantic version (`1.2.3`, `v1.2.3-beta.1+build`), ordered like node-semver.
///
/// Equality and ordering ignore build metadata; [`fmt::Display`] keeps it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Version(nodejs_semver::Version);

impl Version {
    /// Parses a version the way `new SemVer(text)` does (surrounding whitespace and a leading `v`
    /// allowed, no leading zeros, components up to 2^53 - 1).
    pub fn parse(input: &str) -> Result<Self, SemverError> {
        let invalid = |reason| SemverError::InvalidVersion {
            input: input.to_owned(),
            reason,
        };
        if input.len() > MAX_LENGTH {
            return Err(invalid("longer than 256 characters"));
        }
        let text = input.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let parts = parse_full(text).ok_or_else(|| invalid("not a MAJOR.MINOR.PATCH version"))?;
        parts
            .into_version()
            .ok_or_else(|| invalid("a component is larger than 2^53 - 1"))
    }

    /// The major component.
    pub fn major(&self) -> u64 {
        self.0.major()
    }

    /// The minor component.
    pub fn minor(&self) -> u64 {
        self.0.minor()
    }

    /// The patch component.
    pub fn patch(&self) -> u64 {
        self.0.patch()
    }

    /// Whether the version has prerelease identifiers (`1.0.0-rc.1`).
    pub fn is_prerelease(&self) -> bool {
        !self.0.pre_release().is_empty()
    }

    fn same_tuple(&self, other: &Version) -> bool {
        self.major() == other.major()
            && self.minor() == other.minor()
            && self.patch() == other.patch()
    }

    fn is_zero_zero_zero_dash_zero(&self) -> bool {
        self.major() == 0
            && self.minor() == 0
            && self.patch() == 0
            && self.0.pre_release() == [Identifier::Numeric(0)]
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({self})")
    }
}

impl FromStr for Version {
    type Err = SemverError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Version::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A node-semver range: a union (`||`) of comparator sets.
#[derive(Clone)]
pub struct Range {
    raw: String,
    sets: Vec<Vec<Bound>>,
}

impl Range {
    /// Parses a range like `new Range(text)` does in node-semver (strict mode).
    pub fn parse(input: &str) -> Result<Self, SemverError> {
        let raw = collapse_whitespace(input);
        let mut sets = Vec::new();
        for part in raw.split("||") {
            let set = parse_set(part.trim()).map_err(|reason| SemverError::InvalidRange {
                input: input.to_owned(),
                reason,
            })?;
            sets.push(set);
        }
        Ok(Range {
            raw,
            sets: simplify_union(sets),
        })
    }

    /// The range that every non-prerelease version satisfies (`*`).
    pub fn any() -> Self {
        Range {
            raw: "*".to_owned(),
            sets: vec![vec![Bound::Any]],
        }
    }

    /// Whether this range is `*` (or something node-semver reduces to it, like `>=0.0.0` or `x ||`).
    pub fn is_any(&self) -> bool {
        matches!(self.sets.as_slice(), [set] if matches!(set.as_slice(), [Bound::Any]))
    }

    /// The text the range was parsed from, whitespace collapsed.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether `version` is in the range, with node-semver's prerelease rule: a prerelease only
    /// matches if a comparator of the same set names a prerelease of the same `major.minor.patch`.
    pub fn satisfies(&self, version: &Version) -> bool {
        self.sets.iter().any(|set| set_matches(set, version))
    }

    /// The highest version in `versions` that satisfies the range; the first one among equals.
    pub fn max_satisfying<'a, I>(&self, versions: I) -> Option<&'a Version>
    where
        I: IntoIterator<Item = &'a Version>,
    {
        let mut best: Option<&'a Version> = None;
        for version in versions {
            if self.satisfies(version) && best.is_none_or(|current| version > current) {
                best = Some(version);
            }
        }
        best
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl fmt::Debug for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Range({:?})", self.raw)
    }
}

impl FromStr for Range {
    type Err = SemverError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Range::parse(s)
    }
}

impl PartialEq for Range {
    /// Ranges compare by their text: two spellings of the same set are different specs to a user.
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for Range {}

/// One comparator of a set; `Any` is node-semver's empty comparator.
#[derive(Clone, Debug)]
enum Bound {
    Any,
    Cmp(Op, Version),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn parse_prefix(text: &str) -> (Option<Op>, &str) {
        for (prefix, op) in [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
            ("=", Op::Eq),
        ] {
            if let Some(rest) = text.strip_prefix(prefix) {
                return (Some(op), rest);
            }
        }
        (None, text)
    }
}

impl Bound {
    fn matches(&self, version: &Version) -> bool {
        match self {
            Bound::Any => true,
            Bound::Cmp(op, bound) => {
                let ord = version.cmp(bound);
                match op {
                    Op::Eq => ord == Ordering::Equal,
                    Op::Lt => ord == Ordering::Less,
                    Op::Le => ord != Ordering::Greater,
                    Op::Gt => ord == Ordering::Greater,
                    Op::Ge => ord != Ordering::Less,
                }
            }
        }
    }

    fn is_null_set(&self) -> bool {
        matches!(self, Bound::Cmp(Op::Lt, v) if v.is_zero_zero_zero_dash_zero())
    }

    fn same_as(&self, other: &Bound) -> bool {
        match (self, other) {
            (Bound::Any, Bound::Any) => true,
            (Bound::Cmp(a, x), Bound::Cmp(b, y)) => a == b && x == y,
            _ => false,
        }
    }
}

fn set_matches(set: &[Bound], version: &Version) -> bool {
    if !set.iter().all(|bound| bound.matches(version)) {
        return false;
    }
    if !version.is_prerelease() {
        return true;
    }
    set.iter().any(|bound| match bound {
        Bound::Cmp(_, bound) => bound.is_prerelease() && bound.same_tuple(version),
        Bound::Any => false,
    })
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// node-semver drops null sets from a union (unless all are null) and reduces a union containing
/// `*` to `*`.
fn simplify_union(sets: Vec<Vec<Bound>>) -> Vec<Vec<Bound>> {
    if sets.len() < 2 {
        return sets;
    }
    let is_null = |set: &Vec<Bound>| set.first().is_some_and(Bound::is_null_set);
    let non_null: Vec<Vec<Bound>> = sets.iter().filter(|set| !is_null(set)).cloned().collect();
    if non_null.is_empty() {
        return sets.into_iter().take(1).collect();
    }
    if non_null.len() > 1
        && let Some(any) = non_null
            .iter()
            .find(|set| matches!(set.as_slice(), [Bound::Any]))
    {
        return vec![any.clone()];
    }
    non_null
}

/// Parses one `||`-separated part into its comparators.
fn parse_set(part: &str) -> Result<Vec<Bound>, String> {
    let part = collapse_whitespace(&strip_build_metadata(part));
    let mut bounds = Vec::new();
    if let Some(hyphen) = hyphen_range(&part) {
        bounds.extend(hyphen?);
    } else {
        for word in join_operators(&part) {
            bounds.extend(desugar_word(&word)?);
        }
    }
    // `>=0.0.0` is `*` to node-semver (it then drops out of a set with other comparators).
    for bound in &mut bounds {
        if let Bound::Cmp(Op::Ge, v) = bound
            && *v == Version(nodejs_semver::Version::new(0, 0, 0, Vec::new(), Vec::new()))
        {
            *bound = Bound::Any;
        }
    }
    if let Some(null) = bounds.iter().find(|bound| bound.is_null_set()) {
        return Ok(vec![null.clone()]);
    }
    let mut unique: Vec<Bound> = Vec::new();
    for bound in bounds {
        if !unique.iter().any(|seen| seen.same_as(&bound)) {
            unique.push(bound);
        }
    }
    if unique.len() > 1 {
        unique.retain(|bound| !matches!(bound, Bound::Any));
    }
    if unique.is_empty() {
        unique.push(Bound::Any);
    }
    Ok(unique)
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// Removes every `+build.meta` run, as node-semver does before parsing a range.
fn strip_build_metadata(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '+' && chars.get(i + 1).copied().is_some_and(is_ident_char) {
            let mut j = i + 1;
            while j < chars.len() && is_ident_char(chars[j]) {
                j += 1;
            }
            while j + 1 < chars.len() && chars[j] == '.' && is_ident_char(chars[j + 1]) {
                j += 1;
                while j < chars.len() && is_ident_char(chars[j]) {
                    j += 1;
                }
            }
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Joins an operator written apart from its version: `>= 1.2.3`, `~ 1.2`, `~> 1.2`, `^ 1.2`.
fn join_operators(part: &str) -> Vec<String> {
    let mut words: Vec<String> = part.split(' ').map(str::to_owned).collect();
    let passes: [(&[&str], bool); 3] = [
        (&["<", ">", "<=", ">=", "="], false),
        (&["~", "~>"], true),
        (&["^"], false),
    ];
    for (operators, tilde) in passes {
        let mut joined: Vec<String> = Vec::with_capacity(words.len());
        let mut iter = words.into_iter().peekable();
        while let Some(word) = iter.next() {
            if operators.contains(&word.as_str())
                && let Some(next) = iter.next()
            {
                // node-semver's tilde trim rewrites `~> ` to `~`.
                let op = if tilde { "~" } else { word.as_str() };
                joined.push(format!("{op}{next}"));
            } else {
                joined.push(word);
            }
        }
        words = joined;
    }
    words
}

/// A component of an x-range: missing and `x`/`X`/`*` are both wildcards.
#[derive(Clone, Copy, Debug)]
enum Part {
    Wild,
    Num(u64),
}

impl Part {
    fn is_x(self) -> bool {
        matches!(self, Part::Wild)
    }
    fn num(self) -> u64 {
        match self {
            Part::Wild => 0,
            Part::Num(n) => n,
        }
    }
}

/// `[v=\s]*M[.m[.p[-pre][+build]]]` with wildcards.
#[derive(Debug)]
struct XRange {
    major: Part,
    minor: Part,
    patch: Part,
    pre: Vec<Identifier>,
    /// The text after the `v`/`=` prefix, when that prefix is at most one `v`: node-semver keeps
    /// such text verbatim in some rewrites, and only `v?MAJOR.MINOR.PATCH` survives there.
    plain: Option<String>,
}

/// Parses `0|[1-9][0-9]*`; oversized values saturate (and are rejected later as > 2^53 - 1).
fn parse_numeric(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    Some(text.parse::<u64>().unwrap_or(u64::MAX))
}

fn parse_prerelease(text: &str) -> Option<Vec<Identifier>> {
    text.split('.')
        .map(|id| {
            if id.is_empty() || !id.chars().all(is_ident_char) {
                return None;
            }
            if id.bytes().all(|b| b.is_ascii_digit()) {
                let value = parse_numeric(id)?;
                // node-semver keeps identifiers at or above 2^53 - 1 as strings.
                Some(if value < MAX_SAFE_INTEGER {
                    Identifier::Numeric(value)
                } else {
                    Identifier::AlphaNumeric(id.to_owned())
                })
            } else {
                Some(Identifier::AlphaNumeric(id.to_owned()))
            }
        })
        .collect()
}

fn parse_build(text: &str) -> Option<Vec<Identifier>> {
    text.split('.')
        .map(|id| {
            (!id.is_empty() && id.chars().all(is_ident_char))
                .then(|| Identifier::AlphaNumeric(id.to_owned()))
        })
        .collect()
}

/// Splits `MAIN[-pre][+build]` into its three pieces (the pre/build parts without their sigils).
fn split_main(text: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, build) = match text.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (text, None),
    };
    let (main, pre) = match rest.split_once('-') {
        Some((main, pre)) => (main, Some(pre)),
        None => (rest, None),
    };
    (main, pre, build)
}

struct FullParts {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<Identifier>,
    build: Vec<Identifier>,
}

impl FullParts {
    fn into_version(self) -> Option<Version> {
        if [self.major, self.minor, self.patch]
            .iter()
            .any(|&n| n > MAX_SAFE_INTEGER)
        {
            return None;
        }
        Some(Version(nodejs_semver::Version::new(
            self.major, self.minor, self.patch, self.pre, self.build,
        )))
    }
}

/// `MAJOR.MINOR.PATCH[-pre][+build]`, no prefix, no wildcards.
fn parse_full(text: &str) -> Option<FullParts> {
    let (main, pre, build) = split_main(text);
    let mut nums = main.split('.');
    let major = parse_numeric(nums.next()?)?;
    let minor = parse_numeric(nums.next()?)?;
    let patch = parse_numeric(nums.next()?)?;
    if nums.next().is_some() {
        return None;
    }
    let pre = match pre {
        Some(pre) => parse_prerelease(pre)?,
        None => Vec::new(),
    };
    let build = match build {
        Some(build) => parse_build(build)?,
        None => Vec::new(),
    };
    Some(FullParts {
        major,
        minor,
        patch,
        pre,
        build,
    })
}

fn parse_xrange(text: &str) -> Option<XRange> {
    let body = text.trim_start_matches(['v', '=', ' ']);
    let prefix = &text[..text.len() - body.len()];
    let (main, pre, build) = split_main(body);
    let parts: Vec<&str> = main.split('.').collect();
    if parts.len() > 3 || ((pre.is_some() || build.is_some()) && parts.len() != 3) {
        return None;
    }
    let mut comps = [Part::Wild; 3];
    for (slot, part) in comps.iter_mut().zip(&parts) {
        *slot = match *part {
            "x" | "X" | "*" => Part::Wild,
            digits => Part::Num(parse_numeric(digits)?),
        };
    }
    let pre = match pre {
        Some(pre) => parse_prerelease(pre)?,
        None => Vec::new(),
    };
    if let Some(build) = build {
        parse_build(build)?;
    }
    Some(XRange {
        major: comps[0],
        minor: comps[1],
        patch: comps[2],
        pre,
        plain: matches!(prefix, "" | "v").then(|| body.to_owned()),
    })
}

/// A comparator node-semver would build from generated text; fails like `new SemVer` when a
/// component exceeds 2^53 - 1.
fn cmp(op: Op, major: u64, minor: u64, patch: u64, pre: Vec<Identifier>) -> Result<Bound, String> {
    FullParts {
        major,
        minor,
        patch,
        pre,
        build: Vec::new(),
    }
    .into_version()
    .map(|v| Bound::Cmp(op, v))
    .ok_or_else(|| "a version component is larger than 2^53 - 1".to_owned())
}

fn bump(n: u64) -> Result<u64, String> {
    n.checked_add(1)
        .ok_or_else(|| "a version component is larger than 2^53 - 1".to_owned())
}

/// The `-0` prerelease that makes an exclusive upper bound exclude that tuple's prereleases.
fn dash_zero() -> Vec<Identifier> {
    vec![Identifier::Numeric(0)]
}

/// `GTLT v?MAJOR.MINOR.PATCH[-pre][+build]`, or the empty comparator.
fn plain_comparator(text: &str) -> Result<Bound, String> {
    if text.is_empty() {
        return Ok(Bound::Any);
    }
    let (op, rest) = Op::parse_prefix(text);
    let rest = rest.strip_prefix('v').unwrap_or(rest);
    let parts = parse_full(rest).ok_or_else(|| format!("{text:?} is not a comparator"))?;
    let version = parts
        .into_version()
        .ok_or_else(|| "a version component is larger than 2^53 - 1".to_owned())?;
    Ok(Bound::Cmp(op.unwrap_or(Op::Eq), version))
}

/// node-semver's last resort for a word: drop the first `[<>]?=?*`, then read a plain comparator.
fn fallback(word: &str) -> Result<Vec<Bound>, String> {
    let text = match word.find('*') {
        Some(star) => {
            let bytes = word.as_bytes();
            let mut start = star;
            if start > 0 && bytes[start - 1] == b'=' {
                start -= 1;
            }
            if start > 0 && matches!(bytes[start - 1], b'<' | b'>') {
                start -= 1;
            }
            format!("{}{}", &word[..start], &word[star + 1..])
        }
        None => word.to_owned(),
    };
    Ok(vec![plain_comparator(&text)?])
}

fn desugar_word(word: &str) -> Result<Vec<Bound>, String> {
    if let Some(rest) = word.strip_prefix('^') {
        return match parse_xrange(rest) {
            Some(x) => caret(x),
            None => fallback(word),
        };
    }
    if let Some(rest) = word.strip_prefix('~') {
        let rest = rest.strip_prefix('>').unwrap_or(rest);
        return match parse_xrange(rest) {
            Some(x) => tilde(x),
            None => fallback(word),
        };
    }
    let (op, rest) = Op::parse_prefix(word);
    match parse_xrange(rest) {
        Some(x) => xrange(word, op, x),
        None => fallback(word),
    }
}

fn caret(x: XRange) -> Result<Vec<Bound>, String> {
    let (ma, mi, pa) = (x.major.num(), x.minor.num(), x.patch.num());
    if x.major.is_x() {
        return Ok(vec![Bound::Any]);
    }
    if x.minor.is_x() {
        return Ok(vec![
            cmp(Op::Ge, ma, 0, 0, Vec::new())?,
            cmp(Op::Lt, bump(ma)?, 0, 0, dash_zero())?,
        ]);
    }
    if x.patch.is_x() {
        let upper = if ma == 0 {
            cmp(Op::Lt, 0, bump(mi)?, 0, dash_zero())?
        } else {
            cmp(Op::Lt, bump(ma)?, 0, 0, dash_zero())?
        };
        return Ok(vec![cmp(Op::Ge, ma, mi, 0, Vec::new())?, upper]);
    }
    let upper = match (ma, mi) {
        (0, 0) => cmp(Op::Lt, 0, 0, bump(pa)?, dash_zero())?,
        (0, _) => cmp(Op::Lt, 0, bump(mi)?, 0, dash_zero())?,
        _ => cmp(Op::Lt, bump(ma)?, 0, 0, dash_zero())?,
    };
    Ok(vec![cmp(Op::Ge, ma, mi, pa, x.pre)?, upper])
}

fn tilde(x: XRange) -> Result<Vec<Bound>, String> {
    let (ma, mi, pa) = (x.major.num(), x.minor.num(), x.patch.num());
    if x.major.is_x() {
        return Ok(vec![Bound::Any]);
    }
    if x.minor.is_x() {
        return Ok(vec![
            cmp(Op::Ge, ma, 0, 0, Vec::new())?,
            cmp(Op::Lt, bump(ma)?, 0, 0, dash_zero())?,
        ]);
    }
    let lower = if x.patch.is_x() {
        cmp(Op::Ge, ma, mi, 0, Vec::new())?
    } else {
        cmp(Op::Ge, ma, mi, pa, x.pre)?
    };
    Ok(vec![lower, cmp(Op::Lt, ma, bump(mi)?, 0, dash_zero())?])
}

fn xrange(word: &str, op: Option<Op>, x: XRange) -> Result<Vec<Bound>, String> {
    // `*.1` and `1.x.2` are not x-ranges; node-semver leaves them to the comparator parser.
    let bad_order = (x.major.is_x() && !x.minor.is_x()) || (x.minor.is_x() && !x.patch.is_x());
    let any_x = x.major.is_x() || x.minor.is_x() || x.patch.is_x();
    if bad_order || !any_x {
        return fallback(word);
    }
    let op = op.filter(|op| *op != Op::Eq);
    let (ma, mi) = (x.major.num(), x.minor.num());
    let minor_x = x.major.is_x() || x.minor.is_x();
    if x.major.is_x() {
        return Ok(vec![match op {
            // `>*` and `<*` allow nothing; `>=*`, `<=*` and `*` allow everything.
            Some(Op::Gt | Op::Lt) => cmp(Op::Lt, 0, 0, 0, dash_zero())?,
            _ => Bound::Any,
        }]);
    }
    match op {
        Some(Op::Gt) if minor_x => Ok(vec![cmp(Op::Ge, bump(ma)?, 0, 0, Vec::new())?]),
        Some(Op::Gt) => Ok(vec![cmp(Op::Ge, ma, bump(mi)?, 0, Vec::new())?]),
        Some(Op::Le) if minor_x => Ok(vec![cmp(Op::Lt, bump(ma)?, 0, 0, dash_zero())?]),
        Some(Op::Le) => Ok(vec![cmp(Op::Lt, ma, bump(mi)?, 0, dash_zero())?]),
        Some(Op::Lt) => Ok(vec![cmp(
            Op::Lt,
            ma,
            if minor_x { 0 } else { mi },
            0,
            dash_zero(),
        )?]),
        Some(Op::Ge) => Ok(vec![cmp(
            Op::Ge,
            ma,
            if minor_x { 0 } else { mi },
            0,
            Vec::new(),
        )?]),
        Some(Op::Eq) | None if minor_x => Ok(vec![
            cmp(Op::Ge, ma, 0, 0, Vec::new())?,
            cmp(Op::Lt, bump(ma)?, 0, 0, dash_zero())?,
        ]),
        Some(Op::Eq) | None => Ok(vec![
            cmp(Op::Ge, ma, mi, 0, Vec::new())?,
            cmp(Op::Lt, ma, bump(mi)?, 0, dash_zero())?,
        ]),
    }
}

/// `A - B`: inclusive on both ends, a partial upper end covers its whole x-range.
fn hyphen_range(part: &str) -> Option<Result<Vec<Bound>, String>> {
    let mut pieces = part.split(" - ");
    let (from_text, to_text) = (pieces.next()?, pieces.next()?);
    if pieces.next().is_some() {
        return None;
    }
    let from = parse_xrange(from_text)?;
    let to = parse_xrange(to_text)?;
    Some(hyphen_bounds(from, to))
}

fn hyphen_bounds(from: XRange, to: XRange) -> Result<Vec<Bound>, String> {
    let mut bounds = Vec::new();
    if from.major.is_x() {
    } else if from.minor.is_x() {
        bounds.push(cmp(Op::Ge, from.major.num(), 0, 0, Vec::new())?);
    } else if from.patch.is_x() {
        bounds.push(cmp(
            Op::Ge,
            from.major.num(),
            from.minor.num(),
            0,
            Vec::new(),
        )?);
    } else {
        // node-semver splices the lower end's text after `>=`, so only `v?X.Y.Z` survives.
        let text = from
            .plain
            .as_deref()
            .ok_or("invalid lower end of a hyphen range")?;
        bounds.push(plain_comparator(&format!(">={text}"))?);
    }
    if to.major.is_x() {
    } else if to.minor.is_x() {
        bounds.push(cmp(Op::Lt, bump(to.major.num())?, 0, 0, dash_zero())?);
    } else if to.patch.is_x() {
        bounds.push(cmp(
            Op::Lt,
            to.major.num(),
            bump(to.minor.num())?,
            0,
            dash_zero(),
        )?);
    } else if !to.pre.is_empty() {
        let (ma, mi, pa) = (to.major.num(), to.minor.num(), to.patch.num());
        bounds.push(cmp(Op::Le, ma, mi, pa, to.pre)?);
    } else {
        let text = to
            .plain
            .as_deref()
            .ok_or("invalid upper end of a hyphen range")?;
        bounds.push(plain_comparator(&format!("<={text}"))?);
    }
    Ok(bounds)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn sat(range: &str, version: &str) -> bool {
        Range::parse(range)
            .unwrap()
            .satisfies(&Version::parse(version).unwrap())
    }

    #[test]
    fn caret_zero_rules() {
        assert!(sat("^0.0.3", "0.0.3"));
        assert!(!sat("^0.0.3", "0.0.4"));
        assert!(sat("^0.2.3", "0.2.9"));
        assert!(!sat("^0.2.3", "0.3.0"));
        assert!(sat("^0.0.x", "0.0.9"));
        assert!(!sat("^0.0.x", "0.1.0"));
    }

    #[test]
    fn contradictions_match_nothing() {
        for v in ["1.2.3", "1.9.0", "2.0.0", "3.0.0"] {
            assert!(!sat("^1.2.3 >=2.0.0", v), "{v}");
        }
    }

    #[test]
    fn trailing_or_is_any() {
        let range = Range::parse("^1.0.0 ||").unwrap();
        assert!(range.is_any());
        assert!(sat("^1.0.0 ||", "5.0.0"));
        assert!(!sat("^1.0.0 ||", "5.0.0-beta"));
    }

    #[test]
    fn prerelease_needs_same_tuple() {
        assert!(sat("^1.2.3-beta.2", "1.2.3-beta.4"));
        assert!(!sat("^1.2.3-beta.2", "1.2.4-beta"));
        assert!(sat("^1.2.3-beta.2", "1.2.4"));
    }

    #[test]
    fn max_satisfying_picks_highest_first_among_equals() {
        let versions: Vec<Version> = ["1.2.3+a", "1.2.3+b", "1.0.0", "2.0.0"]
            .iter()
            .map(|v| Version::parse(v).unwrap())
            .collect();
        let range = Range::parse("^1").unwrap();
        assert_eq!(
            range.max_satisfying(&versions).unwrap().to_string(),
            "1.2.3+a"
        );
        assert!(
            Range::parse("^3")
                .unwrap()
                .max_satisfying(&versions)
                .is_none()
        );
    }

    #[test]
    fn version_display_and_errors() {
        assert_eq!(
            Version::parse(" v1.2.3-rc.1+b ").unwrap().to_string(),
            "1.2.3-rc.1+b"
        );
        let err = Version::parse("01.2.3").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid version \"01.2.3\": not a MAJOR.MINOR.PATCH version"
        );
        let err = Range::parse("^latest").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid version range \"^latest\": \"^latest\" is not a comparator"
        );
    }
}
