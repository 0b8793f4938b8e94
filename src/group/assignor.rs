//! Consumer-group partition assignors, as pure functions.
//!
//! They reproduce the assignors of Apache Kafka's Java client — range, round-robin, sticky and
//! cooperative-sticky — for members that are identified by member id only: there is no rack
//! awareness and no static `group.instance.id`, so wherever Kafka orders members it is by member
//! id here. One is strom's own: [`co_partitioned`], which keeps every partition of one number
//! on one member (what stream tasks need), where Kafka Streams has an assignor of its own.
//!
//! Every function is deterministic (all iteration goes through sorted collections), so any
//! member that recomputes an assignment from the same input gets the same answer. Malformed
//! input never panics: duplicate member ids keep their first entry, duplicate or unknown topics
//! in a subscription are ignored, topics with zero partitions count as absent, and owned
//! partitions that do not exist, are not subscribed to, or are claimed by several members are
//! treated as owned by nobody.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::record::TopicPartition;

/// One member as the assignor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// The member id the group coordinator gave it.
    pub(crate) id: String,
    /// Topics it subscribes to.
    pub(crate) topics: Vec<String>,
    /// Partitions it owned in the previous generation (used by the sticky assignor; ignored by the others).
    pub(crate) owned: Vec<TopicPartition>,
}

/// member id -> its partitions, each list sorted.
pub(crate) type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// Kafka's range assignor.
///
/// Members are sorted by id. For each topic separately, its subscribers receive consecutive runs
/// of partitions: every subscriber gets `partitions / subscribers` of them and the first
/// `partitions % subscribers` subscribers one more. Co-partitioned topics therefore line up on
/// the same members, at the price of piling the extra partitions of every topic onto the
/// lowest-sorted members.
///
/// `partitions`: topic -> partition count, for every topic any member subscribes to that exists
/// (topics not in the map are ignored). Every member appears in the result (possibly with an
/// empty list).
pub(crate) fn range(members: &[Member], partitions: &BTreeMap<String, u32>) -> Assignment {
    let group = Group::new(members, partitions);
    let mut lists: Vec<Vec<Part>> = vec![Vec::new(); group.members.len()];
    for (topic, &count) in group.counts.iter().enumerate() {
        let subscribers = group.subscribers(topic);
        if subscribers.is_empty() {
            continue;
        }
        let total = usize::try_from(count).unwrap_or(usize::MAX);
        let per_member = total / subscribers.len();
        let with_extra = total % subscribers.len();
        let mut next = 0..count;
        for (rank, &member) in subscribers.iter().enumerate() {
            let take = per_member + usize::from(rank < with_extra);
            if let Some(list) = lists.get_mut(member) {
                list.extend(next.by_ref().take(take).map(|partition| (topic, partition)));
            }
        }
    }
    group.assignment(lists)
}

/// The co-partitioned assignor: every partition numbered `i`, of every topic, goes to one
/// member, so that a member holding partition `i` of one topic holds partition `i` of all
/// the topics it subscribes to.
///
/// The partition numbers (up to the largest partition count) are dealt to the members,
/// sorted by id, in consecutive runs: every member gets `numbers / members` of them and the
/// first `numbers % members` one more. A partition goes to the owner of its number; where
/// that member does not subscribe to the partition's topic (mixed subscriptions), to the
/// topic's subscriber of rank `number % subscribers`, so that it is still assigned.
///
/// `partitions` and the result are as for [`range`].
pub(crate) fn co_partitioned(members: &[Member], partitions: &BTreeMap<String, u32>) -> Assignment {
    let group = Group::new(members, partitions);
    let mut lists: Vec<Vec<Part>> = vec![Vec::new(); group.members.len()];
    if group.members.is_empty() {
        return group.assignment(lists);
    }
    let numbers = group.counts.iter().copied().max().unwrap_or(0);
    let total = usize::try_from(numbers).unwrap_or(usize::MAX);
    let per_member = total / group.members.len();
    let with_extra = total % group.members.len();
    // owners[i]: the member given partition number i.
    let mut owners: Vec<usize> = Vec::with_capacity(total);
    for member in 0..group.members.len() {
        let take = per_member + usize::from(member < with_extra);
        owners.extend(std::iter::repeat_n(member, take));
    }
    for (topic, &count) in group.counts.iter().enumerate() {
        let subscribers = group.subscribers(topic);
        if subscribers.is_empty() {
            continue;
        }
        for (number, &owner) in (0..count).zip(&owners) {
            let member = if subscribers.contains(&owner) {
                owner
            } else {
                let rank = usize::try_from(number).unwrap_or(0) % subscribers.len();
                subscribers.get(rank).copied().unwrap_or(owner)
            };
            if let Some(list) = lists.get_mut(member) {
                list.push((topic, number));
            }
        }
    }
    group.assignment(lists)
}

