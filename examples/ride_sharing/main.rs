//! Ride sharing: drivers send GPS updates keyed by driver to `driver-location`; the
//! ride-matching service, consumer group `location-group` of three members on three
//! threads, keeps each driver's latest position and matches riders' requests from
//! `ride-requests` to the nearest driver, writing the matches to `ride-matches`. It shows
//! that one driver's updates are processed in order by one member at a time, and what a
//! rebalance does when a member leaves half-way. (The key picks the partition, so all of a
//! driver's updates are in one partition, in order, read by the member that owns it.)
//!
//! The Kafka tutorial this follows has a driver send `{driver_id, latitude, longitude,
//! timestamp}` to `driver-location` every 5 s, and a ride-matching consumer in group
//! `location-group` (`auto_offset_reset='earliest'`, auto-commit on) print each update.
//!
//! ```text
//! cargo run --example ride_sharing               # a few seconds, then a summary
//! cargo run --example ride_sharing -- --help
//! cargo test --example ride_sharing              # the matching logic's unit tests
//! ```
//!
//! How matching works: a member only knows the drivers of its partitions, so a single
//! matcher (group `ride-matcher` on `ride-requests`) asks every live member for its
//! nearest driver and takes the nearest of these proposals, breaking ties by driver id.
//! Each known driver is in exactly one member's table (a member forgets the drivers of a
//! partition it loses before the partition moves on), so the nearest proposal is the
//! nearest known driver. In one process, asking the members' shared tables is simpler than
//! sending every request to every member and collecting their answers through a topic.
//!
//! Then the same service as a stream application (`zones.rs`, application id
//! `ride-matching`, which is also its consumer group, two threads as its members): the
//! drivers' latest positions as a table (`driver-positions`), a table of the drivers in
//! each zone of a grid derived from it (`drivers-by-zone`, a driver leaving a zone removed
//! from it), and the requests re-keyed by zone and joined with their zone's drivers
//! (`left_join_table`), the nearest of them written to `ride-matches-by-zone`. Riders send
//! more requests once it has caught up, and each of those is checked against the nearest
//! driver of its zone computed directly from the drivers' last updates; every request in
//! `ride-requests` must be answered (matched, or reported as a zone with no driver).

mod matching;
mod zones;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use matching::{Fix, LatestPositions, Point};
use serde::{Deserialize, Serialize};
use strom::{
    AssignmentStrategy, Broker, ConsumerConfig, OffsetReset, RebalanceListener, Revoked,
    TopicConfig, TopicPartition,
};

const LOCATIONS: &str = "driver-location";
const REQUESTS: &str = "ride-requests";
const MATCHES: &str = "ride-matches";
const PARTITIONS: u32 = 6;
const MEMBERS: [&str; 3] = ["m1", "m2", "m3"];
const USAGE: &str = "\
Drivers' GPS updates in driver-location, consumer group location-group (three members)
keeping their latest positions, riders matched to the nearest driver; member m3 leaves
half-way and the others take its partitions over. Checks that each driver's updates are
processed once, in order, by one member at a time. Then the stream application
ride-matching: driver-location as a table, a table of drivers per zone, the requests
joined with their zone's drivers; 8 more requests, each checked against the nearest
driver of its zone.

usage: cargo run --example ride_sharing -- [options]
  --drivers N    drivers sending updates (default 36)
  --rounds N     updates per driver, a round every 40 ms (default 50)
  --dir PATH     keep the log in PATH (default: a fresh temporary directory, removed at the end)
  --help         this text";

/// The tutorial's location update.
#[derive(Clone, Serialize, Deserialize)]
struct DriverLocation {
    driver_id: u32,
    latitude: f64,
    longitude: f64,
    timestamp: f64,
}

#[derive(Clone, Serialize, Deserialize)]
struct RideRequest {
    request_id: u32,
    latitude: f64,
    longitude: f64,
}

/// A member's table of its drivers, which the matcher reads.
type Table = Arc<Mutex<LatestPositions>>;

