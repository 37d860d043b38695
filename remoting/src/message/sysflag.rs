//! SYSFLAG bits of a record (spec §4.2, Java `MessageSysFlag`).

/// The body is compressed.
pub const COMPRESSED_FLAG: i32 = 0x1;
/// Topic filter type MULTI_TAG (set by the broker).
pub const MULTI_TAGS_FLAG: i32 = 0x2;
/// Mask of the two transaction-type bits.
pub const TRANSACTION_TYPE_MASK: i32 = 0xC;
/// Not a transactional message.
pub const TRANSACTION_NOT_TYPE: i32 = 0x0;
/// A prepared (half) transactional message.
pub const TRANSACTION_PREPARED_TYPE: i32 = 0x4;
/// A committed transactional message.
pub const TRANSACTION_COMMIT_TYPE: i32 = 0x8;
/// A rolled-back transactional message.
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;
/// The born host is IPv6 (16-byte address).
pub const BORNHOST_V6_FLAG: i32 = 0x10;
/// The store host is IPv6 (16-byte address).
pub const STOREHOSTADDRESS_V6_FLAG: i32 = 0x20;
/// 5.x: inner batch needing unwrap.
pub const NEED_UNWRAP_FLAG: i32 = 0x40;
/// 5.x: inner batch.
pub const INNER_BATCH_FLAG: i32 = 0x80;
/// Mask of the compression-type bits (1 LZ4, 2 ZSTD, 3 ZLIB; 0 means ZLIB).
pub const COMPRESSION_TYPE_MASK: i32 = 0x700;

/// The transaction type bits of `sys_flag`.
pub fn transaction_type(sys_flag: i32) -> i32 {
    sys_flag & TRANSACTION_TYPE_MASK
}

/// Replaces the transaction type bits of `sys_flag` with `ty`.
pub fn with_transaction_type(sys_flag: i32, ty: i32) -> i32 {
    (sys_flag & !TRANSACTION_TYPE_MASK) | (ty & TRANSACTION_TYPE_MASK)
}
