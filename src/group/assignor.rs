//! Temporary assignors (replaced by the full implementation).

use std::collections::BTreeMap;

use crate::record::TopicPartition;

/// One member as the assignor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) topics: Vec<String>,
    pub(crate) owned: Vec<TopicPartition>,
}

/// member id -> its partitions.
pub(crate) type Assignment = BTreeMap<String, Vec<TopicPartition>>;

pub(crate) fn range(members: &[Member], partitions: &BTreeMap<String, u32>) -> Assignment {
    let mut out: Assignment = members.iter().map(|m| (m.id.clone(), Vec::new())).collect();
    for (topic, &count) in partitions {
        let mut subs: Vec<&Member> = members
            .iter()
            .filter(|m| m.topics.contains(topic))
            .collect();
        subs.sort_by(|a, b| a.id.cmp(&b.id));
        if subs.is_empty() {
            continue;
        }
        let n = subs.len() as u32;
        let (per, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, m) in subs.iter().enumerate() {
            let take = per + u32::from((i as u32) < extra);
            for p in next..next + take {
                if let Some(list) = out.get_mut(&m.id) {
                    list.push(TopicPartition::new(topic.clone(), p));
                }
            }
            next += take;
        }
    }
    for list in out.values_mut() {
        list.sort();
    }
    out
}

pub(crate) fn round_robin(members: &[Member], partitions: &BTreeMap<String, u32>) -> Assignment {
    let mut out: Assignment = members.iter().map(|m| (m.id.clone(), Vec::new())).collect();
    let mut sorted: Vec<&Member> = members.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut i = 0usize;
    for (topic, &count) in partitions {
        for p in 0..count {
            for _ in 0..sorted.len() {
                let m = sorted[i % sorted.len()];
                i += 1;
                if m.topics.contains(topic) {
                    if let Some(list) = out.get_mut(&m.id) {
                        list.push(TopicPartition::new(topic.clone(), p));
                    }
                    break;
                }
            }
        }
    }
    out
}

pub(crate) fn sticky(members: &[Member], partitions: &BTreeMap<String, u32>) -> Assignment {
    round_robin(members, partitions)
}
