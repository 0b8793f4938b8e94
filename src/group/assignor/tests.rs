//! Tests of the assignors: Apache Kafka's own worked examples (each test names the Kafka test it
//! reproduces), then properties over generated groups.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::{co_partitioned, cooperative_sticky, range, round_robin, sticky, Assignment, Member};
use crate::record::TopicPartition;

/// Shorthand for a topic-partition.
fn tp(topic: &str, partition: u32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// A member that owns nothing.
fn member(id: &str, topics: &[&str]) -> Member {
    owning(id, topics, &[])
}

/// A member with previously owned partitions.
fn owning(id: &str, topics: &[&str], owned: &[TopicPartition]) -> Member {
    Member {
        id: id.to_owned(),
        topics: topics.iter().map(|&topic| topic.to_owned()).collect(),
        owned: owned.to_vec(),
    }
}

/// Topic -> partition count.
fn counts(topics: &[(&str, u32)]) -> BTreeMap<String, u32> {
    topics
        .iter()
        .map(|&(topic, count)| (topic.to_owned(), count))
        .collect()
}

/// Kafka's expected lists are not always sorted; ours are.
fn sorted(mut partitions: Vec<TopicPartition>) -> Vec<TopicPartition> {
    partitions.sort();
    partitions
}

/// The partitions of `id` in `assignment` (empty if it is missing, which the callers check).
fn of<'a>(assignment: &'a Assignment, id: &str) -> &'a [TopicPartition] {
    assignment.get(id).map_or(&[], Vec::as_slice)
}

/// Kafka's `getCanonicalName`: `prefix` then `i` zero-padded to the width of `max`.
fn name(prefix: &str, i: impl std::fmt::Display, max: u64) -> String {
    let width = max.to_string().len();
    format!("{prefix}{i:0width$}")
}

/// The members with `owned` replaced by what `assignment` gave them: the next generation's input.
fn with_owned(members: &[Member], assignment: &Assignment) -> Vec<Member> {
    members
        .iter()
        .map(|m| Member {
            owned: of(assignment, &m.id).to_vec(),
            ..m.clone()
        })
        .collect()
}

/// The members as the assignors see them: first entry per id.
fn unique(members: &[Member]) -> BTreeMap<&str, &Member> {
    let mut by_id = BTreeMap::new();
    for m in members {
        by_id.entry(m.id.as_str()).or_insert(m);
    }
    by_id
}

/// Every member present, lists sorted, partitions existing, assigned only to subscribers and at
/// most once. With `complete`, every subscribed partition is assigned, too.
fn verify_validity(
    members: &[Member],
    partitions: &BTreeMap<String, u32>,
    assignment: &Assignment,
    complete: bool,
) {
    let by_id = unique(members);
    let ids: Vec<&str> = assignment.keys().map(String::as_str).collect();
    assert_eq!(ids, by_id.keys().copied().collect::<Vec<_>>());
    let mut seen = BTreeSet::new();
    for (id, list) in assignment {
        assert!(
            list.windows(2).all(|w| w[0] < w[1]),
            "{id}: {list:?} unsorted"
        );
        let m = by_id[id.as_str()];
        for p in list {
            assert!(m.topics.contains(&p.topic), "{id} got {p:?} unsubscribed");
            assert!(p.partition < partitions.get(&p.topic).copied().unwrap_or(0));
            assert!(seen.insert(p.clone()), "{p:?} assigned twice");
        }
    }
    if complete {
        for (topic, &count) in partitions {
            if by_id.values().any(|m| m.topics.contains(topic)) {
                for partition in 0..count {
                    assert!(
                        seen.contains(&tp(topic, partition)),
                        "{topic}-{partition} unassigned"
                    );
                }
            }
        }
    }
}

/// The equivalent of Kafka's `verifyValidityAndBalance`: a complete, valid assignment in which no
/// partition could move from a member to one holding two or more fewer partitions.
fn verify_validity_and_balance(
    members: &[Member],
    partitions: &BTreeMap<String, u32>,
    assignment: &Assignment,
) {
    verify_validity(members, partitions, assignment, true);
    let by_id = unique(members);
    for (big, big_list) in assignment {
        for (small, small_list) in assignment {
            if big_list.len() > small_list.len() + 1 {
                let small_topics = &by_id[small.as_str()].topics;
                assert!(
                    big_list.iter().all(|p| !small_topics.contains(&p.topic)),
                    "{big} ({}) could give to {small} ({}): {assignment:?}",
                    big_list.len(),
                    small_list.len(),
                );
            }
        }
    }
}

/// Kafka's `isFullyBalanced`: partition counts differ by at most one.
fn is_fully_balanced(assignment: &Assignment) -> bool {
    let sizes = assignment.values().map(Vec::len);
    let min = sizes.clone().min().unwrap_or(0);
    let max = sizes.max().unwrap_or(0);
    max - min <= 1
}

/// Kafka's `isSticky`: no two partitions of one topic moved in opposite directions between the
/// same two members (that would be churn that keeping both in place avoids).
fn is_sticky(before: &[Member], after: &Assignment) -> bool {
    let mut moves: BTreeSet<(String, String, String)> = BTreeSet::new();
    for (old, m) in unique(before) {
        for p in &m.owned {
            if let Some((new, _)) = after.iter().find(|(_, list)| list.contains(p)) {
                if new != old {
                    moves.insert((p.topic.clone(), old.to_owned(), new.clone()));
                }
            }
        }
    }
    moves
        .iter()
        .all(|(topic, a, b)| !moves.contains(&(topic.clone(), b.clone(), a.clone())))
}

// ---------------------------------------------------------------------------------------------
// RangeAssignorTest
// ---------------------------------------------------------------------------------------------

/// RangeAssignorTest.testOneConsumerNoTopic
#[test]
fn range_one_consumer_no_topic() {
    let a = range(&[member("consumer1", &[])], &counts(&[]));
    assert_eq!(a, Assignment::from([("consumer1".to_owned(), vec![])]));
}

/// RangeAssignorTest.testOneConsumerNonexistentTopic
#[test]
fn range_one_consumer_nonexistent_topic() {
    let a = range(&[member("consumer1", &["topic1"])], &counts(&[]));
    assert_eq!(a, Assignment::from([("consumer1".to_owned(), vec![])]));
}

/// RangeAssignorTest.testOneConsumerOneTopic
#[test]
fn range_one_consumer_one_topic() {
    let a = range(
        &[member("consumer1", &["topic1"])],
        &counts(&[("topic1", 3)]),
    );
    assert_eq!(a.len(), 1);
    assert_eq!(
        of(&a, "consumer1"),
        [tp("topic1", 0), tp("topic1", 1), tp("topic1", 2)]
    );
}

