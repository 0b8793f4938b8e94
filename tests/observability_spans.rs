//! strom's `tracing` events carry spans that say where the time goes: `open` (with the data
//! directory) around everything `Broker::open` does, `recovery` (topic, partition) around
//! each partition's recovery after an unclean stop, with recovery's events inside it,
//! `poll` (group, member) around a consumer's poll, and `commit_transaction`
//! (transactional id) around a transaction's commit.
//!
//! A small subscriber written here records every span with its fields and parent, and every
//! event with the spans it was inside.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use strom::{Broker, ConsumerConfig, OffsetReset, Record, Result, TopicConfig};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::{Event, Metadata, Subscriber};

mod common;

#[derive(Debug, Clone)]
struct SpanSeen {
    name: &'static str,
    fields: BTreeMap<String, String>,
    parent: Option<u64>,
}

#[derive(Debug, Clone)]
struct EventSeen {
    message: String,
    /// The spans it was inside, outermost first.
    spans: Vec<u64>,
}

#[derive(Debug, Default)]
struct Seen {
    spans: BTreeMap<u64, SpanSeen>,
    events: Vec<EventSeen>,
}

/// Records spans and events; what each thread is inside is its own stack of entered spans.
#[derive(Debug, Clone, Default)]
struct Capture(Arc<Mutex<Seen>>);

thread_local! {
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl Capture {
    fn seen(&self) -> MutexGuard<'_, Seen> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = BTreeMap::new();
        span.record(&mut Fields(&mut fields));
        let parent = match span.parent() {
            Some(id) => Some(id.into_u64()),
            None if span.is_contextual() => ENTERED.with(|e| e.borrow().last().copied()),
            None => None,
        };
        let mut seen = self.seen();
        let id = seen.spans.len() as u64 + 1;
        seen.spans.insert(
            id,
            SpanSeen {
                name: span.metadata().name(),
                fields,
                parent,
            },
        );
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &SpanRecord<'_>) {
        if let Some(s) = self.seen().spans.get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut s.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let spans = ENTERED.with(|e| e.borrow().clone());
        self.seen().events.push(EventSeen {
            message: fields.remove("message").unwrap_or_default(),
            spans,
        });
    }

    fn enter(&self, span: &Id) {
        ENTERED.with(|e| e.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, span: &Id) {
        ENTERED.with(|e| {
            let mut entered = e.borrow_mut();
            if let Some(i) = entered.iter().rposition(|&s| s == span.into_u64()) {
                entered.remove(i);
            }
        });
    }
}

impl Seen {
    /// The ids of the spans named `name` whose fields include `fields`.
    fn spans(&self, name: &str, fields: &[(&str, &str)]) -> Vec<u64> {
        self.spans
            .iter()
            .filter(|(_, s)| {
                s.name == name
                    && fields
                        .iter()
                        .all(|(k, v)| s.fields.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// The one span named `name` with `fields`.
    fn span(&self, name: &str, fields: &[(&str, &str)]) -> u64 {
        let found = self.spans(name, fields);
        assert_eq!(
            found.len(),
            1,
            "spans {name} {fields:?} among {:#?}",
            self.spans
        );
        found[0]
    }

    /// The events whose message starts with `start`.
    fn events(&self, start: &str) -> Vec<&EventSeen> {
        self.events
            .iter()
            .filter(|e| e.message.starts_with(start))
            .collect()
    }
}

#[test]
fn open_recovery_poll_and_commit_have_spans() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let broker = Broker::open(dir.path())?;
        broker.create_topic("orders", TopicConfig::default().partitions(2))?;
        for p in 0..2 {
            broker
                .producer()
                .send("orders", Record::new("order").partition(p))?;
        }
        broker.close()?;
    }
    // An unclean stop: no clean-shutdown marker, and partition 0's log ends in zeroes
    // (space the operating system had allocated when the machine stopped).
    std::fs::remove_file(dir.path().join(".clean")).expect("clean marker");
    let log = common::segment_logs(dir.path(), "orders", 0)
        .pop()
        .expect("a segment of partition 0");
    OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(&[0; 512]))
        .expect("zeroes appended");

    let capture = Capture::default();
    let dispatch = tracing::Dispatch::new(capture.clone());
    let member = tracing::dispatcher::with_default(&dispatch, || -> Result<String> {
        let broker = Broker::open(dir.path())?;
        let mut consumer = broker.consumer(
            ConsumerConfig::default()
                .group_id("shipping")
                .auto_offset_reset(OffsetReset::Earliest),
        );
        consumer.subscribe(["orders"])?;
        let mut read = 0;
        while read < 2 {
            read += consumer.poll(Duration::from_secs(5))?.len();
        }
        let member = consumer.group_metadata()?.member_id;
        broker.create_topic("invoices", TopicConfig::default())?;
        let producer = broker.transactional_producer("shipping-1")?;
        producer.begin_transaction()?;
        producer.send("invoices", Record::new("invoice"))?;
        producer.commit_transaction()?;
        drop(producer);
        consumer.close()?;
        broker.close()?;
        Ok(member)
    })?;

    let seen = capture.seen();
    let dir_name = dir.path().display().to_string();
    let open = seen.span("open", &[("dir", &dir_name)]);
    assert_eq!(seen.spans[&open].parent, None);
    for partition in ["0", "1"] {
        let recovery = seen.span("recovery", &[("topic", "orders"), ("partition", partition)]);
        assert_eq!(seen.spans[&recovery].parent, Some(open));
        // Each partition's tail was checked, inside its own span and the open's.
        let recovered = seen.events("recovered the active segment");
        assert!(
            recovered.iter().any(|e| e.spans == [open, recovery]),
            "partition {partition}: {recovered:#?}"
        );
    }
    let recovery_0 = seen.span("recovery", &[("topic", "orders"), ("partition", "0")]);
    let cut = seen.events("cut the segment's file");
    assert_eq!(cut.len(), 1, "{cut:#?}");
    assert_eq!(cut[0].spans, [open, recovery_0]);
    // The data directory's own events are inside `open` but no partition's recovery.
    let opened = seen.events("opened data directory");
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].spans, [open]);

    let polls = seen.spans("poll", &[("group", "shipping"), ("member", &member)]);
    assert!(!polls.is_empty(), "{:#?}", seen.spans);
    assert!(polls.iter().all(|p| seen.spans[p].parent.is_none()));
    seen.span("commit_transaction", &[("transactional_id", "shipping-1")]);
    Ok(())
}
