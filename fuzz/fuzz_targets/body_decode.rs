//! Fuzzes the fastjson body reader (every JSON body a broker or name server accepts goes through
//! it) and the typed bodies built on it. Nothing may panic; a value that parses must survive
//! being written in form 2 and read back.

#![no_main]

use libfuzzer_sys::fuzz_target;
use remoting::body::admin::{
    ConsumeStats, ConsumerOffsetSerializeWrapper, SubscriptionGroupWrapper,
};
use remoting::body::client::{HeartbeatData, LockBatchRequestBody};
use remoting::fastjson;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = fastjson::parse_value(data) {
        // Writing a parsed value cannot fail, and form 2 output is stable: what it writes reads
        // back to a value that writes the same bytes.
        let first = fastjson::to_vec_object_keys(&v).expect("a parsed value can be written");
        if let Ok(again) = fastjson::parse_value(&first) {
            let second = fastjson::to_vec_object_keys(&again).expect("written again");
            assert_eq!(first, second, "form 2 output is not stable");
        }
    }
    let _ = HeartbeatData::decode(data);
    let _ = LockBatchRequestBody::decode(data);
    let _ = ConsumeStats::decode(data);
    let _ = ConsumerOffsetSerializeWrapper::decode(data);
    let _ = SubscriptionGroupWrapper::decode(data);
});
