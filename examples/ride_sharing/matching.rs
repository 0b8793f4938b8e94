//! Ride matching, apart from Kafka: great-circle distance, the latest-position table a
//! member of `location-group` keeps for the drivers of its partitions, and the choice of
//! the nearest driver.

use std::cmp::Ordering;
use std::collections::HashMap;

/// The Earth's mean radius (IUGG), in kilometres.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// A point on the Earth, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub(crate) lat: f64,
    pub(crate) lon: f64,
}

impl Point {
    pub(crate) const fn new(lat: f64, lon: f64) -> Self {
        Self { lat, lon }
    }
}

/// The great-circle distance between `a` and `b` in kilometres (haversine formula, on a
/// sphere: within about 0.5% of the ellipsoidal distance).
pub(crate) fn haversine_km(a: Point, b: Point) -> f64 {
    let (lat_a, lat_b) = (a.lat.to_radians(), b.lat.to_radians());
    let half_dlat = (lat_b - lat_a) / 2.0;
    let half_dlon = (b.lon - a.lon).to_radians() / 2.0;
    let h = half_dlat.sin().powi(2) + lat_a.cos() * lat_b.cos() * half_dlon.sin().powi(2);
    // Rounding can push `h` a hair above 1 for antipodal points.
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// A driver and how far it is from a pickup point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    pub(crate) driver_id: u32,
    pub(crate) distance_km: f64,
}

impl Candidate {
    /// Nearer first; at equal distance, the lower driver id, so that every member and the
    /// matcher break ties the same way.
    pub(crate) fn order(&self, other: &Self) -> Ordering {
        self.distance_km
            .total_cmp(&other.distance_km)
            .then(self.driver_id.cmp(&other.driver_id))
    }
}

/// The nearest of `candidates` (ties: the lowest driver id); `None` if there are none.
pub(crate) fn nearest(candidates: impl IntoIterator<Item = Candidate>) -> Option<Candidate> {
    candidates.into_iter().min_by(Candidate::order)
}

/// A driver's last known position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fix {
    pub(crate) at: Point,
    /// When the driver sent it, in seconds since the epoch (the tutorial's `time.time()`).
    pub(crate) timestamp: f64,
    /// The `driver-location` partition it came from.
    pub(crate) partition: u32,
}

/// The latest position of each driver a member knows of.
#[derive(Debug, Default)]
pub(crate) struct LatestPositions {
    fixes: HashMap<u32, Fix>,
}

impl LatestPositions {
    /// Records `fix` unless the table already has one as new or newer for this driver (an
    /// update that arrives late or twice must not move the driver back). Returns whether
    /// it was recorded.
    pub(crate) fn update(&mut self, driver_id: u32, fix: Fix) -> bool {
        match self.fixes.get(&driver_id) {
            Some(known) if known.timestamp >= fix.timestamp => false,
            _ => {
                self.fixes.insert(driver_id, fix);
                true
            }
        }
    }

    /// Forgets the drivers whose updates come from `partitions` (they moved to another
    /// member, which now keeps them). Returns how many were forgotten.
    pub(crate) fn forget_partitions(&mut self, partitions: &[u32]) -> usize {
        let before = self.fixes.len();
        self.fixes
            .retain(|_, fix| !partitions.contains(&fix.partition));
        before - self.fixes.len()
    }