/// RangeAssignorTest.testOnlyAssignsPartitionsFromSubscribedTopics
#[test]
fn range_only_assigns_partitions_from_subscribed_topics() {
    let partitions = counts(&[("topic1", 3), ("other", 3)]);
    let a = range(&[member("consumer1", &["topic1"])], &partitions);
    assert_eq!(a.len(), 1);
    assert_eq!(
        of(&a, "consumer1"),
        [tp("topic1", 0), tp("topic1", 1), tp("topic1", 2)]
    );
}

/// RangeAssignorTest.testOneConsumerMultipleTopics
#[test]
fn range_one_consumer_multiple_topics() {
    let partitions = counts(&[("topic1", 1), ("topic2", 2)]);
    let a = range(&[member("consumer1", &["topic1", "topic2"])], &partitions);
    assert_eq!(a.len(), 1);
    assert_eq!(
        of(&a, "consumer1"),
        [tp("topic1", 0), tp("topic2", 0), tp("topic2", 1)]
    );
}

/// RangeAssignorTest.testTwoConsumersOneTopicOnePartition
#[test]
fn range_two_consumers_one_topic_one_partition() {
    let members = [
        member("consumer1", &["topic1"]),
        member("consumer2", &["topic1"]),
    ];
    let a = range(&members, &counts(&[("topic1", 1)]));
    assert_eq!(of(&a, "consumer1"), [tp("topic1", 0)]);
    assert_eq!(a.get("consumer2"), Some(&vec![]));
}

/// RangeAssignorTest.testTwoConsumersOneTopicTwoPartitions
#[test]
fn range_two_consumers_one_topic_two_partitions() {
    let members = [
        member("consumer1", &["topic1"]),
        member("consumer2", &["topic1"]),
    ];
    let a = range(&members, &counts(&[("topic1", 2)]));
    assert_eq!(of(&a, "consumer1"), [tp("topic1", 0)]);
    assert_eq!(of(&a, "consumer2"), [tp("topic1", 1)]);
}

/// RangeAssignorTest.testMultipleConsumersMixedTopics
#[test]
fn range_multiple_consumers_mixed_topics() {
    let members = [
        member("consumer1", &["topic1"]),
        member("consumer2", &["topic1", "topic2"]),
        member("consumer3", &["topic1"]),
    ];
    let a = range(&members, &counts(&[("topic1", 3), ("topic2", 2)]));
    assert_eq!(of(&a, "consumer1"), [tp("topic1", 0)]);
    assert_eq!(
        of(&a, "consumer2"),
        [tp("topic1", 1), tp("topic2", 0), tp("topic2", 1)]
    );
    assert_eq!(of(&a, "consumer3"), [tp("topic1", 2)]);
}

/// Topics of 2 and 3 partitions over two members: range splits partition number 1 (the
/// first member gets `b-1`, the second `a-1`); co-partitioned keeps each number on one.
#[test]
fn co_partitioned_keeps_partition_numbers_together() {
    let members = [member("m1", &["a", "b"]), member("m2", &["a", "b"])];
    let partitions = counts(&[("a", 2), ("b", 3)]);
    let split = range(&members, &partitions);
    assert!(of(&split, "m1").contains(&tp("b", 1)) && of(&split, "m2").contains(&tp("a", 1)));
    let a = co_partitioned(&members, &partitions);
    assert_eq!(
        of(&a, "m1"),
        [tp("a", 0), tp("a", 1), tp("b", 0), tp("b", 1)]
    );
    assert_eq!(of(&a, "m2"), [tp("b", 2)]);
    // Three members: one number each.
    let members = [
        member("m1", &["a", "b"]),
        member("m2", &["a", "b"]),
        member("m3", &["a", "b"]),
    ];
    let a = co_partitioned(&members, &partitions);
    assert_eq!(of(&a, "m1"), [tp("a", 0), tp("b", 0)]);
    assert_eq!(of(&a, "m2"), [tp("a", 1), tp("b", 1)]);
    assert_eq!(of(&a, "m3"), [tp("b", 2)]);
}

/// A number's owner that does not read a topic leaves that topic's partition to one of its
/// readers.
#[test]
fn co_partitioned_mixed_subscriptions_still_assign_everything() {
    let members = [member("m1", &["a"]), member("m2", &["a", "b"])];
    let a = co_partitioned(&members, &counts(&[("a", 2), ("b", 2)]));
    assert_eq!(of(&a, "m1"), [tp("a", 0)]);
    assert_eq!(of(&a, "m2"), [tp("a", 1), tp("b", 0), tp("b", 1)]);
}

/// RangeAssignorTest.testTwoConsumersTwoTopicsSixPartitions
#[test]
fn range_two_consumers_two_topics_six_partitions() {
    let members = [
        member("consumer1", &["topic1", "topic2"]),
        member("consumer2", &["topic1", "topic2"]),
    ];
    let a = range(&members, &counts(&[("topic1", 3), ("topic2", 3)]));
    assert_eq!(
        of(&a, "consumer1"),
        [
            tp("topic1", 0),
            tp("topic1", 1),
            tp("topic2", 0),
            tp("topic2", 1)
        ]
    );
    assert_eq!(of(&a, "consumer2"), [tp("topic1", 2), tp("topic2", 2)]);
}

/// RangeAssignorTest.testStaticMemberRangeAssignmentPersistent, whose instance ids sort like the
/// member ids, so ordering by member id gives the same assignment; the member replacing the last
/// one gets what it had.
#[test]
fn range_member_replacing_the_last_gets_its_partitions() {
    let partitions = counts(&[("topic1", 5), ("topic2", 4)]);
    let both = ["topic1", "topic2"];
    let mut members: Vec<Member> = (1..=4)
        .map(|i| member(&format!("consumer{i}"), &both))
        .collect();
    let expected = |last: &str| {
        Assignment::from([
            (
                "consumer1".to_owned(),
                vec![tp("topic1", 0), tp("topic1", 1), tp("topic2", 0)],
            ),
            (
                "consumer2".to_owned(),
                vec![tp("topic1", 2), tp("topic2", 1)],
            ),
            (
                "consumer3".to_owned(),
                vec![tp("topic1", 3), tp("topic2", 2)],
            ),
            (last.to_owned(), vec![tp("topic1", 4), tp("topic2", 3)]),
        ])
    };
    assert_eq!(range(&members, &partitions), expected("consumer4"));
    members.pop();
    members.push(member("consumer5", &both));
    assert_eq!(range(&members, &partitions), expected("consumer5"));
}

// ---------------------------------------------------------------------------------------------
// RoundRobinAssignorTest
// ---------------------------------------------------------------------------------------------