/// Kafka's round-robin assignor.
///
/// All partitions of all subscribed topics are laid out in (topic, partition) order and dealt
/// one at a time to the members, taken in id order and cyclically; a member that does not
/// subscribe to a partition's topic is skipped for that partition. With identical subscriptions
/// the partition counts differ by at most one.
///
/// `partitions` and the result are as for [`range`].
pub(crate) fn round_robin(members: &[Member], partitions: &BTreeMap<String, u32>) -> Assignment {
    let group = Group::new(members, partitions);
    let n_members = group.members.len();
    let mut lists: Vec<Vec<Part>> = vec![Vec::new(); n_members];
    // Kafka keeps one circular iterator over the members for the whole deal, not one per topic.
    let mut cursor = 0;
    for (topic, &count) in group.counts.iter().enumerate() {
        for partition in 0..count {
            let next = (0..n_members)
                .map(|step| (cursor + step) % n_members)
                .find(|&member| group.subscribes(member, topic));
            // No subscriber at all means the topic is not part of this group's deal.
            let Some(member) = next else { break };
            if let Some(list) = lists.get_mut(member) {
                list.push((topic, partition));
            }
            cursor = (member + 1) % n_members;
        }
    }
    group.assignment(lists)
}

/// The balanced, sticky target assignment (Kafka's `AbstractStickyAssignor` goal: balance first,
/// then keep owned partitions).
///
/// Balanced means that no partition could move from a member to a member holding two or more
/// fewer partitions — not directly, and not through a chain of members each passing one
/// partition on (which is stronger than what Kafka checks). With identical subscriptions the
/// counts therefore differ by at most one. Among balanced assignments, previously owned
/// partitions stay with their owner wherever the balance allows.
///
/// `partitions` and the result are as for [`range`].
pub(crate) fn sticky(members: &[Member], partitions: &BTreeMap<String, u32>) -> Assignment {
    let group = Group::new(members, partitions);
    let lists = sticky_lists(&group);
    group.assignment(lists)
}

/// The cooperative step: given the sticky target, each member keeps only the partitions of its
/// `owned` list that it also has in the target, plus target partitions that nobody currently
/// owns; a partition owned by another member that must move is withheld from its new owner in
/// this round (it will be given in the next rebalance, after its old owner revoked it). Returns
/// (assignment for this generation, whether a follow-up rebalance is needed).
///
/// A partition that several members claim to own is withheld from whichever member the target
/// names, even from one of its claimants, until the others have revoked it: Kafka's cooperative
/// assignor does the same for partitions claimed twice in one generation. Feeding each result
/// back as `owned` reaches the sticky target after at most one follow-up round.
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "the coordinator withholds moving partitions itself (see group/mod.rs); this pure form states and tests the protocol"
    )
)]
pub(crate) fn cooperative_sticky(
    members: &[Member],
    partitions: &BTreeMap<String, u32>,
) -> (Assignment, bool) {
    let group = Group::new(members, partitions);
    let target = sticky_lists(&group);
    // Every claim counts here, even one the sticky assignor ignored (say, for a topic the member
    // no longer subscribes to): the claimant keeps consuming the partition until it revokes it.
    let mut claimants: BTreeMap<Part, BTreeSet<usize>> = BTreeMap::new();
    for (index, member) in group.members.iter().enumerate() {
        for owned in member.owned {
            if let Some(part) = group.part(owned) {
                claimants.entry(part).or_default().insert(index);
            }
        }
    }
    let mut withheld = false;
    let lists = target
        .into_iter()
        .enumerate()
        .map(|(index, list)| {
            list.into_iter()
                .filter(|part| {
                    let free = claimants
                        .get(part)
                        .is_none_or(|owners| owners.iter().all(|&owner| owner == index));
                    withheld |= !free;
                    free
                })
                .collect()
        })
        .collect();
    (group.assignment(lists), withheld)
}

