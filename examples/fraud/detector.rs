//! The fraud rules as plain Rust: no I/O and no clock, so that they can be tested alone.
//! The stream application (`topology.rs`) calls them from its operators, and the check
//! of a run (`direct`) calls them over the records as they were read.
//!
//! Every rule works on *event time*, the `timestamp` inside each transaction, never on the
//! time a record happens to be read: a replay, a restart or a late record gives the same
//! verdicts as the live stream.

use std::fmt;

use serde::{Deserialize, Serialize};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

/// How late (in event time, behind the newest record of its partition) a withdrawal may
/// arrive and still be counted in its windows: the windows' grace.
pub(crate) const GRACE_MS: i64 = HOUR_MS;
/// A window of the velocity rule starts every 10 seconds: any burst shorter than the
/// window minus this fits in one of them.
pub(crate) const ADVANCE_MS: i64 = 10_000;

/// One card transaction as the producer writes it: the tutorial's `user_id`, `amount`,
/// `location` and `timestamp`, plus an id to refer to it and its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Transaction {
    pub(crate) tx_id: String,
    pub(crate) user_id: u32,
    pub(crate) kind: Kind,
    pub(crate) amount: f64,
    /// A city of [`CITIES`].
    pub(crate) location: String,
    /// Event time: when the card was used, in ms since the Unix epoch.
    pub(crate) timestamp: i64,
}

/// What the card was used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    Purchase,
    Withdrawal,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Kind::Purchase => "purchase",
            Kind::Withdrawal => "withdrawal",
        })
    }
}

/// Which rule raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Rule {
    LargeAmount,
    Velocity,
    ImpossibleTravel,
}

impl Rule {
    pub(crate) const ALL: [Rule; 3] = [Rule::LargeAmount, Rule::Velocity, Rule::ImpossibleTravel];
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Rule::LargeAmount => "large_amount",
            Rule::Velocity => "velocity",
            Rule::ImpossibleTravel => "impossible_travel",
        })
    }
}

/// A suspicious transaction, as the detector writes it to `fraud_alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Alert {
    /// The flagged transaction's id, `transactions/<tx_id>`: with the rule, the alert's id
    /// (a transaction is flagged at most once per rule).
    #[serde(default)]
    pub(crate) source: String,
    pub(crate) tx_id: String,
    pub(crate) user_id: u32,
    pub(crate) rule: Rule,
    /// Why, in words a fraud analyst reads.
    pub(crate) reason: String,
    /// The other transactions that make this one suspicious (the rest of the burst, or the
    /// transaction in the other city).
    pub(crate) related: Vec<String>,
    /// Event time of the flagged transaction.
    pub(crate) timestamp: i64,
}

/// The thresholds of the three rules.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    /// A larger amount is flagged; the tutorial's `transaction["amount"] > 900`.
    pub(crate) max_amount: f64,
    /// More withdrawals than this by one user within `window_ms` are flagged.
    pub(crate) max_withdrawals: usize,
    pub(crate) window_ms: i64,
    /// Two places farther apart than this speed allows in the time between them are
    /// flagged: about an airliner's cruising speed.
    pub(crate) max_speed_kmh: f64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            max_amount: 900.0,
            max_withdrawals: 3,
            window_ms: 5 * MINUTE_MS,
            max_speed_kmh: 900.0,
        }
    }
}

/// A place a card can be used, with its coordinates in degrees.
#[derive(Debug, PartialEq)]
pub(crate) struct City {
    pub(crate) name: &'static str,
    lat: f64,
    lon: f64,
}

const fn city_at(name: &'static str, lat: f64, lon: f64) -> City {
    City { name, lat, lon }
}

/// The tutorial's locations were "US", "IN" and "EU": too coarse to tell a train ride from
/// a flight, so here are cities of those regions and a few more, near and far.
pub(crate) const CITIES: [City; 16] = [
    city_at("Amsterdam", 52.3676, 4.9041),
    city_at("Rotterdam", 51.9244, 4.4777),
    city_at("London", 51.5074, -0.1278),
    city_at("Paris", 48.8566, 2.3522),
    city_at("Berlin", 52.5200, 13.4050),
    city_at("Madrid", 40.4168, -3.7038),
    city_at("New York", 40.7128, -74.0060),
    city_at("Toronto", 43.6532, -79.3832),
    city_at("Chicago", 41.8781, -87.6298),
    city_at("Mumbai", 19.0760, 72.8777),
    city_at("Pune", 18.5204, 73.8567),
    city_at("Delhi", 28.6139, 77.2090),
    city_at("Nairobi", -1.2921, 36.8219),
    city_at("Singapore", 1.3521, 103.8198),
    city_at("Tokyo", 35.6762, 139.6503),
    city_at("Sydney", -33.8688, 151.2093),
];

/// The city named `name`, if the table has it.
pub(crate) fn city(name: &str) -> Option<&'static City> {
    CITIES.iter().find(|c| c.name == name)
}

/// Great-circle distance (haversine formula, mean Earth radius 6,371 km).
pub(crate) fn distance_km(a: &City, b: &City) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * 6_371.0 * h.sqrt().asin()
}

