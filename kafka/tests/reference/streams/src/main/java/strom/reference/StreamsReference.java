package strom.reference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyConfig;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindowedDeserializer;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.TimeWindowedDeserializer;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.kstream.WindowedSerdes;
import org.apache.kafka.streams.state.BuiltInDslStoreSuppliers;
import org.apache.kafka.streams.test.TestRecord;

/**
 * The reference topologies of strom's comparison with Kafka Streams, each run with Kafka's
 * TopologyTestDriver (no record cache: every update comes out).
 *
 * <pre>
 *   run INPUT OUTPUT [TOPOLOGY...]   every record of INPUT (JSON lines: topic, key, value, ts)
 *                                    through each topology (default: all), what each wrote
 *                                    to OUTPUT (JSON lines: topology, topic, key, start, end,
 *                                    value, ts)
 *   time INPUT TOPOLOGY...           the same without writing, one line per topology:
 *                                    name, records in, records out, milliseconds
 * </pre>
 *
 * The same topologies are written with strom::streams in bench/streams-reference; both
 * sides use the same names, windows and joiners.
 */
public final class StreamsReference {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static final long SECOND = 1_000;
  private static final long MINUTE = 60 * SECOND;

  static final long TUMBLING_SIZE = MINUTE;
  static final long TUMBLING_GRACE = 10 * SECOND;
  static final long HOPPING_SIZE = MINUTE;
  static final long HOPPING_ADVANCE = 20 * SECOND;
  static final long HOPPING_GRACE = 15 * SECOND;
  static final long SESSION_GAP = 30 * SECOND;
  static final long SESSION_GRACE = 10 * SECOND;
  static final long JOIN_DIFFERENCE = 10 * SECOND;
  static final long JOIN_GRACE = 5 * SECOND;
  // examples/fraud's velocity rule: more than 3 withdrawals in 5 minutes, windows every
  // 10 s, records up to an hour late still counted.
  static final long FRAUD_SIZE = 5 * MINUTE;
  static final long FRAUD_ADVANCE = 10 * SECOND;
  static final long FRAUD_GRACE = 60 * MINUTE;
  static final long FRAUD_THRESHOLD = 3;

  /** How an output topic's keys and values are read. */
  private enum KeyKind {
    PLAIN,
    TIME_WINDOWED,
    SESSION_WINDOWED
  }

  private record Output(String topic, KeyKind keys, long windowSize, boolean longValues) {}

  private record Reference(Topology topology, List<String> inputs, List<Output> outputs) {}

  /** One input record. */
  private record Input(String topic, String key, String value, long ts) {}

  private StreamsReference() {}

