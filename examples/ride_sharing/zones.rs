//! The matching service as a stream application (`strom::streams`): the drivers' latest
//! locations as a table, a table of the drivers in each zone derived from it, and the ride
//! requests keyed by zone and joined with that table.
//!
//! Nearest driver is not a key join: a request and the drivers near it share no key. So
//! the city is cut into zones (a grid), the drivers are grouped by the zone they are in,
//! and a request re-keyed by its zone is joined with its zone's drivers; the nearest of
//! them is its match. A driver's updates go through one aggregate per driver first, which
//! remembers the zone it was in, so that a driver leaving a zone is removed from it (what
//! Kafka Streams' `KTable#groupBy` does with its subtractor).

use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strom::streams::{Json, KTable, Streams, StreamsBuilder, StreamsConfig, Topology};

use crate::matching::{self, Candidate, Point};
use crate::{DriverLocation, RideRequest, LOCATIONS, REQUESTS};

/// Where the application writes each request's match (or that its zone had no driver).
pub(crate) const ZONE_MATCHES: &str = "ride-matches-by-zone";
/// The per-driver store: `location-group`'s table of latest positions.
pub(crate) const POSITIONS: &str = "driver-positions";
/// The per-zone store: the drivers in each zone.
pub(crate) const ZONES: &str = "drivers-by-zone";
/// The side of a zone, in degrees: about 5.5 km north-south over Manhattan.
const ZONE_DEGREES: f64 = 0.05;

/// The zone of a point: its grid cell's south-west corner, as text (the key).
pub(crate) fn zone_of(at: Point) -> String {
    let corner = |x: f64| (x / ZONE_DEGREES).floor() * ZONE_DEGREES;
    format!("{:.2},{:.2}", corner(at.lat), corner(at.lon))
}

/// A driver's latest location and the zone it left with it, if it changed zones.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct Position {
    pub(crate) zone: String,
    pub(crate) left: Option<String>,
    pub(crate) latitude: f64,
    pub(crate) longitude: f64,
}

/// What a zone hears about a driver.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) enum ZoneEvent {
    At {
        driver_id: u32,
        latitude: f64,
        longitude: f64,
    },
    Left {
        driver_id: u32,
    },
}

/// The drivers in a zone, by id: their latest positions.
pub(crate) type ZoneDrivers = BTreeMap<u32, (f64, f64)>;

/// What `ride-matches-by-zone` holds, keyed by request id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ZoneMatch {
    pub(crate) request_id: u32,
    pub(crate) zone: String,
    /// The nearest driver in the zone, `None` if the zone had none.
    pub(crate) driver_id: Option<u32>,
    pub(crate) distance_km: Option<f64>,
    /// How many drivers the zone had.
    pub(crate) drivers_in_zone: usize,
}

/// The nearest of a zone's drivers to `pickup`.
pub(crate) fn nearest_in(drivers: &ZoneDrivers, pickup: Point) -> Option<Candidate> {
    matching::nearest(drivers.iter().map(|(&driver_id, &(lat, lon))| Candidate {
        driver_id,
        distance_km: matching::haversine_km(pickup, Point::new(lat, lon)),
    }))
}