/// The speed needed to be in `a` and then in `b` after `elapsed_ms` (either sign); infinite
/// for two different places at the same instant.
pub(crate) fn speed_kmh(a: &City, b: &City, elapsed_ms: i64) -> f64 {
    let km = distance_km(a, b);
    if km == 0.0 {
        return 0.0;
    }
    let ms = elapsed_ms.unsigned_abs();
    if ms == 0 {
        return f64::INFINITY;
    }
    // Below 2^52 ms (142,000 years) the conversion is exact.
    #[expect(clippy::cast_precision_loss, reason = "exact below 2^52 ms")]
    let hours = ms as f64 / 3_600_000.0;
    km / hours
}

/// An alert about `tx`.
fn alert(tx: &Transaction, rule: Rule, reason: String, related: Vec<String>) -> Alert {
    Alert {
        source: format!("transactions/{}", tx.tx_id),
        tx_id: tx.tx_id.clone(),
        user_id: tx.user_id,
        rule,
        reason,
        related,
        timestamp: tx.timestamp,
    }
}

/// The tutorial's rule: an amount over the limit.
pub(crate) fn large_amount(rules: &Rules, tx: &Transaction) -> Option<Alert> {
    (tx.amount > rules.max_amount).then(|| {
        let reason = format!("amount {:.2} > {}", tx.amount, rules.max_amount);
        alert(tx, Rule::LargeAmount, reason, Vec::new())
    })
}

/// The withdrawals of one user in one window, in arrival order: the window's aggregate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Burst {
    /// Event time and id of each withdrawal.
    pub(crate) withdrawals: Vec<(i64, String)>,
}

impl Burst {
    /// The burst with `tx` added.
    #[must_use]
    pub(crate) fn with(&self, tx: &Transaction) -> Self {
        let mut withdrawals = self.withdrawals.clone();
        withdrawals.push((tx.timestamp, tx.tx_id.clone()));
        Self { withdrawals }
    }
}

/// The velocity rule, for a window's aggregate just updated with `tx`: more withdrawals
/// than the limit in the window flags `tx`, the one that went over (or came later).
pub(crate) fn too_many(rules: &Rules, tx: &Transaction, burst: &Burst) -> Option<Alert> {
    if burst.withdrawals.len() <= rules.max_withdrawals {
        return None;
    }
    let first = burst
        .withdrawals
        .iter()
        .map(|w| w.0)
        .min()
        .unwrap_or(tx.timestamp);
    let last = burst
        .withdrawals
        .iter()
        .map(|w| w.0)
        .max()
        .unwrap_or(tx.timestamp);
    let reason = format!(
        "{} withdrawals within {} (more than {} in {} min)",
        burst.withdrawals.len(),
        duration(last - first),
        rules.max_withdrawals,
        rules.window_ms / MINUTE_MS
    );
    let related = burst.withdrawals.iter().map(|w| w.1.clone());
    let related = related.filter(|id| *id != tx.tx_id).collect();
    Some(alert(tx, Rule::Velocity, reason, related))
}

/// Where a user's card was last seen: the impossible-travel aggregate. `alert` is set on
/// the update that flagged a transaction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct LastSeen {
    pub(crate) city: String,
    pub(crate) at: i64,
    pub(crate) tx_id: String,
    pub(crate) alert: Option<Alert>,
}

/// The impossible-travel rule: `tx` against where the card was last seen. Too fast a trip
/// flags `tx` and leaves the card where it was (a cloned card abroad does not move its
/// owner); a transaction older than the last one seen does not move it back either. A
/// place not in the table cannot be located: not checked.
#[must_use]
pub(crate) fn travel(rules: &Rules, last: &LastSeen, tx: &Transaction) -> LastSeen {
    let moved = || LastSeen {
        city: tx.location.clone(),
        at: tx.timestamp,
        tx_id: tx.tx_id.clone(),
        alert: None,
    };
    let stay = |alert| LastSeen {
        alert,
        ..last.clone()
    };
    let Some(here) = city(&tx.location) else {
        return stay(None);
    };
    let Some(there) = city(&last.city) else {
        return moved(); // nothing seen yet
    };
    let elapsed = tx.timestamp - last.at;
    let kmh = speed_kmh(there, here, elapsed);
    if kmh > rules.max_speed_kmh {
        let (from, to) = if elapsed >= 0 {
            (there, here)
        } else {
            (here, there)
        };
        let reason = format!(
            "{} -> {}: {:.0} km in {} needs {} km/h (max {})",
            from.name,
            to.name,
            distance_km(from, to),
            duration(elapsed.abs()),
            speed(kmh),
            rules.max_speed_kmh
        );
        let related = vec![last.tx_id.clone()];
        return stay(Some(alert(tx, Rule::ImpossibleTravel, reason, related)));
    }
    if elapsed >= 0 {
        moved()
    } else {
        stay(None)
    }
}

/// `3m20s`, `1h05m`, `12s`.
fn duration(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

fn speed(kmh: f64) -> String {
    if kmh.is_finite() {
        format!("{kmh:.0}")
    } else {
        "infinite".to_string()
    }
}
