//! The simulated bank: a seeded, repeatable day of card transactions with frauds planted
//! in it, and the score of a detector's alerts against what was planted.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::detector::{self, Alert, City, Kind, Rule, Rules, Transaction, CITIES};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;
/// 2024-03-01, in days since the Unix epoch: the first simulated day.
pub(crate) const FIRST_DAY: i64 = 19_783;

/// `SplitMix64`: tiny, fast and good enough to make a repeatable mix (not for secrets).
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (the modulo bias is negligible for the small `n` used here).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A time in `0..span_ms`.
    fn ms(&mut self, span_ms: i64) -> i64 {
        let below = self.next_u64() % span_ms.unsigned_abs();
        i64::try_from(below).expect("below an i64")
    }

    /// A number in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        f64::from((self.next_u64() >> 32) as u32) / 4_294_967_296.0
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A bank customer. One in ten travels; the others stay in their home city, which keeps
/// planted frauds on them unambiguous.
#[derive(Debug)]
struct Customer {
    user_id: u32,
    home: &'static City,
    traveller: bool,
}

/// Frauds planted together: a large amount, a burst of withdrawals, or a purchase far away.
#[derive(Debug)]
pub(crate) struct Planted {
    pub(crate) rule: Rule,
    pub(crate) tx_ids: Vec<String>,
}

/// A day of transactions in the order they are sent, and what was planted in them.
#[derive(Debug)]
pub(crate) struct Traffic {
    pub(crate) transactions: Vec<Transaction>,
    pub(crate) planted: Vec<Planted>,
    /// Legitimate purchases above the amount threshold: a laptop, a sofa.
    pub(crate) legit_large: usize,
    /// Transactions sent after some with a later event time (a slow terminal, a retry).
    pub(crate) late: usize,
    pub(crate) customers: usize,
}

/// How a detector did on one rule.
#[derive(Debug)]
struct Score {
    rule: Rule,
    planted: usize,
    caught: usize,
    /// Alerts that touch no transaction planted for their rule.
    false_alarms: usize,
}

/// How a detector did on each rule, against what was planted; prints as a table.
#[derive(Debug)]
pub(crate) struct Scorecard {
    scores: Vec<Score>,
    legit_large: usize,
    pub(crate) planted: usize,
    pub(crate) caught: usize,
    pub(crate) false_alarms: usize,
}

/// Customers are the same for a seed and size whatever the day, so that a kept data directory
/// holds several days of the same people. About ten transactions per customer a day.
fn customers(seed: u64, transactions: usize) -> Vec<Customer> {
    let mut rng = Rng::new(seed);
    let count = (transactions / 10).clamp(20, 4_000);
    let mut taken = HashSet::new();
    (0..count)
        .map(|i| {
            // The tutorial's ids: `random.randint(1000, 5000)`.
            let user_id = loop {
                let id = 1_000 + rng.below(4_001) as u32;
                if taken.insert(id) {
                    break id;
                }
            };
            let home = rng.pick(&CITIES);
            Customer {
                user_id,
                home,
                traveller: i % 10 == 9,
            }
        })
        .collect()
}

/// Transactions being made up, each with the index of the planted fraud it belongs to.
type Drafts = Vec<(Transaction, Option<usize>)>;

