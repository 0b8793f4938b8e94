# The seeds' weather tutorial producer (shared/seeds/000), as written, except:
# - the OpenWeather HTTP call (requests.get(url).json()) is replaced by the simulator's reading
#   for the city (weather_simulator.weather), so it runs with no network and no API key; the
#   dotenv/requests imports and the API key go with it;
# - `while True:` with time.sleep(10) is bounded to one round of the 8 cities, so it ends;
# - the broker's address comes from $BOOTSTRAP (default the tutorial's 'localhost:9092').
# The rest (KafkaProducer with the json value_serializer, the topic, the field names with the
# tutorial's spelling, the print line) is the tutorial's.
from kafka import KafkaProducer
import os
import json
import time
from weather_simulator import weather


def pull_weather_data():
    cities = ['New York', 'London', 'Johannesburg', 'Nairobi', 'Cairo', 'Doha', 'Tokyo', 'Sydney']
    cities_weather_data = []
    for city in cities:
        weather_data = weather(city)
        cities_weather_data.append({
            'City' : weather_data['name'],
            'Country' : weather_data['sys']['country'],
            'Temparature' : weather_data['main']['temp'],
            'Humidity' : weather_data['main']['humidity'],
            'Feels_Like' : weather_data['main']['feels_like'],
            'Last_update_time' : weather_data['dt']
        })
    return cities_weather_data


producer = KafkaProducer(
    bootstrap_servers = os.environ.get('BOOTSTRAP', 'localhost:9092'),
    value_serializer = lambda v: json.dumps(v).encode('utf-8')
)

topic = 'open_weather_api_cities_data'
for _ in range(1):
    weather_data = pull_weather_data()
    producer.send(topic, weather_data)
    print(f'From openweather: {weather_data}')
