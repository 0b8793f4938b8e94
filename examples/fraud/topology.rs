//! The detector as a stream application (`strom::streams`): the three rules as a
//! topology, its state in stores backed by changelogs, run with `ExactlyOnce`.
//!
//! - amounts over the limit: a `filter`;
//! - velocity: withdrawals grouped by user (the key) and counted in 5-minute windows
//!   advancing by 10 s, with an hour's grace for late records; each update of a window
//!   over the limit flags the withdrawal that made it, and since a withdrawal is in 30
//!   windows, a second aggregate per user (`velocity-flagged`) lets each one through once;
//! - impossible travel: an aggregate per user of where the card was last seen
//!   ([`LastSeen`]), whose updates carry the alert when the trip was too fast, picked out
//!   with `to_stream().filter(..)`.
//!
//! All three are merged and written to `fraud_alerts`, keyed by user.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strom::streams::{Json, KStream, Streams, StreamsBuilder, TimeWindows, Topology, Windowed};

use crate::detector::{self, Alert, Burst, Kind, LastSeen, Rules, Transaction};

/// The stores, each with its changelog `__fraud-detector-<store>-changelog`.
pub(crate) const WITHDRAWALS: &str = "withdrawals-5min";
pub(crate) const FLAGGED: &str = "velocity-flagged";
pub(crate) const LAST_SEEN: &str = "last-seen";

/// The velocity rule's windows.
pub(crate) fn windows(rules: &Rules) -> TimeWindows {
    let ms = |ms: i64| Duration::from_millis(ms.unsigned_abs());
    TimeWindows::of(ms(rules.window_ms))
        .advance_by(ms(detector::ADVANCE_MS))
        .grace(ms(detector::GRACE_MS))
}

/// The stores' sizes, as keys: open windows, users flagged, users seen.
pub(crate) fn store_sizes(app: &Streams) -> strom::Result<String> {
    let windows = app.store::<Windowed<String>, Json<(Burst, Option<Transaction>)>>(WITHDRAWALS)?;
    let flagged = app.store::<String, Json<Flagged>>(FLAGGED)?;
    let last_seen = app.store::<String, Json<LastSeen>>(LAST_SEEN)?;
    Ok(format!(
        "{WITHDRAWALS} {} open windows, {FLAGGED} {} users, {LAST_SEEN} {} users",
        windows.len(),
        flagged.len(),
        last_seen.len()
    ))
}

/// The withdrawals of a user already flagged, and whether the last update flagged one.
#[derive(Clone, Default, Serialize, Deserialize)]
struct Flagged {
    tx_ids: BTreeSet<String>,
    new: Option<Alert>,
}

/// The detector's topology, reading `source` and writing alerts to `sink`; `on_alert`
/// sees each alert before it is sent (`--crash-after` dies there).
pub(crate) fn topology(
    source: &str,
    sink: &str,
    on_alert: impl Fn(&Alert) + Send + Sync + 'static,
) -> strom::Result<Topology> {
    let rules = Rules::default();
    let builder = StreamsBuilder::new();
    let transactions = builder.stream::<String, Json<Transaction>>(source);

    let large: KStream<String, Json<Alert>> = transactions.flat_map_values({
        let rules = rules.clone();
        move |tx| detector::large_amount(&rules, tx).map(Json)
    });

    let velocity = transactions
        .filter(|_user, tx| tx.kind == Kind::Withdrawal)
        .group_by_key()
        .windowed_by(windows(&rules))
        .aggregate(
            WITHDRAWALS,
            Json::<(Burst, Option<Transaction>)>::default,
            |_, tx, agg| {
                // The newest withdrawal goes with the burst, so that the update can name it.
                Json((agg.0 .0.with(tx), Some((**tx).clone())))
            },
        )
        .to_stream()
        .flat_map({
            let rules = rules.clone();
            move |window, agg| {
                let (burst, newest) = &**agg;
                let alert = newest
                    .as_ref()
                    .and_then(|tx| detector::too_many(&rules, tx, burst));
                alert.map(|a| (window.key.clone(), Json(a)))
            }
        })
        // Once per withdrawal, whichever windows flagged it.
        .group_by_key()
        .aggregate(FLAGGED, Json::<Flagged>::default, |_, alert, flagged| {
            let mut flagged = (**flagged).clone();
            flagged.new = flagged
                .tx_ids
                .insert(alert.tx_id.clone())
                .then(|| (**alert).clone());
            Json(flagged)
        })
        .to_stream()
        .flat_map_values(|flagged| flagged.new.clone().map(Json));

    let travel = transactions
        .group_by_key()
        .aggregate(LAST_SEEN, Json::<LastSeen>::default, {
            let rules = rules.clone();
            move |_, tx, last| Json(detector::travel(&rules, last, tx))
        })
        .to_stream()
        .filter(|_user, last| last.alert.is_some())
        .flat_map_values(|last| last.alert.clone().map(Json));

    large
        .merge(&velocity)
        .merge(&travel)
        .peek(move |_user, alert| on_alert(alert))
        .to(sink);
    builder.build()
}

/// The topology's rules applied directly, without `strom::streams`: what a clean single
/// pass over the records, in offset order per partition, alerts. The check of a run.
#[derive(Default)]
pub(crate) struct Direct {
    rules: Rules,
    /// Per partition: its stream time, the largest timestamp read there.
    stream_time: HashMap<u32, i64>,
    /// Per user and window start: the window's withdrawals.
    bursts: HashMap<(u32, i64), Burst>,
    flagged: HashMap<u32, BTreeSet<String>>,
    last_seen: HashMap<u32, LastSeen>,
}