/// The transactions of `day` (days since the epoch), 08:00 to 20:00 UTC: `count` in all,
/// frauds included.
pub(crate) fn generate(seed: u64, day: i64, count: usize) -> Traffic {
    let customers = customers(seed, count);
    let mut rng = Rng::new(seed ^ day.unsigned_abs().wrapping_mul(0xD1B5_4A32_D192_ED03));
    let start = day * DAY_MS + 8 * HOUR_MS;
    let frauds_per_rule = (count / 300).max(1);
    let mut drafts = Drafts::new();
    let mut planted = Vec::new();
    let mut plant = |drafts: &mut Drafts, rule, txs: Vec<Transaction>| {
        drafts.extend(txs.into_iter().map(|t| (t, Some(planted.len()))));
        planted.push(rule);
    };
    let homebodies: Vec<&Customer> = customers.iter().filter(|c| !c.traveller).collect();
    for _ in 0..frauds_per_rule {
        let victim = rng.pick(&homebodies);
        let big = cents(950.0 + 4_000.0 * rng.unit());
        let at = start + rng.ms(12 * HOUR_MS);
        let large = draft(victim, Kind::Purchase, big, victim.home, at);
        plant(&mut drafts, Rule::LargeAmount, vec![large]);
        // A stolen card emptied at cash machines, a withdrawal every 15 to 70 seconds.
        let victim = rng.pick(&homebodies);
        let mut at = start + rng.ms(12 * HOUR_MS);
        let burst = (0..=Rules::default().max_withdrawals + rng.below(2))
            .map(|_| {
                at += 15_000 + rng.ms(55_000);
                let cash = withdrawal(&mut rng);
                draft(victim, Kind::Withdrawal, cash, victim.home, at)
            })
            .collect();
        plant(&mut drafts, Rule::Velocity, burst);
    }
    // Legitimate traffic fills the rest of `count`, leaving room for the trips below.
    let legit = count.saturating_sub(drafts.len() + frauds_per_rule);
    let (normal, legit_large) = legitimate(&mut rng, &customers, legit, start);
    // A cloned card used far away 5 to 40 minutes after its owner paid at home.
    let stay_home: HashMap<u32, &Customer> = homebodies.iter().map(|c| (c.user_id, *c)).collect();
    let paid_at_home: Vec<&Transaction> = normal
        .iter()
        .filter(|t| stay_home.contains_key(&t.user_id))
        .collect();
    for _ in 0..frauds_per_rule {
        let paid = paid_at_home[rng.below(paid_at_home.len())];
        let victim = stay_home[&paid.user_id];
        let far: Vec<&City> = CITIES
            .iter()
            .filter(|c| detector::distance_km(victim.home, c) > 2_000.0)
            .collect();
        let at = paid.timestamp + 5 * MINUTE_MS + rng.ms(35 * MINUTE_MS);
        let amount = cents(50.0 + 750.0 * rng.unit());
        let place = far[rng.below(far.len())];
        let away = draft(victim, Kind::Purchase, amount, place, at);
        plant(&mut drafts, Rule::ImpossibleTravel, vec![away]);
    }
    drafts.extend(normal.into_iter().map(|t| (t, None)));
    drafts.sort_by_key(|(t, _)| t.timestamp);
    let late = deliver_late(&mut rng, &mut drafts);

    let date = &datetime(start).replace('-', "")[..8];
    let mut planted: Vec<Planted> = planted
        .into_iter()
        .map(|rule| Planted {
            rule,
            tx_ids: Vec::new(),
        })
        .collect();
    let mut transactions = Vec::with_capacity(drafts.len());
    for (i, (mut t, fraud)) in drafts.into_iter().enumerate() {
        t.tx_id = format!("{date}-{i:05}");
        if let Some(f) = fraud {
            planted[f].tx_ids.push(t.tx_id.clone());
        }
        transactions.push(t);
    }
    Traffic {
        transactions,
        planted,
        legit_large,
        late,
        customers: customers.len(),
    }
}

/// `count` ordinary transactions over 12 hours from `start`, in event-time order, and how
/// many of them are legitimate large purchases.
fn legitimate(
    rng: &mut Rng,
    customers: &[Customer],
    count: usize,
    start: i64,
) -> (Vec<Transaction>, usize) {
    let gap = 12 * HOUR_MS / i64::try_from(count.max(1)).unwrap_or(i64::MAX);
    let mut places: HashMap<u32, (i64, &City)> = HashMap::new();
    let (mut clock, mut large) = (start, 0);
    let mut normal = Vec::with_capacity(count);
    for _ in 0..count {
        clock += rng.ms(2 * gap.max(1));
        let who = rng.pick(customers);
        let (since, mut here) = places
            .get(&who.user_id)
            .copied()
            .unwrap_or((clock, who.home));
        // Travellers move only where they could get to at 700 km/h: legitimate traffic
        // never breaks the 900 km/h rule.
        let there = rng.pick(&CITIES);
        if who.traveller
            && rng.chance(0.2)
            && detector::speed_kmh(here, there, clock - since) <= 700.0
        {
            here = there;
        }
        places.insert(who.user_id, (clock, here));
        let (kind, amount) = if rng.chance(0.25) {
            (Kind::Withdrawal, withdrawal(rng))
        } else if rng.chance(0.003) {
            large += 1;
            (Kind::Purchase, cents(950.0 + 1_500.0 * rng.unit()))
        } else {
            // Most purchases are small, a few are a few hundred: log-uniform 2..400.
            (Kind::Purchase, cents(2.0 * 200f64.powf(rng.unit())))
        };
        normal.push(draft(who, kind, amount, here, clock));
    }
    (normal, large)
}

/// Sends one record in a hundred up to 30 records late (a slow terminal, a retry): its
/// event time is then older than some records sent before it. Returns how many.
fn deliver_late(rng: &mut Rng, drafts: &mut Drafts) -> usize {
    let mut late = 0;
    // Going backwards, each record is moved at most once.
    for i in (0..drafts.len()).rev() {
        if rng.chance(0.01) {
            let to = (i + 1 + rng.below(30)).min(drafts.len() - 1);
            let moved = drafts.remove(i);
            drafts.insert(to, moved);
            late += usize::from(to > i);
        }
    }
    late
}

