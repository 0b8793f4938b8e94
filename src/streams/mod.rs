//! Stream processing in process: Kafka Streams' model on strom's topics.
//!
//! Keys and values carry their encoding through the [`Codec`] trait (`String`, `Vec<u8>`,
//! `u64`, `i64`, `()`, [`Json<T>`], [`Windowed<K>`]), byte-compatible with Kafka's
//! serializers. Windows ([`TimeWindows`], [`SessionWindows`], [`JoinWindows`]) are on event
//! time, with Kafka Streams' rules.

mod codec;
mod window;

pub use self::codec::{codec_error, Codec, Json, Windowed};
pub use self::window::{JoinWindows, SessionWindows, TimeWindows, Window};
