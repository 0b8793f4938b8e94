package strom.reference;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.header.internals.RecordHeaders;

/** Topics administered, records produced to them and offsets listed, with the Java client. */
final class Topics {
    private Topics() {}

    /** Fixed record timestamps (2023-11-14), so that read-back and time lookups repeat. */
    static final long T0 = 1_700_000_000_000L;

    static void register(Map<String, Main.Scenario> all) {
        all.put("java_produce_idempotent", Topics::produceIdempotent);
        all.put("java_produce_too_large", Topics::produceTooLarge);
        all.put("java_admin_topic_configs", Topics::topicConfigs);
        all.put("java_admin_partitions", Topics::partitions);
        all.put("java_list_offsets", Topics::listOffsets);
    }

    /** An idempotent producer with acks=all: each record's offset, and the records read back. */
    static void produceIdempotent(Session s, Map<String, Object> seen) throws Exception {
        Admin admin = s.admin();
        String topic = s.topic(admin, "in", 2);
        KafkaProducer<String, String> producer = s.producer(Map.of(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true));
        List<Map<String, Object>> sent = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            RecordHeaders headers = new RecordHeaders();
            if (i % 3 == 0) {
                headers.add(new RecordHeader("trace", ("t" + i).getBytes()));
                headers.add(new RecordHeader("empty", null));
            }
            String key = i == 4 ? null : "k" + (i % 2);
            String value = i == 5 ? null : "v" + i;
            RecordMetadata m = producer.send(new ProducerRecord<>(topic, i % 2, T0 + i, key, value, headers)).get();
            sent.add(Map.of("partition", m.partition(), "offset", m.offset(), "timestamp", m.timestamp()));
        }
        // By key: the client's partitioner (murmur2) picks the partition; the broker the offset.
        for (String key : List.of("alpha", "beta", "gamma")) {
            RecordMetadata m = producer.send(new ProducerRecord<>(topic, null, T0, key, "by-key")).get();
            sent.add(Map.of("key", key, "partition", m.partition(), "offset", m.offset()));
        }
        seen.put("sent", sent);
        KafkaConsumer<String, String> consumer = s.consumer(Map.of());
        List<Map<String, Object>> read = Session.readAll(consumer, Session.partitions(topic, 2));
        read.sort((a, b) -> a.get("partition").equals(b.get("partition"))
                ? Long.compare((Long) a.get("offset"), (Long) b.get("offset"))
                : Integer.compare((Integer) a.get("partition"), (Integer) b.get("partition")));
        seen.put("read", read);
    }

    /** A record above the topic's max.message.bytes is refused, and leaves no offset behind. */
    static void produceTooLarge(Session s, Map<String, Object> seen) throws Exception {
        Admin admin = s.admin();
        String topic = s.id("small");
        admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1)
                .configs(Map.of("max.message.bytes", "1024")))).all().get();
        KafkaProducer<String, String> producer = s.producer(Map.of());
        seen.put("large", Session.outcome(() -> producer.send(new ProducerRecord<>(topic, "x".repeat(4096))).get().offset()));
        seen.put("small", Session.outcome(() -> producer.send(new ProducerRecord<>(topic, "y")).get().offset()));
        // Larger than the client's own max.request.size: refused before it is sent.
        seen.put("over_request_size", Session.outcome(() -> producer.send(new ProducerRecord<>(topic, "z".repeat(2 << 20))).get().offset()));
        seen.put("end_offsets", admin.listOffsets(Map.of(new TopicPartition(topic, 0), OffsetSpec.latest()))
                .all().get().get(new TopicPartition(topic, 0)).offset());
    }

    /** The keys this scenario sets, and one it leaves at its default. */
    static final List<String> KEYS = List.of("cleanup.policy", "retention.ms", "max.message.bytes", "compression.type");

    /** Creating topics with configs, the errors of bad creations, and describing configs. */
    static void topicConfigs(Session s, Map<String, Object> seen) throws Exception {
        Admin admin = s.admin();
        String topic = s.id("compacted");
        Map<String, String> configs = Map.of("cleanup.policy", "compact", "retention.ms", "3600000",
                "max.message.bytes", "2048");
        CreateTopicsResult created = admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1).configs(configs)));
        created.all().get();
        seen.put("partitions", created.numPartitions(topic).get());
        seen.put("replication_factor", created.replicationFactor(topic).get());
        seen.put("created_configs", configs(created.config(topic).get()));
        seen.put("duplicate", Session.outcome(() -> admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get()));
        seen.put("invalid_name", Session.outcome(() -> admin.createTopics(List.of(new NewTopic(s.id("bad name!"), 1, (short) 1))).all().get()));
        seen.put("zero_partitions", Session.outcome(() -> admin.createTopics(List.of(new NewTopic(s.id("zero"), 0, (short) 1))).all().get()));
        seen.put("bad_config_value", Session.outcome(() -> admin.createTopics(List.of(new NewTopic(s.id("badvalue"), 1, (short) 1)
                .configs(Map.of("retention.ms", "soon")))).all().get()));
        seen.put("unknown_config", Session.outcome(() -> admin.createTopics(List.of(new NewTopic(s.id("badkey"), 1, (short) 1)
                .configs(Map.of("no.such.config", "1")))).all().get()));
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        seen.put("described", configs(admin.describeConfigs(List.of(resource)).all().get().get(resource)));
        admin.incrementalAlterConfigs(Map.of(resource, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("max.message.bytes", ""), AlterConfigOp.OpType.DELETE)))).all().get();
        seen.put("altered", configs(admin.describeConfigs(List.of(resource)).all().get().get(resource)));
        ConfigResource missing = new ConfigResource(ConfigResource.Type.TOPIC, s.id("missing"));
        seen.put("describe_missing", Session.outcome(() -> admin.describeConfigs(List.of(missing)).all().get().size()));
        TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
        seen.put("described_topic", describe(d));
        seen.put("listed", s.own(admin.listTopics().names().get()));
    }

    /** The scenario's keys of `config`: value, source, and whether it is the default. */
    static Map<String, Object> configs(Config config) {
        Map<String, Object> out = new TreeMap<>();
        for (String key : KEYS) {
            ConfigEntry e = config.get(key);
            if (e == null) {
                out.put(key, null);
                continue;
            }
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("value", e.value());
            entry.put("source", e.source());
            entry.put("default", e.isDefault());
            entry.put("read_only", e.isReadOnly());
            entry.put("sensitive", e.isSensitive());
            out.put(key, entry);
        }
        return out;
    }

    static Map<String, Object> describe(TopicDescription d) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("name", d.name());
        out.put("internal", d.isInternal());
        List<Object> partitions = new ArrayList<>();
        d.partitions().forEach(p -> partitions.add(Map.of("partition", p.partition(),
                "replicas", p.replicas().size(), "isr", p.isr().size(), "has_leader", p.leader() != null)));
        out.put("partitions", partitions);
        return out;
    }

    /** Growing a topic's partitions, refusing to shrink it, and deleting it. */
    static void partitions(Session s, Map<String, Object> seen) throws Exception {
        Admin admin = s.admin();
        String topic = s.topic(admin, "grown", 1);
        seen.put("grow", Session.outcome(() -> admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(3))).all().get()));
        Session.await("three partitions described", () ->
                admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size() == 3);
        seen.put("described", describe(admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic)));
        seen.put("shrink", Session.outcome(() -> admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(2))).all().get()));
        seen.put("same", Session.outcome(() -> admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(3))).all().get()));
        seen.put("grow_missing", Session.outcome(() -> admin.createPartitions(Map.of(s.id("missing"), NewPartitions.increaseTo(2))).all().get()));
        KafkaProducer<String, String> producer = s.producer(Map.of());
        seen.put("produce_new_partition", Session.outcome(() -> {
            RecordMetadata m = producer.send(new ProducerRecord<>(topic, 2, "k", "v")).get();
            return Map.of("partition", m.partition(), "offset", m.offset());
        }));
        producer.close();
        seen.put("listed_before", s.own(admin.listTopics().names().get()));
        seen.put("delete", Session.outcome(() -> admin.deleteTopics(List.of(topic)).all().get()));
        Session.await("the deleted topic gone from the list", () -> !admin.listTopics().names().get().contains(topic));
        seen.put("listed_after", s.own(admin.listTopics().names().get()));
        seen.put("delete_again", Session.outcome(() -> admin.deleteTopics(List.of(topic)).all().get()));
        seen.put("describe_deleted", Session.outcome(() -> admin.describeTopics(List.of(topic)).allTopicNames().get().size()));
    }

    /** Earliest, latest, max-timestamp and by-timestamp offsets, by Admin and by consumer. */
    static void listOffsets(Session s, Map<String, Object> seen) throws Exception {
        Admin admin = s.admin();
        String topic = s.topic(admin, "timed", 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        seen.put("empty", offsets(admin, tp, Map.of("earliest", OffsetSpec.earliest(), "latest", OffsetSpec.latest(),
                "max_timestamp", OffsetSpec.maxTimestamp())));
        // Two batches, the largest timestamp in the middle of the first: a lookup by time finds
        // the first record at or after the time, not the first batch.
        KafkaProducer<String, String> producer = s.producer(Map.of(ProducerConfig.LINGER_MS_CONFIG, 5_000));
        long[][] batches = {{1000, 5000, 3000}, {2000, 4000}};
        for (long[] batch : batches) {
            for (long t : batch) {
                producer.send(new ProducerRecord<>(topic, 0, T0 + t, "k", "at " + t));
            }
            producer.flush();
        }
        Map<String, OffsetSpec> specs = new TreeMap<>();
        specs.put("earliest", OffsetSpec.earliest());
        specs.put("latest", OffsetSpec.latest());
        specs.put("max_timestamp", OffsetSpec.maxTimestamp());
        for (long t : new long[] {0, 1000, 2500, 4500, 5000, 5001}) {
            specs.put("at_" + t, OffsetSpec.forTimestamp(T0 + t));
        }
        seen.put("filled", offsets(admin, tp, specs));
        KafkaConsumer<String, String> consumer = s.consumer(Map.of());
        seen.put("consumer_beginning", consumer.beginningOffsets(List.of(tp)).get(tp));
        seen.put("consumer_end", consumer.endOffsets(List.of(tp)).get(tp));
        Map<String, Object> times = new TreeMap<>();
        for (long t : new long[] {2500, 5001}) {
            var found = consumer.offsetsForTimes(Map.of(tp, T0 + t)).get(tp);
            times.put("at_" + t, found == null ? null : List.of(found.offset(), found.timestamp() - T0));
        }
        seen.put("consumer_for_times", times);
    }

    /** Each spec's offset and timestamp (relative to T0 when there is one). */
    static Map<String, Object> offsets(Admin admin, TopicPartition tp, Map<String, OffsetSpec> specs) throws Exception {
        Map<String, Object> out = new TreeMap<>();
        for (Map.Entry<String, OffsetSpec> e : specs.entrySet()) {
            out.put(e.getKey(), Session.outcome(() -> {
                ListOffsetsResultInfo info = admin.listOffsets(Map.of(tp, e.getValue())).all().get().get(tp);
                long ts = info.timestamp();
                return List.of(info.offset(), ts >= T0 ? ts - T0 : ts);
            }));
        }
        return out;
    }
}