fn draft(who: &Customer, kind: Kind, amount: f64, at: &City, timestamp: i64) -> Transaction {
    Transaction {
        tx_id: String::new(),
        user_id: who.user_id,
        kind,
        amount,
        location: at.name.to_string(),
        timestamp,
    }
}

/// Cash machines hand out multiples of 20, up to 400.
fn withdrawal(rng: &mut Rng) -> f64 {
    f64::from(20 * (1 + rng.below(20) as u32))
}

fn cents(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}

impl Traffic {
    /// Scores `alerts` (each counted once) against what was planted, per rule. Alerts
    /// about transactions of other runs are left out.
    pub(crate) fn score(&self, alerts: &[&Alert]) -> Scorecard {
        let ours: HashSet<&str> = self.transactions.iter().map(|t| t.tx_id.as_str()).collect();
        let planted_as: HashMap<&str, Rule> = self
            .planted
            .iter()
            .flat_map(|p| p.tx_ids.iter().map(|id| (id.as_str(), p.rule)))
            .collect();
        let scores: Vec<Score> = Rule::ALL
            .into_iter()
            .map(|rule| {
                let mut touched = HashSet::new();
                let mut false_alarms = 0;
                let ours = alerts
                    .iter()
                    .filter(|a| a.rule == rule && ours.contains(a.tx_id.as_str()));
                for alert in ours {
                    // An alert is right if it or a transaction it names was planted for it.
                    let ids = std::iter::once(&alert.tx_id).chain(&alert.related);
                    let hits: Vec<&str> = ids
                        .map(String::as_str)
                        .filter(|id| planted_as.get(id) == Some(&rule))
                        .collect();
                    false_alarms += usize::from(hits.is_empty());
                    touched.extend(hits);
                }
                let episodes = self.planted.iter().filter(|p| p.rule == rule);
                let caught = episodes
                    .clone()
                    .filter(|p| p.tx_ids.iter().any(|id| touched.contains(id.as_str())));
                Score {
                    rule,
                    planted: episodes.count(),
                    caught: caught.count(),
                    false_alarms,
                }
            })
            .collect();
        Scorecard {
            planted: scores.iter().map(|s| s.planted).sum(),
            caught: scores.iter().map(|s| s.caught).sum(),
            false_alarms: scores.iter().map(|s| s.false_alarms).sum(),
            scores,
            legit_large: self.legit_large,
        }
    }
}

impl fmt::Display for Traffic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let date = &datetime(self.transactions.first().map_or(0, |t| t.timestamp))[..10];
        let planted = |rule| self.planted.iter().filter(|p| p.rule == rule).count();
        writeln!(
            f,
            "{date}: {} transactions of {} customers, 08:00-20:00 event time, {} sent late;",
            self.transactions.len(),
            self.customers,
            self.late
        )?;
        write!(
            f,
            "  planted: {} amounts over 900, {} bursts of withdrawals, {} purchases far from home",
            planted(Rule::LargeAmount),
            planted(Rule::Velocity),
            planted(Rule::ImpossibleTravel)
        )
    }
}

impl fmt::Display for Scorecard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  {:<32} planted  caught  false alarms", "rule")?;
        for s in &self.scores {
            let r = Rules::default();
            let (minutes, large) = (r.window_ms / MINUTE_MS, self.legit_large);
            let (rule, why) = match s.rule {
                Rule::LargeAmount => (
                    format!("amount over {}", r.max_amount),
                    format!(" ({large} legitimate large purchases in the mix)"),
                ),
                Rule::Velocity => (
                    format!(
                        "more than {} withdrawals in {minutes} min",
                        r.max_withdrawals
                    ),
                    String::new(),
                ),
                Rule::ImpossibleTravel => (
                    format!("travel faster than {} km/h", r.max_speed_kmh),
                    String::new(),
                ),
            };
            writeln!(
                f,
                "  {rule:<32} {:>7}  {:>6}  {:>12}{why}",
                s.planted, s.caught, s.false_alarms
            )?;
        }
        write!(
            f,
            "  caught {} of {} planted frauds, {} false alarms",
            self.caught, self.planted, self.false_alarms
        )
    }
}

/// `2024-03-01 09:14:05` (UTC) for a time in ms since the epoch.
pub(crate) fn datetime(ms: i64) -> String {
    let (days, ms) = (ms.div_euclid(DAY_MS), ms.rem_euclid(DAY_MS));
    // Howard Hinnant's `civil_from_days`: the proleptic Gregorian calendar.
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let s = ms / 1_000;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        s / 3_600,
        s / 60 % 60,
        s % 60
    )
}
