#!/usr/bin/env node
// Plain ACL with the pure-JavaScript client (npm ali-ons 3.12): a producer with the account's
// accessKey/secretKey sends N messages (all must be SEND_OK); the same access key with a wrong
// secret (signatures that do not verify) must get none accepted; a consumer with the credentials
// receives the N messages. Prints one JSON summary line; exits non-zero when a count is off.
//
// usage: node ali_ons_acl.js NAMESRV TOPIC ACCESS_KEY SECRET_KEY [N]
'use strict';
const { Producer, Consumer, Message } = require('ali-ons');

const [namesrv, topic, accessKey, secretKey, nArg] = process.argv.slice(2);
const n = Number(nArg || 10);
const run = String(Date.now());
const httpclient = { async request() { throw new Error('no HTTP name-server lookup here'); } };
const common = { nameSrv: namesrv, httpclient, isVIPChannel: false };

async function sendAll(producer, count, key, summary) {
  let ok = 0;
  for (let i = 0; i < count; i++) {
    try {
      const r = await producer.send(new Message(topic, 'TagA', `${run} ${key} ${i}`));
      if (r.sendStatus === 'SEND_OK') ok++;
    } catch (e) {
      if (summary.errors.length < 6) summary.errors.push(`${key}: ${String(e.message).slice(0, 160)}`);
    }
  }
  return ok;
}

async function main() {
  const summary = { signedOk: 0, wrongSecretOk: 0, consumed: 0, errors: [] };
  const good = new Producer({ ...common, producerGroup: `PID_ACL_${run}`, accessKey, secretKey });
  await good.ready();
  summary.signedOk = await sendAll(good, n, 'signed', summary);
  await good.close();

  // ali-ons shares one client (connections, credentials) per clientId: a separate instance name
  // keeps the wrong secret to this producer.
  const bad = new Producer({
    ...common, producerGroup: `PID_ACL_BAD_${run}`, instanceName: `bad${run}`, accessKey,
    secretKey: secretKey + 'x',
  });
  try {
    await Promise.race([bad.ready(), new Promise((_, rej) => setTimeout(() => rej(new Error('ready timeout')), 15000))]);
    summary.wrongSecretOk = await sendAll(bad, 3, 'wrong', summary);
  } catch (e) {
    summary.errors.push(`wrong-secret producer: ${String(e.message).slice(0, 160)}`);
  }
  await bad.close().catch(() => {});

  const seen = new Set();
  const consumer = new Consumer({
    ...common, consumerGroup: `CID_ACL_${run}`, accessKey, secretKey,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
  });
  consumer.on('error', () => {});
  consumer.subscribe(topic, 'TagA', async msg => {
    const body = msg.body.toString();
    if (body.startsWith(`${run} signed `)) seen.add(body);
  });
  await consumer.ready();
  const deadline = Date.now() + 90000;
  while (Date.now() < deadline && seen.size < n) {
    await new Promise(r => setTimeout(r, 500));
  }
  summary.consumed = seen.size;
  await consumer.close();
  console.log(JSON.stringify(summary));
  const ok = summary.signedOk === n && summary.wrongSecretOk === 0 && summary.consumed === n;
  process.exit(ok ? 0 : 1);
}

main().catch(e => { console.error(e); process.exit(2); });
