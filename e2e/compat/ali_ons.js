#!/usr/bin/env node
// Drives the pure-JavaScript RocketMQ client (npm ali-ons 3.12) against a name server and broker:
// sends messages with two tags, consumes one tag with a push consumer, checks counts. Prints one
// JSON summary line; exits non-zero when a count is off.
//
// usage: node ali_ons.js NAMESRV TOPIC [N]
'use strict';
const { Producer, Consumer, Message } = require('ali-ons');

const [namesrv, topic, nArg] = process.argv.slice(2);
const n = Number(nArg || 40);
const run = String(Date.now());
// ali-ons insists on an HTTP client even with a fixed name server; it is never used here.
const httpclient = { async request() { throw new Error('no HTTP name-server lookup here'); } };
const common = { nameSrv: namesrv, httpclient, isVIPChannel: false };

async function main() {
  const summary = { sent: 0, sentTagA: 0, consumed: 0, wrongTag: 0, failed: [] };
  const producer = new Producer({ ...common, producerGroup: `PID_ONS_${run}` });
  await producer.ready();
  for (let i = 0; i < n; i++) {
    const tag = i % 2 === 0 ? 'TagA' : 'TagB';
    const msg = new Message(topic, tag, `${run} ${i}`);
    msg.keys = [`${run}-${i}`];
    try {
      const r = await producer.send(msg);
      if (r.sendStatus === 'SEND_OK' && r.msgId) {
        summary.sent++;
        if (tag === 'TagA') summary.sentTagA++;
      } else {
        summary.failed.push(`send ${i}: ${r.sendStatus}`);
      }
    } catch (e) {
      summary.failed.push(`send ${i}: ${e.message}`);
    }
  }
  await producer.close();

  const seen = new Set();
  const consumer = new Consumer({
    ...common,
    consumerGroup: `CID_ONS_${run}`,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
  });
  consumer.on('error', () => {}); // the %RETRY% topic may not exist yet; ali-ons logs and carries on
  consumer.subscribe(topic, 'TagA', async msg => {
    const body = msg.body.toString();
    if (!body.startsWith(`${run} `)) return;
    if (msg.tags !== 'TagA') summary.wrongTag++;
    seen.add(body);
  });
  await consumer.ready();
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline && seen.size < summary.sentTagA) {
    await new Promise(r => setTimeout(r, 200));
  }
  summary.consumed = seen.size;
  await consumer.close();
  console.log(JSON.stringify(summary));
  const good = summary.failed.length === 0 && summary.sent === n &&
    summary.consumed === summary.sentTagA && summary.wrongTag === 0;
  process.exit(good ? 0 : 1);
}

main().catch(e => { console.error(e); process.exit(2); });