/// RoundRobinAssignorTest.testOneConsumerNoTopic
#[test]
fn round_robin_one_consumer_no_topic() {
    let a = round_robin(&[member("consumer", &[])], &counts(&[]));
    assert_eq!(a, Assignment::from([("consumer".to_owned(), vec![])]));
}

/// RoundRobinAssignorTest.testOneConsumerNonexistentTopic
#[test]
fn round_robin_one_consumer_nonexistent_topic() {
    let a = round_robin(&[member("consumer", &["topic"])], &counts(&[]));
    assert_eq!(a, Assignment::from([("consumer".to_owned(), vec![])]));
}

/// RoundRobinAssignorTest.testOneConsumerOneTopic
#[test]
fn round_robin_one_consumer_one_topic() {
    let a = round_robin(&[member("consumer", &["topic"])], &counts(&[("topic", 3)]));
    assert_eq!(
        of(&a, "consumer"),
        [tp("topic", 0), tp("topic", 1), tp("topic", 2)]
    );
}

/// RoundRobinAssignorTest.testOnlyAssignsPartitionsFromSubscribedTopics
#[test]
fn round_robin_only_assigns_partitions_from_subscribed_topics() {
    let partitions = counts(&[("topic", 3), ("other", 3)]);
    let a = round_robin(&[member("consumer", &["topic"])], &partitions);
    assert_eq!(
        of(&a, "consumer"),
        [tp("topic", 0), tp("topic", 1), tp("topic", 2)]
    );
}

/// RoundRobinAssignorTest.testOneConsumerMultipleTopics
#[test]
fn round_robin_one_consumer_multiple_topics() {
    let partitions = counts(&[("topic1", 1), ("topic2", 2)]);
    let a = round_robin(&[member("consumer", &["topic1", "topic2"])], &partitions);
    assert_eq!(
        of(&a, "consumer"),
        [tp("topic1", 0), tp("topic2", 0), tp("topic2", 1)]
    );
}

/// RoundRobinAssignorTest.testTwoConsumersOneTopicOnePartition
#[test]
fn round_robin_two_consumers_one_topic_one_partition() {
    let members = [
        member("consumer1", &["topic"]),
        member("consumer2", &["topic"]),
    ];
    let a = round_robin(&members, &counts(&[("topic", 1)]));
    assert_eq!(of(&a, "consumer1"), [tp("topic", 0)]);
    assert_eq!(a.get("consumer2"), Some(&vec![]));
}

/// RoundRobinAssignorTest.testTwoConsumersOneTopicTwoPartitions
#[test]
fn round_robin_two_consumers_one_topic_two_partitions() {
    let members = [
        member("consumer1", &["topic"]),
        member("consumer2", &["topic"]),
    ];
    let a = round_robin(&members, &counts(&[("topic", 2)]));
    assert_eq!(of(&a, "consumer1"), [tp("topic", 0)]);
    assert_eq!(of(&a, "consumer2"), [tp("topic", 1)]);
}

/// RoundRobinAssignorTest.testMultipleConsumersMixedTopics
#[test]
fn round_robin_multiple_consumers_mixed_topics() {
    let members = [
        member("consumer1", &["topic1"]),
        member("consumer2", &["topic1", "topic2"]),
        member("consumer3", &["topic1"]),
    ];
    let a = round_robin(&members, &counts(&[("topic1", 3), ("topic2", 2)]));
    assert_eq!(of(&a, "consumer1"), [tp("topic1", 0)]);
    assert_eq!(
        of(&a, "consumer2"),
        [tp("topic1", 1), tp("topic2", 0), tp("topic2", 1)]
    );
    assert_eq!(of(&a, "consumer3"), [tp("topic1", 2)]);
}

/// RoundRobinAssignorTest.testTwoDynamicConsumersTwoTopicsSixPartitions
#[test]
fn round_robin_two_consumers_two_topics_six_partitions() {
    let members = [
        member("consumer1", &["topic1", "topic2"]),
        member("consumer2", &["topic1", "topic2"]),
    ];
    let a = round_robin(&members, &counts(&[("topic1", 3), ("topic2", 3)]));
    assert_eq!(
        of(&a, "consumer1"),
        [tp("topic1", 0), tp("topic1", 2), tp("topic2", 1)]
    );
    assert_eq!(
        of(&a, "consumer2"),
        [tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)]
    );
}

/// The example in `RoundRobinAssignor`'s class documentation: differing subscriptions skip
/// members and can leave the assignment unbalanced.
#[test]
fn round_robin_skips_members_not_subscribed() {
    let members = [
        member("C0", &["t0"]),
        member("C1", &["t0", "t1"]),
        member("C2", &["t0", "t1", "t2"]),
    ];
    let a = round_robin(&members, &counts(&[("t0", 1), ("t1", 2), ("t2", 3)]));
    assert_eq!(of(&a, "C0"), [tp("t0", 0)]);
    assert_eq!(of(&a, "C1"), [tp("t1", 0)]);
    assert_eq!(
        of(&a, "C2"),
        [tp("t1", 1), tp("t2", 0), tp("t2", 1), tp("t2", 2)]
    );
}

// ---------------------------------------------------------------------------------------------
// AbstractStickyAssignorTest
// ---------------------------------------------------------------------------------------------

/// AbstractStickyAssignorTest.testOneConsumerNoTopic
#[test]
fn sticky_one_consumer_no_topic() {
    let members = [member("consumer", &[])];
    let partitions = counts(&[]);
    let a = sticky(&members, &partitions);
    assert_eq!(a, Assignment::from([("consumer".to_owned(), vec![])]));
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
}

/// AbstractStickyAssignorTest.testOneConsumerNonexistentTopic (a topic with no partitions).
#[test]
fn sticky_one_consumer_nonexistent_topic() {
    let members = [member("consumer", &["topic"])];
    let partitions = counts(&[("topic", 0)]);
    let a = sticky(&members, &partitions);
    assert_eq!(a, Assignment::from([("consumer".to_owned(), vec![])]));
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
}

/// AbstractStickyAssignorTest.testOneConsumerOneTopic
#[test]
fn sticky_one_consumer_one_topic() {
    let members = [member("consumer", &["topic"])];
    let partitions = counts(&[("topic", 3)]);
    let a = sticky(&members, &partitions);
    assert_eq!(
        of(&a, "consumer"),
        [tp("topic", 0), tp("topic", 1), tp("topic", 2)]
    );
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
}

/// AbstractStickyAssignorTest.testOnlyAssignsPartitionsFromSubscribedTopics: owned partitions of
/// another topic are dropped.
#[test]
fn sticky_only_assigns_partitions_from_subscribed_topics() {
    let owned = [
        tp("topic", 0),
        tp("topic", 1),
        tp("other", 0),
        tp("other", 1),
    ];
    let members = [owning("consumer", &["topic"], &owned)];
    let partitions = counts(&[("topic", 2)]);
    let a = sticky(&members, &partitions);
    assert_eq!(of(&a, "consumer"), [tp("topic", 0), tp("topic", 1)]);
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
    assert_eq!(cooperative_sticky(&members, &partitions), (a, false));
}