    /// Every known driver with its distance from `to`.
    pub(crate) fn candidates(&self, to: Point) -> impl Iterator<Item = Candidate> + '_ {
        self.fixes.iter().map(move |(&driver_id, fix)| Candidate {
            driver_id,
            distance_km: haversine_km(fix.at, to),
        })
    }

    /// The known driver nearest to `to`: this member's proposal for a ride from there.
    pub(crate) fn nearest(&self, to: Point) -> Option<Candidate> {
        nearest(self.candidates(to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONDON: Point = Point {
        lat: 51.5074,
        lon: -0.1278,
    };
    const PARIS: Point = Point {
        lat: 48.8566,
        lon: 2.3522,
    };
    const NEW_YORK: Point = Point {
        lat: 40.7128,
        lon: -74.0060,
    };
    const LOS_ANGELES: Point = Point {
        lat: 34.0522,
        lon: -118.2437,
    };

    fn within(actual: f64, expected: f64, fraction: f64) -> bool {
        (actual - expected).abs() <= expected * fraction
    }

    fn fix(lat: f64, lon: f64, timestamp: f64, partition: u32) -> Fix {
        Fix {
            at: Point { lat, lon },
            timestamp,
            partition,
        }
    }

    #[test]
    fn distance_between_known_cities() {
        // Published great-circle distances: London–Paris 343.5 km, New York–LA 3,936 km.
        let london_paris = haversine_km(LONDON, PARIS);
        assert!(within(london_paris, 343.5, 0.01), "{london_paris}");
        let ny_la = haversine_km(NEW_YORK, LOS_ANGELES);
        assert!(within(ny_la, 3936.0, 0.01), "{ny_la}");
    }

    #[test]
    fn distance_is_symmetric_zero_on_the_spot_and_half_the_globe_at_most() {
        assert!(haversine_km(LONDON, LONDON).abs() < 1e-12);
        assert!((haversine_km(LONDON, PARIS) - haversine_km(PARIS, LONDON)).abs() < 1e-9);
        // A quarter meridian, and antipodes: half the circumference, not NaN.
        let pole = haversine_km(
            Point { lat: 0.0, lon: 0.0 },
            Point {
                lat: 90.0,
                lon: 0.0,
            },
        );
        assert!(
            within(pole, std::f64::consts::FRAC_PI_2 * EARTH_RADIUS_KM, 1e-9),
            "{pole}"
        );
        let antipodes = haversine_km(
            Point { lat: 0.0, lon: 0.0 },
            Point {
                lat: 0.0,
                lon: 180.0,
            },
        );
        assert!(
            within(antipodes, std::f64::consts::PI * EARTH_RADIUS_KM, 1e-9),
            "{antipodes}"
        );
        // 0.001° of latitude is about 111 m anywhere.
        let step = haversine_km(
            NEW_YORK,
            Point {
                lat: NEW_YORK.lat + 0.001,
                ..NEW_YORK
            },
        );
        assert!(within(step, 0.1112, 0.01), "{step}");
    }

    #[test]
    fn an_empty_table_has_no_nearest_driver() {
        assert_eq!(LatestPositions::default().nearest(NEW_YORK), None);
        assert_eq!(nearest([]), None);
    }

    #[test]
    fn nearest_driver_is_the_closest_one() {
        let mut table = LatestPositions::default();
        table.update(1, fix(40.80, -73.95, 1.0, 0)); // ~10 km north
        table.update(2, fix(40.7138, -74.0060, 1.0, 1)); // ~110 m north
        table.update(3, fix(40.72, -74.00, 1.0, 2)); // ~1 km
        let best = table.nearest(NEW_YORK).expect("three drivers");
        assert_eq!(best.driver_id, 2);
        assert!(within(best.distance_km, 0.1112, 0.01), "{best:?}");
    }

    #[test]
    fn ties_go_to_the_lowest_driver_id_whatever_the_order() {
        // Two drivers as far north and south of the rider: the same distance.
        let north = fix(NEW_YORK.lat + 0.01, NEW_YORK.lon, 1.0, 0);
        let south = fix(NEW_YORK.lat - 0.01, NEW_YORK.lon, 1.0, 0);
        for (first, second) in [(7, 5), (5, 7)] {
            let mut table = LatestPositions::default();
            table.update(first, north);
            table.update(second, south);
            let a = haversine_km(north.at, NEW_YORK);
            let b = haversine_km(south.at, NEW_YORK);
            assert!((a - b).abs() < 1e-3, "{a} {b}");
            // Exactly equal distances, as with two drivers at one spot.
            table.update(first, fix(north.at.lat, north.at.lon, 2.0, 0));
            table.update(second, fix(north.at.lat, north.at.lon, 2.0, 0));
            assert_eq!(table.nearest(NEW_YORK).map(|c| c.driver_id), Some(5));
        }
        let same = |driver_id| Candidate {
            driver_id,
            distance_km: 1.5,
        };
        assert_eq!(nearest([same(9), same(4), same(6)]), Some(same(4)));
    }

    #[test]
    fn the_nearest_of_each_members_proposal_is_the_nearest_of_all() {
        // Split drivers among three members' tables by partition, as the group does.
        let mut tables: Vec<LatestPositions> = (0..3).map(|_| LatestPositions::default()).collect();
        let mut everyone = LatestPositions::default();
        for driver in 0..60u32 {
            let step = f64::from(driver);
            let f = fix(
                40.70 + (step * 0.37) % 0.1,
                -74.02 + (step * 0.53) % 0.1,
                1.0,
                driver % 6,
            );
            tables[(driver % 6 / 2) as usize].update(driver, f);
            everyone.update(driver, f);
        }
        for rider in [
            NEW_YORK,
            Point {
                lat: 40.75,
                lon: -73.98,
            },
            LONDON,
        ] {
            let proposals = tables.iter().filter_map(|t| t.nearest(rider));
            assert_eq!(nearest(proposals), everyone.nearest(rider));
        }
    }

    #[test]
    fn older_and_repeated_updates_are_ignored() {
        let mut table = LatestPositions::default();
        assert!(table.update(42, fix(40.0, -74.0, 10.0, 3)));
        assert!(table.update(42, fix(40.1, -74.0, 11.0, 3)));
        assert!(
            !table.update(42, fix(40.2, -74.0, 10.5, 3)),
            "older: ignored"
        );
        assert!(
            !table.update(42, fix(40.3, -74.0, 11.0, 3)),
            "same time: ignored"
        );
        assert_eq!(table.candidates(NEW_YORK).count(), 1);
        let here = Point {
            lat: 40.1,
            lon: -74.0,
        };
        assert_eq!(table.nearest(here).map(|c| c.distance_km), Some(0.0));
    }

    #[test]
    fn forgetting_a_partition_forgets_only_its_drivers() {
        let mut table = LatestPositions::default();
        table.update(1, fix(40.0, -74.0, 1.0, 0));
        table.update(2, fix(40.0, -74.0, 1.0, 1));
        table.update(3, fix(40.0, -74.0, 1.0, 1));
        assert_eq!(table.forget_partitions(&[1, 5]), 2);
        assert_eq!(table.candidates(NEW_YORK).count(), 1);
        assert_eq!(table.nearest(NEW_YORK).map(|c| c.driver_id), Some(1));
    }
}
