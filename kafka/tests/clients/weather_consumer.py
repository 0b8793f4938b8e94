# The seeds' weather tutorial consumer (shared/seeds/000), as written, except:
# - consumer_timeout_ms bounds `for message in consumer` (the tutorial waits for ever), so it
#   ends 10 s after the last message;
# - the broker's address comes from $BOOTSTRAP (default the tutorial's 'localhost:9092').
from kafka import KafkaConsumer
import os
import json

consumer = KafkaConsumer(
    'open_weather_api_cities_data',
    bootstrap_servers = os.environ.get('BOOTSTRAP', 'localhost:9092'),
    auto_offset_reset = 'earliest',
    value_deserializer = lambda m: json.loads(m.decode('utf-8')),
    consumer_timeout_ms = 10000
)

for message in consumer:
    print(f'Received:{message.value}')