/// A partition inside the assignors: (index of its topic in [`Group::names`], partition number).
///
/// Topic indices follow name order, so tuples sort exactly like the [`TopicPartition`]s they
/// stand for.
type Part = (usize, u32);

/// The normalised input that every assignor works on.
#[derive(Debug)]
struct Group<'a> {
    /// Names of the topics that exist (have at least one partition), ascending; a topic's index is
    /// its position here.
    names: Vec<&'a str>,
    /// Partition count of each topic, by topic index.
    counts: Vec<u32>,
    /// The members, one per id, ascending by id.
    members: Vec<Norm<'a>>,
}

/// One member after normalisation.
#[derive(Debug)]
struct Norm<'a> {
    /// Its member id.
    id: &'a str,
    /// Indices of the existing topics it subscribes to, ascending and without duplicates.
    topics: Vec<usize>,
    /// What it said it owned, unchecked.
    owned: &'a [TopicPartition],
}

impl<'a> Group<'a> {
    /// Normalises the assignors' input; see the module documentation for the rules.
    fn new(members: &'a [Member], partitions: &'a BTreeMap<String, u32>) -> Self {
        let (names, counts): (Vec<&str>, Vec<u32>) = partitions
            .iter()
            .filter(|&(_, &count)| count > 0)
            .map(|(name, &count)| (name.as_str(), count))
            .unzip();
        let mut by_id: BTreeMap<&str, &Member> = BTreeMap::new();
        for member in members {
            by_id.entry(member.id.as_str()).or_insert(member);
        }
        let members = by_id
            .into_iter()
            .map(|(id, member)| {
                let mut topics: Vec<usize> = member
                    .topics
                    .iter()
                    .filter_map(|topic| names.binary_search(&topic.as_str()).ok())
                    .collect();
                topics.sort_unstable();
                topics.dedup();
                Norm {
                    id,
                    topics,
                    owned: &member.owned,
                }
            })
            .collect();
        Self {
            names,
            counts,
            members,
        }
    }

    /// The partition count of a topic index (zero for an index out of range).
    fn count(&self, topic: usize) -> u32 {
        self.counts.get(topic).copied().unwrap_or(0)
    }

    /// Whether the member at `member` subscribes to the topic at `topic`.
    fn subscribes(&self, member: usize, topic: usize) -> bool {
        self.members
            .get(member)
            .is_some_and(|norm| norm.topics.binary_search(&topic).is_ok())
    }

