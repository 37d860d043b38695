//! Transaction headers (spec §3.9, §10.8).

crate::header! {
    /// `EndTransactionRequestHeader` (END_TRANSACTION, 37; producer to broker, usually oneway).
    pub struct EndTransactionRequestHeader {
        /// Producer group (required).
        pub producer_group: String = "producerGroup",
        /// Queue offset of the half message, from its send response (required).
        pub tran_state_table_offset: i64 = "tranStateTableOffset",
        /// Physical offset of the half message, from its offset msgId (required).
        pub commit_log_offset: i64 = "commitLogOffset",
        /// [`TRANSACTION_NOT_TYPE`], [`TRANSACTION_COMMIT_TYPE`] or [`TRANSACTION_ROLLBACK_TYPE`]
        /// (required).
        pub commit_or_rollback: i32 = "commitOrRollback",
        /// True when answering a CHECK_TRANSACTION_STATE; absent means false.
        pub from_transaction_check: Option<bool> = "fromTransactionCheck",
        /// UNIQ_KEY of the half message (required).
        pub msg_id: String = "msgId",
        /// Transaction id; optional.
        pub transaction_id: Option<String> = "transactionId",
        /// Broker name the client meant (4.9.5+); informational.
        pub bname: Option<String> = "bname",
    }
}

/// `commitOrRollback` = 0: not a transaction / state unknown; the broker takes no action.
pub const TRANSACTION_NOT_TYPE: i32 = 0;
/// `commitOrRollback` = 8 (the TRANSACTION_COMMIT sysFlag value): commit.
pub const TRANSACTION_COMMIT_TYPE: i32 = 0x8;
/// `commitOrRollback` = 12 (the TRANSACTION_ROLLBACK sysFlag value): roll back.
pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;

crate::header! {
    /// `CheckTransactionStateRequestHeader` (CHECK_TRANSACTION_STATE, 39; broker to one producer
    /// of the group, oneway). The body is the half message's full record (spec §4.1).
    pub struct CheckTransactionStateRequestHeader {
        /// Queue offset of the half message (required).
        pub tran_state_table_offset: i64 = "tranStateTableOffset",
        /// Physical offset of the half message (required).
        pub commit_log_offset: i64 = "commitLogOffset",
        /// UNIQ_KEY of the half message; optional.
        pub msg_id: Option<String> = "msgId",
        /// Transaction id (= UNIQ_KEY); optional.
        pub transaction_id: Option<String> = "transactionId",
        /// Offset msgId of the half message; optional.
        pub offset_msg_id: Option<String> = "offsetMsgId",
        /// 5.x: topic; optional.
        pub topic: Option<String> = "topic",
        /// Broker name (4.9.5+); informational.
        pub bname: Option<String> = "bname",
    }
}
