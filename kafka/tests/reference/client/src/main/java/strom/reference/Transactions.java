package strom.reference;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/** Transactions committed, aborted, fenced, left open, and carrying a group's offsets. */
final class Transactions {
    private Transactions() {}

    static void register(Map<String, Main.Scenario> all) {
        all.put("java_txn_commit_abort", Transactions::commitAbort);
        all.put("java_txn_fencing", Transactions::fencing);
        all.put("java_txn_offsets", Transactions::offsets);
        all.put("java_txn_open", Transactions::open);
    }

    static KafkaProducer<String, String> transactional(Session s, String id) {
        return s.producer(Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, s.id(id),
                ProducerConfig.CLIENT_ID_CONFIG, s.id(id)));
    }

    static KafkaConsumer<String, String> reader(Session s, String isolation) {
        return s.consumer(Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation));
    }

    /** The partition's records as each isolation level reads them, with the end offsets. */
    static void both(Session s, Map<String, Object> seen, List<TopicPartition> partitions) throws Exception {
        KafkaConsumer<String, String> committed = reader(s, "read_committed");
        KafkaConsumer<String, String> uncommitted = reader(s, "read_uncommitted");
        // Kafka writes a transaction's markers after EndTxn has answered: wait until no
        // transaction is open (the last stable offset has reached the high watermark).
        Session.await("the last stable offset at the high watermark",
                () -> committed.endOffsets(partitions).equals(uncommitted.endOffsets(partitions)));
        seen.put("end_offset", committed.endOffsets(partitions).get(partitions.get(0)));
        seen.put("read_committed", Session.readAll(committed, partitions));
        seen.put("read_uncommitted", Session.readAll(uncommitted, partitions));
        seen.put("position_read_committed", committed.position(partitions.get(0)));
    }

    /** Committed, aborted and committed again: what each isolation level reads, and where. */
    static void commitAbort(Session s, Map<String, Object> seen) throws Exception {
        Admin admin = s.admin();
        String topic = s.topic(admin, "out", 1);
        KafkaProducer<String, String> p = transactional(s, "tx");
        p.initTransactions();
        String[][] transactions = {{"c1", "c2", "c3"}, {"a1", "a2"}, {"c4"}};
        List<Object> offsets = new ArrayList<>();
        for (int t = 0; t < transactions.length; t++) {
            p.beginTransaction();
            for (String v : transactions[t]) {
                offsets.add(p.send(new ProducerRecord<>(topic, 0, "k", v)).get().offset());
            }
            if (t == 1) {
                p.abortTransaction();
            } else {
                p.commitTransaction();
            }
        }
        seen.put("sent_offsets", offsets);
        both(s, seen, Session.partitions(topic, 1));
    }

    /** A second producer with the same transactional.id fences the first and aborts its work. */
    static void fencing(Session s, Map<String, Object> seen) throws Exception {
        Admin admin = s.admin();
        String topic = s.topic(admin, "out", 1);
        KafkaProducer<String, String> zombie = transactional(s, "tx");
        zombie.initTransactions();
        zombie.beginTransaction();
        seen.put("zombie_send", zombie.send(new ProducerRecord<>(topic, 0, "k", "zombie")).get().offset());
        KafkaProducer<String, String> successor = transactional(s, "tx");
        successor.initTransactions();
        seen.put("zombie_commit", Session.outcome(() -> {
            zombie.commitTransaction();
            return null;
        }));
        seen.put("zombie_send_after", Session.outcome(() -> {
            zombie.beginTransaction();
            return zombie.send(new ProducerRecord<>(topic, 0, "k", "late")).get().offset();
        }));
        successor.beginTransaction();
        seen.put("successor_send", successor.send(new ProducerRecord<>(topic, 0, "k", "successor")).get().offset());
        successor.commitTransaction();
        both(s, seen, Session.partitions(topic, 1));
    }

    /**
     * A consumer's offsets sent with a transaction: committed with it, dropped with an abort,
     * and invisible to the group until the transaction ends.
     */
    static void offsets(Session s, Map<String, Object> seen) throws Exception {
        Admin admin = s.admin();
        String in = s.topic(admin, "in", 1);
        String out = s.topic(admin, "out", 1);
        TopicPartition tp = new TopicPartition(in, 0);
        KafkaProducer<String, String> plain = s.producer(Map.of());
        for (int i = 0; i < 4; i++) {
            plain.send(new ProducerRecord<>(in, 0, "k", "in" + i)).get();
        }
        KafkaConsumer<String, String> c = s.consumer(Map.of(ConsumerConfig.GROUP_ID_CONFIG, s.id("group"),
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
                ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, RangeAssignor.class.getName()));
        c.subscribe(List.of(in));
        List<Long> read = new ArrayList<>();
        Session.await("the member reading the input", () -> {
            c.poll(Session.TURN).forEach(r -> read.add(r.offset()));
            return read.size() >= 4;
        }, List.of());
        KafkaProducer<String, String> p = transactional(s, "tx");
        p.initTransactions();
        p.beginTransaction();
        p.send(new ProducerRecord<>(out, 0, "k", "kept")).get();
        p.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(2, "in txn")), c.groupMetadata());
        // Kafka answers a fetch of offsets a transaction holds "unstable" until it ends, and the
        // consumer asks again until its timeout.
        seen.put("committed_while_open", Session.outcome(() -> c.committed(Set.of(tp), java.time.Duration.ofSeconds(1)).get(tp) == null ? "none" : "visible"));
        p.commitTransaction();
        seen.put("committed_after_commit", Groups.committed(c, Set.of(tp)));
        seen.put("listed_after_commit", GroupAdmin.listed(admin, s.id("group")));
        p.beginTransaction();
        p.send(new ProducerRecord<>(out, 0, "k", "dropped")).get();
        p.sendOffsetsToTransaction(Map.of(tp, new OffsetAndMetadata(4)), c.groupMetadata());
        p.abortTransaction();
        seen.put("committed_after_abort", Groups.committed(c, Set.of(tp)));
        seen.put("listed_after_abort", GroupAdmin.listed(admin, s.id("group")));
        KafkaConsumer<String, String> outReader = reader(s, "read_committed");
        List<TopicPartition> outPartitions = Session.partitions(out, 1);
        KafkaConsumer<String, String> outAll = reader(s, "read_uncommitted");
        Session.await("no transaction open on the output",
                () -> outReader.endOffsets(outPartitions).equals(outAll.endOffsets(outPartitions)));
        seen.put("output_read_committed", Session.readAll(outReader, outPartitions));
    }

    /** An open transaction holds read_committed readers at the last stable offset. */
    static void open(Session s, Map<String, Object> seen) throws Exception {
        Admin admin = s.admin();
        String topic = s.topic(admin, "out", 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        List<TopicPartition> partitions = List.of(tp);
        KafkaProducer<String, String> plain = s.producer(Map.of());
        plain.send(new ProducerRecord<>(topic, 0, "k", "before1")).get();
        plain.send(new ProducerRecord<>(topic, 0, "k", "before2")).get();
        KafkaProducer<String, String> p = transactional(s, "tx");
        p.initTransactions();
        p.beginTransaction();
        for (int i = 0; i < 3; i++) {
            p.send(new ProducerRecord<>(topic, 0, "k", "open" + i)).get();
        }
        plain.send(new ProducerRecord<>(topic, 0, "k", "after")).get();
        KafkaConsumer<String, String> committed = reader(s, "read_committed");
        KafkaConsumer<String, String> uncommitted = reader(s, "read_uncommitted");
        seen.put("end_offset_read_committed", committed.endOffsets(partitions).get(tp));
        seen.put("end_offset_read_uncommitted", uncommitted.endOffsets(partitions).get(tp));
        seen.put("read_uncommitted", Session.readAll(uncommitted, partitions).size());
        seen.put("read_committed", Session.readAll(committed, partitions));
        seen.put("position_read_committed", committed.position(tp));
        // Everything up to the high watermark has been read by the other reader: one more poll
        // shows that this one still stops at the open transaction.
        seen.put("read_committed_more", committed.poll(Session.TURN.multipliedBy(4)).count());
        seen.put("listed_latest_committed", admin.listOffsets(Map.of(tp, org.apache.kafka.clients.admin.OffsetSpec.latest()),
                new org.apache.kafka.clients.admin.ListOffsetsOptions(org.apache.kafka.common.IsolationLevel.READ_COMMITTED))
                .all().get().get(tp).offset());
        p.commitTransaction();
        Session.await("the last stable offset at the high watermark",
                () -> committed.endOffsets(partitions).equals(uncommitted.endOffsets(partitions)));
        List<Object> rest = new ArrayList<>();
        long end = committed.endOffsets(partitions).get(tp);
        Session.await("read_committed reading to the end after the commit", () -> {
            committed.poll(Session.TURN).forEach(r -> rest.add(List.of(r.offset(), r.value())));
            return committed.position(tp) >= end;
        }, List.of());
        seen.put("read_committed_after_commit", rest);
        seen.put("position_after_commit", committed.position(tp));
    }
}