    /// The indices of the members subscribing to `topic`, ascending (that is, in id order).
    fn subscribers(&self, topic: usize) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&member| self.subscribes(member, topic))
            .collect()
    }

    /// The internal form of `tp`, if that partition exists.
    fn part(&self, tp: &TopicPartition) -> Option<Part> {
        let topic = self.names.binary_search(&tp.topic.as_str()).ok()?;
        (tp.partition < self.count(topic)).then_some((topic, tp.partition))
    }

    /// Each partition's previous owner, for the claims the sticky assignor honours: the partition
    /// exists, its owner still subscribes to the topic, and no other member claims it too (two
    /// claimants cannot both be right, so, as Kafka does within one generation, neither is).
    fn owners(&self) -> BTreeMap<Part, usize> {
        let mut claims: BTreeMap<Part, Option<usize>> = BTreeMap::new();
        for (index, member) in self.members.iter().enumerate() {
            for owned in member.owned {
                let Some(part) = self.part(owned) else {
                    continue;
                };
                if !self.subscribes(index, part.0) {
                    continue;
                }
                claims
                    .entry(part)
                    .and_modify(|claim| {
                        if *claim != Some(index) {
                            *claim = None;
                        }
                    })
                    .or_insert(Some(index));
            }
        }
        claims
            .into_iter()
            .filter_map(|(part, claim)| claim.map(|owner| (part, owner)))
            .collect()
    }

    /// Turns per-member lists (by member index) into the public result, sorting each list.
    fn assignment(&self, lists: Vec<Vec<Part>>) -> Assignment {
        // Chaining empty lists makes sure every member appears even if `lists` came up short.
        let lists = lists.into_iter().chain(std::iter::repeat_with(Vec::new));
        self.members
            .iter()
            .zip(lists)
            .map(|(member, mut list)| {
                list.sort_unstable();
                list.dedup();
                let partitions = list
                    .into_iter()
                    .filter_map(|(topic, partition)| {
                        let name = self.names.get(topic)?;
                        Some(TopicPartition::new(*name, partition))
                    })
                    .collect();
                (member.id.to_owned(), partitions)
            })
            .collect()
    }
}

/// The sticky target as per-member lists, choosing Kafka's algorithm for the subscription shape.
fn sticky_lists(group: &Group<'_>) -> Vec<Vec<Part>> {
    let owners = group.owners();
    let uniform = group
        .members
        .windows(2)
        .all(|pair| matches!(pair, [a, b] if a.topics == b.topics));
    if uniform {
        constrained(group, &owners)
    } else {
        general(group, &owners)
    }
}

/// The sticky assignment when every member subscribes to the same topics (Kafka's
/// `ConstrainedAssignmentBuilder`).
///
/// With `n` partitions and `m` members each member gets `n / m` partitions (the minimum quota)
/// and `n % m` of them one more (the maximum quota). Members first keep what they owned, up to
/// their quota; the rest is dealt round-robin to the members still under the minimum, then one
/// each to members at the minimum until enough members reached the maximum.
fn constrained(group: &Group<'_>, owners: &BTreeMap<Part, usize>) -> Vec<Vec<Part>> {
    let n_members = group.members.len();
    let mut lists: Vec<Vec<Part>> = vec![Vec::new(); n_members];
    let Some(first) = group.members.first() else {
        return lists;
    };
    let topics = &first.topics;
    let total = topics
        .iter()
        .map(|&topic| usize::try_from(group.count(topic)).unwrap_or(usize::MAX))
        .fold(0, usize::saturating_add);
    let min_quota = total / n_members;
    let expected_over_min = total % n_members;
    let max_quota = min_quota + usize::from(expected_over_min > 0);

    let mut owned_by: Vec<Vec<Part>> = vec![Vec::new(); n_members];
    for (&part, &owner) in owners {
        if let Some(owned) = owned_by.get_mut(owner) {
            owned.push(part);
        }
    }

    let mut assigned: BTreeSet<Part> = BTreeSet::new();
    // Members that may still receive partitions: those under the minimum quota, and those at it
    // that may still grow to the maximum while fewer than `expected_over_min` members did.
    let mut under_min: Vec<usize> = Vec::new();
    let mut at_min: VecDeque<usize> = VecDeque::new();
    let mut over_min = 0;
    for (member, (owned, list)) in owned_by.iter_mut().zip(lists.iter_mut()).enumerate() {
        // Kafka keeps the lowest partition numbers first, across topics, so that what a member
        // keeps is spread over the topics rather than all taken from the first one.
        owned.sort_unstable_by_key(|&(topic, partition)| (partition, topic));
        let keep = if owned.len() < min_quota {
            under_min.push(member);
            owned.len()
        } else if owned.len() >= max_quota && over_min < expected_over_min {
            over_min += 1;
            if over_min == expected_over_min {
                // Every extra partition is spoken for: nobody at the minimum may grow any more.
                at_min.clear();
            }
            max_quota
        } else {
            if over_min < expected_over_min {
                at_min.push_back(member);
            }
            min_quota
        };
        for &part in owned.iter().take(keep) {
            list.push(part);
            assigned.insert(part);
        }
    }

    let mut cursor = 0;
    for &topic in topics {
        for partition in 0..group.count(topic) {
            let part = (topic, partition);
            if assigned.contains(&part) {
                continue;
            }
            if cursor >= under_min.len() {
                cursor = 0;
            }
            let member = if let Some(&member) = under_min.get(cursor) {
                let reached_min = lists
                    .get(member)
                    .is_some_and(|list| list.len() + 1 >= min_quota);
                if reached_min {
                    // The same position now holds the next member of the round.
                    under_min.remove(cursor);
                    at_min.push_back(member);
                } else {
                    cursor += 1;
                }
                member
            } else if let Some(member) = at_min.pop_front() {
                member
            } else {
                // The quotas add up to the partition count, so this is unreachable; should it
                // ever happen, the least loaded member is the one that keeps the balance.
                let Some(member) = least_loaded(&lists, 0..n_members) else {
                    return lists;
                };
                member
            };
            if let Some(list) = lists.get_mut(member) {
                list.push(part);
            }
        }
    }
    lists
}