/// What the threads share: the live members' tables, and what the checks need.
#[derive(Default)]
struct Shared {
    live: Mutex<Vec<(&'static str, Table)>>,
    /// Each `driver-location` partition's owner, as the members' listeners heard.
    owners: Mutex<BTreeMap<u32, &'static str>>,
    /// Per driver: the last timestamp processed, by whom, and how often it changed hands.
    drivers: Mutex<HashMap<u32, (f64, &'static str, u32)>>,
    problems: Mutex<Vec<String>>,
    processed: AtomicU32,
    matched: AtomicU32,
    round: AtomicU32,
    stop: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().expect("no thread panics holding a lock")
}

impl Shared {
    fn problem(&self, what: String) {
        println!("  PROBLEM: {what}");
        lock(&self.problems).push(what);
    }

    /// Checks each update processed: its member owns the partition, and the driver's
    /// timestamps only grow (no update twice, none out of order).
    fn observe(&self, member: &'static str, partition: u32, update: &DriverLocation) {
        let owner = lock(&self.owners).get(&partition).copied();
        if owner != Some(member) {
            self.problem(format!(
                "{member} read partition {partition}, owned by {owner:?}"
            ));
        }
        let (driver, time) = (update.driver_id, update.timestamp);
        let last = {
            let mut drivers = lock(&self.drivers);
            let seen = drivers.entry(driver).or_insert((f64::MIN, member, 0));
            let last = seen.0;
            seen.2 += u32::from(seen.1 != member);
            (seen.0, seen.1) = (time, member);
            last
        };
        if time <= last {
            self.problem(format!("driver {driver}: update of {time} after {last}"));
        }
        self.processed.fetch_add(1, Ordering::AcqRel);
    }
}

/// Keeps a member's table and the record of owners in step with its partitions.
struct Listener {
    name: &'static str,
    table: Table,
    shared: Arc<Shared>,
}

impl RebalanceListener for Listener {
    fn on_partitions_revoked(&mut self, revoked: &mut Revoked<'_>) -> strom::Result<()> {
        let partitions: Vec<u32> = revoked.partitions().iter().map(|tp| tp.partition).collect();
        let forgotten = lock(&self.table).forget_partitions(&partitions);
        lock(&self.shared.owners).retain(|p, _| !partitions.contains(p));
        println!(
            "  {}: revoked  {partitions:?}, forgets {forgotten} drivers",
            self.name
        );
        Ok(())
    }

    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) -> strom::Result<()> {
        let partitions: Vec<u32> = partitions.iter().map(|tp| tp.partition).collect();
        for &p in &partitions {
            match lock(&self.shared.owners).insert(p, self.name) {
                Some(other) if other != self.name => {
                    self.shared
                        .problem(format!("{} got {p} from {other}", self.name));
                }
                _ => {}
            }
        }
        println!("  {}: assigned {partitions:?}", self.name);
        Ok(())
    }
}

/// A member of `location-group`: keeps the latest position of its partitions' drivers.
/// `m3` leaves at round `leave_at`.
fn run_member(
    broker: &Broker,
    name: &'static str,
    shared: &Arc<Shared>,
    leave_at: u32,
) -> strom::Result<u32> {
    let mut consumer = broker.consumer(
        ConsumerConfig::default()
            .group_id("location-group")
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(true)
            // Only partitions that move are revoked: the tables of the others stay warm.
            .assignment_strategy(AssignmentStrategy::CooperativeSticky),
    );
    let table = Table::default();
    let listener = Listener {
        name,
        table: Arc::clone(&table),
        shared: Arc::clone(shared),
    };
    consumer.subscribe_with_listener([LOCATIONS], listener)?;
    lock(&shared.live).push((name, Arc::clone(&table)));
    let mut processed = 0;
    while !shared.stop.load(Ordering::Acquire) {
        if name == "m3" && shared.round.load(Ordering::Acquire) >= leave_at {
            println!("  {name}: leaving the group after {processed} updates");
            break;
        }
        for record in &consumer.poll(Duration::from_millis(20))? {
            let update: DriverLocation = record.json()?;
            shared.observe(name, record.partition(), &update);
            let at = Point::new(update.latitude, update.longitude);
            let fix = Fix {
                at,
                timestamp: update.timestamp,
                partition: record.partition(),
            };
            lock(&table).update(update.driver_id, fix);
            processed += 1;
        }
    }
    lock(&shared.live).retain(|(member, _)| *member != name);
    consumer.close()?; // commits, tells the listener, leaves: a rebalance
    Ok(processed)
}

/// The matcher: asks every live member for its nearest driver to each request, and takes
/// the nearest of these proposals.
fn run_matcher(broker: &Broker, shared: &Shared) -> strom::Result<(u32, f64)> {
    let config = ConsumerConfig::default()
        .group_id("ride-matcher")
        .auto_offset_reset(OffsetReset::Earliest);
    let mut consumer = broker.consumer(config);
    consumer.subscribe([REQUESTS])?;
    let producer = broker.producer();
    let (mut found, mut total_km) = (0, 0.0);
    while !shared.stop.load(Ordering::Acquire) {
        for record in &consumer.poll(Duration::from_millis(20))? {
            let request: RideRequest = record.json()?;
            let (id, pickup) = (
                request.request_id,
                Point::new(request.latitude, request.longitude),
            );
            let live = lock(&shared.live);
            let tables: Vec<_> = live
                .iter()
                .map(|(name, table)| (*name, lock(table)))
                .collect();
            let proposals: Vec<_> = tables
                .iter()
                .filter_map(|(n, t)| Some((*n, t.nearest(pickup)?)))
                .collect();
            let best = proposals.iter().min_by(|a, b| a.1.order(&b.1)).copied();
            // Checks the design: no driver any member knows is nearer than the best proposal.
            let everyone = matching::nearest(tables.iter().flat_map(|(_, t)| t.candidates(pickup)));
            if best.map(|(_, c)| c) != everyone {
                shared.problem(format!(
                    "request {id}: {best:?}, but {everyone:?} is nearer"
                ));
            }
            drop(tables);
            drop(live);
            let (driver, km) = best.map_or((None, None), |(_, c)| {
                (Some(c.driver_id), Some(c.distance_km))
            });
            let answer =
                serde_json::json!({ "request_id": id, "driver_id": driver, "distance_km": km });
            producer.send_json(MATCHES, Some(&id.to_string()), &answer)?;
            shared.matched.fetch_add(1, Ordering::AcqRel);
            match best {
                Some((by, c)) => {
                    let (d, km, n) = (c.driver_id, c.distance_km, proposals.len());
                    (found, total_km) = (found + 1, total_km + km);
                    println!(
                        "  request {id}: driver {d}, {km:.2} km away ({by}'s, of {n} proposals)"
                    );
                }
                None => println!("  request {id}: no driver known yet"),
            }
        }
    }
    consumer.close()?;
    Ok((found, total_km))
}

struct Options {
    drivers: u32,
    rounds: u32,
    dir: Option<PathBuf>,
}

/// The options, or `None` for `--help`.
fn parse_args() -> Result<Option<Options>, String> {
    let mut options = Options {
        drivers: 36,
        rounds: 50,
        dir: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        let number = |v: String| v.parse().map_err(|e| format!("{arg} {v}: {e}"));
        match arg.as_str() {
            "--drivers" => options.drivers = number(value()?)?,
            "--rounds" => options.rounds = number(value()?)?,
            "--dir" => options.dir = Some(PathBuf::from(value()?)),
            "--help" | "-h" => return Ok(None),
            other => return Err(format!("unknown option {other} (see --help)")),
        }
    }
    Ok(Some(options))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(options) = parse_args()? else {
        println!("{USAGE}");
        return Ok(());
    };
    let temporary = std::env::temp_dir().join(format!("strom-ride-sharing-{}", std::process::id()));
    let dir = options.dir.clone().unwrap_or(temporary);
    let result = run(&options, &dir);
    if options.dir.is_none() && dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    result
}

fn run(options: &Options, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let broker = Broker::open(dir)?;
    for (topic, partitions) in [
        (LOCATIONS, PARTITIONS),
        // As many as driver-location: the stream application joins them (co-partitioned).
        (REQUESTS, PARTITIONS),
        (MATCHES, 1),
    ] {
        match broker.create_topic(topic, TopicConfig::default().partitions(partitions)) {
            Ok(()) | Err(strom::Error::TopicExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let matches_before = broker.describe_topic(MATCHES)?.partitions[0].high_watermark;
    // With --dir, requests an earlier run left to the matcher (the stream application's,
    // sent after the matcher stopped) are answered first.
    let pending = pending_requests(&broker)?;
    let shared = Arc::new(Shared::default());
    println!(
        "location-group: {MEMBERS:?} join, sharing the {PARTITIONS} partitions of {LOCATIONS}"
    );
    let leave_at = options.rounds / 2;
    let members: Vec<_> = MEMBERS
        .into_iter()
        .map(|name| {
            let (broker, shared) = (broker.clone(), Arc::clone(&shared));
            thread::spawn(move || run_member(&broker, name, &shared, leave_at))
        })
        .collect();
    let (broker_, shared_) = (broker.clone(), Arc::clone(&shared));
    let matcher = thread::spawn(move || run_matcher(&broker_, &shared_));
    let deadline = Instant::now() + Duration::from_secs(5);
    // Let the three members share the partitions before the drivers start.
    let settled = |owners: &BTreeMap<u32, &str>| {
        let members: BTreeSet<&&str> = owners.values().collect();
        owners.len() == PARTITIONS as usize && members.len() == MEMBERS.len()
    };
    while !settled(&lock(&shared.owners)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }

    let start = Instant::now();
    let requests = drive(&broker, options, &shared)?;
    let sent = options.drivers * options.rounds;
    let deadline = Instant::now() + Duration::from_secs(10);
    let done = |s: &Shared| {
        s.processed.load(Ordering::Acquire) >= sent
            && s.matched.load(Ordering::Acquire) >= requests + pending
    };
    while !done(&shared) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let generation = broker.describe_group("location-group")?.generation;
    let owners = lock(&shared.owners).clone();
    println!("all in; stopping");
    shared.stop.store(true, Ordering::Release);
    let mut counts = Vec::new();
    for (name, member) in MEMBERS.iter().zip(members) {
        counts.push(format!(
            "{name} {}",
            member.join().map_err(|_| "a member panicked")??
        ));
    }
    let (found, total_km) = matcher.join().map_err(|_| "the matcher panicked")??;
    let written = broker.describe_topic(MATCHES)?.partitions[0].high_watermark - matches_before;
    let lag: u64 = broker
        .describe_group("location-group")?
        .partitions
        .iter()
        .map(|p| p.lag)
        .sum();

    let processed = shared.processed.load(Ordering::Acquire);
    let drivers = lock(&shared.drivers);
    let rate = f64::from(sent) / elapsed;
    println!("\n{LOCATIONS}: {sent} updates in {elapsed:.2} s ({rate:.0}/s, paced by the rounds)");
    println!("  processed {processed}: {}", counts.join(", "));
    let (n, moved) = (drivers.len(), drivers.values().filter(|d| d.2 > 0).count());
    let problems = lock(&shared.problems).len();
    if problems == 0 {
        println!(
            "  each of {n} drivers' timestamps grew strictly; {moved} moved with their partition"
        );
    }
    let mean = total_km / f64::from(found.max(1));
    println!(
        "{REQUESTS}: {requests}, {found} matched, mean pickup {mean:.2} km; {written} in {MATCHES}"
    );
    println!("location-group: generation {generation}, partitions {owners:?}, lag {lag}");
    if processed != sent || u64::from(requests + pending) != written || problems > 0 {
        return Err(format!("{problems} problems; {processed} of {sent} updates processed").into());
    }
    println!("every update processed once, in order, by one member at a time");
    zones::run(&broker)?;
    broker.close()?;
    Ok(())
}

/// Requests in `ride-requests` the matcher's group has not committed yet.
fn pending_requests(broker: &Broker) -> strom::Result<u32> {
    let committed: BTreeMap<u32, u64> = match broker.describe_group("ride-matcher") {
        Ok(group) => group
            .partitions
            .iter()
            .filter(|p| p.topic_partition.topic == REQUESTS)
            .map(|p| (p.topic_partition.partition, p.committed.unwrap_or(0)))
            .collect(),
        Err(_) => BTreeMap::new(), // no such group yet: it reads from the earliest
    };
    let topic = broker.describe_topic(REQUESTS)?;
    let pending = topic.partitions.iter().map(|p| {
        let from = committed
            .get(&p.partition)
            .copied()
            .unwrap_or(p.log_start_offset);
        p.high_watermark.saturating_sub(from)
    });
    Ok(u32::try_from(pending.sum::<u64>()).unwrap_or(u32::MAX))
}

/// The drivers and riders: a round of updates every 40 ms, a ride request every fourth
/// round. Returns the number of requests.
fn drive(
    broker: &Broker,
    options: &Options,
    shared: &Shared,
) -> Result<u32, Box<dyn std::error::Error>> {
    println!(
        "{} drivers send {} updates each; riders ask for rides",
        options.drivers, options.rounds
    );
    let producer = broker.producer();
    let mut rng = 0x5eed_0000_0000_0042_u64;
    let mut drivers: Vec<Point> = (0..options.drivers).map(|_| somewhere(&mut rng)).collect();
    let mut requests = 0;
    for round in 0..options.rounds {
        shared.round.store(round, Ordering::Release);
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
        for (driver_id, at) in (101..).zip(&mut drivers) {
            // Up to about 100 m each way, staying in the box.
            at.lat = (at.lat + 0.002 * (unit(&mut rng) - 0.5)).clamp(40.70, 40.80);
            at.lon = (at.lon + 0.002 * (unit(&mut rng) - 0.5)).clamp(-74.02, -73.93);
            let update = DriverLocation {
                driver_id,
                latitude: at.lat,
                longitude: at.lon,
                timestamp,
            };
            producer.send_json(LOCATIONS, Some(&driver_id.to_string()), &update)?;
        }
        if round % 4 == 3 {
            requests += 1;
            let Point { lat, lon } = somewhere(&mut rng);
            let request = RideRequest {
                request_id: requests,
                latitude: lat,
                longitude: lon,
            };
            producer.send_json(REQUESTS, Some(&requests.to_string()), &request)?;
        }
        thread::sleep(Duration::from_millis(40));
    }
    Ok(requests)
}

/// A random point in a box over Manhattan (the tutorial's drivers are around New York).
fn somewhere(rng: &mut u64) -> Point {
    Point::new(40.70 + 0.10 * unit(rng), -74.02 + 0.09 * unit(rng))
}

/// `SplitMix64`, a tiny seeded generator: the next number in [0, 1] from `state`.
fn unit(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = (*state ^ (*state >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    f64::from(((z ^ (z >> 31)) >> 32) as u32) / f64::from(u32::MAX)
}
