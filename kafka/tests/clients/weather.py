"""The seeds' weather tutorial, run as written (weather_producer.py, weather_consumer.py): the
producer sends one round of the eight cities' readings as one JSON message to
open_weather_api_cities_data and prints it; the consumer, reading from the earliest offset,
prints the same readings. (The topic name is the tutorial's, so a broker used before may hold
earlier rounds: the round just sent is the last one received.)"""

import ast
import os
import subprocess
import sys

from common import check, check_eq, fail, start, step, summary, BOOTSTRAP

start()
here = os.path.dirname(os.path.abspath(__file__))
env = dict(os.environ, BOOTSTRAP=BOOTSTRAP)


def run(script, seconds):
    try:
        done = subprocess.run([sys.executable, os.path.join(here, script)], env=env, cwd=here,
                              capture_output=True, text=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        fail(f"{script} did not finish within {seconds} s")
    check_eq(done.returncode, 0, f"{script}'s exit status (stderr: {done.stderr[-500:]})")
    return done.stdout.splitlines()


step("the tutorial's producer")
out = run("weather_producer.py", 60)
check_eq(len(out), 1, "the producer's lines (one round)")
check(out[0].startswith("From openweather: "), f"the producer's line: {out[0]!r}")
sent = ast.literal_eval(out[0][len("From openweather: "):])
check_eq([r["City"] for r in sent], ["New York", "London", "Johannesburg", "Nairobi", "Cairo",
                                     "Doha", "Tokyo", "Sydney"], "the cities sent")
check_eq([r["Country"] for r in sent], ["US", "GB", "ZA", "KE", "EG", "QA", "JP", "AU"],
         "the countries sent")
check(all(8 <= r["Humidity"] <= 100 and -20 < r["Temparature"] < 50 for r in sent),
      f"plausible readings: {sent}")

step("the tutorial's consumer")
out = run("weather_consumer.py", 60)
check(out and all(line.startswith("Received:") for line in out), f"the consumer's lines: {out}")
received = [ast.literal_eval(line[len("Received:"):]) for line in out]
check_eq(received[-1], sent, "the last round received (JSON through the broker and back)")
summary(topic="open_weather_api_cities_data", cities=len(sent), rounds_received=len(received))
