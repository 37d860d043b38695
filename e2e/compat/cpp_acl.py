#!/usr/bin/env python3
"""Plain ACL with the RocketMQ C++ client (PyPI `rocketmq` 0.4.4): a producer with the account's
session credentials sends N messages (all must be SEND_OK); a producer with the right access key
and a wrong secret (its signatures do not verify) and one without credentials must get no
message accepted; a pull consumer with the credentials reads back exactly the N messages.
Prints one JSON summary line; exits non-zero when a count is off.

usage: cpp_acl.py NAMESRV TOPIC ACCESS_KEY SECRET_KEY [N]
"""
import json
import sys
import time

from rocketmq.client import Message, Producer, PullConsumer, SendStatus

namesrv, topic, ak, sk = sys.argv[1:5]
n = int(sys.argv[5]) if len(sys.argv) > 5 else 10
run = str(int(time.time() * 1000))
summary = {"signed_ok": 0, "wrong_secret_ok": 0, "unsigned_ok": 0, "pulled": 0, "errors": []}


def producer(name, creds):
    p = Producer(name + run, timeout=3000)
    p.set_namesrv_addr(namesrv)
    if creds:
        p.set_session_credentials(creds[0], creds[1], "ALIYUN")
    p.start()
    return p


def send_all(p, count, key):
    ok = 0
    for i in range(count):
        m = Message(topic)
        m.set_keys("%s-%s-%d" % (run, key, i))
        m.set_body(("%s %s %d" % (run, key, i)).encode())
        try:
            r = p.send_sync(m)
            if r.status == SendStatus.OK:
                ok += 1
        except Exception as e:  # refused sends raise in the 0.4.4 wrapper
            if len(summary["errors"]) < 6:
                summary["errors"].append("%s: %s" % (key, str(e)[:160]))
    return ok


good = producer("PID_ACL_OK_", (ak, sk))
summary["signed_ok"] = send_all(good, n, "signed")
good.shutdown()
bad = producer("PID_ACL_BAD_", (ak, sk + "x"))
summary["wrong_secret_ok"] = send_all(bad, 3, "wrong")
bad.shutdown()
anon = producer("PID_ACL_ANON_", None)
summary["unsigned_ok"] = send_all(anon, 3, "unsigned")
anon.shutdown()

consumer = PullConsumer("CID_ACL_" + run)
consumer.set_namesrv_addr(namesrv)
consumer.set_session_credentials(ak, sk, "ALIYUN")
consumer.start()
deadline = time.time() + 60
while time.time() < deadline and summary["pulled"] < n:
    summary["pulled"] = sum(1 for _ in consumer.pull(topic, "*", 64))
    if summary["pulled"] < n:
        time.sleep(1)
consumer.shutdown()

print(json.dumps(summary))
ok = (summary["signed_ok"] == n and summary["wrong_secret_ok"] == 0
      and summary["unsigned_ok"] == 0 and summary["pulled"] == n)
sys.exit(0 if ok else 1)