/// The member among `candidates` with the fewest partitions, the lowest index on ties.
fn least_loaded(lists: &[Vec<Part>], candidates: impl IntoIterator<Item = usize>) -> Option<usize> {
    candidates
        .into_iter()
        .min_by_key(|&member| (lists.get(member).map_or(usize::MAX, Vec::len), member))
}

/// The sticky assignment when subscriptions differ (the role of Kafka's
/// `GeneralAssignmentBuilder`).
///
/// Members keep what they owned; the other partitions go, topic by topic (topics with the fewest
/// subscribers first, since they have the fewest places to go), each to its least loaded
/// subscriber. Then the assignment is balanced by chains of moves, see [`balance`].
fn general(group: &Group<'_>, owners: &BTreeMap<Part, usize>) -> Vec<Vec<Part>> {
    let n_members = group.members.len();
    let n_topics = group.names.len();
    let subscribers: Vec<Vec<usize>> = (0..n_topics).map(|t| group.subscribers(t)).collect();
    let mut held: Vec<BTreeSet<Part>> = vec![BTreeSet::new(); n_members];
    for (&part, &owner) in owners {
        if let Some(set) = held.get_mut(owner) {
            set.insert(part);
        }
    }

    let mut order: Vec<(usize, &Vec<usize>)> = subscribers
        .iter()
        .enumerate()
        .filter(|(_, subs)| !subs.is_empty())
        .collect();
    order.sort_by_key(|&(topic, subs)| (subs.len(), topic));
    for (topic, subs) in order {
        for partition in 0..group.count(topic) {
            let part = (topic, partition);
            if owners.contains_key(&part) {
                continue;
            }
            let target = subs
                .iter()
                .copied()
                .min_by_key(|&member| (held.get(member).map_or(usize::MAX, BTreeSet::len), member));
            if let Some(set) = target.and_then(|member| held.get_mut(member)) {
                set.insert(part);
            }
        }
    }

    balance(group, owners, &mut held);
    held.into_iter()
        .map(|set| set.into_iter().collect())
        .collect()
}