/// AbstractStickyAssignorTest.testOneConsumerMultipleTopics
#[test]
fn sticky_one_consumer_multiple_topics() {
    let members = [member("consumer", &["topic1", "topic2"])];
    let partitions = counts(&[("topic1", 1), ("topic2", 2)]);
    let a = sticky(&members, &partitions);
    assert_eq!(
        of(&a, "consumer"),
        [tp("topic1", 0), tp("topic2", 0), tp("topic2", 1)]
    );
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
}

/// AbstractStickyAssignorTest.testTwoConsumersOneTopicOnePartition
#[test]
fn sticky_two_consumers_one_topic_one_partition() {
    let members = [
        member("consumer1", &["topic"]),
        member("consumer2", &["topic"]),
    ];
    let partitions = counts(&[("topic", 1)]);
    let a = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
}

/// AbstractStickyAssignorTest.testTwoConsumersOneTopicTwoPartitions
#[test]
fn sticky_two_consumers_one_topic_two_partitions() {
    let members = [
        member("consumer1", &["topic"]),
        member("consumer2", &["topic"]),
    ];
    let partitions = counts(&[("topic", 2)]);
    let a = sticky(&members, &partitions);
    assert_eq!(of(&a, "consumer1"), [tp("topic", 0)]);
    assert_eq!(of(&a, "consumer2"), [tp("topic", 1)]);
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
}

/// AbstractStickyAssignorTest.testMultipleConsumersMixedTopicSubscriptions
#[test]
fn sticky_multiple_consumers_mixed_topic_subscriptions() {
    let members = [
        member("consumer1", &["topic1"]),
        member("consumer2", &["topic1", "topic2"]),
        member("consumer3", &["topic1"]),
    ];
    let partitions = counts(&[("topic1", 3), ("topic2", 2)]);
    let a = sticky(&members, &partitions);
    assert_eq!(of(&a, "consumer1"), [tp("topic1", 0), tp("topic1", 2)]);
    assert_eq!(of(&a, "consumer2"), [tp("topic2", 0), tp("topic2", 1)]);
    assert_eq!(of(&a, "consumer3"), [tp("topic1", 1)]);
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
}

/// AbstractStickyAssignorTest.testTwoConsumersTwoTopicsSixPartitions
#[test]
fn sticky_two_consumers_two_topics_six_partitions() {
    let members = [
        member("consumer1", &["topic1", "topic2"]),
        member("consumer2", &["topic1", "topic2"]),
    ];
    let partitions = counts(&[("topic1", 3), ("topic2", 3)]);
    let a = sticky(&members, &partitions);
    assert_eq!(
        of(&a, "consumer1"),
        [tp("topic1", 0), tp("topic1", 2), tp("topic2", 1)]
    );
    assert_eq!(
        of(&a, "consumer2"),
        [tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)]
    );
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
}

/// AbstractStickyAssignorTest.testConsumerOwningMinQuotaExpectedMaxQuota
#[test]
fn sticky_consumer_owning_min_quota_expected_max_quota() {
    let both = ["topic1", "topic2"];
    let members = [
        owning("consumer1", &both, &[tp("topic1", 0), tp("topic2", 1)]),
        owning("consumer2", &both, &[tp("topic1", 1), tp("topic2", 2)]),
    ];
    let partitions = counts(&[("topic1", 2), ("topic2", 3)]);
    let a = sticky(&members, &partitions);
    assert_eq!(
        of(&a, "consumer1"),
        sorted(vec![tp("topic1", 0), tp("topic2", 1), tp("topic2", 0)])
    );
    assert_eq!(of(&a, "consumer2"), [tp("topic1", 1), tp("topic2", 2)]);
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
    // Nothing changes hands, so the cooperative protocol needs no second round.
    assert_eq!(cooperative_sticky(&members, &partitions), (a, false));
}

/// AbstractStickyAssignorTest.testMaxQuotaConsumerMoreThanNumExpectedMaxCapacityMembers.
///
/// Two members own the maximum quota but only one may keep it. Kafka lets whichever its hash map
/// visits first keep it (consumer2 in its test); here it is the lowest member id, so the result
/// is the mirror image: consumer1 keeps two, consumer2 gives up its highest partition.
#[test]
fn sticky_max_quota_consumer_more_than_expected_max_capacity_members() {
    let both = ["topic1", "topic2"];
    let members = [
        owning("consumer1", &both, &[tp("topic1", 0), tp("topic2", 0)]),
        owning("consumer2", &both, &[tp("topic1", 1), tp("topic2", 1)]),
        owning("consumer3", &both, &[]),
    ];
    let partitions = counts(&[("topic1", 2), ("topic2", 2)]);
    let a = sticky(&members, &partitions);
    assert_eq!(of(&a, "consumer1"), [tp("topic1", 0), tp("topic2", 0)]);
    assert_eq!(of(&a, "consumer2"), [tp("topic1", 1)]);
    assert_eq!(of(&a, "consumer3"), [tp("topic2", 1)]);
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
    // Kafka reports exactly one partition transferring ownership, to consumer3.
    let (first, again) = cooperative_sticky(&members, &partitions);
    assert!(again);
    assert_eq!(of(&first, "consumer3"), []);
    assert_eq!(of(&first, "consumer2"), [tp("topic1", 1)]);
}

/// AbstractStickyAssignorTest.testAllConsumersAreUnderMinQuota
#[test]
fn sticky_all_consumers_are_under_min_quota() {
    let both = ["topic1", "topic2"];
    let members = [
        owning("consumer1", &both, &[tp("topic1", 0)]),
        owning("consumer2", &both, &[tp("topic1", 1)]),
        owning("consumer3", &both, &[]),
    ];
    let partitions = counts(&[("topic1", 2), ("topic2", 3)]);
    let a = sticky(&members, &partitions);
    assert_eq!(of(&a, "consumer1"), [tp("topic1", 0), tp("topic2", 1)]);
    assert_eq!(of(&a, "consumer2"), [tp("topic1", 1), tp("topic2", 2)]);
    assert_eq!(of(&a, "consumer3"), [tp("topic2", 0)]);
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
    assert_eq!(cooperative_sticky(&members, &partitions), (a, false));
}