/// The application's topology.
pub(crate) fn topology() -> strom::Result<Topology> {
    let builder = StreamsBuilder::new();
    // Each driver's latest position (keyed by driver: no repartition), remembering the zone
    // it leaves.
    let positions = builder
        .stream::<String, Json<DriverLocation>>(LOCATIONS)
        .group_by_key()
        .aggregate(
            POSITIONS,
            Json::<Position>::default,
            |_driver, update, before| {
                let zone = zone_of(Point::new(update.latitude, update.longitude));
                let moved = !before.zone.is_empty() && before.zone != zone;
                Json(Position {
                    left: moved.then(|| before.zone.clone()),
                    zone,
                    latitude: update.latitude,
                    longitude: update.longitude,
                })
            },
        );
    // The drivers per zone: an arrival in the new zone, a departure from the old one,
    // re-keyed by zone (through a repartition topic, so that a zone lives in one task).
    let zones: KTable<String, Json<ZoneDrivers>> = positions
        .to_stream()
        .flat_map(|driver, position| {
            // The key is the driver id the drivers send (`driver_id.to_string()`); a key
            // that is not a number would be driver 0, which no driver here is.
            let driver_id = driver.parse().unwrap_or_default();
            let at = ZoneEvent::At {
                driver_id,
                latitude: position.latitude,
                longitude: position.longitude,
            };
            let mut events = vec![(position.zone.clone(), Json(at))];
            if let Some(left) = &position.left {
                events.push((left.clone(), Json(ZoneEvent::Left { driver_id })));
            }
            events
        })
        .group_by_key()
        .aggregate(
            ZONES,
            Json::<ZoneDrivers>::default,
            |_zone, event, drivers| {
                let mut drivers = drivers.clone();
                match &**event {
                    ZoneEvent::At {
                        driver_id,
                        latitude,
                        longitude,
                    } => {
                        drivers.0.insert(*driver_id, (*latitude, *longitude));
                    }
                    ZoneEvent::Left { driver_id } => {
                        drivers.0.remove(driver_id);
                    }
                }
                drivers
            },
        );
    // Each request, keyed by its zone, joined with the zone's drivers; a zone no driver
    // has been in yet is `None` (a left join, so that the request is still answered).
    builder
        .stream::<String, Json<RideRequest>>(REQUESTS)
        .select_key(|_id, request| zone_of(Point::new(request.latitude, request.longitude)))
        .left_join_table(&zones, |request, drivers: Option<&Json<ZoneDrivers>>| {
            let pickup = Point::new(request.latitude, request.longitude);
            let best = drivers.and_then(|d| nearest_in(d, pickup));
            Json(ZoneMatch {
                request_id: request.request_id,
                zone: zone_of(pickup),
                driver_id: best.map(|c| c.driver_id),
                distance_km: best.map(|c| c.distance_km),
                drivers_in_zone: drivers.map_or(0, |d| d.len()),
            })
        })
        .map(|_zone, found| (found.request_id.to_string(), found.clone()))
        .to(ZONE_MATCHES);
    builder.build()
}

/// The application id: the consumer group its threads join, the prefix of its internal
/// topics (`__ride-matching-drivers-by-zone-changelog`, …).
pub(crate) const APPLICATION: &str = "ride-matching";
/// Requests the riders send once the application has caught up with the drivers.
const MORE_REQUESTS: u32 = 8;

