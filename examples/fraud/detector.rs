//! The fraud rules as plain Rust: no I/O and no clock, so that they can be tested alone.
//!
//! Every rule works on *event time*, the `timestamp` inside each transaction, never on the
//! time a record happens to be read: a replay, a restart or a late record gives the same
//! verdicts as the live stream.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

/// How late (in event time, behind the newest event of the same user) a withdrawal may
/// arrive and still be counted with the others: older ones are forgotten to bound memory.
const LATENESS_MS: i64 = HOUR_MS;

/// Half of Earth's circumference: no two places are farther apart than this.
const MAX_DISTANCE_KM: f64 = 20_016.0;

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
    /// Where the flagged transaction is in the log, `topic-partition@offset`: with the
    /// rule, the alert's id (a transaction is flagged at most once per rule). Set by the
    /// caller of [`Detector::check`], which knows the record.
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

/// Applies the rules to each user's transactions, remembering what the windowed rules need.
///
/// The state is per user, so a detector sees all of a user's transactions only if they
/// all come its way: the producer keys records by `user_id`, which puts each user in one
/// partition, read by one member of the group.
///
/// The state can be taken back to the last [`commit`](Self::commit): a detector whose
/// transaction aborts [`rollback`](Self::rollback)s, so that the records it reads again
/// meet the windows as they were, not with their own first reading already in them.
#[derive(Debug)]
pub(crate) struct Detector {
    rules: Rules,
    users: HashMap<u32, History>,
    /// Each user `check` changed since the last `commit`, as the user was then (`None`:
    /// not known then). One entry per user, so it is bounded by the users.
    undo: HashMap<u32, Option<History>>,
}

/// What is remembered of one user: recent withdrawals and places, in event-time order
/// (not arrival order, so that a late record slots in where it belongs).
#[derive(Debug, Default, Clone)]
struct History {
    withdrawals: Vec<(i64, String)>,
    visits: Vec<Visit>,
    newest: i64,
}

#[derive(Debug, Clone)]
struct Visit {
    at: i64,
    city: &'static City,
    tx_id: String,
}

impl Detector {
    pub(crate) fn new(rules: Rules) -> Self {
        Self {
            rules,
            users: HashMap::new(),
            undo: HashMap::new(),
        }
    }

    /// The number of users with remembered state.
    #[cfg(test)]
    pub(crate) fn users(&self) -> usize {
        self.users.len()
    }

    /// Keeps the state as it is now: a later [`rollback`](Self::rollback) returns here.
    pub(crate) fn commit(&mut self) {
        self.undo.clear();
    }

    /// Undoes every [`check`](Self::check) since the last [`commit`](Self::commit) (or
    /// since [`new`](Self::new)).
    pub(crate) fn rollback(&mut self) {
        for (user, before) in self.undo.drain() {
            match before {
                Some(history) => self.users.insert(user, history),
                None => self.users.remove(&user),
            };
        }
    }