/// AbstractStickyAssignorTest.testAddRemoveConsumerOneTopic, with the cooperative rounds that
/// its `partitionsTransferringOwnership` check implies.
#[test]
fn sticky_add_remove_consumer_one_topic() {
    let partitions = counts(&[("topic", 3)]);
    let members = [member("consumer1", &["topic"])];
    let a = sticky(&members, &partitions);
    assert_eq!(
        of(&a, "consumer1"),
        [tp("topic", 0), tp("topic", 1), tp("topic", 2)]
    );
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));

    let members = [
        owning("consumer1", &["topic"], of(&a, "consumer1")),
        member("consumer2", &["topic"]),
    ];
    let a = sticky(&members, &partitions);
    assert_eq!(of(&a, "consumer1"), [tp("topic", 0), tp("topic", 1)]);
    assert_eq!(of(&a, "consumer2"), [tp("topic", 2)]);
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
    // Kafka: topic-2 transfers to consumer2, so it waits one round.
    let (first, again) = cooperative_sticky(&members, &partitions);
    assert!(again);
    assert_eq!(of(&first, "consumer1"), [tp("topic", 0), tp("topic", 1)]);
    assert_eq!(of(&first, "consumer2"), []);
    let (second, again) = cooperative_sticky(&with_owned(&members, &first), &partitions);
    assert!(!again);
    assert_eq!(second, a);

    let members = [owning("consumer2", &["topic"], of(&a, "consumer2"))];
    let a = sticky(&members, &partitions);
    assert_eq!(
        of(&a, "consumer2"),
        [tp("topic", 0), tp("topic", 1), tp("topic", 2)]
    );
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
    assert_eq!(cooperative_sticky(&members, &partitions), (a, false));
}

/// AbstractStickyAssignorTest.testTopicBalanceAfterReassignment: with two, four, then two
/// members each gets the same share of each topic.
#[test]
fn sticky_topic_balance_after_reassignment() {
    let both = ["topic1", "topic2"];
    let partitions = counts(&[("topic1", 12), ("topic2", 12)]);
    let per_topic = |a: &Assignment, share: usize| {
        for list in a.values() {
            for topic in both {
                assert_eq!(list.iter().filter(|p| p.topic == topic).count(), share);
            }
        }
    };
    let mut members = vec![member("consumer1", &both)];
    let a = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &a);
    per_topic(&a, 12);

    members = with_owned(&members, &a);
    members.push(member("consumer2", &both));
    let a = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &a);
    per_topic(&a, 6);
    assert!(is_fully_balanced(&a));

    members = with_owned(&members, &a);
    members.push(member("consumer3", &both));
    members.push(member("consumer4", &both));
    let a = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &a);
    per_topic(&a, 3);
    assert!(is_fully_balanced(&a));

    members = with_owned(&members, &a);
    members.drain(..2);
    let b = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &b);
    per_topic(&b, 6);
    assert!(is_fully_balanced(&b));
    // Nothing moves between the members that stay, so there is nothing to revoke first.
    assert_eq!(cooperative_sticky(&members, &partitions), (b, false));
}

/// AbstractStickyAssignorTest.testAddRemoveTwoConsumersTwoTopics
#[test]
fn sticky_add_remove_two_consumers_two_topics() {
    let both = ["topic1", "topic2"];
    let partitions = counts(&[("topic1", 3), ("topic2", 4)]);
    let members = vec![member("consumer1", &both), member("consumer2", &both)];
    let a = sticky(&members, &partitions);
    assert_eq!(
        of(&a, "consumer1"),
        [
            tp("topic1", 0),
            tp("topic1", 2),
            tp("topic2", 1),
            tp("topic2", 3)
        ]
    );
    assert_eq!(
        of(&a, "consumer2"),
        [tp("topic1", 1), tp("topic2", 0), tp("topic2", 2)]
    );
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));

    let mut members = with_owned(&members, &a);
    members.push(member("consumer3", &both));
    members.push(member("consumer4", &both));
    let a = sticky(&members, &partitions);
    assert_eq!(of(&a, "consumer1"), [tp("topic1", 0), tp("topic2", 1)]);
    assert_eq!(of(&a, "consumer2"), [tp("topic1", 1), tp("topic2", 0)]);
    assert_eq!(of(&a, "consumer3"), [tp("topic1", 2), tp("topic2", 3)]);
    assert_eq!(of(&a, "consumer4"), [tp("topic2", 2)]);
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
    // Kafka: topic1-2 and topic2-3 transfer to consumer3 and topic2-2 to consumer4.
    let (first, again) = cooperative_sticky(&members, &partitions);
    assert!(again);
    assert_eq!(of(&first, "consumer3"), []);
    assert_eq!(of(&first, "consumer4"), []);
    assert_eq!(of(&first, "consumer1"), of(&a, "consumer1"));

    let mut members = with_owned(&members, &a);
    members.drain(..2);
    let a = sticky(&members, &partitions);
    assert_eq!(
        of(&a, "consumer3"),
        sorted(vec![
            tp("topic1", 2),
            tp("topic2", 3),
            tp("topic1", 0),
            tp("topic2", 1)
        ])
    );
    assert_eq!(
        of(&a, "consumer4"),
        sorted(vec![tp("topic2", 2), tp("topic1", 1), tp("topic2", 0)])
    );
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
}

/// AbstractStickyAssignorTest.testPoorRoundRobinAssignmentScenario; the expected lists are the
/// sticky result its documentation gives.
#[test]
fn sticky_poor_round_robin_assignment_scenario() {
    let all = ["topic1", "topic2", "topic3", "topic4", "topic5"];
    let odd = ["topic1", "topic3", "topic5"];
    let members = [
        member("consumer1", &all),
        member("consumer2", &odd),
        member("consumer3", &odd),
        member("consumer4", &all),
    ];
    let partitions: BTreeMap<String, u32> =
        (1..=5).map(|i| (format!("topic{i}"), i % 2 + 1)).collect();
    let a = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &a);
    assert_eq!(of(&a, "consumer1"), [tp("topic2", 0), tp("topic3", 0)]);
    assert_eq!(of(&a, "consumer2"), [tp("topic1", 0), tp("topic3", 1)]);
    assert_eq!(of(&a, "consumer3"), [tp("topic1", 1), tp("topic5", 0)]);
    assert_eq!(of(&a, "consumer4"), [tp("topic4", 0), tp("topic5", 1)]);
}

