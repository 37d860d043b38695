//! The commit-log message record (spec §4), shared by the store, the broker and clients.
//!
//! The same bytes live in commit-log files, pull/query/view response bodies and the HA stream, so
//! [`encode`] writes exactly the V1 layout of spec §4.1 and [`decode`] reads it back. Decoding
//! never panics: any inconsistency is a [`RemotingError::MalformedRecord`](crate::RemotingError).
//!
//! - [`record`]: [`MessageRecord`] (owned) and [`RecordView`] (borrowed, allocation-free) with
//!   [`encode`], [`decode`], [`decode_view`], [`decode_all`] ([`decode_all_shared`]: bodies not copied) and field offsets.
//! - [`properties`]: the `name\x01value\x02...` properties string (§4.3), with separator checks.
//! - [`batch`]: SEND_BATCH_MESSAGE bodies (§3.2).
//! - [`ids`]: offset message ids (§4.5) and client `UNIQ_KEY` ids.
//! - [`hash`]: Java `String.hashCode` (tag hash, §4.6) and the masked CRC32 (§4.7).
//! - [`sysflag`]: SYSFLAG bits (§4.2); [`keys`]: well-known property keys (§4.8).

pub mod batch;
pub mod hash;
pub mod ids;
pub mod keys;
pub mod properties;
pub mod record;
pub mod sysflag;

pub use batch::{BatchItem, decode_batch, encode_batch};
pub use hash::{crc32_masked, java_string_hash, java_string_hash_of, tags_code};
pub use ids::{
    OffsetMsgId, UniqIdGenerator, decode_offset_msg_id, encode_offset_msg_id, push_offset_msg_id,
};
pub use properties::Properties;
pub use record::{
    BLANK_MAGIC_CODE, MAGIC_CODE_V1, MAGIC_CODE_V2, MessageRecord, RecordView, decode, decode_all,
    decode_all_shared, decode_view, encode, encode_into, encode_with_raw_properties, peek_header,
    record_len,
};