    /// Applies every rule to `tx`; an alert for each rule it breaks.
    pub(crate) fn check(&mut self, tx: &Transaction) -> Vec<Alert> {
        self.undo
            .entry(tx.user_id)
            .or_insert_with(|| self.users.get(&tx.user_id).cloned());
        let rules = &self.rules;
        let alert = |rule, reason, related| Alert {
            source: String::new(),
            tx_id: tx.tx_id.clone(),
            user_id: tx.user_id,
            rule,
            reason,
            related,
            timestamp: tx.timestamp,
        };
        let mut alerts = Vec::new();
        if tx.amount > rules.max_amount {
            let reason = format!("amount {:.2} > {}", tx.amount, rules.max_amount);
            alerts.push(alert(Rule::LargeAmount, reason, Vec::new()));
        }
        let history = self.users.entry(tx.user_id).or_default();
        history.newest = history.newest.max(tx.timestamp);
        if tx.kind == Kind::Withdrawal {
            let burst = history.add_withdrawal(tx, rules.window_ms);
            if burst.len() > rules.max_withdrawals {
                let span = burst.last().map_or(0, |w| w.0) - burst.first().map_or(0, |w| w.0);
                let reason = format!(
                    "{} withdrawals within {} (more than {} in {} min)",
                    burst.len(),
                    duration(span),
                    rules.max_withdrawals,
                    rules.window_ms / MINUTE_MS
                );
                let related = burst
                    .iter()
                    .map(|w| w.1.clone())
                    .filter(|id| *id != tx.tx_id);
                alerts.push(alert(Rule::Velocity, reason, related.collect()));
            }
        }
        // A transaction from a place not in the table cannot be located: no travel check.
        if let Some(here) = city(&tx.location) {
            let too_fast = history.add_visit(tx, here, rules.max_speed_kmh);
            if let Some(first) = too_fast.first() {
                let (from, to) = if first.at <= tx.timestamp {
                    (first.city, here)
                } else {
                    (here, first.city)
                };
                let reason = format!(
                    "{} -> {}: {:.0} km in {} needs {} km/h (max {})",
                    from.name,
                    to.name,
                    distance_km(from, to),
                    duration((tx.timestamp - first.at).abs()),
                    speed(speed_kmh(from, to, tx.timestamp - first.at)),
                    rules.max_speed_kmh
                );
                let related = too_fast.iter().map(|v| v.tx_id.clone()).collect();
                alerts.push(alert(Rule::ImpossibleTravel, reason, related));
            }
        }
        let travel_memory_ms = hours_to_ms(MAX_DISTANCE_KM / rules.max_speed_kmh);
        history.forget(rules.window_ms + LATENESS_MS, travel_memory_ms);
        alerts
    }
}

impl History {
    /// Records a withdrawal; returns the busiest window (`window_ms` long, starting at a
    /// withdrawal) that holds the new one, in event-time order.
    fn add_withdrawal(&mut self, tx: &Transaction, window_ms: i64) -> &[(i64, String)] {
        let w = &mut self.withdrawals;
        let at = w.partition_point(|(t, _)| *t <= tx.timestamp);
        w.insert(at, (tx.timestamp, tx.tx_id.clone()));
        // A window [start, start + window) holds the new withdrawal if it starts at a
        // withdrawal in (t - window, t]; the busiest of those is the one that matters.
        let first = w.partition_point(|(t, _)| *t <= tx.timestamp - window_ms);
        let mut busiest = at..at + 1;
        for start in first..=at {
            let end = w.partition_point(|(t, _)| *t < w[start].0 + window_ms);
            if end - start > busiest.len() {
                busiest = start..end;
            }
        }
        &w[busiest]
    }

    /// Records a visit, unless it is too far from its neighbours in event time (the visit
    /// before and the one after) to have been reached at `max_speed_kmh`: then returns
    /// those neighbours and leaves the visit out, as a flagged transaction says nothing
    /// about where the card's owner is. The owner's next purchase at home is then not
    /// flagged again, while a second one far away is.
    fn add_visit(
        &mut self,
        tx: &Transaction,
        here: &'static City,
        max_speed_kmh: f64,
    ) -> Vec<Visit> {
        let at = self
            .visits
            .partition_point(|visit| visit.at <= tx.timestamp);
        // Comparing with both neighbours, not just the latest arrival, is what makes a
        // late record (event time before the newest) come out as in an ordered stream.
        let too_fast: Vec<Visit> = [at.checked_sub(1), Some(at)]
            .into_iter()
            .flatten()
            .filter_map(|i| self.visits.get(i))
            .filter(|n| speed_kmh(n.city, here, tx.timestamp - n.at) > max_speed_kmh)
            .cloned()
            .collect();
        if too_fast.is_empty() {
            let visit = Visit {
                at: tx.timestamp,
                city: here,
                tx_id: tx.tx_id.clone(),
            };
            self.visits.insert(at, visit);
        }
        too_fast
    }

    /// Drops what no rule can need any more, judged from the newest event time seen.
    fn forget(&mut self, withdrawal_memory_ms: i64, travel_memory_ms: i64) {
        let newest = self.newest;
        self.withdrawals
            .retain(|(t, _)| *t >= newest - withdrawal_memory_ms);
        // A visit older than the longest trip at the maximum speed cannot make any new
        // place impossible.
        self.visits.retain(|v| v.at >= newest - travel_memory_ms);
    }
}