/// Runs the application over what the topics hold, sends more requests, and checks every
/// request is answered and, for the new ones, with the nearest driver of the zone.
pub(crate) fn run(broker: &strom::Broker) -> Result<(), Box<dyn Error>> {
    match broker.create_topic(ZONE_MATCHES, strom::TopicConfig::default()) {
        Ok(()) | Err(strom::Error::TopicExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    println!("\n{APPLICATION}: the same service as a stream application, two threads");
    let config = StreamsConfig::new(APPLICATION).num_threads(2);
    let mut app = Streams::new(broker, topology()?, config)?;
    app.start()?;
    let caught_up = |app: &Streams| -> Result<(), Box<dyn Error>> {
        if app.wait_until_caught_up(Duration::from_secs(10))? {
            Ok(())
        } else {
            Err(format!("{APPLICATION} did not catch up in 10 s").into())
        }
    };
    caught_up(&app)?;
    let positions = app.store::<String, Json<Position>>(POSITIONS)?.len();
    let zones = app.store::<String, Json<ZoneDrivers>>(ZONES)?.all();
    let shown: Vec<String> = zones
        .iter()
        .map(|(z, d)| format!("{z}: {}", d.len()))
        .collect();
    println!(
        "  {POSITIONS}: {positions} drivers; {ZONES}: {}",
        shown.join(", ")
    );

    // More riders, now that the tables hold every driver's last position: their matches
    // can be checked against a direct computation.
    let first = asked(broker)?.into_iter().max().unwrap_or(0) + 1;
    let producer = broker.producer();
    let mut rng = 0x5eed_0000_0000_0016_u64 ^ u64::from(first);
    let mut sent = Vec::new();
    for request_id in first..first + MORE_REQUESTS {
        let Point { lat, lon } = crate::somewhere(&mut rng);
        let request = RideRequest {
            request_id,
            latitude: lat,
            longitude: lon,
        };
        producer.send_json(REQUESTS, Some(&request_id.to_string()), &request)?;
        sent.push(request);
    }
    caught_up(&app)?;
    let group = broker.describe_group(APPLICATION)?;
    app.close()?;

    // The application id is the group: its threads are members sharing the partitions,
    // as `strom groups describe ride-matching` would show.
    println!("  group {APPLICATION}, generation {}:", group.generation);
    for member in &group.members {
        let mut of_locations: Vec<u32> = member
            .assignment
            .iter()
            .filter(|tp| tp.topic == LOCATIONS)
            .map(|tp| tp.partition)
            .collect();
        of_locations.sort_unstable();
        let (id, topics) = (&member.member_id, member.assignment.len());
        println!("    {id}: {LOCATIONS} {of_locations:?} ({topics} partitions in all)");
    }
    check(broker, &sent)
}

/// The ids of the requests in `ride-requests`.
fn asked(broker: &strom::Broker) -> Result<Vec<u32>, Box<dyn Error>> {
    let records = read_all(broker, REQUESTS)?;
    let ids = records
        .iter()
        .map(|r| r.json::<RideRequest>().map(|q| q.request_id));
    Ok(ids.collect::<strom::Result<_>>()?)
}

/// Every request answered; those `sent` once the tables were complete, with the nearest
/// driver of their zone, computed here from the drivers' last updates.
fn check(broker: &strom::Broker, sent: &[RideRequest]) -> Result<(), Box<dyn Error>> {
    // Each driver's last position, straight from `driver-location`: what the tables hold.
    let mut last = HashMap::new();
    for record in read_all(broker, LOCATIONS)? {
        let update: DriverLocation = record.json()?;
        last.insert(update.driver_id, update);
    }
    let mut answers = BTreeMap::new();
    for record in read_all(broker, ZONE_MATCHES)? {
        let found: ZoneMatch = record.json()?;
        answers.insert(found.request_id, found);
    }
    // Distinct ids: with --dir, each run's riders number their requests from 1 again.
    let requests: std::collections::BTreeSet<u32> = asked(broker)?.into_iter().collect();
    let total = requests.len();
    let unanswered = requests
        .iter()
        .filter(|id| !answers.contains_key(id))
        .count();
    let mut wrong = 0;
    for request in sent {
        let pickup = Point::new(request.latitude, request.longitude);
        let zone = zone_of(pickup);
        let in_zone: ZoneDrivers = last
            .values()
            .filter(|u| zone_of(Point::new(u.latitude, u.longitude)) == zone)
            .map(|u| (u.driver_id, (u.latitude, u.longitude)))
            .collect();
        let want = nearest_in(&in_zone, pickup);
        let got = answers.get(&request.request_id);
        let id = request.request_id;
        match got {
            Some(m) if m.driver_id == want.map(|c| c.driver_id) => match (m.driver_id, m.distance_km) {
                (Some(d), Some(km)) => println!(
                    "  request {id} in zone {zone}: driver {d}, {km:.2} km away (of {} in the zone)",
                    m.drivers_in_zone
                ),
                _ => println!("  request {id} in zone {zone}: no driver in the zone"),
            },
            _ => {
                wrong += 1;
                println!("  PROBLEM: request {id} in zone {zone}: {got:?}, expected {want:?}");
            }
        }
    }
    println!(
        "  {ZONE_MATCHES}: {} of {total} requests answered; the {MORE_REQUESTS} new ones \
         checked against the nearest driver of their zone computed directly",
        answers.len()
    );
    if unanswered > 0 || wrong > 0 {
        return Err(format!("{unanswered} requests unanswered, {wrong} answered wrongly").into());
    }
    Ok(())
}

/// Every record of `topic`, from the start of each partition.
fn read_all(
    broker: &strom::Broker,
    topic: &str,
) -> Result<Vec<strom::ConsumerRecord>, Box<dyn Error>> {
    let description = broker.describe_topic(topic)?;
    let mut records = Vec::new();
    for partition in &description.partitions {
        let config =
            strom::ConsumerConfig::default().auto_offset_reset(strom::OffsetReset::Earliest);
        let mut consumer = broker.consumer(config);
        consumer.assign(&[strom::TopicPartition::new(topic, partition.partition)])?;
        let mut read = 0;
        while read < partition.high_watermark - partition.log_start_offset {
            let batch = consumer.poll(Duration::from_secs(1))?;
            if batch.is_empty() {
                return Err(
                    format!("{topic}: partition {} ends early", partition.partition).into(),
                );
            }
            read += batch.len() as u64;
            records.extend(batch);
        }
    }
    Ok(records)
}
