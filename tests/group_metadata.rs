//! `Consumer::group_metadata` (Kafka's `groupMetadata()`): the group, the generation whose
//! assignment the member holds and its member id; an error without a group id; generation 0
//! and no member id before joining and after leaving; a new generation once the member has
//! acted on a rebalance.

use std::time::{Duration, Instant};

use strom::{Broker, Consumer, ConsumerConfig, Error, Result, TopicConfig};

const POLL: Duration = Duration::from_millis(10);

/// Polls `member` until it holds the assignment of `generation` or later.
fn poll_until_generation(member: &mut Consumer, generation: u64) -> Result<()> {
    let give_up = Instant::now() + Duration::from_secs(30);
    while member.group_metadata()?.generation < generation {
        assert!(
            Instant::now() < give_up,
            "never reached generation {generation}"
        );
        member.poll(POLL)?;
    }
    Ok(())
}

#[test]
fn group_metadata_follows_membership() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path())?;
    broker.create_topic("payments", TopicConfig::default().partitions(2))?;

    let no_group = broker.consumer(ConsumerConfig::default());
    assert!(matches!(
        no_group.group_metadata(),
        Err(Error::InvalidConfig { .. })
    ));

    let config = ConsumerConfig::default().group_id("billing");
    let mut first = broker.consumer(config.clone());
    let before = first.group_metadata()?;
    assert_eq!(
        (
            before.group_id.as_str(),
            before.generation,
            before.member_id.as_str()
        ),
        ("billing", 0, "")
    );

    first.subscribe(["payments"])?;
    poll_until_generation(&mut first, 1)?;
    let joined = first.group_metadata()?;
    assert_eq!(Some(joined.member_id.as_str()), first.member_id());
    assert_eq!(
        joined.generation,
        broker.describe_group("billing")?.generation
    );

    // A second member joins: the first learns of the new generation at its next polls.
    let mut second = broker.consumer(config);
    second.subscribe(["payments"])?;
    let current = broker.describe_group("billing")?.generation;
    assert!(current > joined.generation);
    poll_until_generation(&mut first, current)?;
    let moved_on = first.group_metadata()?;
    assert_eq!(moved_on.generation, current);
    assert_eq!(moved_on.member_id, joined.member_id, "same member");
    assert_ne!(second.group_metadata()?.member_id, moved_on.member_id);

    first.unsubscribe()?;
    let left = first.group_metadata()?;
    assert_eq!((left.generation, left.member_id.as_str()), (0, ""));
    Ok(())
}