/// Balances `held` in place.
///
/// While some member could take a partition off a member holding at least two more, directly or
/// through a chain of members each handing one partition on (every member in the chain
/// subscribing to the topic it receives), the cheapest such chain is applied, where moving a
/// partition away from its previous owner costs one and any other move nothing. Each chain
/// lowers the sum of squared partition counts, so this ends; when it ends no chain is left, which
/// is exactly when that sum is minimal. Preferring free chains means owned partitions move only
/// where the balance cannot be reached without moving them.
fn balance(group: &Group<'_>, owners: &BTreeMap<Part, usize>, held: &mut [BTreeSet<Part>]) {
    let n_members = held.len();
    loop {
        let counts: Vec<usize> = held.iter().map(BTreeSet::len).collect();
        let Some(&max) = counts.iter().max() else {
            return;
        };
        let mut receivers: Vec<usize> = (0..n_members)
            .filter(|&member| counts.get(member).is_some_and(|&count| count + 2 <= max))
            .collect();
        if receivers.is_empty() {
            return;
        }
        receivers.sort_by_key(|&member| (counts.get(member).copied(), member));
        let givers = holders(group.names.len(), owners, held);

        let mut best: Option<(u32, usize, usize, Search)> = None;
        for receiver in receivers {
            let search = Search::run(group, &givers, receiver);
            let floor = counts.get(receiver).map_or(usize::MAX, |&count| count + 2);
            let found = (0..n_members)
                .filter(|&member| counts.get(member).is_some_and(|&count| count >= floor))
                .filter_map(|member| {
                    let cost = search.member_dist.get(member).copied().flatten()?;
                    Some((cost, Reverse(counts.get(member).copied()), member))
                })
                .min();
            let Some((cost, _, giver)) = found else {
                continue;
            };
            if best
                .as_ref()
                .is_none_or(|&(best_cost, ..)| cost < best_cost)
            {
                best = Some((cost, receiver, giver, search));
            }
            if cost == 0 {
                // Nothing is cheaper than free.
                break;
            }
        }
        let Some((_, receiver, giver, search)) = best else {
            return;
        };
        if !search.apply(giver, receiver, owners, held) {
            // Unreachable while the search is consistent; stopping keeps the loop finite.
            return;
        }
    }
}

/// For each topic index, the members holding partitions of it, each with the cost of taking one
/// away: 0 if it holds one that it did not own before, 1 if all of them are its own.
fn holders(
    n_topics: usize,
    owners: &BTreeMap<Part, usize>,
    held: &[BTreeSet<Part>],
) -> Vec<BTreeMap<usize, u32>> {
    let mut givers: Vec<BTreeMap<usize, u32>> = vec![BTreeMap::new(); n_topics];
    for (member, set) in held.iter().enumerate() {
        for part in set {
            let cost = u32::from(owners.get(part) == Some(&member));
            if let Some(topic) = givers.get_mut(part.0) {
                topic
                    .entry(member)
                    .and_modify(|known| *known = (*known).min(cost))
                    .or_insert(cost);
            }
        }
    }
    givers
}

/// A node of the chain search: members and topics alternate along a chain.
#[derive(Debug, Clone, Copy)]
enum Node {
    /// A member, by index.
    Member(usize),
    /// A topic, by index.
    Topic(usize),
}

/// Cheapest chains from every member to one receiver, found by a 0-1 breadth-first search.
///
/// The search runs backwards from the receiver: from a member to each topic it subscribes to
/// (it could receive a partition of that topic), from a topic to each member holding one of its
/// partitions (it could hand one on), the latter step costing what [`holders`] says.
#[derive(Debug, Clone)]
struct Search {
    /// Cheapest cost of a chain from each member to the receiver, if there is one.
    member_dist: Vec<Option<u32>>,
    /// For each member on a chain, the topic whose partition it hands on.
    member_parent: Vec<Option<usize>>,
    /// For each topic on a chain, the member receiving its partition.
    topic_parent: Vec<Option<usize>>,
}

