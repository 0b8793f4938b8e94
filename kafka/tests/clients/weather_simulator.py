"""The OpenWeather call of the seeds' weather tutorial, simulated: the same eight cities'
readings as strom's weather example (examples/weather/simulation.rs: the same seed, climate
table and formulas), so the tutorial's programs run with no network and no API key."""

import math
import time

SEED = 0x5EED00000F570A11
MASK = (1 << 64) - 1

# City, country code, mean temperature (°C), daily swing (°C), mean relative humidity (%).
CITIES = [
    ("New York", "US", 13.0, 5.0, 63.0),
    ("London", "GB", 11.5, 4.0, 77.0),
    ("Johannesburg", "ZA", 16.0, 7.0, 52.0),
    ("Nairobi", "KE", 19.0, 6.0, 66.0),
    ("Cairo", "EG", 22.5, 7.0, 48.0),
    ("Doha", "QA", 28.0, 6.0, 58.0),
    ("Tokyo", "JP", 16.5, 4.5, 68.0),
    ("Sydney", "AU", 18.5, 4.0, 68.0),
]


class _Noise:
    """SplitMix64: the next number in [-1, 1]."""

    def __init__(self, state):
        self.state = state & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = ((self.state ^ (self.state >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return ((z ^ (z >> 31)) >> 32) / 0xFFFFFFFF * 2.0 - 1.0


def _round(x, digits=0):
    # Half away from zero, as Rust's f64::round (Python's round() rounds half to even).
    scale = 10.0 ** digits
    return math.copysign(math.floor(abs(x) * scale + 0.5), x) / scale


def readings(round_, last_update_time):
    """Round `round_`'s readings (a round is an hour; the same round gives the same values), as
    openweathermap.org's JSON with the fields the tutorial picks (°C, as with units=metric)."""
    rng = _Noise(SEED ^ ((round_ * 0x2545F4914F6CDD1D) & MASK))
    out = []
    for i, (city, country, mean, swing, humidity) in enumerate(CITIES):
        hour = (round_ + 3 * i) % 24
        temperature = mean + swing * math.sin(math.tau * hour / 24.0) + 1.5 * rng.next()
        rh = humidity - 2.0 * (temperature - mean) + 8.0 * rng.next()
        humidity_pct = int(_round(min(max(rh, 8.0), 100.0)))
        wind_ms = 3.0 + 3.0 * rng.next()
        saturation_hpa = 6.105 * math.exp(17.27 * temperature / (237.7 + temperature))
        vapour = humidity_pct / 100.0 * saturation_hpa
        out.append({
            "name": city,
            "sys": {"country": country},
            "main": {"temp": _round(temperature, 2), "humidity": humidity_pct,
                     "feels_like": _round(temperature + 0.33 * vapour - 0.7 * wind_ms - 4.0, 2)},
            "dt": last_update_time,
        })
    return out


def weather(city):
    """What `requests.get(url).json()` gave the tutorial for `city`, now: this hour's round."""
    now = int(time.time())
    for reading in readings(now // 3600, now):
        if reading["name"] == city:
            return reading
    raise KeyError(city)
