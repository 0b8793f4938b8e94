//! Weather readings as `examples/weather` simulates and sends them (its `simulation.rs`,
//! included here): JSON values keyed by city. Shared by `benches/compression.rs`
//! (`mod weather;`) and `bench/benches/compare.rs` (by `#[path]`), so that both measure the
//! example's records. A folder without `main.rs`, so that cargo does not take it for a
//! bench of its own.

#[path = "../../examples/weather/simulation.rs"]
mod simulation;

pub(crate) use simulation::thousands;

/// One reading as the example sends it: the city is the key, the JSON the value (the
/// example's `sent-at-ns` header, there to time the trip, is left out).
pub(crate) struct Reading {
    pub(crate) city: String,
    pub(crate) json: Vec<u8>,
}

/// Readings without end, round after round, the same in every run: rounds are 10 s apart,
/// the tutorial's polling interval, from a fixed date.
pub(crate) fn readings() -> impl Iterator<Item = Reading> {
    (0u64..)
        .flat_map(|round| {
            let stamp = 1_709_280_000 + 10 * i64::try_from(round).expect("round");
            simulation::pull_weather_data(round, stamp)
        })
        .map(|weather| Reading {
            json: serde_json::to_vec(&weather).expect("json"),
            city: weather.city,
        })
}
