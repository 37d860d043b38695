/*
 * The Apache RocketMQ 4.9.7 Java client against our name server and broker: one feature per run.
 *
 * Usage: java JavaClientFeatures <namesrv> <feature> <topic> [phase]
 *
 * Compiled and run by e2e/tests/java_client.rs against the 4.9.7 client jars (never committed;
 * see e2e/README.md). Every feature counts what the broker acknowledged and what the consumers
 * received, prints `ACKED n` / `RECEIVED n` and finally `FEATURE <name> OK ...` (exit 0) or
 * `FEATURE <name> FAIL <why>` (exit 1).
 *
 * `background <seconds>` is no feature: a producer (group PG_mqadmin) and a push consumer (group
 * CG_mqadmin) that stay up for the mqadmin suite (e2e/tests/java_mqadmin.rs) to inspect.
 */

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.rocketmq.client.QueryResult;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.MessageSelector;
import org.apache.rocketmq.client.consumer.PullResult;
import org.apache.rocketmq.client.consumer.PullStatus;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.ConsumeOrderlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.consumer.listener.MessageListenerOrderly;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.LocalTransactionState;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.producer.TransactionListener;
import org.apache.rocketmq.client.producer.TransactionMQProducer;
import org.apache.rocketmq.client.producer.TransactionSendResult;
import org.apache.rocketmq.client.utils.MessageUtil;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.common.protocol.heartbeat.MessageModel;

public class JavaClientFeatures {
    /** How long a consumer may take to see everything it should (the machine is shared). */
    static final long WAIT_MS = 60_000;

    static String ns;
    static String topic;
    static String feature;
    static int acked;
    static int received;

