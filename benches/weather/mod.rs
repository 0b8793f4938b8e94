//! Weather readings as `examples/weather.rs` simulates and sends them: JSON values keyed by
//! city. Shared by `benches/compression.rs` (`mod weather;`) and `bench/benches/compare.rs`
//! (by `#[path]`), so that both measure the same records. A folder without `main.rs`, so
//! that cargo does not take it for a bench of its own.

use serde::Serialize;

/// City, country code, mean temperature (°C), daily swing (°C), mean relative humidity (%).
const CITIES: [(&str, &str, f64, f64, f64); 8] = [
    ("New York", "US", 13.0, 5.0, 63.0),
    ("London", "GB", 11.5, 4.0, 77.0),
    ("Johannesburg", "ZA", 16.0, 7.0, 52.0),
    ("Nairobi", "KE", 19.0, 6.0, 66.0),
    ("Cairo", "EG", 22.5, 7.0, 48.0),
    ("Doha", "QA", 28.0, 6.0, 58.0),
    ("Tokyo", "JP", 16.5, 4.5, 68.0),
    ("Sydney", "AU", 18.5, 4.0, 68.0),
];

/// The example's `Weather`, field for field.
#[derive(Serialize)]
struct Weather {
    city: &'static str,
    country: &'static str,
    temperature: f64,
    humidity: u8,
    feels_like: f64,
    last_update_time: i64,
}

/// One reading as the example sends it: the city is the key, the JSON the value (the
/// example's `sent-at-ns` header, there to time the trip, is left out).
pub(crate) struct Reading {
    pub(crate) city: &'static str,
    pub(crate) json: Vec<u8>,
}

/// `SplitMix64`, the example's seeded generator: the next number in [-1, 1] from `state`.
fn noise(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = (*state ^ (*state >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    f64::from(((z ^ (z >> 31)) >> 32) as u32) / f64::from(u32::MAX) * 2.0 - 1.0
}

/// Round `round`'s eight readings, as the example's `pull_weather_data` makes them; rounds
/// are 10 s apart, the tutorial's polling interval.
fn round(round: u64) -> impl Iterator<Item = Reading> {
    let mut rng = 0x5eed_0000_0f57_0a11 ^ round.wrapping_mul(0x2545_f491_4f6c_dd1d);
    let now = 1_709_280_000 + 10 * i64::try_from(round).expect("round");
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    (0u64..)
        .zip(&CITIES)
        .map(move |(i, &(city, country, mean, swing, humidity))| {
            // Each city its own time of day.
            let hour = f64::from(u32::try_from((round + 3 * i) % 24).expect("below 24"));
            let daily = swing * (std::f64::consts::TAU * hour / 24.0).sin();
            let temperature = mean + daily + 1.5 * noise(&mut rng);
            let rh = humidity - 2.0 * (temperature - mean) + 8.0 * noise(&mut rng);
            #[expect(clippy::cast_sign_loss, reason = "clamped to 8..=100")]
            let humidity = rh.clamp(8.0, 100.0).round() as u8;
            let wind_ms = 3.0 + 3.0 * noise(&mut rng);
            // Apparent temperature: Steadman's formula, as the Australian BoM uses it.
            let saturation_hpa = 6.105 * (17.27 * temperature / (237.7 + temperature)).exp();
            let vapour = f64::from(humidity) / 100.0 * saturation_hpa;
            let weather = Weather {
                city,
                country,
                temperature: round2(temperature),
                humidity,
                feels_like: round2(temperature + 0.33 * vapour - 0.7 * wind_ms - 4.0),
                last_update_time: now,
            };
            let json = serde_json::to_vec(&weather).expect("json");
            Reading { city, json }
        })
}

/// Readings without end, round after round, the same in every run.
pub(crate) fn readings() -> impl Iterator<Item = Reading> {
    (0..).flat_map(round)
}
