package strom.reference;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.function.BooleanSupplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * One scenario's run against one broker: the names it may use (all start with the scenario's
 * name, as both brokers are shared by every scenario), the clients it opens (closed at its end)
 * and the helpers that wait for a state instead of for a time.
 */
final class Session implements AutoCloseable {
    /** How long any awaited state may take before the scenario records that it never came. */
    static final Duration DEADLINE = Duration.ofSeconds(30);
    /** One poll while waiting for a state: short, so that two consumers take turns. */
    static final Duration TURN = Duration.ofMillis(50);

    final String name;
    final String bootstrap;
    private final List<AutoCloseable> open = new ArrayList<>();

    Session(String name, String bootstrap) {
        this.name = name;
        this.bootstrap = bootstrap;
    }

    /** A topic, group or transactional id of this scenario. */
    String id(String suffix) {
        return name + "_" + suffix;
    }

    Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, id("admin"));
        return keep(Admin.create(p));
    }

    /** A producer; `extra` overrides the defaults (acks=all, idempotent, no linger). */
    KafkaProducer<String, String> producer(Map<String, Object> extra) {
        Map<String, Object> p = new TreeMap<>();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, id("producer"));
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 20_000);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 20_000);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        p.putAll(extra);
        return keep(new KafkaProducer<>(p, new StringSerializer(), new StringSerializer()));
    }

    /**
     * A consumer reading from the earliest offset and committing only when told; `extra`
     * overrides. Heartbeats are frequent so that a rebalance is seen within a turn or two.
     */
    KafkaConsumer<String, String> consumer(Map<String, Object> extra) {
        Map<String, Object> p = new TreeMap<>();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, id("consumer"));
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 100);
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10_000);
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100);
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 20_000);
        p.putAll(extra);
        return keep(new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer()));
    }

    /** Creates a topic of this scenario whose records are never deleted for their age. */
    String topic(Admin admin, String suffix, int partitions) throws Exception {
        String topic = id(suffix);
        NewTopic spec = new NewTopic(topic, partitions, (short) 1)
                .configs(Map.of("retention.ms", "-1"));
        admin.createTopics(List.of(spec)).all().get();
        return topic;
    }

    /** Polls `consumers` in turn until `state` holds; a state never reached ends the scenario. */
    static void await(String what, BooleanSupplier state, Collection<KafkaConsumer<String, String>> consumers) {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (!state.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new Unreached(what);
            }
            for (KafkaConsumer<String, String> c : consumers) {
                c.poll(TURN);
            }
        }
    }

    /** Checks `state` until it holds, without polling anyone. */
    static void await(String what, Check state) throws Exception {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (!state.holds()) {
            if (System.nanoTime() > deadline) {
                throw new Unreached(what);
            }
            // The state lives on the broker: ask again a little later rather than flood it.
            Thread.sleep(20);
        }
    }

    /** A state on the broker, asked for again until it holds. */
    interface Check {
        boolean holds() throws Exception;
    }

    /**
     * Reads `partitions` from their beginning until the consumer's position reaches the end
     * offsets it sees (the high watermark, or the last stable offset under read_committed).
     */
    static List<Map<String, Object>> readAll(KafkaConsumer<String, String> consumer, Collection<TopicPartition> partitions) {
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
        List<Map<String, Object>> records = new ArrayList<>();
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (!ends.entrySet().stream().allMatch(e -> consumer.position(e.getKey()) >= e.getValue())) {
            if (System.nanoTime() > deadline) {
                throw new Unreached("reading to the end offsets " + ends);
            }
            for (ConsumerRecord<String, String> r : consumer.poll(TURN)) {
                records.add(record(r));
            }
        }
        return records;
    }

    /** A record as it was read back: where, what, and when. */
    static Map<String, Object> record(ConsumerRecord<String, String> r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("partition", r.partition());
        m.put("offset", r.offset());
        m.put("key", r.key());
        m.put("value", r.value());
        List<List<String>> headers = new ArrayList<>();
        for (Header h : r.headers()) {
            headers.add(java.util.Arrays.asList(h.key(), h.value() == null ? null : new String(h.value(), java.nio.charset.StandardCharsets.UTF_8)));
        }
        m.put("headers", headers);
        return m;
    }

    /** The partition numbers of `partitions`, sorted. */
    static List<Integer> numbers(Collection<TopicPartition> partitions) {
        return partitions.stream().map(TopicPartition::partition).sorted().toList();
    }

    /** Partitions 0..count-1 of `topic`. */
    static List<TopicPartition> partitions(String topic, int count) {
        List<TopicPartition> list = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            list.add(new TopicPartition(topic, i));
        }
        return list;
    }

    /** The name of the error `t` stands for (Kafka's exception class, unwrapped). */
    static String error(Throwable t) {
        while ((t instanceof ExecutionException || t.getClass() == org.apache.kafka.common.KafkaException.class)
                && t.getCause() != null) {
            t = t.getCause();
        }
        return t.getClass().getSimpleName();
    }

    /** Runs `call`, recording "ok" or the name of the error it failed with. */
    static Object outcome(Call call) {
        try {
            Object value = call.run();
            return value == null ? "ok" : value;
        } catch (Exception e) {
            return Map.of("error", error(e));
        }
    }

    /** A step whose failure is an observation. */
    interface Call {
        Object run() throws Exception;
    }

    /** Only the names in `names` that belong to this scenario, sorted. */
    List<String> own(Collection<String> names) {
        return names.stream().filter(n -> n.startsWith(name + "_")).sorted().toList();
    }

    static Set<TopicPartition> set(TopicPartition... partitions) {
        return Set.of(partitions);
    }

    private <T extends AutoCloseable> T keep(T client) {
        open.add(client);
        return client;
    }

    /** Closes every client still open, newest first. */
    @Override
    public void close() {
        for (int i = open.size() - 1; i >= 0; i--) {
            try {
                open.get(i).close();
            } catch (Exception e) {
                // Closing twice, or a client already fenced: nothing left to observe.
            }
        }
    }

    /** A state a scenario waited for in vain: recorded, and the scenario ends there. */
    static final class Unreached extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Unreached(String what) {
            super(what);
        }
    }
}
