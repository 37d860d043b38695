//! Fuzzes the commit-log record decoder (pull, query and view bodies; the store's recovery scan)
//! and the SEND_BATCH_MESSAGE body decoder. Nothing may panic; the borrowed and owned decoders
//! must agree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use remoting::message;

fuzz_target!(|data: &[u8]| {
    let all = message::decode_all(data);
    match (message::decode_view(data), message::decode(data)) {
        (Ok(view), Ok(owned)) => {
            assert_eq!(view.to_record(), owned);
            let _ = view.crc_ok();
            if let Ok(all) = &all {
                assert_eq!(all.first(), Some(&owned));
            }
        }
        (Err(_), Err(_)) => assert!(all.is_err() || data.is_empty()),
        _ => panic!("decode and decode_view disagree"),
    }
    let _ = message::decode_batch(data);
    let _ = message::peek_header(data);
});