impl Search {
    /// Searches all chains ending at `receiver`.
    fn run(group: &Group<'_>, givers: &[BTreeMap<usize, u32>], receiver: usize) -> Self {
        let n_members = group.members.len();
        let n_topics = group.names.len();
        let mut member_dist: Vec<Option<u32>> = vec![None; n_members];
        let mut topic_dist: Vec<Option<u32>> = vec![None; n_topics];
        let mut member_parent: Vec<Option<usize>> = vec![None; n_members];
        let mut topic_parent: Vec<Option<usize>> = vec![None; n_topics];
        if let Some(dist) = member_dist.get_mut(receiver) {
            *dist = Some(0);
        }
        let mut queue: VecDeque<(Node, u32)> = VecDeque::from([(Node::Member(receiver), 0)]);
        while let Some((node, dist)) = queue.pop_front() {
            match node {
                Node::Member(member) => {
                    if member_dist.get(member).copied().flatten() != Some(dist) {
                        continue; // A cheaper route reached it since this entry was queued.
                    }
                    let Some(norm) = group.members.get(member) else {
                        continue;
                    };
                    for &topic in &norm.topics {
                        if let Some(slot) = topic_dist.get_mut(topic) {
                            if slot.is_none_or(|known| dist < known) {
                                *slot = Some(dist);
                                if let Some(parent) = topic_parent.get_mut(topic) {
                                    *parent = Some(member);
                                }
                                queue.push_front((Node::Topic(topic), dist));
                            }
                        }
                    }
                }
                Node::Topic(topic) => {
                    if topic_dist.get(topic).copied().flatten() != Some(dist) {
                        continue;
                    }
                    let Some(holding) = givers.get(topic) else {
                        continue;
                    };
                    for (&member, &cost) in holding {
                        let next = dist.saturating_add(cost);
                        if let Some(slot) = member_dist.get_mut(member) {
                            if slot.is_none_or(|known| next < known) {
                                *slot = Some(next);
                                if let Some(parent) = member_parent.get_mut(member) {
                                    *parent = Some(topic);
                                }
                                if cost == 0 {
                                    queue.push_front((Node::Member(member), next));
                                } else {
                                    queue.push_back((Node::Member(member), next));
                                }
                            }
                        }
                    }
                }
            }
        }
        Self {
            member_dist,
            member_parent,
            topic_parent,
        }
    }

    /// Moves partitions along the chain from `giver` to `receiver`; false if the chain is broken.
    fn apply(
        &self,
        giver: usize,
        receiver: usize,
        owners: &BTreeMap<Part, usize>,
        held: &mut [BTreeSet<Part>],
    ) -> bool {
        let mut from = giver;
        // A chain visits each member at most once; the bound only guards against a broken one.
        for _ in 0..held.len() {
            let Some(topic) = self.member_parent.get(from).copied().flatten() else {
                return false;
            };
            let Some(to) = self.topic_parent.get(topic).copied().flatten() else {
                return false;
            };
            let Some(part) = held
                .get(from)
                .and_then(|set| pick(set, topic, from, to, owners))
            else {
                return false;
            };
            if let Some(set) = held.get_mut(from) {
                set.remove(&part);
            }
            if let Some(set) = held.get_mut(to) {
                set.insert(part);
            }
            if to == receiver {
                return true;
            }
            from = to;
        }
        false
    }
}

/// Which partition of `topic` member `from` should hand to member `to`: preferably one `to`
/// owned before (it goes home), else one `from` did not own, else its own; within a kind the
/// highest-numbered one, as Kafka's sticky assignor also revokes from the top.
fn pick(
    set: &BTreeSet<Part>,
    topic: usize,
    from: usize,
    to: usize,
    owners: &BTreeMap<Part, usize>,
) -> Option<Part> {
    set.range((topic, 0)..=(topic, u32::MAX))
        .copied()
        .min_by_key(|part| {
            let kind = match owners.get(part) {
                Some(&owner) if owner == to => 0,
                Some(&owner) if owner == from => 2,
                _ => 1,
            };
            (kind, Reverse(part.1))
        })
}

#[cfg(test)]
mod tests;