/// AbstractStickyAssignorTest.testAddRemoveTopicTwoConsumers
#[test]
fn sticky_add_remove_topic_two_consumers() {
    let mut partitions = counts(&[("topic", 3)]);
    let members = [
        member("consumer1", &["topic"]),
        member("consumer2", &["topic"]),
    ];
    let a1 = sticky(&members, &partitions);
    assert!(is_fully_balanced(&a1));
    verify_validity_and_balance(&members, &partitions, &a1);

    partitions.insert("topic2".to_owned(), 3);
    let both = ["topic", "topic2"];
    let members = [
        owning("consumer1", &both, of(&a1, "consumer1")),
        owning("consumer2", &both, of(&a1, "consumer2")),
    ];
    let a2 = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &a2);
    assert!(is_fully_balanced(&a2));
    for id in ["consumer1", "consumer2"] {
        assert_eq!(of(&a2, id).len(), 3);
        assert!(of(&a1, id).iter().all(|p| of(&a2, id).contains(p)));
    }
    assert_eq!(
        cooperative_sticky(&members, &partitions),
        (a2.clone(), false)
    );

    partitions.remove("topic");
    let members = [
        owning("consumer1", &["topic2"], of(&a2, "consumer1")),
        owning("consumer2", &["topic2"], of(&a2, "consumer2")),
    ];
    let a3 = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &a3);
    assert!(is_fully_balanced(&a3));
    for id in ["consumer1", "consumer2"] {
        assert!(of(&a3, id).iter().all(|p| of(&a2, id).contains(p)));
    }
    assert_eq!(cooperative_sticky(&members, &partitions), (a3, false));
}

/// AbstractStickyAssignorTest.testReassignmentAfterOneConsumerLeaves
#[test]
fn sticky_reassignment_after_one_consumer_leaves() {
    let partitions: BTreeMap<String, u32> = (1..20_u32).map(|i| (name("t", i, 20), i)).collect();
    let members: Vec<Member> = (1..20)
        .map(|i| {
            let topics: Vec<String> = (1..=i).map(|j| name("t", j, 20)).collect();
            let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
            member(&name("c", i, 20), &topics)
        })
        .collect();
    let a = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &a);

    let mut members = with_owned(&members, &a);
    members.retain(|m| m.id != "c10");
    let b = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &b);
    assert!(is_sticky(&members, &b));
}

/// AbstractStickyAssignorTest.testReassignmentAfterOneConsumerAdded; the members that were there
/// only give up partitions, they never trade them.
#[test]
fn sticky_reassignment_after_one_consumer_added() {
    let partitions = counts(&[("topic", 20)]);
    let members: Vec<Member> = (1..10)
        .map(|i| member(&name("c", i, 10), &["topic"]))
        .collect();
    let a = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &a);

    let mut members = with_owned(&members, &a);
    members.push(member(&name("c", 10, 10), &["topic"]));
    let b = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &b);
    assert!(is_fully_balanced(&b));
    for (id, list) in &a {
        assert!(
            of(&b, id).iter().all(|p| list.contains(p)),
            "{id} gained a partition"
        );
    }
}

/// AbstractStickyAssignorTest.testSameSubscriptions; after a member leaves, the others keep all
/// they had.
#[test]
fn sticky_same_subscriptions() {
    let partitions: BTreeMap<String, u32> = (1..15_u32).map(|i| (name("t", i, 15), i)).collect();
    let topics: Vec<&str> = partitions.keys().map(String::as_str).collect();
    let members: Vec<Member> = (1..9).map(|i| member(&name("c", i, 9), &topics)).collect();
    let a = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));

    let mut members = with_owned(&members, &a);
    members.retain(|m| m.id != name("c", 5, 9));
    let b = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &b);
    assert!(is_fully_balanced(&b));
    for m in &members {
        assert!(
            m.owned.iter().all(|p| of(&b, &m.id).contains(p)),
            "{} lost a partition",
            m.id
        );
    }
    // Only c5's partitions move, and nobody owns them any more: no second round.
    assert_eq!(cooperative_sticky(&members, &partitions), (b, false));
}

/// AbstractStickyAssignorTest.testMoveExistingAssignments
#[test]
fn sticky_move_existing_assignments() {
    let partitions: BTreeMap<String, u32> = (1..=6).map(|i| (format!("topic{i}"), 1)).collect();
    let members = [
        owning("consumer1", &["topic1", "topic2"], &[tp("topic1", 0)]),
        owning(
            "consumer2",
            &["topic1", "topic2", "topic3", "topic4"],
            &[tp("topic2", 0), tp("topic3", 0)],
        ),
        owning(
            "consumer3",
            &["topic2", "topic3", "topic4", "topic5", "topic6"],
            &[tp("topic4", 0), tp("topic5", 0), tp("topic6", 0)],
        ),
    ];
    let a = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(is_fully_balanced(&a));
    assert!(is_sticky(&members, &a));
}

/// AbstractStickyAssignorTest.testStickiness: after the member holding a partition leaves, the
/// others keep theirs.
#[test]
fn sticky_stickiness() {
    let partitions = counts(&[("topic1", 3)]);
    let members: Vec<Member> = (1..=4)
        .map(|i| member(&format!("consumer{i}"), &["topic1"]))
        .collect();
    let a = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(a.values().all(|list| list.len() <= 1));

    let mut members = with_owned(&members, &a);
    members.retain(|m| m.id != "consumer1");
    let b = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &b);
    for m in &members {
        assert_eq!(of(&b, &m.id).len(), 1);
        assert!(m.owned.iter().all(|p| of(&b, &m.id).contains(p)));
    }
}

/// AbstractStickyAssignorTest.testAssignmentUpdatedForDeletedTopic
#[test]
fn sticky_assignment_updated_for_deleted_topic() {
    let members = [member("consumer", &["topic1", "topic2", "topic3"])];
    let partitions = counts(&[("topic1", 1), ("topic3", 100)]);
    let a = sticky(&members, &partitions);
    assert_eq!(a.len(), 1);
    assert_eq!(of(&a, "consumer").len(), 101);
    assert!(is_fully_balanced(&a));
}

/// AbstractStickyAssignorTest.testNoExceptionThrownWhenOnlySubscribedTopicDeleted
#[test]
fn sticky_only_subscribed_topic_deleted() {
    let partitions = counts(&[("topic", 3)]);
    let members = [member("consumer", &["topic"])];
    let a = sticky(&members, &partitions);
    let members = with_owned(&members, &a);
    let b = sticky(&members, &BTreeMap::new());
    assert_eq!(b, Assignment::from([("consumer".to_owned(), vec![])]));
    assert_eq!(cooperative_sticky(&members, &BTreeMap::new()), (b, false));
}

/// AbstractStickyAssignorTest.testNewSubscription
#[test]
fn sticky_new_subscription() {
    let partitions: BTreeMap<String, u32> = (1..5).map(|i| (name("t", i, 5), 1)).collect();
    let mut members: Vec<Member> = (0..3)
        .map(|i| {
            // Kafka's loop runs j from i while j <= 3i - 2.
            let topics: Vec<String> = (i..5)
                .filter(|&j| j + 2 <= 3 * i)
                .map(|j| name("t", j, 5))
                .collect();
            let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
            member(&name("c", i, 3), &topics)
        })
        .collect();
    let a = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &a);

    members = with_owned(&members, &a);
    members[0].topics.push(name("t", 1, 5));
    let b = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &b);
    assert!(is_sticky(&members, &b));
}