    public static void main(String[] args) throws Exception {
        ns = args[0];
        feature = args[1];
        topic = args[2];
        String phase = args.length > 3 ? args[3] : "";
        try {
            String detail = run(phase);
            System.out.printf("ACKED %d%nRECEIVED %d%n", acked, received);
            System.out.printf("FEATURE %s OK %s%n", feature, detail);
            System.out.flush();
            System.exit(0);
        } catch (Throwable e) {
            System.out.printf("ACKED %d%nRECEIVED %d%n", acked, received);
            e.printStackTrace(System.out);
            System.out.printf("FEATURE %s FAIL %s%n", feature, String.valueOf(e).replace('\n', ' '));
            System.out.flush();
            System.exit(1);
        }
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException(what);
        }
    }

    static DefaultMQProducer producer(String group) throws Exception {
        DefaultMQProducer p = new DefaultMQProducer(group);
        setup(p);
        p.start();
        return p;
    }

    static void setup(DefaultMQProducer p) {
        p.setNamesrvAddr(ns);
        p.setVipChannelEnabled(false);
        p.setSendMsgTimeout(10_000);
        p.setInstanceName(p.getProducerGroup() + "-" + System.nanoTime());
    }

    static DefaultMQPushConsumer push(String group) {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(group);
        setup(c);
        return c;
    }

    static void setup(DefaultMQPushConsumer c) {
        c.setNamesrvAddr(ns);
        c.setVipChannelEnabled(false);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.setInstanceName(c.getConsumerGroup() + "-" + System.nanoTime());
        c.setPullInterval(0);
    }

    static Message msg(String tags, String key, String body) {
        Message m = new Message(topic, tags, key, body.getBytes(StandardCharsets.UTF_8));
        return m;
    }

    static String body(MessageExt m) {
        return new String(m.getBody(), StandardCharsets.UTF_8);
    }

    static boolean await(java.util.function.BooleanSupplier cond) throws InterruptedException {
        long end = System.currentTimeMillis() + WAIT_MS;
        while (System.currentTimeMillis() < end) {
            if (cond.getAsBoolean()) {
                return true;
            }
            Thread.sleep(50);
        }
        return cond.getAsBoolean();
    }

    /** queryMessage until it finds something: Java throws "no message" while the index lags. */
    static List<MessageExt> queryUntilFound(DefaultMQProducer admin, String t, String key, long end) throws Exception {
        while (true) {
            try {
                QueryResult q = admin.queryMessage(t, key, 32, 0, Long.MAX_VALUE);
                if (!q.getMessageList().isEmpty()) {
                    return q.getMessageList();
                }
            } catch (Exception e) {
                if (System.currentTimeMillis() > end) {
                    throw e;
                }
            }
            if (System.currentTimeMillis() > end) {
                return Collections.emptyList();
            }
            Thread.sleep(200);
        }
    }

    static boolean awaitLong(java.util.function.BooleanSupplier cond) throws InterruptedException {
        return await(cond) || await(cond);
    }

    /** A clustering push consumer collecting bodies until `expected` distinct ones arrived. */
    static Map<String, Integer> consumeBodies(String group, String expr, int expected) throws Exception {
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = push(group);
        c.subscribe(topic, expr);
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                seen.merge(body(m), 1, Integer::sum);
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        await(() -> seen.size() >= expected);
        // A little longer: anything beyond the expected set would show up now.
        Thread.sleep(1500);
        c.shutdown();
        received = seen.size();
        return seen;
    }

    static Set<String> bodies(String prefix, int n) {
        Set<String> s = new TreeSet<>();
        for (int i = 0; i < n; i++) {
            s.add(prefix + i);
        }
        return s;
    }

    static String expectExactly(Map<String, Integer> seen, Set<String> want) {
        check(seen.keySet().equals(want), "received " + new TreeSet<>(seen.keySet()) + " want " + want);
        int dups = 0;
        for (int v : seen.values()) {
            dups += v - 1;
        }
        return "acked=" + acked + " received=" + received + " duplicates=" + dups;
    }

    static String run(String phase) throws Exception {
        switch (feature) {
            case "send_sync": return sendSync();
            case "send_async": return sendAsync();
            case "send_oneway": return sendOneway();
            case "send_batch": return sendBatch();
            case "compressed_body": return compressed();
            case "push_consumer": return pushConsumer();
            case "orderly_consumer": return orderly();
            case "tag_filter": return tagFilter();
            case "sql92_filter": return sql92();
            case "lite_pull_subscribe": return litePullSubscribe();
            case "lite_pull_assign": return litePullAssign();
            case "legacy_pull": return legacyPull();
            case "query_by_key": return queryByKey();
            case "query_by_offset_id": return queryByOffsetId();
            case "query_by_unique_key": return queryByUniqueKey();
            case "retry": return retry();
            case "dlq": return dlq();
            case "delay": return delay();
            case "transaction_commit": return transaction(LocalTransactionState.COMMIT_MESSAGE);
            case "transaction_rollback": return transaction(LocalTransactionState.ROLLBACK_MESSAGE);
            case "transaction_check": return transaction(LocalTransactionState.UNKNOW);
            case "offsets_restart": return offsetsRestart(phase);
            case "broadcasting": return broadcasting();
            case "rebalance": return rebalance();
            case "message_trace": return trace();
            case "request_reply": return requestReply();
            case "vip_channel": return vipChannel();
            case "background": return background(Integer.parseInt(phase));
            default: throw new IllegalArgumentException("unknown feature " + feature);
        }
    }

    static String sendSync() throws Exception {
        DefaultMQProducer p = producer("PG_sync");
        int n = 30;
        for (int i = 0; i < n; i++) {
            SendResult r = p.send(msg("T", "k" + i, "sync-" + i));
            check(r.getSendStatus() == SendStatus.SEND_OK, "send status " + r.getSendStatus());
            check(r.getMsgId() != null && r.getOffsetMsgId() != null, "ids " + r);
            acked++;
        }
        p.shutdown();
        return expectExactly(consumeBodies("CG_sync", "*", n), bodies("sync-", n));
    }

    static String sendAsync() throws Exception {
        DefaultMQProducer p = producer("PG_async");
        int n = 30;
        CountDownLatch done = new CountDownLatch(n);
        AtomicInteger ok = new AtomicInteger();
        List<String> errors = new CopyOnWriteArrayList<>();
        for (int i = 0; i < n; i++) {
            p.send(msg("T", "k" + i, "async-" + i), new SendCallback() {
                public void onSuccess(SendResult r) {
                    if (r.getSendStatus() == SendStatus.SEND_OK) {
                        ok.incrementAndGet();
                    }
                    done.countDown();
                }

                public void onException(Throwable e) {
                    errors.add(String.valueOf(e));
                    done.countDown();
                }
            });
        }
        check(done.await(WAIT_MS, TimeUnit.MILLISECONDS), "async callbacks missing");
        acked = ok.get();
        p.shutdown();
        check(errors.isEmpty() && acked == n, "async errors " + errors);
        return expectExactly(consumeBodies("CG_async", "*", n), bodies("async-", n));
    }

    static String sendOneway() throws Exception {
        DefaultMQProducer p = producer("PG_oneway");
        int n = 30;
        for (int i = 0; i < n; i++) {
            p.sendOneway(msg("T", "k" + i, "oneway-" + i));
        }
        acked = n; // one-way sends have no acknowledgement: "sent"
        Thread.sleep(500);
        p.shutdown();
        return expectExactly(consumeBodies("CG_oneway", "*", n), bodies("oneway-", n));
    }

    static String sendBatch() throws Exception {
        DefaultMQProducer p = producer("PG_batch");
        int n = 0;
        for (int b = 0; b < 3; b++) {
            List<Message> batch = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                batch.add(msg("T", "k" + n, "batch-" + n));
                n++;
            }
            SendResult r = p.send(batch);
            check(r.getSendStatus() == SendStatus.SEND_OK, "batch status " + r.getSendStatus());
            check(r.getMsgId().split(",").length == 10, "batch ids " + r.getMsgId());
            acked += 10;
        }
        p.shutdown();
        return expectExactly(consumeBodies("CG_batch", "*", n), bodies("batch-", n));
    }

    static String compressed() throws Exception {
        DefaultMQProducer p = producer("PG_zip");
        int n = 5;
        Map<String, String> sent = new HashMap<>();
        for (int i = 0; i < n; i++) {
            StringBuilder sb = new StringBuilder("zip-" + i + ":");
            while (sb.length() < 20_000) {
                sb.append("line ").append(sb.length()).append(" of a large compressible body\n");
            }
            String body = sb.toString();
            SendResult r = p.send(msg("T", "k" + i, body));
            check(r.getSendStatus() == SendStatus.SEND_OK, "status");
            sent.put("zip-" + i, body);
            acked++;
        }
        p.shutdown();
        Map<String, Integer> seen = consumeBodies("CG_zip", "*", n);
        int equal = 0;
        for (String b : seen.keySet()) {
            String id = b.substring(0, b.indexOf(':'));
            if (b.equals(sent.get(id))) {
                equal++;
            }
        }
        check(equal == n, "bodies equal " + equal + " of " + n);
        // The broker keeps them compressed: the stored size is far below 20 KB.
        DefaultLitePullConsumer c = lite("CG_zip_raw");
        Collection<MessageQueue> mqs = c.fetchMessageQueues(topic);
        c.assign(mqs);
        for (MessageQueue mq : mqs) {
            c.seekToBegin(mq);
        }
        int compressedFlag = 0;
        int got = 0;
        long end = System.currentTimeMillis() + WAIT_MS;
        while (got < n && System.currentTimeMillis() < end) {
            for (MessageExt m : c.poll(1000)) {
                got++;
                if (m.getStoreSize() < 15_000) {
                    compressedFlag++;
                }
            }
        }
        c.shutdown();
        check(compressedFlag == n, "stored compressed " + compressedFlag + " of " + n);
        return "acked=" + acked + " received=" + received + " bodies-equal=" + equal + " stored-compressed=" + compressedFlag;
    }

    static String pushConsumer() throws Exception {
        DefaultMQProducer p = producer("PG_push");
        int n = 40;
        for (int i = 0; i < n; i++) {
            check(p.send(msg("T", "k" + i, "push-" + i)).getSendStatus() == SendStatus.SEND_OK, "send");
            acked++;
        }
        p.shutdown();
        return expectExactly(consumeBodies("CG_push", "*", n), bodies("push-", n));
    }

    static String orderly() throws Exception {
        DefaultMQProducer p = producer("PG_orderly");
        int orders = 4;
        int per = 10;
        for (int i = 0; i < per; i++) {
            for (int o = 0; o < orders; o++) {
                SendResult r = p.send(msg("T", "o" + o, "order-" + o + "-" + i),
                    (mqs, m, arg) -> mqs.get((Integer) arg % mqs.size()), o);
                check(r.getSendStatus() == SendStatus.SEND_OK, "send");
                acked++;
            }
        }
        p.shutdown();
        Map<Integer, List<Integer>> seq = new ConcurrentHashMap<>();
        AtomicInteger total = new AtomicInteger();
        DefaultMQPushConsumer c = push("CG_orderly");
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerOrderly) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                String[] parts = body(m).split("-");
                seq.computeIfAbsent(Integer.parseInt(parts[1]), k -> Collections.synchronizedList(new ArrayList<>()))
                    .add(Integer.parseInt(parts[2]));
                total.incrementAndGet();
            }
            return ConsumeOrderlyStatus.SUCCESS;
        });
        c.start();
        await(() -> total.get() >= orders * per);
        Thread.sleep(1000);
        c.shutdown();
        received = total.get();
        check(received == orders * per, "received " + received);
        for (int o = 0; o < orders; o++) {
            List<Integer> s = seq.get(o);
            for (int i = 0; i < per; i++) {
                check(s != null && s.get(i) == i, "order " + o + " sequence " + s);
            }
        }
        return "acked=" + acked + " received=" + received + " orders-in-sequence=" + orders;
    }

    static String tagFilter() throws Exception {
        DefaultMQProducer p = producer("PG_tag");
        String[] tags = {"TagA", "TagB", "TagC"};
        Set<String> want = new TreeSet<>();
        for (int i = 0; i < 30; i++) {
            String tag = tags[i % 3];
            check(p.send(msg(tag, "k" + i, tag + "-" + i)).getSendStatus() == SendStatus.SEND_OK, "send");
            acked++;
            if (!tag.equals("TagB")) {
                want.add(tag + "-" + i);
            }
        }
        p.shutdown();
        return expectExactly(consumeBodies("CG_tag", "TagA || TagC", want.size()), want);
    }

    static String sql92() throws Exception {
        DefaultMQProducer p = producer("PG_sql");
        Set<String> want = new TreeSet<>();
        for (int i = 0; i < 40; i++) {
            int a = i % 10;
            String b = (i / 10) % 2 == 0 ? "x" : "y";
            Message m = msg("T", "k" + i, "sql-" + i + "-a" + a + "-b" + b);
            m.putUserProperty("a", String.valueOf(a));
            m.putUserProperty("b", b);
            check(p.send(m).getSendStatus() == SendStatus.SEND_OK, "send");
            acked++;
            if (a >= 3 && a <= 6 && b.equals("x")) {
                want.add("sql-" + i + "-a" + a + "-b" + b);
            }
        }
        // One without the properties at all: never matches.
        check(p.send(msg("T", "none", "sql-none")).getSendStatus() == SendStatus.SEND_OK, "send");
        acked++;
        p.shutdown();
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = push("CG_sql");
        c.subscribe(topic, MessageSelector.bySql("a BETWEEN 3 AND 6 AND b = 'x'"));
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                seen.merge(body(m), 1, Integer::sum);
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        await(() -> seen.size() >= want.size());
        Thread.sleep(2000);
        c.shutdown();
        received = seen.size();
        return expectExactly(seen, want) + " expression='a BETWEEN 3 AND 6 AND b = ''x'''";
    }

    static DefaultLitePullConsumer lite(String group) throws Exception {
        DefaultLitePullConsumer c = new DefaultLitePullConsumer(group);
        c.setNamesrvAddr(ns);
        c.setVipChannelEnabled(false);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.setInstanceName(group + "-" + System.nanoTime());
        c.setAutoCommit(true);
        c.start();
        return c;
    }

    static int produce(String group, String prefix, int n) throws Exception {
        DefaultMQProducer p = producer(group);
        for (int i = 0; i < n; i++) {
            check(p.send(msg("T", prefix + i, prefix + i)).getSendStatus() == SendStatus.SEND_OK, "send");
            acked++;
        }
        p.shutdown();
        return n;
    }

    static String litePullSubscribe() throws Exception {
        int n = produce("PG_lite", "lite-", 30);
        DefaultLitePullConsumer c = new DefaultLitePullConsumer("CG_lite");
        c.setNamesrvAddr(ns);
        c.setVipChannelEnabled(false);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, "*");
        c.start();
        Map<String, Integer> seen = new HashMap<>();
        long end = System.currentTimeMillis() + WAIT_MS;
        while (seen.size() < n && System.currentTimeMillis() < end) {
            for (MessageExt m : c.poll(1000)) {
                seen.merge(body(m), 1, Integer::sum);
            }
        }
        for (MessageExt m : c.poll(1500)) {
            seen.merge(body(m), 1, Integer::sum);
        }
        c.shutdown();
        received = seen.size();
        return expectExactly(seen, bodies("lite-", n));
    }

    static String litePullAssign() throws Exception {
        int n = produce("PG_assign", "assign-", 30);
        DefaultLitePullConsumer c = lite("CG_assign");
        Collection<MessageQueue> mqs = c.fetchMessageQueues(topic);
        check(mqs.size() == 4, "queues " + mqs);
        c.assign(mqs);
        for (MessageQueue mq : mqs) {
            c.seekToBegin(mq);
        }
        Map<String, Integer> seen = new HashMap<>();
        long end = System.currentTimeMillis() + WAIT_MS;
        while (seen.size() < n && System.currentTimeMillis() < end) {
            for (MessageExt m : c.poll(1000)) {
                seen.merge(body(m), 1, Integer::sum);
            }
        }
        c.shutdown();
        received = seen.size();
        return expectExactly(seen, bodies("assign-", n)) + " queues=" + mqs.size();
    }

    static String legacyPull() throws Exception {
        int n = produce("PG_pull", "pull-", 30);
        DefaultMQPullConsumer c = new DefaultMQPullConsumer("CG_pull");
        c.setNamesrvAddr(ns);
        c.setVipChannelEnabled(false);
        c.start();
        Set<MessageQueue> mqs = c.fetchSubscribeMessageQueues(topic);
        Map<String, Integer> seen = new HashMap<>();
        long maxSum = 0;
        for (MessageQueue mq : mqs) {
            long offset = 0;
            while (true) {
                PullResult r = c.pull(mq, "*", offset, 8);
                if (r.getPullStatus() == PullStatus.FOUND) {
                    for (MessageExt m : r.getMsgFoundList()) {
                        seen.merge(body(m), 1, Integer::sum);
                    }
                    offset = r.getNextBeginOffset();
                } else if (r.getPullStatus() == PullStatus.NO_NEW_MSG || r.getPullStatus() == PullStatus.NO_MATCHED_MSG) {
                    break;
                } else {
                    throw new IllegalStateException("pull status " + r.getPullStatus() + " at " + mq + "@" + offset);
                }
            }
            maxSum += c.maxOffset(mq);
            // Commit to the broker (UPDATE_CONSUMER_OFFSET) and read it back (QUERY_CONSUMER_OFFSET).
            // Not through the in-memory table: the pull consumer's own rebalance may drop it.
            c.getDefaultMQPullConsumerImpl().getOffsetStore().updateConsumeOffsetToBroker(mq, offset, false);
            long stored = c.fetchConsumeOffset(mq, true);
            check(stored == offset, "broker consume offset of " + mq + " reads " + stored + ", committed " + offset);
        }
        c.shutdown();
        received = seen.size();
        check(maxSum == n, "sum of max offsets " + maxSum);
        return expectExactly(seen, bodies("pull-", n)) + " max-offset-sum=" + maxSum;
    }

    static List<SendResult> sendKeyed(String group, String prefix, int n) throws Exception {
        DefaultMQProducer p = producer(group);
        List<SendResult> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            SendResult r = p.send(msg("T", prefix + "-key-" + i, prefix + "-" + i));
            check(r.getSendStatus() == SendStatus.SEND_OK, "send");
            out.add(r);
            acked++;
        }
        p.shutdown();
        return out;
    }

    static String queryByKey() throws Exception {
        sendKeyed("PG_qk", "qk", 10);
        DefaultMQProducer admin = producer("PG_qk_admin");
        int found = 0;
        long end = System.currentTimeMillis() + WAIT_MS;
        Set<String> seen = new TreeSet<>();
        for (int i = 0; i < 10; i++) {
            List<MessageExt> hits = queryUntilFound(admin, topic, "qk-key-" + i, end);
            for (MessageExt m : hits) {
                seen.add(body(m));
            }
            if (!hits.isEmpty()) {
                found++;
            }
        }
        admin.shutdown();
        received = found;
        check(seen.equals(bodies("qk-", 10)), "found " + seen);
        return "acked=" + acked + " found=" + found;
    }

    static String queryByOffsetId() throws Exception {
        List<SendResult> sent = sendKeyed("PG_qid", "qid", 10);
        DefaultMQProducer admin = producer("PG_qid_admin");
        for (int i = 0; i < sent.size(); i++) {
            MessageExt m = admin.viewMessage(sent.get(i).getOffsetMsgId());
            check(body(m).equals("qid-" + i), "body " + body(m));
            check(m.getMsgId().equals(sent.get(i).getMsgId()), "unique id " + m.getMsgId());
            received++;
        }
        admin.shutdown();
        return "acked=" + acked + " found=" + received;
    }

    static String queryByUniqueKey() throws Exception {
        List<SendResult> sent = sendKeyed("PG_quk", "quk", 10);
        DefaultMQProducer admin = producer("PG_quk_admin");
        long end = System.currentTimeMillis() + WAIT_MS;
        for (int i = 0; i < sent.size(); i++) {
            MessageExt m = null;
            while (m == null) {
                try {
                    m = admin.viewMessage(topic, sent.get(i).getMsgId());
                } catch (Exception e) {
                    if (System.currentTimeMillis() > end) {
                        throw e;
                    }
                    Thread.sleep(200);
                }
            }
            check(body(m).equals("quk-" + i), "body " + body(m));
            received++;
        }
        admin.shutdown();
        return "acked=" + acked + " found=" + received;
    }

    static String retry() throws Exception {
        int n = produce("PG_retry", "retry-", 10);
        Map<String, List<Integer>> attempts = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = push("CG_retry");
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            boolean later = false;
            for (MessageExt m : msgs) {
                attempts.computeIfAbsent(body(m), k -> new CopyOnWriteArrayList<>()).add(m.getReconsumeTimes());
                if (m.getReconsumeTimes() == 0) {
                    later = true;
                }
            }
            return later ? ConsumeConcurrentlyStatus.RECONSUME_LATER : ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.setConsumeMessageBatchMaxSize(1);
        c.start();
        await(() -> attempts.size() >= n && attempts.values().stream().allMatch(l -> l.contains(1)));
        Thread.sleep(1500);
        c.shutdown();
        received = attempts.size();
        for (Map.Entry<String, List<Integer>> e : attempts.entrySet()) {
            check(e.getValue().equals(java.util.Arrays.asList(0, 1)), e.getKey() + " attempts " + e.getValue());
        }
        check(attempts.keySet().equals(bodies("retry-", n)), "bodies " + attempts.keySet());
        return "acked=" + acked + " received=" + received + " each-delivered=[0,1]";
    }

    static String dlq() throws Exception {
        int n = produce("PG_dlq", "dlq-", 5);
        Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = push("CG_dlq");
        c.setMaxReconsumeTimes(2);
        c.setConsumeMessageBatchMaxSize(1);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                attempts.computeIfAbsent(body(m), k -> new AtomicInteger()).incrementAndGet();
            }
            return ConsumeConcurrentlyStatus.RECONSUME_LATER;
        });
        c.start();
        // 1 first delivery + 2 redeliveries, then the dead-letter queue.
        await(() -> attempts.size() >= n && attempts.values().stream().allMatch(a -> a.get() >= 3));
        Thread.sleep(3000);
        c.shutdown();
        received = attempts.size();
        for (Map.Entry<String, AtomicInteger> e : attempts.entrySet()) {
            check(e.getValue().get() == 3, e.getKey() + " delivered " + e.getValue().get() + " times, want 3");
        }
        // Each one sits in %DLQ%CG_dlq, found by its key.
        DefaultMQProducer admin = producer("PG_dlq_admin");
        Set<String> inDlq = new TreeSet<>();
        long end = System.currentTimeMillis() + WAIT_MS;
        for (int i = 0; i < n; i++) {
            for (MessageExt m : queryUntilFound(admin, "%DLQ%CG_dlq", "dlq-" + i, end)) {
                inDlq.add(body(m));
            }
        }
        admin.shutdown();
        check(inDlq.equals(bodies("dlq-", n)), "in DLQ " + inDlq);
        return "acked=" + acked + " received=" + received + " deliveries-each=3 in-dlq=" + inDlq.size();
    }

    static String delay() throws Exception {
        DefaultMQProducer p = producer("PG_delay");
        int n = 5;
        for (int i = 0; i < n; i++) {
            Message m = msg("T", "d" + i, "delay-" + i);
            m.setDelayTimeLevel(3);
            check(p.send(m).getSendStatus() == SendStatus.SEND_OK, "send");
            acked++;
        }
        p.shutdown();
        Map<String, MessageExt> seen = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = push("CG_delay");
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                seen.put(body(m), m);
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        await(() -> seen.size() >= n);
        Thread.sleep(1000);
        c.shutdown();
        received = seen.size();
        check(seen.keySet().equals(bodies("delay-", n)), "bodies " + seen.keySet());
        for (MessageExt m : seen.values()) {
            check("3".equals(m.getProperty(MessageConst.PROPERTY_DELAY_TIME_LEVEL)), "DELAY " + m.getProperties());
            check(topic.equals(m.getProperty(MessageConst.PROPERTY_REAL_TOPIC)), "REAL_TOPIC " + m.getProperties());
            // Level 3 of the test brokers is 300 ms: stored no earlier than that after birth.
            check(m.getStoreTimestamp() - m.getBornTimestamp() >= 250, "stored after " + (m.getStoreTimestamp() - m.getBornTimestamp()) + " ms");
        }
        return "acked=" + acked + " received=" + received + " DELAY=3 REAL_TOPIC=" + topic;
    }

    static String transaction(LocalTransactionState local) throws Exception {
        TransactionMQProducer p = new TransactionMQProducer("PG_tx_" + local);
        setup(p);
        AtomicInteger checks = new AtomicInteger();
        p.setTransactionListener(new TransactionListener() {
            public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
                return local;
            }

            public LocalTransactionState checkLocalTransaction(MessageExt msg) {
                checks.incrementAndGet();
                return LocalTransactionState.COMMIT_MESSAGE;
            }
        });
        p.start();
        int n = 5;
        for (int i = 0; i < n; i++) {
            TransactionSendResult r = p.sendMessageInTransaction(msg("T", "tx" + i, "tx-" + i), null);
            check(r.getSendStatus() == SendStatus.SEND_OK, "send " + r.getSendStatus());
            check(r.getLocalTransactionState() == local, "local state " + r.getLocalTransactionState());
            acked++;
        }
        // One plain message after them, so the consumer knows when it has read past them.
        DefaultMQProducer marker = producer("PG_tx_marker");
        check(marker.send(msg("T", "m", "marker")).getSendStatus() == SendStatus.SEND_OK, "marker");
        marker.shutdown();
        Set<String> want = local == LocalTransactionState.ROLLBACK_MESSAGE ? new TreeSet<>() : bodies("tx-", n);
        want.add("marker");
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = push("CG_tx");
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                seen.merge(body(m), 1, Integer::sum);
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        await(() -> seen.size() >= want.size());
        // Long enough for a (wrong) check-back to commit a rolled-back one.
        Thread.sleep(local == LocalTransactionState.ROLLBACK_MESSAGE ? 5000 : 1500);
        c.shutdown();
        p.shutdown();
        received = seen.size();
        String r = expectExactly(seen, want);
        if (local == LocalTransactionState.UNKNOW) {
            check(checks.get() >= n, "check-backs " + checks.get());
        } else {
            check(checks.get() == 0, "unexpected check-backs " + checks.get());
        }
        return r + " check-backs=" + checks.get();
    }

    /**
     * Phase "before": 20 messages, all consumed by group CG_restart, consumer shut down (offsets
     * persisted). The test then restarts the broker on its store. Phase "after": 10 more; a new
     * consumer of the same group (CONSUME_FROM_FIRST_OFFSET) must get exactly those 10.
     */
    static String offsetsRestart(String phase) throws Exception {
        if (phase.equals("before")) {
            int n = produce("PG_restart", "before-", 20);
            return expectExactly(consumeBodies("CG_restart", "*", n), bodies("before-", n));
        }
        int n = produce("PG_restart", "after-", 10);
        return expectExactly(consumeBodies("CG_restart", "*", n), bodies("after-", n));
    }

    static String broadcasting() throws Exception {
        List<Map<String, Integer>> perConsumer = new ArrayList<>();
        List<DefaultMQPushConsumer> cs = new ArrayList<>();
        for (int k = 0; k < 2; k++) {
            Map<String, Integer> seen = new ConcurrentHashMap<>();
            perConsumer.add(seen);
            DefaultMQPushConsumer c = push("CG_bcast");
            c.setMessageModel(MessageModel.BROADCASTING);
            c.subscribe(topic, "*");
            c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                for (MessageExt m : msgs) {
                    seen.merge(body(m), 1, Integer::sum);
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
            c.start();
            cs.add(c);
        }
        int n = produce("PG_bcast", "bcast-", 20);
        await(() -> perConsumer.stream().allMatch(s -> s.size() >= n));
        Thread.sleep(1000);
        for (DefaultMQPushConsumer c : cs) {
            c.shutdown();
        }
        StringBuilder sb = new StringBuilder("acked=" + acked);
        for (int k = 0; k < 2; k++) {
            check(perConsumer.get(k).keySet().equals(bodies("bcast-", n)), "consumer " + k + " got " + perConsumer.get(k).size());
            received += perConsumer.get(k).size();
            sb.append(" consumer").append(k).append("=").append(perConsumer.get(k).size());
        }
        return sb.toString();
    }

    static String rebalance() throws Exception {
        List<Map<String, Integer>> perConsumer = new ArrayList<>();
        List<DefaultMQPushConsumer> cs = new ArrayList<>();
        for (int k = 0; k < 2; k++) {
            Map<String, Integer> seen = new ConcurrentHashMap<>();
            perConsumer.add(seen);
            DefaultMQPushConsumer c = push("CG_rebalance");
            c.subscribe(topic, "*");
            c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
                for (MessageExt m : msgs) {
                    seen.merge(body(m), 1, Integer::sum);
                }
                return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
            });
            c.start();
            cs.add(c);
        }
        // Both see each other (GET_CONSUMER_LIST_BY_GROUP) and hold 2 of the 4 queues each.
        // Java rebalances on NOTIFY_CONSUMER_IDS_CHANGED, else every 20 s: allow a few rounds.
        // (The group's %RETRY% queue is assigned too: count the topic's queues only.)
        boolean split = awaitLong(() -> cs.stream().allMatch(c -> topicQueues(c).size() == 2));
        StringBuilder sizes = new StringBuilder();
        for (DefaultMQPushConsumer c : cs) {
            sizes.append(' ').append(c.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable().keySet());
            sizes.append(" of ").append(c.getDefaultMQPushConsumerImpl().getmQClientFactory().findConsumerIdList(topic, "CG_rebalance"));
        }
        check(split, "queues never split 2/2:" + sizes);
        Set<MessageQueue> union = new HashSet<>();
        for (DefaultMQPushConsumer c : cs) {
            union.addAll(topicQueues(c));
        }
        check(union.size() == 4, "assigned queues " + union);
        int n = produce("PG_rebalance", "rb-", 40);
        await(() -> perConsumer.get(0).size() + perConsumer.get(1).size() >= n);
        Thread.sleep(1000);
        for (DefaultMQPushConsumer c : cs) {
            c.shutdown();
        }
        Map<String, Integer> all = new HashMap<>();
        for (Map<String, Integer> s : perConsumer) {
            s.forEach((k, v) -> all.merge(k, v, Integer::sum));
        }
        received = all.size();
        check(!perConsumer.get(0).isEmpty() && !perConsumer.get(1).isEmpty(), "one consumer got nothing");
        return expectExactly(all, bodies("rb-", n)) + " consumer0=" + perConsumer.get(0).size() + " consumer1=" + perConsumer.get(1).size();
    }

    static Set<MessageQueue> topicQueues(DefaultMQPushConsumer c) {
        Set<MessageQueue> out = new HashSet<>();
        for (MessageQueue mq : c.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable().keySet()) {
            if (mq.getTopic().equals(topic)) {
                out.add(mq);
            }
        }
        return out;
    }

    static String trace() throws Exception {
        DefaultMQProducer p = new DefaultMQProducer("PG_trace", true);
        setup(p);
        p.start();
        int n = 5;
        Set<String> ids = new TreeSet<>();
        for (int i = 0; i < n; i++) {
            SendResult r = p.send(msg("T", "trace-key-" + i, "trace-" + i));
            check(r.getSendStatus() == SendStatus.SEND_OK, "send");
            ids.add(r.getMsgId());
            acked++;
        }
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = new DefaultMQPushConsumer("CG_trace", true);
        setup(c);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                seen.merge(body(m), 1, Integer::sum);
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        await(() -> seen.size() >= n);
        // The trace dispatcher sends in batches (every ~500 ms or 100 records).
        Thread.sleep(3000);
        c.shutdown();
        p.shutdown();
        received = seen.size();
        check(seen.keySet().equals(bodies("trace-", n)), "consumed " + seen.keySet());
        // Read RMQ_SYS_TRACE_TOPIC back: a Pub record and SubBefore/SubAfter records per message.
        DefaultLitePullConsumer t = lite("CG_trace_reader");
        Collection<MessageQueue> mqs = t.fetchMessageQueues("RMQ_SYS_TRACE_TOPIC");
        t.assign(mqs);
        for (MessageQueue mq : mqs) {
            t.seekToBegin(mq);
        }
        Set<String> pub = new TreeSet<>();
        Set<String> subBefore = new TreeSet<>();
        Set<String> subAfter = new TreeSet<>();
        long end = System.currentTimeMillis() + WAIT_MS;
        while ((pub.size() < n || subBefore.size() < n || subAfter.size() < n) && System.currentTimeMillis() < end) {
            for (MessageExt m : t.poll(1000)) {
                String data = body(m);
                for (String record : data.split(String.valueOf((char) 2))) {
                    String[] f = record.split(String.valueOf((char) 1));
                    if (f.length < 3) {
                        continue;
                    }
                    for (String id : ids) {
                        if (!record.contains(id)) {
                            continue;
                        }
                        if (f[0].equals("Pub")) {
                            pub.add(id);
                        } else if (f[0].equals("SubBefore")) {
                            subBefore.add(id);
                        } else if (f[0].equals("SubAfter")) {
                            subAfter.add(id);
                        }
                    }
                }
            }
        }
        t.shutdown();
        // mqadmin queryMsgTraceById's lookup: the trace records are indexed by message id.
        DefaultMQProducer admin = producer("PG_trace_admin");
        int indexed = 0;
        for (String id : ids) {
            long until = System.currentTimeMillis() + WAIT_MS;
            if (!queryUntilFound(admin, "RMQ_SYS_TRACE_TOPIC", id, until).isEmpty()) {
                indexed++;
            }
        }
        admin.shutdown();
        check(indexed == n, "trace records found by message id: " + indexed + " of " + n);
        check(pub.size() == n && subBefore.size() == n, "trace records: Pub " + pub.size() + " SubBefore " + subBefore.size() + " SubAfter " + subAfter.size());
        return "acked=" + acked + " received=" + received + " trace Pub=" + pub.size() + " SubBefore=" + subBefore.size() + " SubAfter=" + subAfter.size() + " indexed-by-id=" + indexed;
    }

    static String requestReply() throws Exception {
        DefaultMQProducer replier = producer("PG_replier");
        AtomicInteger handled = new AtomicInteger();
        DefaultMQPushConsumer c = push("CG_reply");
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                try {
                    Message reply = MessageUtil.createReplyMessage(m, ("reply-to-" + body(m)).getBytes(StandardCharsets.UTF_8));
                    SendResult r = replier.send(reply, 10_000);
                    if (r.getSendStatus() == SendStatus.SEND_OK) {
                        handled.incrementAndGet();
                    }
                } catch (Exception e) {
                    System.out.println("reply failed: " + e);
                    return ConsumeConcurrentlyStatus.RECONSUME_LATER;
                }
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        boolean split = await(() -> topicQueues(c).size() == 4);
        check(split, "replier never got the queues");
        DefaultMQProducer requester = producer("PG_requester");
        int n = 5;
        for (int i = 0; i < n; i++) {
            Message reply = requester.request(msg("T", "req" + i, "req-" + i), 15_000);
            acked++;
            check(reply != null && new String(reply.getBody(), StandardCharsets.UTF_8).equals("reply-to-req-" + i),
                "reply " + (reply == null ? null : new String(reply.getBody(), StandardCharsets.UTF_8)));
            received++;
        }
        requester.shutdown();
        c.shutdown();
        replier.shutdown();
        return "requests=" + acked + " replies=" + received + " replier-sent=" + handled.get();
    }

    static String vipChannel() throws Exception {
        DefaultMQProducer p = new DefaultMQProducer("PG_vip");
        setup(p);
        p.setVipChannelEnabled(true);
        p.start();
        int n = 20;
        for (int i = 0; i < n; i++) {
            SendResult r = p.send(msg("T", "k" + i, "vip-" + i));
            check(r.getSendStatus() == SendStatus.SEND_OK, "send");
            acked++;
        }
        p.shutdown();
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = push("CG_vip");
        c.setVipChannelEnabled(true);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                seen.merge(body(m), 1, Integer::sum);
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        await(() -> seen.size() >= n);
        Thread.sleep(1000);
        c.shutdown();
        received = seen.size();
        return expectExactly(seen, bodies("vip-", n)) + " vipChannelEnabled=true";
    }

    /**
     * Sends 10 messages (keys mqa-key-i, tag TagA, user property a=i), consumes them with
     * CG_mqadmin, prints `READY <unique id> <offset id> <consumer client id> <traced unique id>` and stays up for
     * `seconds` (or until killed), so that connections, running info and offsets are there to see.
     */
    static String background(int seconds) throws Exception {
        DefaultMQProducer p = producer("PG_mqadmin");
        SendResult last = null;
        for (int i = 0; i < 10; i++) {
            Message m = msg("TagA", "mqa-key-" + i, "mqadmin-" + i);
            m.putUserProperty("a", String.valueOf(i));
            last = p.send(m);
            check(last.getSendStatus() == SendStatus.SEND_OK, "send");
            acked++;
        }
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = push("CG_mqadmin");
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                seen.merge(body(m), 1, Integer::sum);
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        check(await(() -> seen.size() >= 10), "consumed " + seen.size());
        received = seen.size();
        // Offsets reach the broker every 5 s (persistConsumerOffsetInterval): push them now.
        c.getDefaultMQPushConsumerImpl().persistConsumerOffset();
        // One message with a trace (RMQ_SYS_TRACE_TOPIC), for queryMsgTraceById.
        DefaultMQProducer traced = new DefaultMQProducer("PG_mqadmin_trace", true);
        setup(traced);
        traced.start();
        SendResult t = traced.send(msg("TagT", "mqa-traced", "traced"));
        check(t.getSendStatus() == SendStatus.SEND_OK, "traced send");
        acked++;
        // The trace dispatcher sends its batch asynchronously (every ~500 ms): let it.
        Thread.sleep(3000);
        traced.shutdown();
        System.out.printf("READY %s %s %s %s%n", last.getMsgId(), last.getOffsetMsgId(),
            c.getDefaultMQPushConsumerImpl().getmQClientFactory().getClientId(), t.getMsgId());
        System.out.flush();
        Thread.sleep(seconds * 1000L);
        c.shutdown();
        p.shutdown();
        return "acked=" + acked + " received=" + received;
    }
}
