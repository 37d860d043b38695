#!/usr/bin/env python3
"""The C++ client's consumer send-back path: a push consumer answers RECONSUME_LATER for every
message the first FAILS times it sees it; the broker must redeliver it through %RETRY%<group>
with a growing reconsume count, and each message must finally be consumed. Prints one JSON
summary line; exits non-zero when a count is off.

The 0.4.4 C API hands the callback a whole pulled batch one message at a time and stops at the
first failure: that message and every later one of the batch are sent back, the later ones
without being shown. So a message may first be seen with a reconsume count above 0, and counts
may skip; what must hold is that each message is seen at least FAILS + 1 times, always with a
larger count than before, never reaches the DLQ, and is finally consumed.

The 0.4.4 wrapper turns a raised exception into success, so the callback is registered through
the wrapper's own ctypes hook and returns the C enum value itself.

usage: cpp_sendback.py NAMESRV TOPIC [N] [FAILS]
"""
import json
import sys
import threading
import time

from rocketmq.client import Message, Producer, PushConsumer, RecvMessage, SendStatus
from rocketmq.ffi import _CConsumeStatus

namesrv, topic = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 5
fails = int(sys.argv[4]) if len(sys.argv) > 4 else 2
run = str(int(time.time() * 1000))

producer = Producer("PID_CPP_SENDBACK_" + run, timeout=5000)
producer.set_namesrv_addr(namesrv)
producer.start()
sent = 0
for i in range(n):
    m = Message(topic)
    m.set_keys("%s-%d" % (run, i))
    m.set_body(("%s retry %d" % (run, i)).encode())
    if producer.send_sync(m).status == SendStatus.OK:
        sent += 1
producer.shutdown()

lock = threading.Lock()
attempts = {}   # body -> times seen
reconsume = {}  # body -> reconsume_times seen, in order
done = set()


def on_message(consumer, cmsg):
    msg = RecvMessage(cmsg)
    body = msg.body.decode(errors="replace")
    if not body.startswith(run + " "):
        return _CConsumeStatus.CONSUME_SUCCESS.value
    with lock:
        attempts[body] = attempts.get(body, 0) + 1
        reconsume.setdefault(body, []).append(msg.reconsume_times)
        if attempts[body] <= fails:
            return _CConsumeStatus.RECONSUME_LATER.value
        done.add(body)
    return _CConsumeStatus.CONSUME_SUCCESS.value


push = PushConsumer("CID_CPP_SENDBACK_" + run)
push.set_namesrv_addr(namesrv)
# The C API answers for a whole batch: one RECONSUME_LATER sends every message of the batch back.
push.set_message_batch_max_size(1)
from rocketmq.client import dll, ffi_check, _to_bytes  # noqa: E402  (the wrapper's own hooks)

ffi_check(dll.Subscribe(push._handle, _to_bytes(topic), _to_bytes("*")))
push._register_callback(on_message)
push.start()
deadline = time.time() + 90
while time.time() < deadline and len(done) < sent:
    time.sleep(0.2)
push.shutdown()

summary = {
    "sent": sent,
    "done": len(done),
    "attempts": sorted(set(attempts.values())),
    "reconsume": sorted({tuple(v) for v in reconsume.values()}),
}
print(json.dumps(summary))
good = (
    sent == n
    and len(done) == n
    and all(a >= fails + 1 for a in attempts.values())
    and all(all(x < y for x, y in zip(v, v[1:])) for v in reconsume.values())
    and all(max(v) < 16 for v in reconsume.values())
)
sys.exit(0 if good else 1)