/// AbstractStickyAssignorTest.testSubscriptionNotEqualAndAssignSamePartitionWith3Generation,
/// without generations: all three claims to topic-2 fall in one generation and cancel out.
#[test]
fn sticky_partition_claimed_by_three_members() {
    let partitions = counts(&[("topic", 6), ("topic1", 1)]);
    let members = [
        owning("consumer1", &["topic"], &[tp("topic", 0), tp("topic", 2)]),
        owning(
            "consumer2",
            &["topic"],
            &[tp("topic", 1), tp("topic", 2), tp("topic", 3)],
        ),
        owning(
            "consumer3",
            &["topic"],
            &[tp("topic", 2), tp("topic", 4), tp("topic", 5)],
        ),
        owning("consumer4", &["topic1"], &[tp("topic1", 0)]),
    ];
    let a = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &a);
    assert!(a.values().all(|list| (1..=2).contains(&list.len())));
}

/// A scaled-down AbstractStickyAssignorTest.testLargeAssignmentWithMultipleConsumersLeavingAndRandomSubscription
/// with a fixed pseudo-random sequence: 40 topics, 200 members, 50 of them leaving.
#[test]
fn sticky_large_assignment_with_members_leaving() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |bound: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % bound
    };
    let partitions: BTreeMap<String, u32> = (0..40)
        .map(|i| (name("t", i, 40), u32::try_from(next(10)).unwrap_or(0) + 1))
        .collect();
    let members: Vec<Member> = (0..200)
        .map(|i| {
            let topics: Vec<String> = (0..next(20)).map(|_| name("t", next(40), 40)).collect();
            let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
            member(&name("c", i, 200), &topics)
        })
        .collect();
    let a = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &a);

    let mut members = with_owned(&members, &a);
    for _ in 0..50 {
        let gone = name("c", next(200), 200);
        members.retain(|m| m.id != gone);
    }
    let b = sticky(&members, &partitions);
    verify_validity_and_balance(&members, &partitions, &b);
    assert!(is_sticky(&members, &b));
}

/// Balance through a chain, which Kafka's pairwise check would not demand: `a` cannot take from
/// `c` directly, but `b` can pass its `t1` partition to `a` and take one of `c`'s `t2` partitions.
/// Only `b`'s partition was owned, and it has to move for the balance.
#[test]
fn sticky_balances_through_a_chain() {
    let partitions = counts(&[("t1", 1), ("t2", 2)]);
    let members = [
        member("a", &["t1"]),
        owning("b", &["t1", "t2"], &[tp("t1", 0)]),
        owning("c", &["t2"], &[tp("t2", 0), tp("t2", 1)]),
    ];
    let a = sticky(&members, &partitions);
    assert_eq!(of(&a, "a"), [tp("t1", 0)]);
    assert_eq!(of(&a, "b"), [tp("t2", 1)]);
    assert_eq!(of(&a, "c"), [tp("t2", 0)]);
    let (first, again) = cooperative_sticky(&members, &partitions);
    assert!(again);
    assert_eq!(first.values().map(Vec::len).sum::<usize>(), 1);
}

// ---------------------------------------------------------------------------------------------
// CooperativeStickyAssignorTest
// ---------------------------------------------------------------------------------------------

/// CooperativeStickyAssignorTest.testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimedByMultipleConsumersInSameGenerationWithEqualPartitionsPerConsumer
#[test]
fn cooperative_doubly_claimed_partition_equal_partitions_per_member() {
    let partitions = counts(&[("topic", 3)]);
    let members = [
        owning("consumer1", &["topic"], &[tp("topic", 0), tp("topic", 1)]),
        owning("consumer2", &["topic"], &[tp("topic", 0), tp("topic", 2)]),
        owning("consumer3", &["topic"], &[]),
    ];
    let (a, again) = cooperative_sticky(&members, &partitions);
    assert_eq!(of(&a, "consumer1"), [tp("topic", 1)]);
    assert_eq!(of(&a, "consumer2"), [tp("topic", 2)]);
    // topic-0 still counts as owned and waits until both claimants revoked it.
    assert_eq!(of(&a, "consumer3"), []);
    assert!(again);
    let (b, again) = cooperative_sticky(&with_owned(&members, &a), &partitions);
    assert!(!again);
    verify_validity_and_balance(&members, &partitions, &b);
    assert!(is_fully_balanced(&b));
}

/// CooperativeStickyAssignorTest.testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimedByMultipleConsumersInSameGenerationWithUnequalPartitionsPerConsumer
#[test]
fn cooperative_doubly_claimed_partition_unequal_partitions_per_member() {
    let partitions = counts(&[("topic", 4)]);
    let members = [
        owning("consumer1", &["topic"], &[tp("topic", 0), tp("topic", 1)]),
        owning("consumer2", &["topic"], &[tp("topic", 0), tp("topic", 2)]),
        owning("consumer3", &["topic"], &[]),
    ];
    let (a, again) = cooperative_sticky(&members, &partitions);
    assert_eq!(of(&a, "consumer1"), [tp("topic", 1), tp("topic", 3)]);
    assert_eq!(of(&a, "consumer2"), [tp("topic", 2)]);
    assert_eq!(of(&a, "consumer3"), []);
    assert!(again);
    let (b, again) = cooperative_sticky(&with_owned(&members, &a), &partitions);
    assert!(!again);
    verify_validity_and_balance(&members, &partitions, &b);
    assert!(is_fully_balanced(&b));
}

/// A member that unsubscribed from a topic keeps consuming it until it revokes it, so its new
/// owner waits a round even though the sticky assignor no longer counts the old claim.
#[test]
fn cooperative_waits_for_unsubscribed_owner() {
    let partitions = counts(&[("a", 1), ("b", 1)]);
    let members = [
        owning("m1", &["b"], &[tp("a", 0)]),
        owning("m2", &["a"], &[]),
    ];
    assert_eq!(of(&sticky(&members, &partitions), "m2"), [tp("a", 0)]);
    let (first, again) = cooperative_sticky(&members, &partitions);
    assert!(again);
    assert_eq!(of(&first, "m1"), [tp("b", 0)]);
    assert_eq!(of(&first, "m2"), []);
    let (second, again) = cooperative_sticky(&with_owned(&members, &first), &partitions);
    assert!(!again);
    assert_eq!(of(&second, "m2"), [tp("a", 0)]);
}

// ---------------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------------