fn hours_to_ms(hours: f64) -> i64 {
    (hours * 3_600_000.0).ceil() as i64
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

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_709_280_000_000; // 2024-03-01 08:00 UTC

    fn tx(id: &str, user_id: u32, kind: Kind, amount: f64, location: &str, at: i64) -> Transaction {
        Transaction {
            tx_id: id.to_string(),
            user_id,
            kind,
            amount,
            location: location.to_string(),
            timestamp: at,
        }
    }

    fn purchase(id: &str, user_id: u32, amount: f64, at: i64) -> Transaction {
        tx(id, user_id, Kind::Purchase, amount, "Amsterdam", at)
    }

    fn withdrawal(id: &str, user_id: u32, at: i64) -> Transaction {
        tx(id, user_id, Kind::Withdrawal, 100.0, "Amsterdam", at)
    }

    fn visit(id: &str, user_id: u32, location: &str, at: i64) -> Transaction {
        tx(id, user_id, Kind::Purchase, 20.0, location, at)
    }

    /// The rules each transaction breaks, in order.
    fn verdicts(txs: &[Transaction]) -> Vec<Vec<Rule>> {
        let mut detector = Detector::new(Rules::default());
        txs.iter()
            .map(|t| detector.check(t).iter().map(|a| a.rule).collect())
            .collect()
    }

    fn flagged(txs: &[Transaction], rule: Rule) -> Vec<String> {
        let mut detector = Detector::new(Rules::default());
        txs.iter()
            .flat_map(|t| detector.check(t))
            .filter(|a| a.rule == rule)
            .map(|a| a.tx_id)
            .collect()
    }

    fn minutes(m: i64) -> i64 {
        T0 + m * MINUTE_MS
    }

    #[test]
    fn amount_threshold_is_strictly_above_900() {
        let txs = [
            purchase("a", 1, 899.99, T0),
            purchase("b", 1, 900.00, T0),
            purchase("c", 1, 900.01, T0),
            purchase("d", 1, 25_000.0, T0),
        ];
        assert_eq!(flagged(&txs, Rule::LargeAmount), ["c", "d"]);
    }

    #[test]
    fn large_withdrawals_are_flagged_too() {
        let big = tx("a", 1, Kind::Withdrawal, 1_000.0, "Paris", T0);
        assert_eq!(verdicts(&[big]), [vec![Rule::LargeAmount]]);
    }

    #[test]
    fn three_withdrawals_in_five_minutes_pass() {
        let txs = [
            withdrawal("a", 1, minutes(0)),
            withdrawal("b", 1, minutes(1)),
            withdrawal("c", 1, minutes(4)),
        ];
        assert!(flagged(&txs, Rule::Velocity).is_empty());
    }

    #[test]
    fn the_fourth_withdrawal_in_five_minutes_is_flagged() {
        let txs = [
            withdrawal("a", 1, minutes(0)),
            withdrawal("b", 1, minutes(1)),
            withdrawal("c", 1, minutes(2)),
            withdrawal("d", 1, minutes(4)),
            withdrawal("e", 1, minutes(4) + 30_000),
        ];
        let mut detector = Detector::new(Rules::default());
        let alerts: Vec<Alert> = txs.iter().flat_map(|t| detector.check(t)).collect();
        let ids: Vec<&str> = alerts.iter().map(|a| a.tx_id.as_str()).collect();
        assert_eq!(
            ids,
            ["d", "e"],
            "every withdrawal beyond the third is flagged"
        );
        assert_eq!(alerts[0].related, ["a", "b", "c"]);
        assert_eq!(
            alerts[0].reason,
            "4 withdrawals within 4m00s (more than 3 in 5 min)"
        );
    }

    #[test]
    fn the_window_is_five_minutes_half_open() {
        let at = |last| {
            [
                withdrawal("a", 1, minutes(0)),
                withdrawal("b", 1, minutes(1)),
                withdrawal("c", 1, minutes(2)),
                withdrawal("d", 1, last),
            ]
        };
        assert_eq!(flagged(&at(minutes(5) - 1), Rule::Velocity), ["d"]);
        assert!(flagged(&at(minutes(5)), Rule::Velocity).is_empty());
    }

    #[test]
    fn withdrawals_spread_beyond_five_minutes_pass() {
        // Every 2 minutes: each 5-minute window holds at most three.
        let txs: Vec<Transaction> = (0..10)
            .map(|i| withdrawal(&format!("w{i}"), 1, minutes(2 * i)))
            .collect();
        assert!(flagged(&txs, Rule::Velocity).is_empty());
    }

    #[test]
    fn purchases_do_not_count_as_withdrawals() {
        let txs: Vec<Transaction> = (0..6)
            .map(|i| purchase(&format!("p{i}"), 1, 10.0, minutes(i)))
            .collect();
        assert!(flagged(&txs, Rule::Velocity).is_empty());
    }

    #[test]
    fn a_late_withdrawal_completes_the_burst_it_belongs_to() {
        // Event times 0, 1, 3 arrive first; the one at 2 minutes arrives last.
        let txs = [
            withdrawal("a", 1, minutes(0)),
            withdrawal("b", 1, minutes(1)),
            withdrawal("d", 1, minutes(3)),
            withdrawal("c", 1, minutes(2)),
        ];
        assert_eq!(flagged(&txs, Rule::Velocity), ["c"]);
    }

    #[test]
    fn a_late_withdrawal_from_outside_the_window_does_not_count() {
        // Three within a minute, then a late one with an event time 10 minutes earlier:
        // arrival order would put four together, event time does not.
        let txs = [
            withdrawal("a", 1, minutes(10)),
            withdrawal("b", 1, minutes(10)),
            withdrawal("c", 1, minutes(11)),
            withdrawal("x", 1, minutes(0)),
        ];
        assert!(flagged(&txs, Rule::Velocity).is_empty());
    }

    #[test]
    fn arrival_order_does_not_change_whether_a_burst_is_caught() {
        let burst = [minutes(0), minutes(1), minutes(2), minutes(3)];
        for rotation in 0..burst.len() {
            let mut order = burst;
            order.rotate_left(rotation);
            let txs: Vec<Transaction> = order
                .iter()
                .enumerate()
                .map(|(i, at)| withdrawal(&format!("w{i}"), 1, *at))
                .collect();
            assert_eq!(flagged(&txs, Rule::Velocity).len(), 1, "order {order:?}");
        }
    }

    #[test]
    fn distances_match_the_atlas() {
        let km = |a, b| distance_km(city(a).unwrap(), city(b).unwrap());
        assert!((km("Amsterdam", "Rotterdam") - 57.0).abs() < 2.0);
        assert!((km("London", "New York") - 5_570.0).abs() < 20.0);
        assert!((km("Tokyo", "Sydney") - 7_820.0).abs() < 30.0);
        assert!(km("Paris", "Paris").abs() < f64::EPSILON);
    }

    #[test]
    fn the_same_city_is_never_impossible() {
        let txs = [
            visit("a", 1, "Tokyo", T0),
            visit("b", 1, "Tokyo", T0),
            visit("c", 1, "Tokyo", T0 + 1),
        ];
        assert!(flagged(&txs, Rule::ImpossibleTravel).is_empty());
    }

    #[test]
    fn nearby_cities_an_hour_apart_pass() {
        let txs = [
            visit("a", 1, "Amsterdam", minutes(0)),
            visit("b", 1, "Rotterdam", minutes(60)),
            visit("c", 1, "Amsterdam", minutes(100)),
        ];
        assert!(flagged(&txs, Rule::ImpossibleTravel).is_empty());
    }

    #[test]
    fn nearby_cities_a_minute_apart_are_impossible() {
        // 57 km in one minute is 3,400 km/h: the rule has no distance floor.
        let txs = [
            visit("a", 1, "Amsterdam", minutes(0)),
            visit("b", 1, "Rotterdam", minutes(1)),
        ];
        assert_eq!(flagged(&txs, Rule::ImpossibleTravel), ["b"]);
    }

    #[test]
    fn far_cities_in_a_short_time_are_flagged() {
        let txs = [
            visit("home", 1, "Amsterdam", minutes(0)),
            visit("away", 1, "New York", minutes(20)),
        ];
        let mut detector = Detector::new(Rules::default());
        detector.check(&txs[0]);
        let alerts = detector.check(&txs[1]);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].rule, Rule::ImpossibleTravel);
        assert_eq!(alerts[0].related, ["home"]);
        let reason = "Amsterdam -> New York: 5863 km in 20m00s needs 17590 km/h (max 900)";
        assert_eq!(alerts[0].reason, reason);
    }

    #[test]
    fn a_flagged_place_does_not_move_the_card() {
        // The owner pays at home, a cloned card is used in New York, the owner pays at
        // home again: one alert, not a second one for the owner's purchase. Another use
        // far away is flagged again.
        let txs = [
            visit("a", 1, "Amsterdam", minutes(0)),
            visit("b", 1, "New York", minutes(10)),
            visit("c", 1, "Amsterdam", minutes(30)),
            visit("d", 1, "Sydney", minutes(40)),
        ];
        assert_eq!(flagged(&txs, Rule::ImpossibleTravel), ["b", "d"]);
    }

    #[test]
    fn a_flight_at_airliner_speed_passes() {
        // London to New York, 5,570 km in 8 hours: 696 km/h.
        let txs = [
            visit("a", 1, "London", minutes(0)),
            visit("b", 1, "New York", minutes(8 * 60)),
        ];
        assert!(flagged(&txs, Rule::ImpossibleTravel).is_empty());
    }

    #[test]
    fn two_cities_at_the_same_instant_are_impossible() {
        let txs = [visit("a", 1, "Paris", T0), visit("b", 1, "Berlin", T0)];
        assert_eq!(flagged(&txs, Rule::ImpossibleTravel), ["b"]);
    }

    #[test]
    fn a_late_transaction_is_compared_with_its_neighbours_in_event_time() {
        // Home at 0 and 60 minutes; the record from Tokyo at 30 minutes arrives last.
        let txs = [
            visit("a", 1, "Madrid", minutes(0)),
            visit("c", 1, "Madrid", minutes(60)),
            visit("b", 1, "Tokyo", minutes(30)),
        ];
        let mut detector = Detector::new(Rules::default());
        let alerts: Vec<Alert> = txs.iter().flat_map(|t| detector.check(t)).collect();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].tx_id, "b");
        assert_eq!(alerts[0].related, ["a", "c"]);
        // Late, but from a plausible place: nothing.
        let txs = [
            visit("a", 1, "Madrid", minutes(0)),
            visit("c", 1, "Madrid", minutes(60)),
            visit("b", 1, "Madrid", minutes(30)),
        ];
        assert!(flagged(&txs, Rule::ImpossibleTravel).is_empty());
    }

    #[test]
    fn old_visits_are_forgotten_but_cannot_matter() {
        let mut detector = Detector::new(Rules::default());
        for day in 0..5 {
            detector.check(&visit("x", 1, "Sydney", T0 + day * 24 * HOUR_MS));
        }
        assert_eq!(
            detector.users[&1].visits.len(),
            1,
            "22.3 hours suffice at 900 km/h"
        );
        // A full day later, even the other side of the world is reachable.
        let txs = [
            visit("a", 1, "Sydney", minutes(0)),
            visit("b", 1, "Madrid", minutes(23 * 60)),
        ];
        assert!(flagged(&txs, Rule::ImpossibleTravel).is_empty());
    }

    #[test]
    fn unknown_places_are_not_checked_for_travel() {
        let txs = [
            visit("a", 1, "Atlantis", T0),
            visit("b", 1, "Tokyo", T0),
            visit("c", 1, "Atlantis", T0 + 1),
        ];
        assert_eq!(verdicts(&txs), [vec![], vec![], vec![]]);
    }

    #[test]
    fn state_is_kept_per_user() {
        // Two users withdrawing twice each in a minute: four withdrawals, none flagged.
        let txs = [
            withdrawal("a", 1, minutes(0)),
            withdrawal("b", 2, minutes(0)),
            withdrawal("c", 1, minutes(1)),
            withdrawal("d", 2, minutes(1)),
        ];
        assert!(flagged(&txs, Rule::Velocity).is_empty());
        // One user in Tokyo and another in Paris a minute later: no impossible trip.
        let txs = [
            visit("a", 1, "Tokyo", minutes(0)),
            visit("b", 2, "Paris", minutes(1)),
        ];
        assert!(flagged(&txs, Rule::ImpossibleTravel).is_empty());
        // Other users in between do not hide a user's own burst or trip.
        let txs = [
            withdrawal("a", 1, minutes(0)),
            visit("x", 2, "Tokyo", minutes(0)),
            withdrawal("b", 1, minutes(1)),
            withdrawal("c", 1, minutes(2)),
            visit("y", 2, "Paris", minutes(2)),
            withdrawal("d", 1, minutes(3)),
        ];
        assert_eq!(
            verdicts(&txs),
            [
                vec![],
                vec![],
                vec![],
                vec![],
                vec![Rule::ImpossibleTravel],
                vec![Rule::Velocity]
            ]
        );
        let mut detector = Detector::new(Rules::default());
        for t in &txs {
            detector.check(t);
        }
        assert_eq!(detector.users(), 2);
    }

    /// Alerts of `txs` checked in batches, each committed or rolled back (and then
    /// checked again, as a detector does after an aborted transaction): the same as a
    /// clean pass over `txs`.
    fn replayed(txs: &[Transaction], batch: usize, abort_every: usize) -> Vec<Alert> {
        let mut detector = Detector::new(Rules::default());
        let mut alerts = Vec::new();
        for (i, chunk) in txs.chunks(batch).enumerate() {
            if i % abort_every == 0 {
                for t in chunk {
                    detector.check(t);
                }
                detector.rollback();
            }
            alerts.extend(chunk.iter().flat_map(|t| detector.check(t)));
            detector.commit();
        }
        alerts
    }

    #[test]
    fn a_rolled_back_batch_checked_again_gives_the_same_alerts() {
        // A burst of withdrawals and a trip, in batches that straddle them.
        let txs = [
            withdrawal("a", 1, minutes(0)),
            visit("x", 2, "Paris", minutes(0)),
            withdrawal("b", 1, minutes(1)),
            withdrawal("c", 1, minutes(2)),
            visit("y", 2, "Tokyo", minutes(3)),
            withdrawal("d", 1, minutes(3)),
            withdrawal("e", 1, minutes(4)),
            visit("z", 2, "Paris", minutes(5)),
            purchase("f", 3, 1_000.0, minutes(5)),
        ];
        let mut detector = Detector::new(Rules::default());
        let clean: Vec<Alert> = txs.iter().flat_map(|t| detector.check(t)).collect();
        let rules: Vec<(&str, Rule)> = clean.iter().map(|a| (&*a.tx_id, a.rule)).collect();
        let want = [
            ("y", Rule::ImpossibleTravel),
            ("d", Rule::Velocity),
            ("e", Rule::Velocity),
            ("f", Rule::LargeAmount),
        ];
        assert_eq!(rules, want);
        for batch in 1..=txs.len() {
            for abort_every in 1..=3 {
                assert_eq!(
                    replayed(&txs, batch, abort_every),
                    clean,
                    "batches of {batch}, every {abort_every} rolled back once"
                );
            }
        }
    }

    #[test]
    fn without_a_rollback_a_batch_checked_again_counts_twice() {
        // What the rollback prevents: three withdrawals read twice are six.
        let txs = [
            withdrawal("a", 1, minutes(0)),
            withdrawal("b", 1, minutes(1)),
            withdrawal("c", 1, minutes(2)),
        ];
        let mut detector = Detector::new(Rules::default());
        for t in &txs {
            assert!(detector.check(t).is_empty());
        }
        let again: Vec<Alert> = txs.iter().flat_map(|t| detector.check(t)).collect();
        assert_eq!(again.len(), 3, "{again:?}");
    }

    #[test]
    fn a_rollback_forgets_users_first_seen_since_the_commit() {
        let mut detector = Detector::new(Rules::default());
        detector.check(&purchase("a", 1, 10.0, T0));
        detector.commit();
        detector.check(&purchase("b", 2, 10.0, T0));
        assert_eq!(detector.users(), 2);
        detector.rollback();
        assert_eq!(detector.users(), 1);
        detector.rollback();
        assert_eq!(detector.users(), 1, "a second rollback changes nothing");
    }

    #[test]
    fn alerts_round_trip_as_json() {
        let alert = Detector::new(Rules::default())
            .check(&purchase("a", 7, 1_000.0, T0))
            .remove(0);
        let json = serde_json::to_string(&alert).unwrap();
        assert!(json.contains(r#""rule":"large_amount""#), "{json}");
        assert_eq!(serde_json::from_str::<Alert>(&json).unwrap(), alert);
    }
}
