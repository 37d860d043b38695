//! Pull headers (spec §3.4): PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361, 5.x).

crate::header! {
    /// `PullMessageRequestHeader`.
    pub struct PullMessageRequestHeader {
        /// Consumer group (required).
        pub consumer_group: String = "consumerGroup",
        /// Topic (required).
        pub topic: String = "topic",
        /// Queue id (required).
        pub queue_id: i32 = "queueId",
        /// Consume-queue offset to read from (required).
        pub queue_offset: i64 = "queueOffset",
        /// Most messages to return (required; push consumer default 32).
        pub max_msg_nums: i32 = "maxMsgNums",
        /// [`PullSysFlag`] bits (required).
        pub sys_flag: i32 = "sysFlag",
        /// The consumer's current offset, stored when [`PullSysFlag::COMMIT_OFFSET`] is set
        /// (required).
        pub commit_offset: i64 = "commitOffset",
        /// Long-poll hold time in ms (required; push consumer 15000).
        pub suspend_timeout_millis: i64 = "suspendTimeoutMillis",
        /// Subscription expression, only meaningful with [`PullSysFlag::SUBSCRIPTION`]; optional.
        pub subscription: Option<String> = "subscription",
        /// Subscription version (a timestamp) (required).
        pub sub_version: i64 = "subVersion",
        /// `TAG` (the default when absent) or `SQL92`.
        pub expression_type: Option<String> = "expressionType",
        /// 5.x: byte limit of the answer; absent means no limit beyond the broker's.
        pub max_msg_bytes: Option<i32> = "maxMsgBytes",
        /// Broker name the client meant (4.9.5+); informational.
        pub bname: Option<String> = "bname",
    }
}

/// The `sysFlag` bits of a pull request (Java `PullSysFlag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PullSysFlag(pub i32);

impl PullSysFlag {
    /// Bit 0: store `commitOffset` for the group.
    pub const COMMIT_OFFSET: i32 = 0x1;
    /// Bit 1: the broker may hold the request (long polling).
    pub const SUSPEND: i32 = 0x2;
    /// Bit 2: the request carries its subscription expression.
    pub const SUBSCRIPTION: i32 = 0x4;
    /// Bit 3: class filter (removed feature).
    pub const CLASS_FILTER: i32 = 0x8;
    /// Bit 4: 5.x lite pull.
    pub const LITE_PULL: i32 = 0x10;

    /// Builds the flag a Java consumer would send.
    pub fn build(
        commit_offset: bool,
        suspend: bool,
        subscription: bool,
        class_filter: bool,
    ) -> Self {
        let mut f = 0;
        if commit_offset {
            f |= Self::COMMIT_OFFSET;
        }
        if suspend {
            f |= Self::SUSPEND;
        }
        if subscription {
            f |= Self::SUBSCRIPTION;
        }
        if class_filter {
            f |= Self::CLASS_FILTER;
        }
        PullSysFlag(f)
    }

    /// True when `commitOffset` is to be stored.
    pub fn has_commit_offset(self) -> bool {
        self.0 & Self::COMMIT_OFFSET != 0
    }

    /// True when long polling is allowed.
    pub fn has_suspend(self) -> bool {
        self.0 & Self::SUSPEND != 0
    }

    /// True when the request carries its subscription.
    pub fn has_subscription(self) -> bool {
        self.0 & Self::SUBSCRIPTION != 0
    }

    /// True for the class-filter bit.
    pub fn has_class_filter(self) -> bool {
        self.0 & Self::CLASS_FILTER != 0
    }

    /// True for the lite-pull bit.
    pub fn has_lite_pull(self) -> bool {
        self.0 & Self::LITE_PULL != 0
    }

    /// The flag with the commit-offset bit cleared (what the broker forwards after handling it).
    pub fn without_commit_offset(self) -> Self {
        PullSysFlag(self.0 & !Self::COMMIT_OFFSET)
    }
}

impl PullMessageRequestHeader {
    /// The typed `sysFlag`.
    pub fn flags(&self) -> PullSysFlag {
        PullSysFlag(self.sys_flag)
    }
}

crate::header! {
    /// `PullMessageResponseHeader`. All four Java `@CFNotNull` fields must be present on *every*
    /// pull response (SUCCESS, PULL_NOT_FOUND, PULL_RETRY_IMMEDIATELY, PULL_OFFSET_MOVED), or Java
    /// clients fail.
    pub struct PullMessageResponseHeader {
        /// Broker id the client should pull from next: 0 = master, else the group's
        /// `whichBrokerWhenConsumeSlowly` (required).
        pub suggest_which_broker_id: i64 = "suggestWhichBrokerId",
        /// Offset to pull from next (required).
        pub next_begin_offset: i64 = "nextBeginOffset",
        /// Smallest offset of the queue (required).
        pub min_offset: i64 = "minOffset",
        /// Next offset to be written in the queue (required).
        pub max_offset: i64 = "maxOffset",
        /// 5.x: offset delta of static topics; optional.
        pub offset_delta: Option<i64> = "offsetDelta",
        /// 5.x: topic sysFlag; optional.
        pub topic_sys_flag: Option<i32> = "topicSysFlag",
        /// 5.x: group sysFlag; optional.
        pub group_sys_flag: Option<i32> = "groupSysFlag",
        /// 5.x: why the pull was forbidden; optional.
        pub forbidden_type: Option<i32> = "forbiddenType",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext::{CommandHeader, ExtFields};

    #[test]
    fn response_always_has_the_four_fields() {
        let ext = PullMessageResponseHeader::default().to_ext();
        for k in [
            "suggestWhichBrokerId",
            "nextBeginOffset",
            "minOffset",
            "maxOffset",
        ] {
            assert_eq!(ext.get(k), Some("0"), "{k}");
        }
        assert_eq!(ext.len(), 4);
    }

    #[test]
    fn flags() {
        let f = PullSysFlag::build(true, true, false, false);
        assert_eq!(f.0, 3);
        assert!(f.has_commit_offset() && f.has_suspend() && !f.has_subscription());
        assert_eq!(f.without_commit_offset().0, 2);
    }

    #[test]
    fn missing_required_field() {
        let mut ext = PullMessageRequestHeader::default().to_ext();
        ext.remove("subVersion");
        assert!(PullMessageRequestHeader::from_ext(&ext).is_err());
        assert!(PullMessageRequestHeader::from_ext(&ExtFields::new()).is_err());
    }
}