  static Reference reference(String name) {
    // The stores in memory, as strom's are (the configuration reaches the DSL's stores
    // through the builder, not the driver).
    StreamsBuilder builder = new StreamsBuilder(new TopologyConfig(new StreamsConfig(config())));
    var strings = Consumed.with(Serdes.String(), Serdes.String());
    var grouped = Grouped.with(Serdes.String(), Serdes.String());
    switch (name) {
      case "wordcount": {
        builder.stream("lines", strings)
            .flatMapValues(line -> Arrays.asList(line.split(" ")))
            .groupBy((key, word) -> word, grouped)
            .count(Materialized.as("word-counts"))
            .toStream()
            .to("wordcount-out", Produced.with(Serdes.String(), Serdes.Long()));
        return new Reference(builder.build(), List.of("lines"),
            List.of(new Output("wordcount-out", KeyKind.PLAIN, 0, true)));
      }
      case "tumbling": {
        windowedCount(builder, "events", "tumbling-counts", "tumbling-out",
            TimeWindows.ofSizeAndGrace(Duration.ofMillis(TUMBLING_SIZE),
                Duration.ofMillis(TUMBLING_GRACE)), TUMBLING_SIZE);
        return new Reference(builder.build(), List.of("events"),
            List.of(new Output("tumbling-out", KeyKind.TIME_WINDOWED, TUMBLING_SIZE, true)));
      }
      case "hopping": {
        windowedCount(builder, "events", "hopping-counts", "hopping-out",
            TimeWindows.ofSizeAndGrace(Duration.ofMillis(HOPPING_SIZE),
                Duration.ofMillis(HOPPING_GRACE)).advanceBy(Duration.ofMillis(HOPPING_ADVANCE)),
            HOPPING_SIZE);
        return new Reference(builder.build(), List.of("events"),
            List.of(new Output("hopping-out", KeyKind.TIME_WINDOWED, HOPPING_SIZE, true)));
      }
      case "session": {
        builder.stream("events", strings)
            .groupByKey(grouped)
            .windowedBy(SessionWindows.ofInactivityGapAndGrace(Duration.ofMillis(SESSION_GAP),
                Duration.ofMillis(SESSION_GRACE)))
            .count(Materialized.as("session-counts"))
            .toStream()
            .to("session-out", Produced.with(
                WindowedSerdes.sessionWindowedSerdeFrom(String.class), Serdes.Long()));
        return new Reference(builder.build(), List.of("events"),
            List.of(new Output("session-out", KeyKind.SESSION_WINDOWED, 0, true)));
      }
      case "stream-table": {
        KTable<String, String> users =
            builder.table("users", strings, Materialized.as("users"));
        KStream<String, String> clicks = builder.stream("clicks", strings);
        clicks.join(users, (click, region) -> click + "@" + region)
            .to("stream-table-join", Produced.with(Serdes.String(), Serdes.String()));
        clicks.leftJoin(users, (click, region) -> click + "@" + (region == null ? "-" : region))
            .to("stream-table-left-join", Produced.with(Serdes.String(), Serdes.String()));
        return new Reference(builder.build(), List.of("users", "clicks"),
            List.of(new Output("stream-table-join", KeyKind.PLAIN, 0, false),
                new Output("stream-table-left-join", KeyKind.PLAIN, 0, false)));
      }
      case "stream-stream": {
        KStream<String, String> left = builder.stream("left", strings);
        KStream<String, String> right = builder.stream("right", strings);
        JoinWindows windows = JoinWindows.ofTimeDifferenceAndGrace(
            Duration.ofMillis(JOIN_DIFFERENCE), Duration.ofMillis(JOIN_GRACE));
        var joined = StreamJoined.with(Serdes.String(), Serdes.String(), Serdes.String());
        left.join(right, (l, r) -> l + "+" + r, windows, joined)
            .to("stream-stream-join", Produced.with(Serdes.String(), Serdes.String()));
        left.leftJoin(right, (l, r) -> l + "+" + (r == null ? "-" : r), windows, joined)
            .to("stream-stream-left-join", Produced.with(Serdes.String(), Serdes.String()));
        return new Reference(builder.build(), List.of("left", "right"),
            List.of(new Output("stream-stream-join", KeyKind.PLAIN, 0, false),
                new Output("stream-stream-left-join", KeyKind.PLAIN, 0, false)));
      }
      case "fraud": {
        var counts = builder.stream("transactions", strings)
            .filter((user, tx) -> tx.startsWith("withdrawal:"))
            .groupByKey(grouped)
            .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(FRAUD_SIZE),
                Duration.ofMillis(FRAUD_GRACE)).advanceBy(Duration.ofMillis(FRAUD_ADVANCE)))
            .count(Materialized.as("withdrawals-5min"))
            .toStream();
        counts.to("fraud-counts", Produced.with(
            WindowedSerdes.timeWindowedSerdeFrom(String.class, FRAUD_SIZE), Serdes.Long()));
        counts.filter((window, n) -> n != null && n > FRAUD_THRESHOLD)
            .map((window, n) -> KeyValue.pair(window.key(),
                window.key() + " made " + n + " withdrawals from " + window.window().start()))
            .to("fraud-alerts", Produced.with(Serdes.String(), Serdes.String()));
        return new Reference(builder.build(), List.of("transactions"),
            List.of(new Output("fraud-counts", KeyKind.TIME_WINDOWED, FRAUD_SIZE, true),
                new Output("fraud-alerts", KeyKind.PLAIN, 0, false)));
      }
      default:
        throw new IllegalArgumentException("unknown topology " + name);
    }
  }

  private static void windowedCount(StreamsBuilder builder, String input, String store,
      String output, TimeWindows windows, long size) {
    builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
        .groupByKey(Grouped.with(Serdes.String(), Serdes.String()))
        .windowedBy(windows)
        .count(Materialized.as(store))
        .toStream()
        .to(output, Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, size),
            Serdes.Long()));
  }

  static final List<String> ALL = List.of("wordcount", "tumbling", "hopping", "session",
      "stream-table", "stream-stream", "fraud");

  static Properties config() {
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "streams-reference");
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    // No record cache: every update is forwarded, as strom's test driver does.
    props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
    props.put(StreamsConfig.DSL_STORE_SUPPLIERS_CLASS_CONFIG,
        BuiltInDslStoreSuppliers.InMemoryDslStoreSuppliers.class);
    // A left join's unmatched records are checked for on every record, not once a second
    // of wall-clock time (which the driver's clock never advances).
    props.put("__emit.interval.ms.kstreams.outer.join.spurious.results.fix__", 0L);
    return props;
  }

  static List<Input> readInput(Path path) throws IOException {
    List<Input> records = new ArrayList<>();
    try (BufferedReader reader = Files.newBufferedReader(path, StandardCharsets.UTF_8)) {
      String line;
      while ((line = reader.readLine()) != null) {
        if (line.isBlank()) {
          continue;
        }
        JsonNode node = JSON.readTree(line);
        records.add(new Input(node.get("topic").asText(), text(node.get("key")),
            text(node.get("value")), node.get("ts").asLong()));
      }
    }
    return records;
  }

  private static String text(JsonNode node) {
    return node == null || node.isNull() ? null : node.asText();
  }

  /** Runs `name` over the records of its input topics; calls `sink` with what came out. */
  static long drive(String name, List<Input> input, ObjectNodeSink sink) throws IOException {
    Reference reference = reference(name);
    long out = 0;
    try (TopologyTestDriver driver = new TopologyTestDriver(reference.topology(), config())) {
      Map<String, TestInputTopic<String, String>> inputs = new LinkedHashMap<>();
      for (String topic : reference.inputs()) {
        inputs.put(topic,
            driver.createInputTopic(topic, new StringSerializer(), new StringSerializer()));
      }
      List<TestOutputTopic<Object, Object>> outputs = new ArrayList<>();
      for (Output output : reference.outputs()) {
        outputs.add(driver.createOutputTopic(output.topic(), keys(output), values(output)));
      }
      long piped = 0;
      for (Input record : input) {
        TestInputTopic<String, String> topic = inputs.get(record.topic());
        if (topic == null) {
          continue;
        }
        topic.pipeInput(record.key(), record.value(), record.ts());
        // Drained as it goes, so that a long input does not pile up in the driver.
        if (++piped % 10_000 == 0) {
          out += drain(name, reference, outputs, sink);
        }
      }
      out += drain(name, reference, outputs, sink);
    }
    return out;
  }

  @SuppressWarnings("unchecked")
  private static Deserializer<Object> keys(Output output) {
    Deserializer<?> keys = switch (output.keys()) {
      case PLAIN -> new StringDeserializer();
      case TIME_WINDOWED -> new TimeWindowedDeserializer<>(new StringDeserializer(),
          output.windowSize());
      case SESSION_WINDOWED -> new SessionWindowedDeserializer<>(new StringDeserializer());
    };
    return (Deserializer<Object>) keys;
  }

  @SuppressWarnings("unchecked")
  private static Deserializer<Object> values(Output output) {
    Deserializer<?> values = output.longValues() ? Serdes.Long().deserializer()
        : new StringDeserializer();
    return (Deserializer<Object>) values;
  }

  interface ObjectNodeSink {
    void accept(ObjectNode record) throws IOException;
  }

  private static long drain(String name, Reference reference,
      List<TestOutputTopic<Object, Object>> outputs, ObjectNodeSink sink) throws IOException {
    long out = 0;
    for (int i = 0; i < outputs.size(); i++) {
      for (TestRecord<Object, Object> record : outputs.get(i).readRecordsToList()) {
        out++;
        if (sink == null) {
          continue;
        }
        ObjectNode node = JSON.createObjectNode();
        node.put("topology", name);
        node.put("topic", reference.outputs().get(i).topic());
        Object key = record.key();
        if (key instanceof Windowed<?> windowed) {
          node.put("key", (String) windowed.key());
          node.put("start", windowed.window().start());
          node.put("end", windowed.window().end());
        } else {
          node.put("key", (String) key);
        }
        Object value = record.value();
        if (value == null) {
          node.putNull("value");
        } else if (value instanceof Long n) {
          node.put("value", n);
        } else {
          node.put("value", (String) value);
        }
        node.put("ts", record.timestamp());
        sink.accept(node);
      }
    }
    return out;
  }

  public static void main(String[] args) throws IOException {
    if (args.length < 2 || !(args[0].equals("run") || args[0].equals("time"))) {
      System.err.println("usage: StreamsReference run INPUT OUTPUT [TOPOLOGY...] | "
          + "time INPUT TOPOLOGY...");
      System.exit(2);
    }
    List<Input> input = readInput(Path.of(args[1]));
    if (args[0].equals("run")) {
      if (args.length < 3) {
        System.err.println("usage: StreamsReference run INPUT OUTPUT [TOPOLOGY...]");
        System.exit(2);
      }
      List<String> names = args.length > 3
          ? Arrays.asList(args).subList(3, args.length) : ALL;
      try (Writer writer = new BufferedWriter(new OutputStreamWriter(
          Files.newOutputStream(Path.of(args[2])), StandardCharsets.UTF_8))) {
        for (String name : names) {
          drive(name, input, node -> {
            writer.write(JSON.writeValueAsString(node));
            writer.write('\n');
          });
        }
      }
    } else {
      for (String name : Arrays.asList(args).subList(2, args.length)) {
        List<String> topics = reference(name).inputs();
        long in = input.stream().filter(r -> topics.contains(r.topic())).count();
        long started = System.nanoTime();
        long out = drive(name, input, null);
        long ms = (System.nanoTime() - started) / 1_000_000;
        System.out.println(name + " " + in + " " + out + " " + ms);
      }
    }
  }
}
