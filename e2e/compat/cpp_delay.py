#!/usr/bin/env python3
"""Delayed messages through the RocketMQ C++ client (PyPI `rocketmq` 0.4.4): sends N messages with
delay level 1, reads them back with a pull consumer once delivered, and checks that each keeps the
properties Java's brokers keep on delivered delayed messages: DELAY (the level), REAL_TOPIC and
REAL_QID. Prints one JSON summary line; exits non-zero when something is off.

usage: cpp_delay.py NAMESRV TOPIC [N]
"""
import json
import sys
import time

from rocketmq.client import Message, Producer, PullConsumer, SendStatus

namesrv, topic = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 5
run = str(int(time.time() * 1000))


def prop(msg, key):
    v = msg.get_property(key)
    if isinstance(v, bytes):  # the 0.4.4 wrapper returns bytes here
        v = v.decode()
    return v


summary = {"sent": 0, "failed": []}
producer = Producer("PID_CPP_DELAY_" + run, timeout=5000)
producer.set_namesrv_addr(namesrv)
producer.start()
for i in range(n):
    m = Message(topic)
    m.set_keys("%s-%d" % (run, i))
    m.set_body(("%s delayed %d" % (run, i)).encode())
    m.set_delay_time_level(1)
    r = producer.send_sync(m)
    if r.status == SendStatus.OK:
        summary["sent"] += 1
    else:
        summary["failed"].append("send %d: %s" % (i, r.status))
producer.shutdown()

pull = PullConsumer("CID_CPP_DELAY_" + run)
pull.set_namesrv_addr(namesrv)
pull.start()
got = {}
deadline = time.time() + 60
while time.time() < deadline:
    got.clear()
    PullConsumer.offset_table = {}
    for msg in pull.pull(topic):
        body = msg.body.decode(errors="replace")
        if body.startswith(run + " "):
            got[body] = (prop(msg, "DELAY"), prop(msg, "REAL_TOPIC"), prop(msg, "REAL_QID"),
                         msg.queue_id)
    if len(got) >= n:
        break
    time.sleep(0.5)
pull.shutdown()
summary["delivered"] = len(got)
for body, (delay, real_topic, real_qid, qid) in sorted(got.items()):
    if delay != "1":
        summary["failed"].append("%s: DELAY=%r" % (body, delay))
    if real_topic != topic:
        summary["failed"].append("%s: REAL_TOPIC=%r" % (body, real_topic))
    if real_qid != str(qid):
        summary["failed"].append("%s: REAL_QID=%r, queue %d" % (body, real_qid, qid))

print(json.dumps(summary))
sys.exit(0 if not summary["failed"] and summary["sent"] == n and summary["delivered"] == n else 1)
