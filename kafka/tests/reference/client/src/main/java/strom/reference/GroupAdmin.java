package strom.reference;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/** Consumer groups seen and changed through Admin: list, describe, delete, and their offsets. */
final class GroupAdmin {
    private GroupAdmin() {}

    static void register(Map<String, Main.Scenario> all) {
        all.put("java_group_admin", GroupAdmin::groups);
        all.put("java_group_offsets", GroupAdmin::offsets);
    }

    /** This scenario's consumer groups as Admin lists them: id, type, protocol, state. */
    static List<Object> list(Session s, Admin admin) throws Exception {
        List<Object> out = new ArrayList<>();
        List<GroupListing> listed = new ArrayList<>(admin.listGroups(ListGroupsOptions.forConsumerGroups()).all().get());
        listed.sort((x, y) -> x.groupId().compareTo(y.groupId()));
        for (GroupListing g : listed) {
            if (g.groupId().startsWith(s.name + "_")) {
                out.add(List.of(g.groupId(), String.valueOf(g.type().orElse(null)), g.protocol(),
                        String.valueOf(g.groupState().orElse(null))));
            }
        }
        return out;
    }

    static Object describe(Admin admin, String group) {
        return Session.outcome(() -> {
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("state", String.valueOf(d.groupState()));
            out.put("type", String.valueOf(d.type()));
            out.put("assignor", d.partitionAssignor());
            out.put("simple", d.isSimpleConsumerGroup());
            List<Object> members = new ArrayList<>();
            for (MemberDescription m : d.members()) {
                members.add(List.of(m.clientId(), m.host(), Session.numbers(m.assignment().topicPartitions())));
            }
            members.sort((x, y) -> x.toString().compareTo(y.toString()));
            out.put("members", members);
            return out;
        });
    }

    /**
     * Whether `group` has no members, or is not known at all: what a group whose last member
     * left looks like, whether the broker keeps it (Empty) or forgets it.
     */
    static boolean withoutMembers(Admin admin, String group) throws Exception {
        try {
            return admin.describeConsumerGroups(List.of(group)).all().get().get(group).members().isEmpty();
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof org.apache.kafka.common.errors.GroupIdNotFoundException) {
                return true;
            }
            throw e;
        }
    }

    /** A stable group and an empty one, listed, described and deleted. */
    static void groups(Session s, Map<String, Object> seen) throws Exception {
        Admin admin = s.admin();
        String topic = s.topic(admin, "in", 2);
        String live = s.id("live");
        String idle = s.id("idle");
        KafkaConsumer<String, String> i = Groups.member(s, idle, "idle", RangeAssignor.class);
        i.commitSync(Map.of(new TopicPartition(topic, 0), new OffsetAndMetadata(0)));
        i.close();
        KafkaConsumer<String, String> a = Groups.member(s, live, "a", RangeAssignor.class);
        a.subscribe(List.of(topic));
        Session.await("a owning both partitions", () -> a.assignment().size() == 2, List.of(a));
        seen.put("listed", list(s, admin));
        seen.put("described_live", describe(admin, live));
        seen.put("described_idle", describe(admin, idle));
        seen.put("described_missing", describe(admin, s.id("missing")));
        seen.put("delete_live", Session.outcome(() -> admin.deleteConsumerGroups(List.of(live)).all().get()));
        a.close();
        Session.await("the live group without members", () -> withoutMembers(admin, live));
        seen.put("described_left", describe(admin, live));
        seen.put("delete_left", Session.outcome(() -> admin.deleteConsumerGroups(List.of(live)).all().get()));
        seen.put("delete_idle", Session.outcome(() -> admin.deleteConsumerGroups(List.of(idle)).all().get()));
        seen.put("delete_missing", Session.outcome(() -> admin.deleteConsumerGroups(List.of(s.id("missing"))).all().get()));
        seen.put("listed_after", list(s, admin));
        seen.put("described_deleted", describe(admin, live));
    }

    static Object listed(Admin admin, String group) {
        return Session.outcome(() -> {
            Map<String, Object> out = new TreeMap<>();
            admin.listConsumerGroupOffsets(group, new ListConsumerGroupOffsetsOptions().requireStable(true))
                    .partitionsToOffsetAndMetadata().get()
                    .forEach((tp, om) -> out.put(String.valueOf(tp.partition()), om == null ? null : om.offset()));
            return out;
        });
    }

    /** Offsets reset by Admin, a member starting from them, and offsets deleted. */
    static void offsets(Session s, Map<String, Object> seen) throws Exception {
        Admin admin = s.admin();
        String topic = s.topic(admin, "in", 2);
        String group = s.id("group");
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        KafkaProducer<String, String> producer = s.producer(Map.of());
        for (int i = 0; i < 8; i++) {
            producer.send(new ProducerRecord<>(topic, i % 2, "k", "v" + i)).get();
        }
        seen.put("listed_unknown", listed(admin, group));
        seen.put("alter_new", Session.outcome(() -> admin.alterConsumerGroupOffsets(group,
                Map.of(p0, new OffsetAndMetadata(1), p1, new OffsetAndMetadata(3))).all().get()));
        seen.put("listed_altered", listed(admin, group));
        KafkaConsumer<String, String> a = Groups.member(s, group, "a", RangeAssignor.class);
        a.subscribe(List.of(topic));
        List<Object> read = new ArrayList<>();
        Session.await("a reading from the altered offsets to the end", () -> {
            a.poll(Session.TURN).forEach(r -> read.add(List.of(r.partition(), r.offset(), r.value())));
            return read.size() >= 4;
        }, List.of());
        read.sort((x, y) -> x.toString().compareTo(y.toString()));
        seen.put("a_read", read);
        seen.put("alter_while_member", Session.outcome(() -> admin.alterConsumerGroupOffsets(group,
                Map.of(p0, new OffsetAndMetadata(0))).all().get()));
        seen.put("delete_subscribed", Session.outcome(() -> admin.deleteConsumerGroupOffsets(group, Set.of(p1)).all().get()));
        a.commitSync();
        a.close();
        Session.await("the group without members", () -> withoutMembers(admin, group));
        seen.put("listed_committed", listed(admin, group));
        seen.put("delete_p1", Session.outcome(() -> admin.deleteConsumerGroupOffsets(group, Set.of(p1)).all().get()));
        seen.put("listed_deleted", listed(admin, group));
        seen.put("reset_p0", Session.outcome(() -> admin.alterConsumerGroupOffsets(group,
                Map.of(p0, new OffsetAndMetadata(2))).all().get()));
        seen.put("listed_reset", listed(admin, group));
        KafkaConsumer<String, String> b = Groups.member(s, group, "b", RangeAssignor.class);
        b.subscribe(List.of(topic));
        // p0 from the reset offset, p1 (its offset deleted) from auto.offset.reset=earliest;
        // recorded from b's first poll on.
        List<Object> bRead = new ArrayList<>();
        Session.await("b reading from the reset offsets to the end", () -> {
            b.poll(Session.TURN).forEach(r -> bRead.add(List.of(r.partition(), r.offset())));
            return bRead.size() >= 6;
        }, List.of());
        bRead.sort((x, y) -> x.toString().compareTo(y.toString()));
        seen.put("b_read", bRead);
        seen.put("delete_offsets_missing_group", Session.outcome(() ->
                admin.deleteConsumerGroupOffsets(s.id("missing"), Set.of(p0)).all().get()));
    }
}