/// Duplicate ids keep their first entry; duplicate and unknown topics, zero-partition topics and
/// owned partitions that do not exist are ignored; an empty group yields an empty map.
#[test]
fn malformed_input_is_normalised() {
    let partitions = counts(&[("t", 2), ("empty", 0)]);
    let members = [
        owning(
            "b",
            &["t", "t", "nope", "empty"],
            &[tp("t", 7), tp("gone", 0), tp("t", 1), tp("t", 1)],
        ),
        member("a", &["t"]),
        member("b", &["other"]),
    ];
    let expected = Assignment::from([
        ("a".to_owned(), vec![tp("t", 0)]),
        ("b".to_owned(), vec![tp("t", 1)]),
    ]);
    assert_eq!(range(&members, &partitions), expected);
    assert_eq!(round_robin(&members, &partitions), expected);
    assert_eq!(sticky(&members, &partitions), expected);
    assert_eq!(cooperative_sticky(&members, &partitions), (expected, false));
    for assign in [range, round_robin, sticky] {
        assert!(assign(&[], &partitions).is_empty());
    }
    assert_eq!(
        cooperative_sticky(&[], &partitions),
        (Assignment::new(), false)
    );
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// Topics the generated groups draw from; `zz` is never in the partition map.
const TOPICS: [&str; 5] = ["t0", "t1", "t2", "t3", "zz"];

/// A generated group: members (ids may repeat) and partition counts of the first four topics.
fn group() -> impl Strategy<Value = (Vec<Member>, BTreeMap<String, u32>)> {
    let member = (
        0..7_usize,
        proptest::collection::vec(0..5_usize, 0..4),
        proptest::collection::vec((0..5_usize, 0..8_u32), 0..6),
    )
        .prop_map(|(id, topics, owned)| Member {
            id: format!("m{id}"),
            topics: topics.iter().map(|&t| TOPICS[t].to_owned()).collect(),
            owned: owned.iter().map(|&(t, p)| tp(TOPICS[t], p)).collect(),
        });
    (
        proptest::collection::vec(member, 0..7),
        proptest::collection::vec(0..7_u32, 4),
    )
        .prop_map(|(members, sizes)| {
            let partitions = TOPICS
                .iter()
                .zip(sizes)
                .map(|(t, n)| ((*t).to_owned(), n))
                .collect();
            (members, partitions)
        })
}

proptest! {
    /// Every assignor assigns each subscribed partition exactly once, only to a subscriber.
    #[test]
    fn assignments_are_complete_and_valid((members, partitions) in group()) {
        verify_validity(&members, &partitions, &range(&members, &partitions), true);
        verify_validity(&members, &partitions, &round_robin(&members, &partitions), true);
        verify_validity(&members, &partitions, &co_partitioned(&members, &partitions), true);
        verify_validity_and_balance(&members, &partitions, &sticky(&members, &partitions));
        let (a, _) = cooperative_sticky(&members, &partitions);
        verify_validity(&members, &partitions, &a, false);
    }

    /// With identical subscriptions round-robin and sticky differ by at most one partition per
    /// member, and range by at most one per member and topic.
    #[test]
    fn identical_subscriptions_balance((mut members, partitions) in group()) {
        let topics = members.first().map(|m| m.topics.clone()).unwrap_or_default();
        for m in &mut members {
            m.topics.clone_from(&topics);
        }
        prop_assert!(is_fully_balanced(&round_robin(&members, &partitions)));
        prop_assert!(is_fully_balanced(&sticky(&members, &partitions)));
        // Co-partitioned: each partition number on one member.
        let a = co_partitioned(&members, &partitions);
        for (id, list) in &a {
            for p in list {
                prop_assert!(
                    a.iter().all(|(other, l)| other == id || l.iter().all(|q| q.partition != p.partition)),
                    "partition number {} split: {:?}", p.partition, a
                );
            }
        }
        let a = range(&members, &partitions);
        for topic in partitions.keys() {
            let per: Vec<usize> = a.values().map(|l| l.iter().filter(|p| &p.topic == topic).count()).collect();
            let (min, max) = (per.iter().min().copied().unwrap_or(0), per.iter().max().copied().unwrap_or(0));
            prop_assert!(max - min <= 1);
        }
    }

    /// The result does not depend on the order the members are listed in.
    #[test]
    fn member_order_does_not_matter((members, partitions) in group()) {
        let members: Vec<Member> = unique(&members).into_values().cloned().collect();
        let reversed: Vec<Member> = members.iter().rev().cloned().collect();
        prop_assert_eq!(range(&members, &partitions), range(&reversed, &partitions));
        prop_assert_eq!(round_robin(&members, &partitions), round_robin(&reversed, &partitions));
        prop_assert_eq!(co_partitioned(&members, &partitions), co_partitioned(&reversed, &partitions));
        prop_assert_eq!(sticky(&members, &partitions), sticky(&reversed, &partitions));
        prop_assert_eq!(
            cooperative_sticky(&members, &partitions),
            cooperative_sticky(&reversed, &partitions)
        );
    }

    /// A sticky assignment fed back as the owned partitions comes back unchanged.
    #[test]
    fn sticky_is_a_fixpoint((members, partitions) in group()) {
        let a = sticky(&members, &partitions);
        prop_assert_eq!(sticky(&with_owned(&members, &a), &partitions), a);
    }

    /// The cooperative step only withholds: it gives each member its target minus partitions
    /// another member still owns, and asks for a follow-up exactly when it withheld something.
    #[test]
    fn cooperative_never_gives_an_owned_partition((members, partitions) in group()) {
        let target = sticky(&members, &partitions);
        let (a, again) = cooperative_sticky(&members, &partitions);
        let by_id = unique(&members);
        for (id, list) in &a {
            let wanted: Vec<TopicPartition> = of(&target, id)
                .iter()
                .filter(|p| by_id.iter().all(|(other, m)| other == id || !m.owned.contains(p)))
                .cloned()
                .collect();
            prop_assert_eq!(list, &wanted);
        }
        prop_assert_eq!(again, a != target);
    }

    /// Feeding each cooperative result back as `owned` reaches the sticky target within two
    /// rounds: the second round needs no follow-up and is stable.
    #[test]
    fn cooperative_converges_within_two_rounds((members, partitions) in group()) {
        let (first, _) = cooperative_sticky(&members, &partitions);
        let members = with_owned(&members, &first);
        let (second, again) = cooperative_sticky(&members, &partitions);
        prop_assert!(!again);
        prop_assert_eq!(&second, &sticky(&members, &partitions));
        verify_validity_and_balance(&members, &partitions, &second);
        let (third, again) = cooperative_sticky(&with_owned(&members, &second), &partitions);
        prop_assert!(!again);
        prop_assert_eq!(third, second);
    }
}
