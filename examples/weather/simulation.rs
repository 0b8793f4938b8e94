//! The tutorial's weather source, simulated: eight cities' readings, the same in every run
//! for the same round. Its own file so that the benches (`benches/weather`) send exactly the
//! records this example sends.

use serde::{Deserialize, Serialize};

const SEED: u64 = 0x5eed_0000_0f57_0a11;

/// City, country code, mean temperature (°C), daily swing (°C), mean relative humidity (%).
pub(crate) const CITIES: [(&str, &str, f64, f64, f64); 8] = [
    ("New York", "US", 13.0, 5.0, 63.0),
    ("London", "GB", 11.5, 4.0, 77.0),
    ("Johannesburg", "ZA", 16.0, 7.0, 52.0),
    ("Nairobi", "KE", 19.0, 6.0, 66.0),
    ("Cairo", "EG", 22.5, 7.0, 48.0),
    ("Doha", "QA", 28.0, 6.0, 58.0),
    ("Tokyo", "JP", 16.5, 4.5, 68.0),
    ("Sydney", "AU", 18.5, 4.0, 68.0),
];

/// The fields the tutorial keeps from openweathermap.org's response: `name`, `sys.country`,
/// `main.temp` (°C here, as with `units=metric`), `main.humidity`, `main.feels_like`, `dt`.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Weather {
    pub(crate) city: String,
    pub(crate) country: String,
    pub(crate) temperature: f64,
    pub(crate) humidity: u8,
    pub(crate) feels_like: f64,
    pub(crate) last_update_time: i64,
}

/// `SplitMix64`, a tiny seeded generator: the next number in [-1, 1] from `state`.
fn noise(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = (*state ^ (*state >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    f64::from(((z ^ (z >> 31)) >> 32) as u32) / f64::from(u32::MAX) * 2.0 - 1.0
}

/// The tutorial's `pull_weather_data()`, simulated: round `round`'s readings (a round is an
/// hour of simulated weather; the same round always gives the same values), stamped
/// `last_update_time` (seconds since the epoch).
pub(crate) fn pull_weather_data(round: u64, last_update_time: i64) -> Vec<Weather> {
    let mut rng = SEED ^ round.wrapping_mul(0x2545_f491_4f6c_dd1d);
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    let mut readings = Vec::new();
    for (i, &(city, country, mean, swing, humidity)) in CITIES.iter().enumerate() {
        let hour = ((round + 3 * i as u64) % 24) as u32; // each city its own time of day
        let daily = swing * (std::f64::consts::TAU * f64::from(hour) / 24.0).sin();
        let temperature = mean + daily + 1.5 * noise(&mut rng);
        let rh = humidity - 2.0 * (temperature - mean) + 8.0 * noise(&mut rng);
        #[expect(clippy::cast_sign_loss, reason = "clamped to 8..=100")]
        let humidity = rh.clamp(8.0, 100.0).round() as u8;
        let wind_ms = 3.0 + 3.0 * noise(&mut rng);
        // Apparent temperature: Steadman's formula, as the Australian BoM uses it.
        let saturation_hpa = 6.105 * (17.27 * temperature / (237.7 + temperature)).exp();
        let vapour = f64::from(humidity) / 100.0 * saturation_hpa;
        readings.push(Weather {
            city: city.to_string(),
            country: country.to_string(),
            temperature: round2(temperature),
            humidity,
            feels_like: round2(temperature + 0.33 * vapour - 0.7 * wind_ms - 4.0),
            last_update_time,
        });
    }
    readings
}

/// `n` with its thousands separated by commas: 12,345.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