impl Direct {
    /// The alerts of `tx`, read from `partition` with record timestamp `timestamp`.
    pub(crate) fn check(&mut self, partition: u32, timestamp: i64, tx: &Transaction) -> Vec<Alert> {
        let stream_time = self.stream_time.entry(partition).or_insert(-1);
        *stream_time = (*stream_time).max(timestamp);
        let stream_time = *stream_time;
        let mut alerts: Vec<Alert> = detector::large_amount(&self.rules, tx)
            .into_iter()
            .collect();
        if tx.kind == Kind::Withdrawal {
            // The windows holding `timestamp`, oldest first: starts at multiples of the
            // advance, in (timestamp - size, timestamp], not before the epoch.
            let (size, advance) = (self.rules.window_ms, detector::ADVANCE_MS);
            let last_start = timestamp.div_euclid(advance) * advance;
            let mut start = (last_start - size + advance).max(0);
            while start <= last_start {
                // A window closed in stream time drops the record.
                if start + size + detector::GRACE_MS > stream_time {
                    let burst = self.bursts.entry((tx.user_id, start)).or_default();
                    *burst = burst.with(tx);
                    if let Some(alert) = detector::too_many(&self.rules, tx, burst) {
                        let flagged = self.flagged.entry(tx.user_id).or_default();
                        if flagged.insert(tx.tx_id.clone()) {
                            alerts.push(alert);
                        }
                    }
                }
                start += advance;
            }
        }
        let last = self.last_seen.entry(tx.user_id).or_default();
        *last = detector::travel(&self.rules, last, tx);
        alerts.extend(last.alert.clone());
        alerts
    }
}

#[cfg(test)]
mod tests {
    use strom::streams::TopologyTestDriver;

    use super::*;
    use crate::detector::Rule;

    const T0: i64 = 1_709_280_000_000; // 2024-03-01 08:00 UTC
    const MINUTE_MS: i64 = 60_000;

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

    fn minutes(m: i64) -> i64 {
        T0 + m * MINUTE_MS
    }

    /// The alerts the topology writes for `txs`, piped in this order, each timestamped
    /// with its event time.
    fn run(txs: &[Transaction]) -> Vec<Alert> {
        let topology = topology("transactions", "fraud_alerts", |_| {}).expect("a topology");
        let mut driver = TopologyTestDriver::new(topology).expect("a driver");
        for t in txs {
            let key = t.user_id.to_string();
            driver
                .pipe("transactions", &key, &Json(t.clone()), t.timestamp)
                .expect("piped");
        }
        let out = driver.read_output::<String, Json<Alert>>("fraud_alerts");
        out.expect("alerts")
            .into_iter()
            .map(|(_, a, _)| a.0)
            .collect()
    }

    fn flagged(txs: &[Transaction], rule: Rule) -> Vec<String> {
        run(txs)
            .into_iter()
            .filter(|a| a.rule == rule)
            .map(|a| a.tx_id)
            .collect()
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
    fn every_withdrawal_beyond_the_third_in_five_minutes_is_flagged_once() {
        let txs = [
            withdrawal("a", 1, minutes(0)),
            withdrawal("b", 1, minutes(1)),
            withdrawal("c", 1, minutes(2)),
            withdrawal("d", 1, minutes(4)),
            withdrawal("e", 1, minutes(4) + 30_000),
        ];
        let alerts = run(&txs);
        let ids: Vec<&str> = alerts.iter().map(|a| a.tx_id.as_str()).collect();
        assert_eq!(ids, ["d", "e"]);
        assert_eq!(alerts[0].related, ["a", "b", "c"]);
        let reason = "4 withdrawals within 4m00s (more than 3 in 5 min)";
        assert_eq!(alerts[0].reason, reason);
    }

    #[test]
    fn withdrawals_spread_beyond_five_minutes_and_purchases_pass() {
        // Every 2 minutes: each 5-minute window holds at most three.
        let mut txs: Vec<Transaction> = (0..10)
            .map(|i| withdrawal(&format!("w{i}"), 1, minutes(2 * i)))
            .collect();
        txs.extend((0..6).map(|i| purchase(&format!("p{i}"), 2, 10.0, minutes(i))));
        assert!(run(&txs).is_empty());
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
        let alerts = run(&txs);
        let ids: Vec<&str> = alerts.iter().map(|a| a.tx_id.as_str()).collect();
        assert_eq!(ids, ["b", "d"]);
        assert_eq!(alerts[0].related, ["a"]);
        let reason = "Amsterdam -> New York: 5863 km in 10m00s needs 35179 km/h (max 900)";
        assert_eq!(alerts[0].reason, reason);
    }

    #[test]
    fn plausible_trips_unknown_places_and_other_users_pass() {
        let txs = [
            // London to New York, 5,570 km in 8 hours: 696 km/h.
            visit("a", 1, "London", minutes(0)),
            visit("b", 1, "New York", minutes(8 * 60)),
            visit("c", 2, "Atlantis", T0),
            visit("d", 2, "Tokyo", T0),
            visit("e", 2, "Atlantis", T0 + 1),
            visit("f", 3, "Tokyo", T0),
            visit("g", 3, "Tokyo", T0),
            // User 4 in Paris a minute after user 3 in Tokyo.
            visit("h", 4, "Paris", minutes(1)),
        ];
        assert!(run(&txs).is_empty());
    }

    #[test]
    fn the_topology_and_the_direct_computation_agree_on_a_day_of_traffic() {
        let traffic = crate::traffic::generate(7, crate::traffic::FIRST_DAY, 1_000);
        let mut direct = Direct::default();
        let want: Vec<Alert> = traffic
            .transactions
            .iter()
            .flat_map(|t| direct.check(0, t.timestamp, t))
            .collect();
        assert!(want.len() >= traffic.planted.len(), "{want:?}");
        assert_eq!(run(&traffic.transactions), want);
    }
}
