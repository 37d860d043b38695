//! Fuzzes the frame decoder the servers run on every connection: the tokio codec (phase one,
//! "is a whole frame here?", then phase two, parsing), the typed headers servers decode next, and
//! the fastjson body reader. Nothing may panic, and whatever decodes must re-encode to a frame
//! that decodes to the same command.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use remoting::frame::{self, RemotingCodec};
use remoting::header::{pull, send};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut codec = RemotingCodec::default();
    let mut buf = BytesMut::from(data);
    while let Ok(Some(cmd)) = codec.decode(&mut buf) {
        if let Ok(bytes) = frame::encode_to_bytes(&cmd) {
            let back = frame::decode_frame(bytes.slice(4..));
            assert_eq!(
                back.ok().as_ref(),
                Some(&cmd),
                "re-encoded frame decodes differently"
            );
        }
        let _ = send::decode_send_request(&cmd);
        let _ = cmd.ext_fields.decode::<pull::PullMessageRequestHeader>();
        let _ = remoting::fastjson::parse_value(&cmd.body);
    }
});
