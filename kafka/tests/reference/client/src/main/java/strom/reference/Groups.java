package strom.reference;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * Consumer groups joined, rebalanced and left, and offsets committed, with the classic group
 * protocol. Members are told apart by the role the scenario gave them ("a", "b"), never by
 * the member ids the broker hands out; where the assignor's choice between members depends on
 * those ids, the scenario records the sorted list of what each member owns.
 */
final class Groups {
    private Groups() {}

    static void register(Map<String, Main.Scenario> all) {
        all.put("java_group_range", Groups::range);
        all.put("java_group_cooperative", Groups::cooperative);
        all.put("java_group_commit", Groups::commit);
    }

    static KafkaConsumer<String, String> member(Session s, String group, String role, Class<?> assignor) {
        return s.consumer(Map.of(ConsumerConfig.GROUP_ID_CONFIG, group,
                ConsumerConfig.CLIENT_ID_CONFIG, s.id(role),
                ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignor.getName()));
    }

    static int generation(KafkaConsumer<String, String> c) {
        return c.groupMetadata().generationId();
    }

    /** What each member owns, sorted, so that it does not depend on which member is which. */
    static List<List<Integer>> owned(Collection<KafkaConsumer<String, String>> members) {
        List<List<Integer>> out = new ArrayList<>();
        for (KafkaConsumer<String, String> c : members) {
            out.add(Session.numbers(c.assignment()));
        }
        out.sort((x, y) -> x.toString().compareTo(y.toString()));
        return out;
    }

    /** Range assignment as a second member joins and as one leaves. */
    static void range(Session s, Map<String, Object> seen) throws Exception {
        Admin admin = s.admin();
        String topic = s.topic(admin, "in", 4);
        String group = s.id("group");
        KafkaConsumer<String, String> a = member(s, group, "a", RangeAssignor.class);
        a.subscribe(List.of(topic));
        Session.await("a alone owning every partition", () -> a.assignment().size() == 4, List.of(a));
        seen.put("alone", Map.of("a", Session.numbers(a.assignment()), "generation", generation(a)));
        KafkaConsumer<String, String> b = member(s, group, "b", RangeAssignor.class);
        b.subscribe(List.of(topic));
        Session.await("a and b owning two partitions each in one generation",
                () -> a.assignment().size() == 2 && b.assignment().size() == 2 && generation(a) == generation(b),
                List.of(a, b));
        seen.put("joined", Map.of("owned", owned(List.of(a, b)), "generation", generation(a)));
        b.close();
        Session.await("a owning every partition again", () -> a.assignment().size() == 4, List.of(a));
        seen.put("left", Map.of("a", Session.numbers(a.assignment()), "generation", generation(a)));
    }

    /** A rebalance listener's calls, in order; empty calls (cooperative's no-change) left out. */
    static final class Listener implements ConsumerRebalanceListener {
        final List<String> calls = new ArrayList<>();

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) {
                calls.add("revoked " + Session.numbers(partitions));
            }
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) {
                calls.add("assigned " + Session.numbers(partitions));
            }
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty()) {
                calls.add("lost " + Session.numbers(partitions));
            }
        }
    }

    /**
     * Cooperative-sticky: a second member takes half the partitions in two rebalances (the
     * first revokes, the second assigns) while the first keeps the rest throughout; when it
     * leaves, the first takes them back without giving up its own.
     */
    static void cooperative(Session s, Map<String, Object> seen) throws Exception {
        Admin admin = s.admin();
        String topic = s.topic(admin, "in", 4);
        String group = s.id("group");
        Listener la = new Listener();
        Listener lb = new Listener();
        KafkaConsumer<String, String> a = member(s, group, "a", CooperativeStickyAssignor.class);
        a.subscribe(List.of(topic), la);
        Session.await("a alone owning every partition", () -> a.assignment().size() == 4, List.of(a));
        seen.put("alone", Session.numbers(a.assignment()));
        KafkaConsumer<String, String> b = member(s, group, "b", CooperativeStickyAssignor.class);
        b.subscribe(List.of(topic), lb);
        Session.await("a and b owning two partitions each in one generation",
                () -> a.assignment().size() == 2 && b.assignment().size() == 2 && generation(a) == generation(b),
                List.of(a, b));
        Map<String, Object> joined = new LinkedHashMap<>();
        joined.put("owned", owned(List.of(a, b)));
        joined.put("a_kept_its_own", Set.copyOf(Session.numbers(a.assignment())).size() == 2);
        seen.put("joined", joined);
        List<Integer> bOwned = Session.numbers(b.assignment());
        b.close();
        Session.await("a owning every partition again", () -> a.assignment().size() == 4, List.of(a));
        seen.put("left", Session.numbers(a.assignment()));
        // The calls, with b's partitions named "b's" so that the record does not depend on
        // which two the assignor moved.
        seen.put("a_calls", relabel(la.calls, bOwned));
        seen.put("b_calls", relabel(lb.calls, bOwned));
    }

    static List<String> relabel(List<String> calls, List<Integer> bOwned) {
        return calls.stream().map(c -> c.replace(bOwned.toString(), "b's")).toList();
    }

    /** Offsets committed by a member, fetched back, and where the next member starts. */
    static void commit(Session s, Map<String, Object> seen) throws Exception {
        Admin admin = s.admin();
        String topic = s.topic(admin, "in", 2);
        String group = s.id("group");
        KafkaProducer<String, String> producer = s.producer(Map.of());
        for (int i = 0; i < 8; i++) {
            producer.send(new ProducerRecord<>(topic, i < 5 ? 0 : 1, "k", "v" + i)).get();
        }
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        KafkaConsumer<String, String> a = member(s, group, "a", RangeAssignor.class);
        seen.put("committed_before", committed(a, Set.of(p0, p1)));
        a.subscribe(List.of(topic));
        List<Object> read = new ArrayList<>();
        Session.await("a reading all 8 records", () -> {
            a.poll(Session.TURN).forEach(r -> read.add(List.of(r.partition(), r.offset())));
            return read.size() >= 8;
        }, List.of());
        seen.put("read", read.size());
        a.commitSync();
        seen.put("committed_positions", committed(a, Set.of(p0, p1)));
        a.commitSync(Map.of(p0, new OffsetAndMetadata(2, "two")));
        seen.put("committed_p0_with_metadata", committed(a, Set.of(p0, p1)));
        a.close();
        seen.put("listed_after_close", GroupAdmin.listed(admin, group));
        KafkaConsumer<String, String> b = member(s, group, "b", RangeAssignor.class);
        b.subscribe(List.of(topic));
        // What b reads from its first poll on: it starts where a's commits left the group.
        List<Object> first = new ArrayList<>();
        Session.await("b reading the records after the committed offsets", () -> {
            b.poll(Session.TURN).forEach(r -> first.add(List.of(r.partition(), r.offset(), r.value())));
            return first.size() >= 3;
        }, List.of());
        first.sort((x, y) -> x.toString().compareTo(y.toString()));
        seen.put("b_read", first);
    }

    static Map<String, Object> committed(KafkaConsumer<String, String> c, Set<TopicPartition> partitions) {
        Map<String, Object> out = new java.util.TreeMap<>();
        c.committed(partitions).forEach((tp, om) -> out.put(String.valueOf(tp.partition()), om == null ? null
                : List.of(om.offset(), om.metadata(), om.leaderEpoch().map(String::valueOf).orElse("none"))));
        return out;
    }
}
